import Foundation
import Hummingbird
import Outbox
import WharfCore

/// A tenant's webhook endpoints (`/v1/webhooks`): create (the secret is shown once), update,
/// delete, rotate and reveal the secret, re-enable, and send a test event.
struct WebhookController {
    let services: GatewayServices
    let lookup: Lookup

    struct HeaderInput: Decodable {
        var name: String
        var value: String
    }

    struct BasicAuthInput: Decodable {
        var username: String
        var password: String
    }

    struct Input: Decodable {
        var url: String?
        var eventTypes: [String]?
        /// `null` removes it.
        var header: HeaderInput??
        var basicAuth: BasicAuthInput??
        var enabled: Bool?
        var tenantId: String?

        enum CodingKeys: String, CodingKey { case url, eventTypes, header, basicAuth, enabled, tenantId }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            eventTypes = try container.decodeIfPresent([String].self, forKey: .eventTypes)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled)
            tenantId = try container.decodeIfPresent(String.self, forKey: .tenantId)
            if container.contains(.header) {
                header = .some(try container.decodeNil(forKey: .header) ? nil : try container.decode(HeaderInput.self, forKey: .header))
            }
            if container.contains(.basicAuth) {
                basicAuth = .some(
                    try container.decodeNil(forKey: .basicAuth) ? nil : try container.decode(BasicAuthInput.self, forKey: .basicAuth))
            }
        }
    }

    struct RotateInput: Decodable { var overlapSeconds: Int? }

    struct View: ResponseEncodable {
        var id: String
        var tenantId: String
        var url: String
        var eventTypes: [String]
        var headerName: String?
        var basicAuthUsername: String?
        var enabled: Bool
        var disabledReason: String?
        var breaker: String
        var failureStreak: Int
        var failingSince: Date?
        var lastSuccessAt: Date?
        var lastFailureAt: Date?
        var previousSecretExpiresAt: Date?
        var createdAt: Date
        var updatedAt: Date
        /// Present only when the secret was just created or rotated.
        var secret: String?

        init(_ endpoint: WebhookEndpoint, breaker: CircuitBreaker?, secret: String? = nil) {
            id = endpoint.id
            tenantId = endpoint.tenantId
            url = endpoint.url
            eventTypes = endpoint.eventTypes.patterns
            headerName = endpoint.headerName
            basicAuthUsername = endpoint.basicUser
            enabled = endpoint.isEnabled
            disabledReason = endpoint.disabledReason
            let state = (breaker ?? endpoint.breaker).state
            self.breaker = state.name
            switch state {
            case .closed(let failures, let since):
                failureStreak = failures
                failingSince = since
            case .open(let since, _), .halfOpen(let since):
                failureStreak = 0
                failingSince = since
            case .disabled:
                failureStreak = endpoint.failureStreak
                failingSince = endpoint.failingSince
            }
            lastSuccessAt = endpoint.lastSuccessAt
            lastFailureAt = endpoint.lastFailureAt
            previousSecretExpiresAt =
                endpoint.previousSecret == nil ? nil : endpoint.previousSecretUntil
            createdAt = endpoint.createdAt
            updatedAt = endpoint.updatedAt
            self.secret = secret
        }
    }

    /// Adds the routes under `group`, which is `/v1`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("webhooks", use: list)
        group.post("webhooks", use: create)
        group.get("webhooks/:webhookId", use: get)
        group.patch("webhooks/:webhookId", use: update)
        group.put("webhooks/:webhookId", use: update)
        group.delete("webhooks/:webhookId", use: delete)
        group.post("webhooks/:webhookId/rotate", use: rotate)
        group.get("webhooks/:webhookId/secret", use: secret)
        group.post("webhooks/:webhookId/enable", use: enable)
        group.post("webhooks/:webhookId/replay-missed", use: replayMissed)
        group.post("webhooks/:webhookId/test", use: test)
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> [String: [View]] {
        let identity = try context.requireIdentity()
        let endpoints: [WebhookEndpoint]
        switch identity.scope {
        case .tenant(let id): endpoints = try await services.outbox.endpoints(tenantID: id)
        case .everything:
            if let tenantID = request.uri.queryParameters.get("tenantId") {
                endpoints = try await services.outbox.endpoints(tenantID: tenantID)
            } else {
                endpoints = try await services.outbox.allEndpoints()
            }
        }
        return ["items": endpoints.map(lookup.webhookView)]
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<View> {
        let identity = try context.requireIdentity()
        let input = try await request.decode(as: Input.self, context: context)
        let tenantID: String
        switch identity {
        case .tenant(let id, _): tenantID = id
        case .admin:
            guard let id = input.tenantId else {
                throw Problem.badRequest("field 'tenantId' is required when the administrator creates a webhook", field: "tenantId")
            }
            tenantID = try await lookup.tenant(id: id).id
        }
        let url = try Validation.required(input.url, "url")
        let cap = services.configuration.maxWebhooksPerTenant
        guard try await services.outbox.endpoints(tenantID: tenantID).count < cap else {
            throw Problem.conflict("the tenant already has \(cap) webhooks, the most allowed (MAX_WEBHOOKS_PER_TENANT); delete one first")
        }
        let secret = WebhookSecret.generate()
        var endpoint = WebhookEndpoint(
            id: Identifier.make(prefix: "whk"), tenantId: tenantID, url: try services.validateWebhookURL(url, field: "url"),
            secret: secret, now: services.clock.now)
        try apply(input, to: &endpoint)
        try await services.outbox.insertEndpoint(endpoint)
        services.delivery.endpointsChanged()
        return EditedResponse(status: .created, response: View(endpoint, breaker: nil, secret: secret.encoded))
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> View {
        lookup.webhookView(try await lookup.webhook(context))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> View {
        var endpoint = try await lookup.webhook(context)
        let input = try await request.decode(as: Input.self, context: context)
        if let url = input.url { endpoint.url = try services.validateWebhookURL(url, field: "url") }
        let wasEnabled = endpoint.isEnabled
        try apply(input, to: &endpoint)
        endpoint.updatedAt = services.clock.now
        try await services.outbox.updateEndpoint(endpoint)
        if endpoint.isEnabled && !wasEnabled {
            try await services.outbox.enableEndpoint(id: endpoint.id, now: services.clock.now)
        }
        services.delivery.endpointsChanged()
        return lookup.webhookView(try await lookup.webhook(context))
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let endpoint = try await lookup.webhook(context)
        try await services.outbox.deleteEndpoint(id: endpoint.id)
        services.delivery.endpointsChanged()
        return .noContent
    }

    @Sendable func rotate(_ request: Request, context: AppRequestContext) async throws -> View {
        var endpoint = try await lookup.webhook(context)
        let input =
            request.headers[.contentLength].flatMap(Int.init) ?? 0 > 0
            ? try await request.decode(as: RotateInput.self, context: context) : RotateInput()
        let overlap = input.overlapSeconds ?? 86400
        guard (0...(7 * 86400)).contains(overlap) else {
            throw Problem.unprocessable("field 'overlapSeconds' must be from 0 to 604800 (7 days)", field: "overlapSeconds")
        }
        let secret = WebhookSecret.generate()
        let now = services.clock.now
        endpoint.previousSecret = overlap > 0 ? endpoint.secret : nil
        endpoint.previousSecretUntil = overlap > 0 ? now.addingTimeInterval(TimeInterval(overlap)) : nil
        endpoint.secret = secret.encoded
        endpoint.updatedAt = now
        try await services.outbox.updateEndpoint(endpoint)
        services.delivery.endpointsChanged()
        return View(endpoint, breaker: nil, secret: secret.encoded)
    }

    @Sendable func secret(_ request: Request, context: AppRequestContext) async throws -> SecretView {
        let endpoint = try await lookup.webhook(context)
        let now = services.clock.now
        let previous = endpoint.signingSecrets(now: now).count > 1 ? endpoint.previousSecret : nil
        return SecretView(
            secret: endpoint.secret, previousSecret: previous, previousSecretExpiresAt: previous == nil ? nil : endpoint.previousSecretUntil)
    }

    @Sendable func enable(_ request: Request, context: AppRequestContext) async throws -> View {
        let endpoint = try await lookup.webhook(context)
        try await services.outbox.enableEndpoint(id: endpoint.id, now: services.clock.now)
        services.delivery.endpointsChanged()
        return lookup.webhookView(try await lookup.webhook(context))
    }

    struct RevivedView: ResponseEncodable {
        var webhook: View
        /// Failed deliveries queued again, and held ones made due now.
        var requeued: Int
        /// Events stored while it was disabled, now on their way.
        var added: Int
    }

    /// Re-enables the endpoint and replays what it missed (``OutboxStore/reviveEndpoint(id:now:)``):
    /// the one click its banner offers.
    @Sendable func replayMissed(_ request: Request, context: AppRequestContext) async throws -> RevivedView {
        let endpoint = try await lookup.webhook(context)
        guard let revival = try await services.outbox.reviveEndpoint(id: endpoint.id, now: services.clock.now) else {
            throw Problem.notFound("webhook")
        }
        services.delivery.endpointsChanged()
        services.watchdog.endpointRevived(endpoint.id)
        return RevivedView(webhook: lookup.webhookView(try await lookup.webhook(context)), requeued: revival.requeued, added: revival.added)
    }

    /// Queues a `webhook.test` event for this endpoint alone, and names its delivery.
    @Sendable func test(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TestView> {
        let endpoint = try await lookup.webhook(context)
        guard let tenant = try await services.store.tenant(id: endpoint.tenantId) else { throw Problem.notFound("tenant") }
        let now = services.clock.now
        let envelope = EventEnvelope(
            id: Identifier.make(prefix: "evt"), type: EventType.webhookTest.rawValue, timestamp: now,
            tenant: .init(id: tenant.id, name: tenant.name), session: nil,
            data: ["message": "This is a test event from Wharf.", "endpoint_id": .string(endpoint.id)],
            settings: tenant.settings)
        try await services.outbox.accept(
            OutboxEvent(
                id: envelope.id, tenantID: tenant.id, sessionID: nil, type: envelope.type, payload: try envelope.encoded(),
                createdAt: now), onlyTo: endpoint.id)
        services.delivery.wake()
        let delivery = try await services.outbox.deliveries(
            matching: DeliveryFilter(tenantID: tenant.id, endpointID: endpoint.id, type: envelope.type), before: nil, limit: 1
        ).first
        return EditedResponse(status: .accepted, response: TestView(eventId: envelope.id, deliveryId: delivery?.id))
    }

    struct SecretView: ResponseEncodable {
        var secret: String
        var previousSecret: String?
        var previousSecretExpiresAt: Date?
    }

    struct TestView: ResponseEncodable {
        var eventId: String
        var deliveryId: Int64?
    }

    /// NUL, CR, LF and the other C0 controls (tab aside) and DEL, which no header may carry: libcurl
    /// would cut the value at a NUL, and CR or LF would split the request.
    static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }
    }

    private func apply(_ input: Input, to endpoint: inout WebhookEndpoint) throws {
        if let types = input.eventTypes {
            for type in types {
                guard Validation.isEventTypePattern(type) else {
                    throw Problem.unprocessable(
                        "field 'eventTypes': '\(type)' is not an event type such as 'message.received' or 'message.*'",
                        field: "eventTypes")
                }
            }
            endpoint.eventTypes = EventFilter(types)
        }
        if let header = input.header {
            if let header {
                let name = header.name.trimmingCharacters(in: .whitespaces)
                // Framing, hop-by-hop and Wharf's own headers: a static header may not change how the
                // request is read or where it goes.
                let forbidden = [
                    "content-type", "content-length", "host", "authorization", "user-agent", "transfer-encoding", "connection", "keep-alive",
                    "te", "trailer", "upgrade", "expect", "proxy-authorization", "proxy-connection",
                ]
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
                    !forbidden.contains(name.lowercased()), !name.lowercased().hasPrefix("webhook-")
                else {
                    throw Problem.unprocessable(
                        "field 'header.name' must be a custom header name of letters, digits and '-' (not a standard or webhook- header)",
                        field: "header.name")
                }
                guard !Self.hasControlCharacters(header.value), header.value.utf8.count <= 1024 else {
                    throw Problem.unprocessable(
                        "field 'header.value' must be one line of at most 1024 bytes with no control characters (NUL, CR, LF…)",
                        field: "header.value")
                }
                endpoint.headerName = name
                endpoint.headerValue = header.value
            } else {
                endpoint.headerName = nil
                endpoint.headerValue = nil
            }
        }
        if let basic = input.basicAuth {
            if let basic {
                guard !basic.username.isEmpty, !basic.username.contains(":"), !Self.hasControlCharacters(basic.username) else {
                    throw Problem.unprocessable(
                        "field 'basicAuth.username' must be non-empty and contain no ':' or control characters", field: "basicAuth.username")
                }
                guard !Self.hasControlCharacters(basic.password) else {
                    throw Problem.unprocessable("field 'basicAuth.password' must contain no control characters", field: "basicAuth.password")
                }
                endpoint.basicUser = basic.username
                endpoint.basicPassword = basic.password
            } else {
                endpoint.basicUser = nil
                endpoint.basicPassword = nil
            }
        }
        if let enabled = input.enabled {
            endpoint.isEnabled = enabled
            if !enabled { endpoint.disabledReason = WebhookEndpoint.disabledByTenant }
        }
    }
}
