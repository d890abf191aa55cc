import Configuration
import Foundation
import Logging
import Outbox
import SystemPackage
import WharfCore
import WhatsAppProtocol

/// Everything Wharf needs to start, validated.
///
/// Values come, strongest first, from command-line flags (`--data-dir ./data`), environment
/// variables (`DATA_DIR`), and an optional env-style file named by `--config-file` / `CONFIG_FILE`.
/// Every invalid value stops start-up with a message naming the variable and what it accepts.
public struct WharfConfiguration: Sendable {
    public var host: String = "0.0.0.0"
    public var port: Int = 5001
    public var dataDirectory: String = "./data"
    public var publicURL: URL?
    public var logLevel: Logger.Level = .info
    public var outboundPolicy: OutboundPolicy = .strict
    /// The admin password, if given; when absent one is generated on first start.
    public var adminPassword: String?
    /// A bearer key accepted on admin routes, for automation.
    public var adminAPIKey: String?
    public var sessionSecret: String?
    public var jwtSecret: String?
    /// Encrypts engine credentials at rest (32 bytes); generated into `secrets.json` when absent.
    public var encryptionKey: [UInt8]?
    public var jwtLifetime: Duration = .seconds(12 * 3600)
    public var maxBodyBytes: Int = 1 << 20
    public var bcryptCost: UInt8 = 12
    public var loginAttempts: Int = 5
    public var loginLockout: Duration = .seconds(15 * 60)
    public var webhookConnectTimeout: Duration = .seconds(5)
    public var webhookTimeout: Duration = .seconds(15)
    /// How long a send job waits for a disconnected session before it fails.
    public var jobHoldWhileDisconnected: Duration = .seconds(24 * 3600)
    /// The longest a media download may take.
    public var mediaTimeout: Duration = .seconds(30)
    /// `WA_CA_FILE`: a PEM bundle of roots trusted besides the system's, for every outbound HTTPS
    /// connection (WhatsApp's media hosts, webhooks): a local media host in tests, or an
    /// intercepting proxy's root. Certificates are still verified.
    public var extraRootsFile: String?
    /// `TRUSTED_PROXIES`: the reverse proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` header
    /// names the client, for login throttling and logs; nobody else's is believed.
    public var trustedProxies: [IPNetwork] = []
    /// `METRICS_TOKEN`: when set, `/metrics` answers only this bearer token (or the administrator).
    public var metricsToken: String?
    /// How long a connection may sit idle (keep-alive, or half-sent headers) and wait between parts
    /// of a request's body, and how many may be open at once (nginx's defaults, roughly).
    public var httpIdleTimeout: Duration = .seconds(60)
    public var httpBodyTimeout: Duration = .seconds(60)
    public var maxConnections = 1000
    /// How far an event stream may fall behind before it is cut off.
    public var eventStreamLimits = EventStreamLimits()
    /// When undelivered or uncommitted events raise a `session.alert`.
    public var watchdogLimits = WatchdogLimits()
    /// Caps per tenant: webhook endpoints, active API keys, and a webhook URL's length.
    public var maxWebhooksPerTenant = 10
    public var maxAPIKeysPerTenant = 25
    public var maxWebhookURLLength = 2048
    /// Retry schedule, breaker, concurrency and retention of webhook deliveries.
    public var deliveryOptions = DeliveryService.Options()
    /// How the native (`web`) engine reaches WhatsApp: `WA_WS_URL`, `WA_VERSION`, `WA_ROOT_KEY`.
    public var webEngine = WebEngineConfiguration()
    /// `WHARF_TEST_KILL_BEFORE_COMMIT`: for crash tests only, the process kills itself (SIGKILL)
    /// just before committing the n-th inbound stanza's events and engine state, after decrypting.
    public var testKillBeforeCommit: Int?

    /// Whether `WA_ROOT_KEY` replaced WhatsApp's certificate root: only a test server needs that,
    /// so start-up says so loudly.
    public var trustsTestRoot: Bool { webEngine.trust.rootKey != ServerCertificateTrust.whatsAppRootKey }

    public init() {}

    /// Whether cookies must carry `Secure`: when the public URL is https.
    public var usesSecureCookies: Bool { publicURL?.scheme?.lowercased() == "https" }

    /// The base URL people reach Wharf at.
    public var baseURL: String {
        publicURL?.absoluteString.trimmingSuffix("/") ?? "http://localhost:\(port)"
    }

    /// Reads and validates configuration from flags, environment and an optional file.
    public static func load(
        arguments: [String] = CommandLine.arguments,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> WharfConfiguration {
        let flags = CommandLineArgumentsProvider(arguments: arguments)
        let env = EnvironmentVariablesProvider(environmentVariables: environment)
        var providers: [any ConfigProvider] = [flags, env]
        let early = ConfigReader(providers: providers)
        if let file = early.string(forKey: "configFile") {
            guard FileManager.default.fileExists(atPath: file) else {
                throw ConfigurationError(variable: "CONFIG_FILE", message: "file '\(file)' does not exist")
            }
            do {
                providers.append(try await EnvironmentVariablesProvider(environmentFilePath: .init(file)))
            } catch {
                throw ConfigurationError(variable: "CONFIG_FILE", message: "file '\(file)' could not be read: \(error)")
            }
        }
        return try parse(ConfigReader(providers: providers))
    }

    static func parse(_ reader: ConfigReader) throws -> WharfConfiguration {
        let values = Values(reader: reader)
        var configuration = WharfConfiguration()
        configuration.host = try values.string("host", "HOST") ?? configuration.host
        configuration.port = try values.integer("port", "PORT", in: 0...65535) ?? configuration.port
        if let directory = try values.string("dataDir", "DATA_DIR") {
            guard !directory.isEmpty else {
                throw ConfigurationError(variable: "DATA_DIR", message: "must be a directory path, not empty")
            }
            configuration.dataDirectory = directory
        }
        if let text = try values.string("publicUrl", "PUBLIC_URL"), !text.isEmpty {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
                scheme == "http" || scheme == "https", url.host() != nil
            else {
                throw ConfigurationError(
                    variable: "PUBLIC_URL", message: "must be an absolute http:// or https:// URL (got '\(text)')")
            }
            configuration.publicURL = url
        }
        if let text = try values.string("logLevel", "LOG_LEVEL") {
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                let allowed = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError(variable: "LOG_LEVEL", message: "must be one of \(allowed) (got '\(text)')")
            }
            configuration.logLevel = level
        }
        if let text = try values.string("outboundAllow", "OUTBOUND_ALLOW") {
            do {
                configuration.outboundPolicy = try OutboundPolicy(allowing: text.split(separator: ",").map(String.init))
            } catch {
                throw ConfigurationError(
                    variable: "OUTBOUND_ALLOW",
                    message: "must be a comma-separated list of host names, IP addresses or CIDRs: \(error)")
            }
        }
        if let text = try values.string("trustedProxies", "TRUSTED_PROXIES"), !text.isEmpty {
            var networks: [IPNetwork] = []
            for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
                guard let network = IPNetwork(parsing: part) else {
                    throw ConfigurationError(
                        variable: "TRUSTED_PROXIES", message: "must be a comma-separated list of IP addresses or CIDRs (got '\(part)')")
                }
                networks.append(network)
            }
            configuration.trustedProxies = networks
        }
        if let password = try values.string("adminPassword", "ADMIN_PASSWORD"), !password.isEmpty {
            guard password.count >= 8 else {
                throw ConfigurationError(variable: "ADMIN_PASSWORD", message: "must be at least 8 characters long")
            }
            configuration.adminPassword = password
        }
        if let key = try values.string("adminApiKey", "ADMIN_API_KEY"), !key.isEmpty {
            guard key.utf8.count >= 24 else {
                throw ConfigurationError(variable: "ADMIN_API_KEY", message: "must be at least 24 characters long")
            }
            configuration.adminAPIKey = key
        }
        if let secret = try values.string("sessionSecret", "SESSION_SECRET"), !secret.isEmpty {
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError(variable: "SESSION_SECRET", message: "must be at least 32 bytes long")
            }
            configuration.sessionSecret = secret
        }
        if let secret = try values.string("jwtSecret", "JWT_SECRET"), !secret.isEmpty {
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError(
                    variable: "JWT_SECRET", message: "must be at least 32 bytes long (HS256 needs a 256-bit key)")
            }
            configuration.jwtSecret = secret
        }
        if let text = try values.string("encryptionKey", "ENCRYPTION_KEY"), !text.isEmpty {
            guard let key = SecretsFile.decodeKey(text) else {
                throw ConfigurationError(
                    variable: "ENCRYPTION_KEY",
                    message: "must be 32 random bytes as 64 hex characters or base64, such as the output of `openssl rand -hex 32`")
            }
            configuration.encryptionKey = key
        }
        if let seconds = try values.integer("jwtTtlSeconds", "JWT_TTL_SECONDS", in: 60...(90 * 86400)) {
            configuration.jwtLifetime = .seconds(seconds)
        }
        if let bytes = try values.integer("maxBodyBytes", "MAX_BODY_BYTES", in: 1024...(64 << 20)) {
            configuration.maxBodyBytes = bytes
        }
        if let ms = try values.integer("webhookConnectTimeoutMs", "WEBHOOK_CONNECT_TIMEOUT_MS", in: 100...60000) {
            configuration.webhookConnectTimeout = .milliseconds(ms)
        }
        if let ms = try values.integer("webhookTimeoutMs", "WEBHOOK_TIMEOUT_MS", in: 100...120_000) {
            configuration.webhookTimeout = .milliseconds(ms)
        }
        if let cap = try values.integer("webhookConcurrency", "WEBHOOK_CONCURRENCY", in: 1...256) {
            configuration.deliveryOptions.perEndpointConcurrency = cap
        }
        if let days = try values.integer("deliveryRetentionDays", "DELIVERY_RETENTION_DAYS", in: 1...3650) {
            configuration.deliveryOptions.retention = .seconds(days * 86400)
        }
        configuration.testKillBeforeCommit = try values.integer("wharfTestKillBeforeCommit", "WHARF_TEST_KILL_BEFORE_COMMIT", in: 1...1_000_000)
        if let text = try values.string("webhookRetrySchedule", "WEBHOOK_RETRY_SCHEDULE"), !text.isEmpty {
            var delays: [Duration] = []
            // "none": one attempt, then the delivery waits in the retry console.
            for part in text.split(separator: ",") where text != "none" {
                guard let seconds = Int(part.trimmingCharacters(in: .whitespaces)), seconds >= 0 else {
                    throw ConfigurationError(
                        variable: "WEBHOOK_RETRY_SCHEDULE",
                        message: "must be a comma-separated list of delays in seconds, such as 5,30,120, or none (got '\(text)')")
                }
                delays.append(.seconds(seconds))
            }
            configuration.deliveryOptions.retryPolicy.delays = delays
        }
        if let seconds = try values.integer("jobHoldSeconds", "JOB_HOLD_SECONDS", in: 0...(30 * 86400)) {
            configuration.jobHoldWhileDisconnected = .seconds(seconds)
        }
        if let seconds = try values.integer("mediaTimeoutSeconds", "MEDIA_TIMEOUT_SECONDS", in: 1...600) {
            configuration.mediaTimeout = .seconds(seconds)
        }
        if let cost = try values.integer("bcryptCost", "BCRYPT_COST", in: 4...16) {
            configuration.bcryptCost = UInt8(cost)
        }
        if let seconds = try values.integer("httpIdleTimeoutSeconds", "HTTP_IDLE_TIMEOUT_SECONDS", in: 1...3600) {
            configuration.httpIdleTimeout = .seconds(seconds)
        }
        if let seconds = try values.integer("httpBodyTimeoutSeconds", "HTTP_BODY_TIMEOUT_SECONDS", in: 1...3600) {
            configuration.httpBodyTimeout = .seconds(seconds)
        }
        if let lag = try values.integer("eventStreamMaxLag", "EVENT_STREAM_MAX_LAG", in: 100...10_000_000) {
            configuration.eventStreamLimits.maxLag = lag
        }
        if let seconds = try values.integer("eventStreamStallSeconds", "EVENT_STREAM_STALL_SECONDS", in: 1...3600) {
            configuration.eventStreamLimits.stallTimeout = .seconds(seconds)
        }
        if let seconds = try values.integer("eventStreamPingSeconds", "EVENT_STREAM_PING_SECONDS", in: 1...3600) {
            configuration.eventStreamLimits.pingInterval = .seconds(seconds)
        }
        if let seconds = try values.integer("watchdogCommitSeconds", "WATCHDOG_COMMIT_SECONDS", in: 1...3600) {
            configuration.watchdogLimits.commitWithin = .seconds(seconds)
        }
        if let seconds = try values.integer("watchdogDeliverySeconds", "WATCHDOG_DELIVERY_SECONDS", in: 10...604_800) {
            configuration.watchdogLimits.deliverWithin = .seconds(seconds)
        }
        if let seconds = try values.integer("livenessQuietSeconds", "LIVENESS_QUIET_SECONDS", in: 0...86_400) {
            configuration.watchdogLimits.quietFor = .seconds(seconds)
        }
        if let seconds = try values.integer("livenessProbeSeconds", "LIVENESS_PROBE_SECONDS", in: 1...600) {
            configuration.watchdogLimits.probeTimeout = .seconds(seconds)
        }
        if let cap = try values.integer("maxConnections", "MAX_CONNECTIONS", in: 16...100_000) {
            configuration.maxConnections = cap
        }
        if let cap = try values.integer("maxWebhooksPerTenant", "MAX_WEBHOOKS_PER_TENANT", in: 1...1000) {
            configuration.maxWebhooksPerTenant = cap
        }
        if let cap = try values.integer("maxApiKeysPerTenant", "MAX_API_KEYS_PER_TENANT", in: 1...1000) {
            configuration.maxAPIKeysPerTenant = cap
        }
        if let cap = try values.integer("maxWebhookUrlLength", "MAX_WEBHOOK_URL_LENGTH", in: 64...8192) {
            configuration.maxWebhookURLLength = cap
        }
        if let token = try values.string("metricsToken", "METRICS_TOKEN"), !token.isEmpty {
            guard token.count >= 16 else {
                throw ConfigurationError(variable: "METRICS_TOKEN", message: "must be at least 16 characters")
            }
            configuration.metricsToken = token
        }
        if let path = try values.string("waCaFile", "WA_CA_FILE"), !path.isEmpty {
            guard let pem = FileManager.default.contents(atPath: path), String(decoding: pem, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----")
            else {
                throw ConfigurationError(variable: "WA_CA_FILE", message: "must name a readable PEM file of certificates (got '\(path)')")
            }
            configuration.extraRootsFile = path
        }
        try parseWebEngine(values, into: &configuration.webEngine)
        return configuration
    }

    private static func parseWebEngine(_ values: Values, into web: inout WebEngineConfiguration) throws {
        if let text = try values.string("waWsUrl", "WA_WS_URL"), !text.isEmpty {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "ws" || scheme == "wss",
                url.host() != nil
            else {
                throw ConfigurationError(variable: "WA_WS_URL", message: "must be a ws:// or wss:// URL (got '\(text)')")
            }
            web.url = text
        }
        if let text = try values.string("waOrigin", "WA_ORIGIN"), !text.isEmpty {
            guard let url = URL(string: text), url.scheme != nil, url.host() != nil else {
                throw ConfigurationError(variable: "WA_ORIGIN", message: "must be an origin such as https://web.whatsapp.com (got '\(text)')")
            }
            web.origin = text
        }
        if let text = try values.string("waVersion", "WA_VERSION"), !text.isEmpty {
            let parts = text.split(separator: ".").map { UInt32($0) }
            guard parts.count == 3, parts.allSatisfy({ $0 != nil }) else {
                throw ConfigurationError(
                    variable: "WA_VERSION", message: "must be WhatsApp Web's version as three numbers, such as 2.3000.1045649367 (got '\(text)')")
            }
            web.version = parts.compactMap { $0 }
        }
        if let text = try values.string("waRootKey", "WA_ROOT_KEY"), !text.isEmpty {
            guard let key = [UInt8](hex: text), key.count == 32 else {
                throw ConfigurationError(variable: "WA_ROOT_KEY", message: "must be a 32-byte Curve25519 public key in hex (64 characters)")
            }
            web.trust = ServerCertificateTrust(rootKey: key)
        }
    }

    /// Reads raw strings and turns bad ones into errors that name the variable.
    private struct Values {
        let reader: ConfigReader

        func string(_ key: String, _ variable: String) throws -> String? {
            reader.string(forKey: ConfigKey(key))?.trimmingCharacters(in: .whitespaces)
        }

        func integer(_ key: String, _ variable: String, in range: ClosedRange<Int>) throws -> Int? {
            guard let text = try string(key, variable), !text.isEmpty else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw ConfigurationError(
                    variable: variable,
                    message: "must be a whole number from \(range.lowerBound) to \(range.upperBound) (got '\(text)')")
            }
            return value
        }
    }
}

/// A configuration value Wharf cannot start with.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var variable: String
    public var message: String

    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    public var description: String { "\(variable) \(message)" }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var result = self
        while result.hasSuffix(suffix) { result.removeLast(suffix.count) }
        return result
    }
}
