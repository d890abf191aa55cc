import Crypto
import Foundation
import GRDB
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import Outbox
import WharfCore

/// Wharf, assembled: storage, auth, sessions and the HTTP API, ready to run.
public struct Wharf: Sendable {
    public let application: Application<RouterResponder<AppRequestContext>>
    /// The admin password generated on this start, to print once; `nil` when none was generated.
    public let generatedAdminPassword: String?
    public let store: SQLiteGatewayStore
    public let outbox: OutboxStore
    public let delivery: DeliveryService
    public let sessions: SessionManager
    public let dispatcher: Dispatcher
    public let events: SessionEventHub
    public let configuration: WharfConfiguration
    /// Every route the router serves, as `METHOD /path/:parameter`, for the OpenAPI document's test.
    public let routes: [String]

    /// Builds Wharf from `configuration`.
    ///
    /// - Parameters:
    ///   - clock: the clock every timed behaviour uses; tests pass a ``ManualClock``.
    ///   - onServerRunning: called with the bound port once the server listens (port 0 picks one).
    ///   - sender: how webhooks are sent; libcurl unless a test replaces it.
    public static func make(
        configuration: WharfConfiguration, clock: any WharfClock = SystemClock(), logger: Logger? = nil,
        sender: (any WebhookSender)? = nil, downloader: (any MediaDownloader)? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> Wharf {
        var logger = logger ?? Logger(label: "wharf")
        logger.logLevel = configuration.logLevel
        var configuration = configuration
        if configuration.trustsTestRoot {
            logger.warning(
                "WA_ROOT_KEY replaces WhatsApp's certificate root: the web engine will trust a server that is NOT WhatsApp. Use this only against a test server.",
                metadata: ["wa_ws_url": "\(configuration.webEngine.url)"])
        }
        let directory = configuration.dataDirectory
        do {
            try PrivateDataDirectory.prepare(directory, logger: logger)
        } catch {
            throw ConfigurationError(variable: "DATA_DIR", message: "'\(directory)' cannot be created: \(error.localizedDescription)")
        }
        let hasher = PasswordHasher(cost: configuration.bcryptCost)
        var secrets = try SecretsFile.load(directory: directory)
        let original = secrets
        if configuration.sessionSecret == nil {
            if secrets.sessionSecret == nil { secrets.sessionSecret = SecretsFile.makeSecret() }
            configuration.sessionSecret = secrets.sessionSecret
        }
        if configuration.jwtSecret == nil {
            if secrets.jwtSecret == nil { secrets.jwtSecret = SecretsFile.makeSecret() }
            configuration.jwtSecret = secrets.jwtSecret
        }
        if configuration.encryptionKey == nil {
            if secrets.encryptionKey == nil { secrets.encryptionKey = SecretsFile.makeKey() }
            guard let key = secrets.encryptionKey.flatMap(SecretsFile.decodeKey) else {
                throw ConfigurationError(
                    variable: "DATA_DIR", message: "holds a \(SecretsFile.fileName) whose encryptionKey is not 32 bytes of base64")
            }
            configuration.encryptionKey = key
        }
        var generatedPassword: String?
        let adminPasswordHash: String
        if let password = configuration.adminPassword {
            adminPasswordHash = try await hasher.hash(password)
        } else if let stored = secrets.adminPasswordHash {
            adminPasswordHash = stored
        } else {
            let password = Identifier.token(byteCount: 15)
            adminPasswordHash = try await hasher.hash(password)
            secrets.adminPasswordHash = adminPasswordHash
            generatedPassword = password
        }
        if secrets != original { try secrets.save(directory: directory) }

        let database = try SQLiteDatabase.openPool(at: (directory as NSString).appendingPathComponent("wharf.sqlite"))
        let batcher = WriteBatcher(writer: database)
        let store = try SQLiteGatewayStore(database, batcher: batcher, secretBox: SecretBox(key: configuration.encryptionKey!))
        let sealed = try await store.sealLegacyCredentials()
        if sealed > 0 { logger.notice("encrypted engine credentials stored in the clear by an earlier version", metadata: ["count": "\(sealed)"]) }
        let outbox = try OutboxStore(database, batcher: batcher, sealer: SecretBox(key: configuration.encryptionKey!))
        let sealedEndpoints = try await outbox.sealPlaintextEndpointFields()
        if sealedEndpoints > 0 {
            logger.notice("encrypted webhook secrets stored in the clear by an earlier version", metadata: ["count": "\(sealedEndpoints)"])
        }
        var senderOptions = CurlWebhookSender.Options()
        senderOptions.policy = configuration.outboundPolicy
        senderOptions.connectTimeout = configuration.webhookConnectTimeout
        senderOptions.totalTimeout = configuration.webhookTimeout
        senderOptions.extraRootsFile = configuration.extraRootsFile
        var deliveryOptions = configuration.deliveryOptions
        deliveryOptions.userAgent = "Wharf-Webhooks/1.0"
        // One libcurl multi handle (one thread) serves webhook deliveries and media downloads; the
        // delivery service shuts it down when it stops.
        let curl = CurlWebhookSender(options: senderOptions)
        let metrics = WharfMetrics()
        let delivery = DeliveryService(
            store: outbox, sender: MeteredWebhookSender(sender: sender ?? curl, duration: metrics.attemptDuration), clock: clock,
            options: deliveryOptions,
            logger: logger,
            onDisabled: { [logger] endpoint, reason in
                do {
                    try await OutboxEventSink.announceDisabled(endpoint, reason: reason, outbox: outbox, store: store, clock: clock)
                } catch {
                    logger.error("webhook.disabled event not stored", metadata: ["endpoint": "\(endpoint.id)", "error": "\(error)"])
                }
            })
        let events = SessionEventHub()
        if configuration.testKillBeforeCommit != nil {
            logger.warning("WHARF_TEST_KILL_BEFORE_COMMIT is set: this process will kill itself; it is for crash tests only")
        }
        let boundPort = BoundPort()
        let mediaLinks = MediaLinks(encryptionKey: configuration.encryptionKey!) { [configuration] in
            GatewayServices.baseURL(configuration: configuration, boundPort: boundPort)
        }
        let sink = OutboxEventSink(
            outbox: outbox, store: store, delivery: delivery, hub: events, clock: clock, logger: logger,
            killBeforeCommit: configuration.testKillBeforeCommit, mediaLinks: mediaLinks)
        let sessions = SessionManager(
            store: store, credentials: { store.credentials(sessionID: $0) },
            factory: EngineFactory(
                clock: clock, web: configuration.webEngine, cloudTransport: curl, cloudTimeout: configuration.webhookTimeout,
                secretBox: store.secretBox, policy: configuration.outboundPolicy, logger: logger),
            sink: sink, clock: clock, logger: logger)
        var dispatcherOptions = Dispatcher.Options()
        dispatcherOptions.holdWhileDisconnected = configuration.jobHoldWhileDisconnected
        let dispatcher = Dispatcher(
            store: store, sessions: sessions, sink: sink, hub: events, clock: clock, options: dispatcherOptions, logger: logger)
        let media = MediaFetcher(
            downloader: downloader ?? curl, policy: configuration.outboundPolicy,
            directory: (directory as NSString).appendingPathComponent("media"), timeout: configuration.mediaTimeout)
        let received = MediaService(
            store: store, sessions: sessions, sink: sink, clock: clock,
            directory: URL(fileURLWithPath: directory).appendingPathComponent("media-in"), logger: logger)
        let calls = CallResponder(store: store, sessions: sessions, hub: events, dispatcher: dispatcher, clock: clock, logger: logger)
        let presence = PresenceKeeper(store: store, sessions: sessions, hub: events, logger: logger)
        let watchdog = Watchdog(
            sessions: sessions, outbox: outbox, delivery: delivery, sink: sink, clock: clock,
            limits: configuration.watchdogLimits, logger: logger)
        let webSessions = WebSessions(
            secret: configuration.sessionSecret!, store: store, clock: clock, secureCookies: configuration.usesSecureCookies)
        let services = GatewayServices(
            store: store, configuration: configuration, hasher: hasher,
            tokens: await TokenIssuer(secret: configuration.jwtSecret!, lifetime: configuration.jwtLifetime, clock: clock),
            webSessions: webSessions, adminPasswordHash: adminPasswordHash,
            decoyPasswordHash: try await hasher.hash(Identifier.token()),
            limiter: LoginLimiter(maxFailures: configuration.loginAttempts, window: configuration.loginLockout, clock: clock),
            sessions: sessions, events: events, outbox: outbox, delivery: delivery, eventSink: sink, presence: presence,
            watchdog: watchdog, clock: clock, logger: logger, boundPort: boundPort)
        let router = try makeRouter(
            services, dispatcher: dispatcher, media: media, received: received, mediaLinks: mediaLinks, metrics: metrics)
        let routes = router.routes.map { "\($0.method) \($0.path)" }
        let connections = ConnectionCap.Counter(limit: ConnectionCap.Counter.limit(wanted: configuration.maxConnections))
        let bodyTimeout = TimeAmount.milliseconds(configuration.httpBodyTimeout.milliseconds)
        let idleTimeout = TimeAmount.milliseconds(configuration.httpIdleTimeout.milliseconds)
        let webSocketResponder = makeWebSocketRouter(services).buildResponder()
        let pingInterval = configuration.eventStreamLimits.pingInterval
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                WharfChildChannel(
                    upgrade: HTTP1WebSocketUpgradeChannel(
                        responder: responder, webSocketResponder: webSocketResponder,
                        configuration: .init(
                            http1: HTTP1Channel.Configuration(
                                additionalChannelHandlers: [ConnectionGuard(bodyTimeout: bodyTimeout)], idleTimeout: idleTimeout),
                            // Pings keep proxies from closing a quiet socket and find dead clients.
                            ws: .init(autoPing: .enabled(timePeriod: pingInterval)))),
                    fromAccept: { [ConnectionCap(counter: connections), HeadTimer(timeout: idleTimeout)] })
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "wharf"),
            // Stopped in reverse: media downloads and the dispatcher's sends end while the engines
            // still run, then the engines stop, and the deliverer goes last, after every event is in.
            services: [delivery, sessions, dispatcher, received, calls, presence, watchdog],
            onServerRunning: { channel in
                services.boundPort.set(channel.localAddress?.port ?? 0)
                await onServerRunning(channel.localAddress?.port ?? 0)
            },
            logger: logger)
        return Wharf(
            application: application, generatedAdminPassword: generatedPassword, store: store, outbox: outbox,
            delivery: delivery, sessions: sessions, dispatcher: dispatcher, events: events, configuration: configuration,
            routes: routes)
    }
}
