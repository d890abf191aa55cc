import Foundation
import Hummingbird
import Outbox
import WhatsAppProtocol

/// Finds what a request names, within what its caller may see, and builds the API's views of it.
/// The controllers and the consoles share it, so that none of them builds another controller to
/// borrow one of its methods. Another tenant's ids are not found (404), as unknown ones.
struct Lookup: Sendable {
    let services: GatewayServices

    /// The session of the `:sessionId` path parameter.
    func session(_ context: AppRequestContext) async throws -> SessionRecord {
        try await session(id: context.parameters.require("sessionId"), scope: context.requireIdentity().scope)
    }

    func session(id: String, scope: AccessScope) async throws -> SessionRecord {
        guard let session = try await services.store.session(id: id, scope: scope) else { throw Problem.notFound("session '\(id)'") }
        return session
    }

    /// The running engine of the `:sessionId` session, if engines of its kind can do `what`
    /// (422 otherwise, 409 when it is not running).
    func runningEngine(_ context: AppRequestContext, can able: (EngineCapabilities) -> Bool, _ what: String) async throws -> any Engine {
        let session = try await session(context)
        guard able(session.engine.capabilities) else {
            throw Problem.unprocessable("the '\(session.engine)' engine has no \(what) (the WhatsApp Cloud API does not offer them)")
        }
        guard let engine = await services.sessions.engine(for: session.id) else {
            throw Problem.conflict("session '\(session.id)' is \(session.status.rawValue) and not running; restart it first")
        }
        return engine
    }

    func tenant(id: String) async throws -> TenantRecord {
        guard let tenant = try await services.store.tenant(id: id) else { throw Problem.notFound("tenant '\(id)'") }
        return tenant
    }

    /// The webhook endpoint of the `:webhookId` path parameter.
    func webhook(_ context: AppRequestContext) async throws -> WebhookEndpoint {
        let id = try context.parameters.require("webhookId")
        guard let endpoint = try await services.outbox.endpoint(id: id, tenantID: try context.requireIdentity().scope.tenantID) else {
            throw Problem.notFound("webhook '\(id)'")
        }
        return endpoint
    }

    // MARK: Views

    func sessionView(_ record: SessionRecord) -> SessionController.View { SessionController.View(record, baseURL: services.baseURL) }

    func tenantView(_ tenant: TenantRecord) async throws -> TenantController.View {
        TenantController.View(
            id: tenant.id, name: tenant.name, username: try await services.store.user(tenantID: tenant.id)?.username,
            webhookUrl: try await services.seedWebhookURL(tenantID: tenant.id), maxSessions: tenant.maxSessions,
            sessionCount: try await services.store.sessionCount(tenantID: tenant.id), settings: tenant.settings,
            createdAt: tenant.createdAt, updatedAt: tenant.updatedAt)
    }

    /// An endpoint with its breaker as the deliverer holds it now.
    func webhookView(_ endpoint: WebhookEndpoint) -> WebhookController.View {
        WebhookController.View(endpoint, breaker: services.delivery.breaker(for: endpoint.id))
    }
}
