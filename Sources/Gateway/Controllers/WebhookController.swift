import Foundation
import Hummingbird
import Outbox
import WharfCore

/// A tenant's webhook endpoints (`/v1/webhooks`): create (the secret is shown once), update,
/// delete, rotate and reveal the secret, re-enable, and send a test event.
struct WebhookController {
    let services: GatewayServices

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

    struct View: Encodable {
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
            switch state {
            case .closed(let failures, let since):
                self.breaker = "closed"
                failureStreak = failures
                failingSince = since
            case .open(let since, _):
                self.breaker = "open"
                failureStreak = 0
                failingSince = since
            case .halfOpen(let since):
                self.breaker = "half_open"
                failureStreak = 0
                failingSince = since
            case .disabled:
                self.breaker = "disabled"
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

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/v1/webhooks") { request, context in
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
            return try JSONResponse.make(["items": endpoints.map(view)])
        }
        router.post("/v1/webhooks") { request, context in
            let identity = try context.requireIdentity()
            let input: Input = try await request.decodeJSON()
            let tenantID: String
            switch identity {
            case .tenant(let id, _): tenantID = id
            case .admin:
                guard let id = input.tenantId else {
                    throw Problem.badRequest("field 'tenantId' is required when the administrator creates a webhook", field: "tenantId")
                }
                guard try await services.store.tenant(id: id) != nil else { throw Problem.notFound("tenant '\(id)'") }
                tenantID = id
            }
            guard let url = input.url else { throw Problem.badRequest("field 'url' is required", field: "url") }
            let secret = WebhookSecret.generate()
            var endpoint = WebhookEndpoint(
                id: Identifier.make(prefix: "whk"), tenantId: tenantID, url: try services.validateWebhookURL(url, field: "url"),
                secret: secret, now: services.clock.now)
            try apply(input, to: &endpoint)
            try await services.outbox.insertEndpoint(endpoint)
            services.delivery.endpointsChanged()
            return try JSONResponse.make(View(endpoint, breaker: nil, secret: secret.encoded), status: .created)
        }
        router.get("/v1/webhooks/:webhookId") { _, context in
            try JSONResponse.make(view(try await find(context)))
        }
        for method in [HTTPRequest.Method.patch, .put] {
            router.on("/v1/webhooks/:webhookId", method: method) { request, context in
                var endpoint = try await find(context)
                let input: Input = try await request.decodeJSON()
                if let url = input.url { endpoint.url = try services.validateWebhookURL(url, field: "url") }
                let wasEnabled = endpoint.isEnabled
                try apply(input, to: &endpoint)
                endpoint.updatedAt = services.clock.now
                try await services.outbox.updateEndpoint(endpoint)
                if endpoint.isEnabled && !wasEnabled {
                    try await services.outbox.enableEndpoint(id: endpoint.id, now: services.clock.now)
                }
                services.delivery.endpointsChanged()
                return try JSONResponse.make(view(try await find(context)))
            }
        }
        router.delete("/v1/webhooks/:webhookId") { _, context in
            let endpoint = try await find(context)
            try await services.outbox.deleteEndpoint(id: endpoint.id)
            services.delivery.endpointsChanged()
            return JSONResponse.noContent()
        }
        router.post("/v1/webhooks/:webhookId/rotate") { request, context in
            var endpoint = try await find(context)
            let input: RotateInput =
                request.headers[.contentLength].flatMap(Int.init) ?? 0 > 0 ? try await request.decodeJSON() : RotateInput()
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
            return try JSONResponse.make(View(endpoint, breaker: nil, secret: secret.encoded))
        }
        router.get("/v1/webhooks/:webhookId/secret") { _, context in
            let endpoint = try await find(context)
            let now = services.clock.now
            let previous = endpoint.signingSecrets(now: now).count > 1 ? endpoint.previousSecret : nil
            return try JSONResponse.make(
                SecretView(
                    secret: endpoint.secret, previousSecret: previous,
                    previousSecretExpiresAt: previous == nil ? nil : endpoint.previousSecretUntil))
        }
        router.post("/v1/webhooks/:webhookId/enable") { _, context in
            let endpoint = try await find(context)
            try await services.outbox.enableEndpoint(id: endpoint.id, now: services.clock.now)
            services.delivery.endpointsChanged()
            return try JSONResponse.make(view(try await find(context)))
        }
        router.post("/v1/webhooks/:webhookId/test") { _, context in
            let endpoint = try await find(context)
            guard let tenant = try await services.store.tenant(id: endpoint.tenantId) else { throw Problem.notFound("tenant") }
            let now = services.clock.now
            let envelope = EventEnvelope(
                id: Identifier.make(prefix: "evt"), type: "webhook.test", timestamp: now,
                tenant: .init(id: tenant.id, name: tenant.name), session: nil,
                data: ["message": "This is a test event from Wharf.", "endpoint_id": .string(endpoint.id)],
                settings: tenant.settings)
            try await services.outbox.accept(
                OutboxEvent(
                    id: envelope.id, tenantID: tenant.id, sessionID: nil, type: envelope.type, payload: try envelope.encoded(),
                    createdAt: now), onlyTo: endpoint.id)
            services.delivery.wake()
            let delivery = try await services.outbox.deliveries(
                matching: DeliveryFilter(tenantID: tenant.id, endpointID: endpoint.id, type: "webhook.test"), before: nil, limit: 1
            ).first
            return try JSONResponse.make(TestView(eventId: envelope.id, deliveryId: delivery?.id), status: .accepted)
        }
    }

    struct SecretView: Encodable {
        var secret: String
        var previousSecret: String?
        var previousSecretExpiresAt: Date?
    }

    struct TestView: Encodable {
        var eventId: String
        var deliveryId: Int64?
    }

    func view(_ endpoint: WebhookEndpoint) -> View {
        View(endpoint, breaker: services.delivery.breaker(for: endpoint.id))
    }

    private func apply(_ input: Input, to endpoint: inout WebhookEndpoint) throws {
        if let types = input.eventTypes {
            for type in types {
                let valid = !type.isEmpty && type.count <= 64
                    && type.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._*".contains($0)) }
                guard valid else {
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
                let forbidden = ["content-type", "content-length", "host", "authorization", "user-agent"]
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
                    !forbidden.contains(name.lowercased()), !name.lowercased().hasPrefix("webhook-")
                else {
                    throw Problem.unprocessable(
                        "field 'header.name' must be a custom header name of letters, digits and '-' (not a standard or webhook- header)",
                        field: "header.name")
                }
                guard !header.value.contains("\r"), !header.value.contains("\n"), header.value.count <= 1024 else {
                    throw Problem.unprocessable("field 'header.value' must be one line of at most 1024 characters", field: "header.value")
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
                guard !basic.username.isEmpty, !basic.username.contains(":") else {
                    throw Problem.unprocessable("field 'basicAuth.username' must be non-empty and contain no ':'", field: "basicAuth.username")
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
            if !enabled { endpoint.disabledReason = "disabled by the tenant" }
        }
    }

    private func find(_ context: AppRequestContext) async throws -> WebhookEndpoint {
        let id = try context.parameters.require("webhookId")
        guard let endpoint = try await services.outbox.endpoint(id: id, tenantID: try context.requireIdentity().scope.tenantID) else {
            throw Problem.notFound("webhook '\(id)'")
        }
        return endpoint
    }
}
