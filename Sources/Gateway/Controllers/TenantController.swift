import Foundation
import Hummingbird
import Outbox
import WharfCore

/// The administrator's tenant routes (`/v1/tenants…`); the seed's `/api/tenants…` (``LegacyController``)
/// call the same handlers.
struct TenantController {
    let services: GatewayServices
    let lookup: Lookup

    struct Input: Decodable {
        var name: String?
        var username: String?
        var password: String?
        var webhookUrl: String?
        var maxSessions: Int?
        var settings: JSONValue?
    }

    struct View: ResponseEncodable {
        var id: String
        var name: String
        var username: String?
        var webhookUrl: String?
        var maxSessions: Int
        var sessionCount: Int
        var settings: JSONValue
        var createdAt: Date
        var updatedAt: Date
    }

    struct PasswordInput: Decodable { var password: String }

    /// Adds the routes under `group`, which is `/v1`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("tenants", use: list)
        group.post("tenants", use: create)
        group.get("tenants/:tenantId", use: get)
        group.patch("tenants/:tenantId", use: update)
        group.put("tenants/:tenantId", use: update)
        group.delete("tenants/:tenantId", use: delete)
        group.post("tenants/:tenantId/password", use: setPassword)
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Page<View> {
        try context.requireAdmin()
        let limit = try Pagination.limit(request)
        let rows = try await services.store.tenants(after: try Pagination.cursor(request), limit: limit)
        var views: [View] = []
        for row in rows { views.append(try await lookup.tenantView(row)) }
        return Page(
            items: views, nextCursor: rows.count == limit ? rows.last.map { PageCursor(createdAt: $0.createdAt, id: $0.id).token } : nil)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> View {
        try context.requireAdmin()
        return try await lookup.tenantView(try await lookup.tenant(id: context.parameters.require("tenantId")))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<View> {
        try context.requireAdmin()
        let input = try await request.decode(as: Input.self, context: context)
        guard let name = input.name?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty else {
            throw ValidationError.missing(field: "name", detail: "field 'name' is required")
        }
        let username = try Validation.required(input.username, "username")
        let password = try Validation.required(input.password, "password")
        try Validation.username(username)
        try Validation.password(password)
        try Validation.name(name, field: "name")
        let maxSessions = try Validation.maxSessions(input.maxSessions ?? 1)
        let webhookURL = try input.webhookUrl.flatMap { $0.isEmpty ? nil : try services.validateWebhookURL($0) }
        let settings = try Validation.settings(input.settings ?? .object([:]))
        let now = services.clock.now
        let tenant = TenantRecord(
            id: Identifier.make(prefix: "ten"), name: name, maxSessions: maxSessions,
            settings: settings, createdAt: now, updatedAt: now)
        let user = TenantUserRecord(
            id: Identifier.make(prefix: "usr"), tenantId: tenant.id, username: username,
            passwordHash: try await services.hasher.hash(password), createdAt: now, passwordChangedAt: now)
        do {
            try await services.store.createTenant(tenant, user: user)
        } catch StoreError.usernameTaken(let name) {
            throw Problem.conflict("the username '\(name)' is already taken")
        }
        if let webhookURL { try await services.setSeedWebhookURL(webhookURL, tenantID: tenant.id) }
        return EditedResponse(status: .created, response: try await lookup.tenantView(tenant))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> View {
        try context.requireAdmin()
        let id = try context.parameters.require("tenantId")
        var tenant = try await lookup.tenant(id: id)
        let input = try await request.decode(as: Input.self, context: context)
        if let name = input.name {
            try Validation.name(name, field: "name")
            tenant.name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Everything is checked before anything is written: a refused field changes nothing.
        let webhookURL = try input.webhookUrl.map { $0.isEmpty ? "" : try services.validateWebhookURL($0) }
        if let max = input.maxSessions { tenant.maxSessions = try Validation.maxSessions(max) }
        // Only a change of the presence setting is applied to running sessions at once.
        let presenceBefore = tenant.settings[PresenceSetting.key]
        if let settings = input.settings { tenant.settings = try Validation.settings(settings) }
        if let username = input.username { try Validation.username(username) }
        if let password = input.password { try Validation.password(password) }
        if input.username != nil || input.password != nil {
            guard var user = try await services.store.user(tenantID: id) else { throw Problem.notFound("the tenant's login") }
            if let username = input.username { user.username = username }
            if let password = input.password {
                user.passwordHash = try await services.hasher.hash(password)
                user.passwordChangedAt = services.clock.now
                user.tokenVersion += 1
            }
            do {
                try await services.store.updateUser(user)
            } catch StoreError.usernameTaken(let name) {
                throw Problem.conflict("the username '\(name)' is already taken")
            }
            if input.password != nil { try await services.store.deleteWebSessions(tenantID: id) }
        }
        if let webhookURL { try await services.setSeedWebhookURL(webhookURL.isEmpty ? nil : webhookURL, tenantID: id) }
        tenant.updatedAt = services.clock.now
        try await services.store.updateTenant(tenant)
        services.eventSink.invalidate()
        if tenant.settings[PresenceSetting.key] != presenceBefore { try await services.presence.tenantChanged(id, settings: tenant.settings) }
        return try await lookup.tenantView(tenant)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        try await remove(context)
        return .noContent
    }

    /// Deletes the tenant of the `:tenantId` parameter with everything it owns, its sessions logged out first.
    func remove(_ context: AppRequestContext) async throws {
        try context.requireAdmin()
        let id = try context.parameters.require("tenantId")
        _ = try await lookup.tenant(id: id)
        for session in try await services.store.sessions(scope: .tenant(id), after: nil, limit: .max) {
            await services.sessions.logout(sessionID: session.id)
        }
        _ = try await services.store.deleteTenantCascade(id: id, outbox: services.outbox)
        services.delivery.endpointsChanged()
    }

    @Sendable func setPassword(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        try context.requireAdmin()
        let tenant = try await lookup.tenant(id: context.parameters.require("tenantId"))
        let input = try await request.decode(as: PasswordInput.self, context: context)
        try Validation.password(input.password)
        guard var user = try await services.store.user(tenantID: tenant.id) else { throw Problem.notFound("the tenant's login") }
        user.passwordHash = try await services.hasher.hash(input.password)
        user.passwordChangedAt = services.clock.now
        user.tokenVersion += 1
        try await services.store.updateUser(user)
        // A new password logs the tenant's browsers out.
        try await services.store.deleteWebSessions(tenantID: tenant.id)
        return .noContent
    }
}
