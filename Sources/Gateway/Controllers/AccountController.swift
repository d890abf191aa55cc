import Foundation
import Hummingbird
import WharfCore

/// A tenant's own things (`/v1/login`, `/v1/me…`, `/v1/keys…`): login, profile, settings and API keys.
struct AccountController {
    let services: GatewayServices
    let lookup: Lookup

    struct LoginInput: Decodable {
        var username: String
        var password: String
    }

    struct LoginView: ResponseEncodable {
        var token: String
        var expiresAt: Date
        var tenantId: String
    }

    /// The caller: the administrator (`{"role":"admin"}`), or a tenant with its profile.
    struct Me: ResponseEncodable {
        var role: String
        var tenant: TenantController.View?
    }

    struct KeyInput: Decodable { var name: String? }

    struct KeyView: ResponseEncodable {
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

    /// Adds the routes under `group`, which is `/v1`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("login", use: login)
        group.get("me", use: me)
        group.get("me/settings", use: settings)
        group.put("me/settings", use: updateSettings)
        group.patch("me/settings", use: updateSettings)
        group.post("me/tokens/revoke", use: revokeTokens)
        group.get("keys", use: keys)
        group.post("keys", use: createKey)
        group.delete("keys/:keyId", use: revokeKey)
    }

    // MARK: Handlers

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> LoginView {
        let input = try await request.decode(as: LoginInput.self, context: context)
        let user = try await services.authenticateTenant(
            username: input.username, password: input.password, clientAddress: context.clientAddress)
        let (token, expiresAt) = try await services.tokens.issue(userID: user.id, tenantID: user.tenantId, version: user.tokenVersion)
        return LoginView(token: token, expiresAt: expiresAt, tenantId: user.tenantId)
    }

    /// Voids every login token of the tenant (this one included); API keys are revoked one by one.
    @Sendable func revokeTokens(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let tenantID = try context.requireTenant()
        guard var user = try await services.store.user(tenantID: tenantID) else { throw Problem.unauthorized }
        user.tokenVersion += 1
        try await services.store.updateUser(user)
        return .noContent
    }

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> Me {
        switch try context.requireIdentity() {
        case .admin:
            return Me(role: "admin")
        case .tenant(let id, _):
            guard let tenant = try await services.store.tenant(id: id) else { throw Problem.unauthorized }
            return Me(role: "tenant", tenant: try await lookup.tenantView(tenant))
        }
    }

    @Sendable func settings(_ request: Request, context: AppRequestContext) async throws -> [String: JSONValue] {
        let id = try context.requireTenant()
        guard let tenant = try await services.store.tenant(id: id) else { throw Problem.unauthorized }
        return ["settings": tenant.settings]
    }

    /// Merges the given members into the tenant's settings (a member set to null is removed).
    /// Accepts `{"settings": {…}}` or the members themselves, as the seed's dashboard sent them.
    @Sendable func updateSettings(_ request: Request, context: AppRequestContext) async throws -> [String: JSONValue] {
        let tenantID = try context.requireTenant()
        let body = try await request.decode(as: JSONValue.self, context: context)
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
        if patch[PresenceSetting.key] != nil { try await services.presence.tenantChanged(tenantID, settings: tenant.settings) }
        return ["settings": .object(settings)]
    }

    @Sendable func keys(_ request: Request, context: AppRequestContext) async throws -> [String: [KeyView]] {
        let tenantID = try context.requireTenant()
        return ["items": try await services.store.keys(tenantID: tenantID).map { KeyView($0) }]
    }

    @Sendable func createKey(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<KeyView> {
        let tenantID = try context.requireTenant()
        // The name is optional, so is the body: an empty POST makes a key named "API key".
        var body = request
        let bytes = try await body.collectBody(upTo: .max)
        let input = bytes.readableBytes == 0 ? KeyInput(name: nil) : try await body.decode(as: KeyInput.self, context: context)
        let name = input.name ?? "API key"
        try Validation.name(name, field: "name")
        let cap = services.configuration.maxAPIKeysPerTenant
        guard try await services.store.keys(tenantID: tenantID).filter({ $0.revokedAt == nil }).count < cap else {
            throw Problem.conflict("the tenant already has \(cap) API keys, the most allowed (MAX_API_KEYS_PER_TENANT); revoke one first")
        }
        let key = APIKeyFormat.make()
        let record = APIKeyRecord(
            id: Identifier.make(prefix: "key"), tenantId: tenantID, name: name, prefix: APIKeyFormat.displayPrefix(key),
            keyHash: APIKeyFormat.hash(key), createdAt: services.clock.now)
        try await services.store.insertKey(record)
        return EditedResponse(status: .created, response: KeyView(record, key: key))
    }

    @Sendable func revokeKey(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let tenantID = try context.requireTenant()
        let id = try context.parameters.require("keyId")
        guard try await services.store.revokeKey(id: id, tenantID: tenantID, at: services.clock.now) else {
            throw Problem.notFound("API key '\(id)'")
        }
        return .noContent
    }
}
