import Foundation
import Hummingbird
import Outbox
import WharfCore

/// The administrator's tenant routes: the seed's `/api/tenants…` and `/v1/tenants…`.
struct TenantController {
    let services: GatewayServices

    struct Input: Decodable {
        var name: String?
        var username: String?
        var password: String?
        var webhookUrl: String?
        var maxSessions: Int?
        var settings: JSONValue?
    }

    struct View: Encodable {
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

    func addSeedRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("/api/tenants") { request, context in
            try await create(request, context: context)
        }
        group.put("/api/tenants/:tenantId") { request, context in
            try await update(request, context: context, id: context.parameters.require("tenantId"))
        }
        group.delete("/api/tenants/:tenantId") { _, context in
            try await delete(context: context, id: context.parameters.require("tenantId"))
            return try JSONResponse.make(["deleted": true])
        }
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/v1/tenants") { request, context in
            try context.requireAdmin()
            let limit = try Pagination.limit(request)
            let rows = try await services.store.tenants(after: try Pagination.cursor(request), limit: limit)
            var views: [View] = []
            for row in rows { views.append(try await view(row)) }
            return try JSONResponse.make(
                Page(items: views, nextCursor: rows.count == limit ? rows.last.map { PageCursor(createdAt: $0.createdAt, id: $0.id).token } : nil))
        }
        router.post("/v1/tenants") { request, context in try await create(request, context: context) }
        router.get("/v1/tenants/:tenantId") { _, context in
            try context.requireAdmin()
            return try JSONResponse.make(try await view(try await find(context.parameters.require("tenantId"))))
        }
        for method in [HTTPRequest.Method.patch, .put] {
            router.on("/v1/tenants/:tenantId", method: method) { request, context in
                try await update(request, context: context, id: context.parameters.require("tenantId"))
            }
        }
        router.delete("/v1/tenants/:tenantId") { _, context in
            try await delete(context: context, id: context.parameters.require("tenantId"))
            return JSONResponse.noContent()
        }
        router.post("/v1/tenants/:tenantId/password") { request, context in
            try context.requireAdmin()
            let tenant = try await find(context.parameters.require("tenantId"))
            let input: PasswordInput = try await request.decodeJSON()
            try Validation.password(input.password)
            guard var user = try await services.store.user(tenantID: tenant.id) else { throw Problem.notFound("the tenant's login") }
            user.passwordHash = try await services.hasher.hash(input.password)
            user.passwordChangedAt = services.clock.now
            try await services.store.updateUser(user)
            // A new password logs the tenant's browsers out.
            try await services.store.deleteWebSessions(tenantID: tenant.id)
            return JSONResponse.noContent()
        }
    }

    // MARK: Handlers

    private func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        try context.requireAdmin()
        let input: Input = try await request.decodeJSON()
        guard let name = input.name?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty else {
            throw Problem.badRequest("field 'name' is required", field: "name")
        }
        guard let username = input.username else { throw Problem.badRequest("field 'username' is required", field: "username") }
        guard let password = input.password else { throw Problem.badRequest("field 'password' is required", field: "password") }
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
        return try JSONResponse.make(try await view(tenant), status: .created)
    }

    private func update(_ request: Request, context: AppRequestContext, id: String) async throws -> Response {
        try context.requireAdmin()
        var tenant = try await find(id)
        let input: Input = try await request.decodeJSON()
        if let name = input.name {
            try Validation.name(name, field: "name")
            tenant.name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Everything is checked before anything is written: a refused field changes nothing.
        let webhookURL = try input.webhookUrl.map { $0.isEmpty ? "" : try services.validateWebhookURL($0) }
        if let max = input.maxSessions { tenant.maxSessions = try Validation.maxSessions(max) }
        if let settings = input.settings { tenant.settings = try Validation.settings(settings) }
        if let username = input.username { try Validation.username(username) }
        if let password = input.password { try Validation.password(password) }
        if input.username != nil || input.password != nil {
            guard var user = try await services.store.user(tenantID: id) else { throw Problem.notFound("the tenant's login") }
            if let username = input.username { user.username = username }
            if let password = input.password {
                user.passwordHash = try await services.hasher.hash(password)
                user.passwordChangedAt = services.clock.now
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
        return try JSONResponse.make(try await view(tenant))
    }

    private func delete(context: AppRequestContext, id: String) async throws {
        try context.requireAdmin()
        _ = try await find(id)
        for session in try await services.store.sessions(scope: .tenant(id), after: nil, limit: .max) {
            await services.sessions.logout(sessionID: session.id)
        }
        _ = try await services.store.deleteTenantCascade(id: id, outbox: services.outbox)
        services.delivery.endpointsChanged()
    }

    private func find(_ id: String) async throws -> TenantRecord {
        guard let tenant = try await services.store.tenant(id: id) else { throw Problem.notFound("tenant '\(id)'") }
        return tenant
    }

    func view(_ tenant: TenantRecord) async throws -> View {
        View(
            id: tenant.id, name: tenant.name, username: try await services.store.user(tenantID: tenant.id)?.username,
            webhookUrl: try await services.seedWebhookURL(tenantID: tenant.id), maxSessions: tenant.maxSessions,
            sessionCount: try await services.store.sessionCount(tenantID: tenant.id), settings: tenant.settings,
            createdAt: tenant.createdAt, updatedAt: tenant.updatedAt)
    }
}
