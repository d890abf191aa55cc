import Foundation
import Hummingbird
import WharfCore

/// A tenant's own things: login, profile, settings and API keys; and the admin's dashboard data.
struct AccountController {
    let services: GatewayServices
    let tenants: TenantController

    struct LoginInput: Decodable {
        var username: String
        var password: String
    }

    struct LoginView: Encodable {
        var token: String
        var expiresAt: Date
        var tenantId: String
    }

    struct KeyInput: Decodable { var name: String? }

    struct KeyView: Encodable {
        var id: String
        var name: String
        var prefix: String
        var createdAt: Date
        var lastUsedAt: Date?
        /// Present only in the answer to the request that created the key.
        var key: String?

        init(_ record: APIKeyRecord, key: String? = nil) {
            id = record.id
            name = record.name
            prefix = record.prefix
            createdAt = record.createdAt
            lastUsedAt = record.lastUsedAt
            self.key = key
        }
    }

    func addSeedRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("/api/login") { request, context in try await login(request, context: context) }
        group.put("/user/settings") { request, context in try await updateSettings(request, context: context) }
        group.get("/api/dashboard-data") { _, context in
            try context.requireAdmin()
            var tenants: [DashboardTenant] = []
            for tenant in try await services.store.tenants(after: nil, limit: .max) {
                let sessions = try await services.store.sessions(scope: .tenant(tenant.id), after: nil, limit: .max)
                tenants.append(DashboardTenant(tenant: try await self.tenants.view(tenant), sessions: sessions.map(SessionController(services: services).view)))
            }
            return try JSONResponse.make(["tenants": tenants])
        }
    }

    struct DashboardTenant: Encodable {
        var tenant: TenantController.View
        var sessions: [SessionController.View]

        func encode(to encoder: any Encoder) throws {
            try tenant.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(sessions, forKey: Key(stringValue: "sessions")!)
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/v1/login") { request, context in try await login(request, context: context) }
        router.get("/v1/me") { _, context in
            switch try context.requireIdentity() {
            case .admin:
                return try JSONResponse.make(["role": "admin"])
            case .tenant(let id, _):
                guard let tenant = try await services.store.tenant(id: id) else { throw Problem.unauthorized }
                return try JSONResponse.make(Me(role: "tenant", tenant: try await tenants.view(tenant)))
            }
        }
        router.get("/v1/me/settings") { _, context in
            let id = try context.requireTenant()
            guard let tenant = try await services.store.tenant(id: id) else { throw Problem.unauthorized }
            return try JSONResponse.make(["settings": tenant.settings])
        }
        for method in [HTTPRequest.Method.put, .patch] {
            router.on("/v1/me/settings", method: method) { request, context in
                try await updateSettings(request, context: context)
            }
        }
        router.get("/v1/keys") { _, context in
            let tenantID = try context.requireTenant()
            return try JSONResponse.make(["items": try await services.store.keys(tenantID: tenantID).map { KeyView($0) }])
        }
        router.post("/v1/keys") { request, context in
            let tenantID = try context.requireTenant()
            // The name is optional, so is the body: an empty POST makes a key named "API key".
            var body = request
            let bytes = try await body.collectBody(upTo: .max)
            let input: KeyInput = bytes.readableBytes == 0 ? KeyInput(name: nil) : try await body.decodeJSON()
            let name = input.name ?? "API key"
            try Validation.name(name, field: "name")
            let key = APIKeyFormat.make()
            let record = APIKeyRecord(
                id: Identifier.make(prefix: "key"), tenantId: tenantID, name: name, prefix: APIKeyFormat.displayPrefix(key),
                keyHash: APIKeyFormat.hash(key), createdAt: services.clock.now)
            try await services.store.insertKey(record)
            return try JSONResponse.make(KeyView(record, key: key), status: .created)
        }
        router.delete("/v1/keys/:keyId") { _, context in
            let tenantID = try context.requireTenant()
            let id = try context.parameters.require("keyId")
            guard try await services.store.revokeKey(id: id, tenantID: tenantID, at: services.clock.now) else {
                throw Problem.notFound("API key '\(id)'")
            }
            return JSONResponse.noContent()
        }
    }

    struct Me: Encodable {
        var role: String
        var tenant: TenantController.View
    }

    // MARK: Handlers

    private func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input: LoginInput = try await request.decodeJSON()
        let user = try await services.authenticateTenant(
            username: input.username, password: input.password, clientAddress: context.clientAddress)
        let (token, expiresAt) = try await services.tokens.issue(userID: user.id, tenantID: user.tenantId)
        return try JSONResponse.make(LoginView(token: token, expiresAt: expiresAt, tenantId: user.tenantId))
    }

    /// Merges the given members into the tenant's settings (a member set to null is removed).
    /// Accepts `{"settings": {…}}` or the members themselves, as the seed's dashboard sent them.
    private func updateSettings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenantID = try context.requireTenant()
        let body: JSONValue = try await request.decodeJSON()
        guard var patch = body.objectValue else { throw Problem.badRequest("the request body must be a JSON object") }
        if patch.count == 1, let inner = patch["settings"] {
            guard let members = inner.objectValue else {
                throw Problem.unprocessable("field 'settings' must be a JSON object", field: "settings")
            }
            patch = members
        }
        guard var tenant = try await services.store.tenant(id: tenantID) else { throw Problem.unauthorized }
        var settings = tenant.settings.objectValue ?? [:]
        for (key, value) in patch {
            if value == .null { settings[key] = nil } else { settings[key] = value }
        }
        tenant.settings = try Validation.settings(.object(settings))
        tenant.updatedAt = services.clock.now
        try await services.store.updateTenant(tenant)
        services.eventSink.invalidate()
        return try JSONResponse.make(["settings": JSONValue.object(settings)])
    }
}
