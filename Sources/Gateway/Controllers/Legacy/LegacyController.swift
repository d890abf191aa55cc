import Foundation
import Hummingbird

/// The routes of the Node.js service Wharf replaces, kept so that its users can move over:
/// `/api/login`, `/api/tenants…`, `/api/dashboard-data`, `/sessions`, `/api/sessions/…`,
/// `/api/tenant/status` and `/user/settings`. Each calls the handler of its `/v1` replacement;
/// only the answers the seed gave differently (`{"deleted":true}` instead of 204, the rename that
/// needs a name, the seed's send routes, and two views of its dashboard) are written here.
///
/// Only these routes accept `?token=` (the group's authenticator allows it).
struct LegacyController {
    let services: GatewayServices
    let lookup: Lookup
    let account: AccountController
    let tenants: TenantController
    let sessions: SessionController
    let messages: MessageController

    struct Deleted: ResponseEncodable { var deleted = true }

    /// `GET /api/tenant/status`: the calling tenant and its sessions.
    struct TenantStatus: ResponseEncodable {
        struct Tenant: Encodable {
            var id: String
            var name: String
            var maxSessions: Int
        }
        var tenant: Tenant
        var sessions: [SessionController.View]
    }

    /// A tenant of `GET /api/dashboard-data`: its members with its sessions beside them.
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

    /// Adds the routes to `group`, at the root, with the authenticator that takes `?token=`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("api/login", use: account.login)
        group.put("user/settings", use: account.updateSettings)
        group.get("api/dashboard-data", use: dashboardData)
        group.post("api/tenants", use: tenants.create)
        group.put("api/tenants/:tenantId", use: tenants.update)
        group.delete("api/tenants/:tenantId", use: deleteTenant)
        group.post("sessions", use: sessions.create)
        group.delete("api/sessions/:sessionId", use: deleteSession)
        group.put("api/sessions/:sessionId/name", use: renameSession)
        group.get("api/tenant/status", use: tenantStatus)
        group.post("sessions/:sessionId/send", use: sendText)
        group.post("api/sessions/:sessionId/send-media", use: sendMedia)
    }

    // MARK: Handlers

    @Sendable func deleteTenant(_ request: Request, context: AppRequestContext) async throws -> Deleted {
        try await tenants.remove(context)
        return Deleted()
    }

    @Sendable func deleteSession(_ request: Request, context: AppRequestContext) async throws -> Deleted {
        try await sessions.remove(context)
        return Deleted()
    }

    @Sendable func renameSession(_ request: Request, context: AppRequestContext) async throws -> SessionController.View {
        try await sessions.update(request, context: context, requiresName: true)
    }

    /// `{chatId, text}`.
    @Sendable func sendText(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<MessageController.View> {
        try await messages.enqueue(request, context: context, mediaExpected: false)
    }

    /// `{chatId, mediaUrl, caption}`; the media's kind comes from its content type.
    @Sendable func sendMedia(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<MessageController.View> {
        try await messages.enqueue(request, context: context, mediaExpected: true)
    }

    @Sendable func tenantStatus(_ request: Request, context: AppRequestContext) async throws -> TenantStatus {
        let tenantID = try context.requireTenant()
        guard let tenant = try await services.store.tenant(id: tenantID) else { throw Problem.unauthorized }
        let sessions = try await services.store.sessions(scope: .tenant(tenantID), after: nil, limit: .max)
        return TenantStatus(
            tenant: .init(id: tenant.id, name: tenant.name, maxSessions: tenant.maxSessions), sessions: sessions.map(lookup.sessionView))
    }

    /// Every tenant with its sessions (the administrator's dashboard of the seed).
    @Sendable func dashboardData(_ request: Request, context: AppRequestContext) async throws -> [String: [DashboardTenant]] {
        try context.requireAdmin()
        var tenants: [DashboardTenant] = []
        for tenant in try await services.store.tenants(after: nil, limit: .max) {
            let sessions = try await services.store.sessions(scope: .tenant(tenant.id), after: nil, limit: .max)
            tenants.append(DashboardTenant(tenant: try await lookup.tenantView(tenant), sessions: sessions.map(lookup.sessionView)))
        }
        return ["tenants": tenants]
    }
}
