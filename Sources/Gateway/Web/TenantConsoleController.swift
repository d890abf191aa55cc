import Foundation
import Hummingbird
import Outbox
import WhatsAppProtocol
import WharfCore

/// The tenant dashboard (`/dashboard…`): sessions with live linking, webhooks, deliveries,
/// messages and jobs, settings and API keys. Pages are rendered here; their buttons call the
/// JSON API as the tenant, with the session's CSRF token.
struct TenantConsoleController {
    let console: Console
    var services: GatewayServices { console.services }

    /// What every page handler gets: the CSRF token, the tenant, and the request.
    struct Visit {
        var csrf: String
        var tenant: TenantRecord
        var request: Request
        var context: AppRequestContext
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/dashboard") { request, context in
            guard let visit = try await visit(request, context) else { return console.loginPage(.tenant, error: nil) }
            return try await sessions(visit)
        }
        router.post("/dashboard/login") { request, context in
            let fields = try await request.decodeFields()
            try console.checkLoginForm(.tenant, request: request, fields: fields)
            let user: TenantUserRecord
            do {
                user = try await services.authenticateTenant(
                    username: fields["username"] ?? "", password: fields["password"] ?? "", clientAddress: context.clientAddress)
            } catch let problem as Problem {
                return console.loginPage(.tenant, error: problem.detail, status: problem.status)
            }
            return try await console.loggedIn(.tenant(user.tenantId), kind: .tenant, isForm: true)
        }
        router.post("/dashboard/logout") { request, context in try await console.logout(.tenant, request: request, context: context) }
        page(router, "/dashboard/sessions/:sessionId") { visit in try await session(visit) }
        page(router, "/dashboard/webhooks") { visit in try await webhooks(visit) }
        page(router, "/dashboard/settings") { visit in try await settings(visit) }
        page(router, "/dashboard/messages") { visit in try await messages(visit) }
        page(router, "/dashboard/deliveries") { visit in
            try await DeliveryPages(console: console).list(
                visit.request, kind: .tenant, csrf: visit.csrf, role: visit.tenant.name, tenantID: visit.tenant.id)
        }
        page(router, "/dashboard/deliveries/:deliveryId") { visit in
            try await DeliveryPages(console: console).detail(
                visit.context.parameters.require("deliveryId"), kind: .tenant, csrf: visit.csrf, role: visit.tenant.name,
                tenantID: visit.tenant.id)
        }
    }

    private func visit(_ request: Request, _ context: AppRequestContext) async throws -> Visit? {
        guard let session = console.session(.tenant, request: request, context: context), let id = session.tenantID,
            let tenant = try await services.store.tenant(id: id)
        else { return nil }
        return Visit(csrf: session.csrf, tenant: tenant, request: request, context: context)
    }

    /// A page for a logged-in tenant; anyone else is sent to the login form.
    private func page(
        _ router: Router<AppRequestContext>, _ path: RouterPath, _ render: @escaping @Sendable (Visit) async throws -> Response
    ) {
        router.get(path) { request, context in
            guard let visit = try await visit(request, context) else {
                return Response(status: .seeOther, headers: [.location: "/dashboard"])
            }
            return try await render(visit)
        }
    }

    private func render(_ template: String, _ title: String, _ visit: Visit, current: String, _ model: Any) -> Response {
        console.page(template, title: title, kind: .tenant, csrf: visit.csrf, role: visit.tenant.name, current: current, model: model)
    }

    // MARK: Pages

    private func sessions(_ visit: Visit) async throws -> Response {
        let tenant = visit.tenant
        let sessions = try await services.store.sessions(scope: .tenant(tenant.id), after: nil, limit: .max)
        let model: [String: Any] = [
            "sessions": sessions.map { SessionRow($0) }, "count": sessions.count, "maxSessions": tenant.maxSessions,
            "single": tenant.maxSessions == 1, "atLimit": sessions.count >= tenant.maxSessions,
            "engines": EngineFactory.available.map(\.rawValue),
        ]
        return render("tenantSessions", "Sessions", visit, current: "", model)
    }

    private func session(_ visit: Visit) async throws -> Response {
        let id = try visit.context.parameters.require("sessionId")
        guard let session = try await services.store.session(id: id, scope: .tenant(visit.tenant.id)) else {
            throw Problem.notFound("session '\(id)'")
        }
        let row = SessionRow(session)
        let model: [String: Any] = [
            "id": session.id, "name": session.name, "engine": session.engine, "status": session.status,
            "statusDetail": session.statusDetail ?? "", "phone": row.phone, "pushName": row.pushName,
            "qr": session.qr ?? "", "pairingCode": session.pairingCode ?? "",
            "linking": session.qr != nil || session.pairingCode != nil, "isSandbox": session.engine == EngineKind.sandbox,
            "isWeb": session.engine == EngineKind.web,
            "cloud": CloudSessionOptions(session).map { options in
                [
                    "webhookUrl": services.baseURL + CloudWebhookController.path(sessionID: session.id),
                    "phoneNumberId": options.phoneNumberId,
                ] as Any
            } ?? false,
            "created": row.created,
        ]
        return render("tenantSession", session.name, visit, current: "", model)
    }

    private func webhooks(_ visit: Visit) async throws -> Response {
        let controller = WebhookController(services: services)
        let endpoints = try await services.outbox.endpoints(tenantID: visit.tenant.id).map {
            EndpointRow($0, health: controller.view($0), tenantName: visit.tenant.name)
        }
        return render("tenantWebhooks", "Webhooks", visit, current: "/webhooks", ["endpoints": endpoints])
    }

    struct KeyRow {
        var id: String
        var name: String
        var prefix: String
        var created: String
        var lastUsed: String
    }

    private func settings(_ visit: Visit) async throws -> Response {
        let settings = visit.tenant.settings
        let humanize = HumanizePolicy.resolve(settings: settings.objectValue?["humanize"], overrides: nil)
        let keys = try await services.store.keys(tenantID: visit.tenant.id).filter { $0.revokedAt == nil }.map {
            KeyRow(id: $0.id, name: $0.name, prefix: $0.prefix, created: Console.time($0.createdAt), lastUsed: Console.time($0.lastUsedAt))
        }
        let prompt: String = if case .string(let text)? = settings.objectValue?["ai_prompt"] { text } else { "" }
        let model: [String: Any] = ["aiPrompt": prompt, "humanize": humanize, "keys": keys]
        return render("tenantSettings", "Settings", visit, current: "/settings", model)
    }

    struct JobRow {
        var id: String
        var sessionName: String
        var chatId: String
        var type: String
        var status: String
        var error: String?
        var attempts: Int
        var created: String
        var sent: String
        var createdAt: Date
    }

    private func messages(_ visit: Visit) async throws -> Response {
        let sessions = try await services.store.sessions(scope: .tenant(visit.tenant.id), after: nil, limit: .max)
        var jobs: [JobRow] = []
        for session in sessions {
            for job in try await services.store.jobs(sessionID: session.id, before: nil, limit: 50) {
                jobs.append(
                    JobRow(
                        id: job.id, sessionName: session.name, chatId: job.chatId, type: job.kind.rawValue, status: job.status.rawValue, error: job.error,
                        attempts: job.attempts, created: Console.time(job.createdAt), sent: Console.time(job.sentAt),
                        createdAt: job.createdAt))
            }
        }
        jobs.sort { $0.createdAt > $1.createdAt }
        let model: [String: Any] = [
            "sessions": sessions.map { SessionRow($0) }, "hasSessions": !sessions.isEmpty, "jobs": Array(jobs.prefix(100)),
        ]
        return render("tenantMessages", "Messages", visit, current: "/messages", model)
    }
}
