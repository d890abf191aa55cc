import Crypto
import Foundation
import Logging
import Outbox
import Synchronization
import WharfCore

/// What controllers share: stores, auth pieces, the session manager, settings.
struct GatewayServices: Sendable {
    let store: SQLiteGatewayStore
    let configuration: WharfConfiguration
    let hasher: PasswordHasher
    let tokens: TokenIssuer
    let webSessions: WebSessions
    let adminPasswordHash: String
    /// A hash of a random password, checked when a username does not exist (equal timing).
    let decoyPasswordHash: String
    let limiter: LoginLimiter
    let sessions: SessionManager
    let events: SessionEventHub
    let outbox: OutboxStore
    let delivery: DeliveryService
    let eventSink: OutboxEventSink
    let presence: PresenceKeeper
    let watchdog: Watchdog
    let clock: any WharfClock
    let logger: Logger
    /// The port the server bound, known once it listens (`PORT=0` picks one).
    let boundPort: BoundPort

    var outboundPolicy: OutboundPolicy { configuration.outboundPolicy }

    /// Who a request comes from: the router's middleware and the event WebSocket's upgrade ask the same.
    var authenticator: Authenticator {
        var authenticator = Authenticator(
            store: store, tokens: tokens, webSessions: webSessions,
            adminKeyDigest: configuration.adminAPIKey.map { SHA256.hash(data: Data($0.utf8)) }, clock: clock, logger: logger)
        authenticator.metricsTokenDigest = configuration.metricsToken.map { SHA256.hash(data: Data($0.utf8)) }
        return authenticator
    }

    /// Where people and Meta reach Wharf: `PUBLIC_URL`, else this machine on the bound port.
    var baseURL: String { Self.baseURL(configuration: configuration, boundPort: boundPort) }

    static func baseURL(configuration: WharfConfiguration, boundPort: BoundPort) -> String {
        if configuration.publicURL != nil { return configuration.baseURL }
        return "http://localhost:\(boundPort.value ?? configuration.port)"
    }

    /// Checks a tenant's username and password (the API's login and the dashboard's), with the
    /// same lockout and the same timing whether or not the username exists.
    ///
    /// - Throws: ``LoginError``.
    func authenticateTenant(username: String, password: String, clientAddress: String) async throws -> TenantUserRecord {
        let attempt = try limiter.begin(account: "tenant:\(username)", address: clientAddress).get()
        let user = try await store.user(username: username)
        let matches = try await hasher.verify(password, hash: user?.passwordHash ?? decoyPasswordHash)
        guard let user, matches else { throw LoginError.wrongCredentials }
        limiter.succeeded(attempt)
        return user
    }

    /// Checks the administrator's password with the same throttling (everyone may try this one
    /// account, so its budget for unknown addresses is the global ceiling).
    func authenticateAdmin(password: String, clientAddress: String) async throws {
        let attempt = try limiter.begin(account: "admin", address: clientAddress).get()
        guard try await hasher.verify(password, hash: adminPasswordHash) else { throw LoginError.wrongCredentials }
        limiter.succeeded(attempt)
    }

    /// The URL of a tenant's first webhook endpoint: what the seed called its webhook URL.
    func seedWebhookURL(tenantID: String) async throws -> String? {
        try await outbox.endpoints(tenantID: tenantID).first?.url
    }

    /// Points the tenant's first endpoint at `url` (creating it), or deletes it for `nil`.
    func setSeedWebhookURL(_ url: String?, tenantID: String) async throws {
        let first = try await outbox.endpoints(tenantID: tenantID).first
        switch (first, url) {
        case (nil, let url?):
            try await outbox.insertEndpoint(
                WebhookEndpoint(id: Identifier.make(prefix: "whk"), tenantId: tenantID, url: url, secret: .generate(), now: clock.now))
        case (var endpoint?, let url?):
            endpoint.url = url
            endpoint.updatedAt = clock.now
            try await outbox.updateEndpoint(endpoint)
        case (let endpoint?, nil):
            try await outbox.deleteEndpoint(id: endpoint.id)
        case (nil, nil):
            return
        }
        delivery.endpointsChanged()
    }

    /// Checks a webhook URL the way deliveries will: absolute http(s) and allowed by the policy.
    func validateWebhookURL(_ text: String, field: String = "webhookUrl") throws -> String {
        guard text.utf8.count <= configuration.maxWebhookURLLength else {
            throw Problem.unprocessable(
                "field '\(field)' must be at most \(configuration.maxWebhookURLLength) bytes (MAX_WEBHOOK_URL_LENGTH)", field: field)
        }
        _ = try outboundPolicy.url(in: text, field: field)
        return text
    }
}

/// The listening port, set once the server has bound it.
final class BoundPort: Sendable {
    private let port = Atomic<Int>(0)
    init() {}
    var value: Int? {
        let port = port.load(ordering: .relaxed)
        return port == 0 ? nil : port
    }
    func set(_ value: Int) { port.store(value, ordering: .relaxed) }
}
