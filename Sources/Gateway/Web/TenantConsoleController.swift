import Foundation
import Hummingbird
import Outbox
import WharfCore
import WhatsAppProtocol

/// The tenant dashboard (`/dashboard…`): sessions with live linking, webhooks, deliveries,
/// messages and jobs, settings and API keys. Pages are rendered here; their buttons call the
/// JSON API as the tenant, with the session's CSRF token.
struct TenantConsoleController {
    let console: Console
    var services: GatewayServices { console.services }
    var deliveries: DeliveryPages { DeliveryPages(console: console) }

    /// What every page handler gets: the CSRF token, the tenant, and the request.
    struct Visit {
        var csrf: String
        var tenant: TenantRecord
        var request: Request
        var context: AppRequestContext
    }

    /// Adds the routes under `group`, which is `/dashboard`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get(use: home)
        group.get("login", use: loginForm)
        group.post("login", use: login)
        group.post("logout", use: logout)
        group.get("sessions/:sessionId", use: page(session))
        group.get("sessions/:sessionId/groups", use: page(groups))
        group.get("webhooks", use: page(webhooks))
        group.get("settings", use: page(settings))
        group.get("messages", use: page(messages))
        group.get("events", use: page(events))
        group.get("deliveries", use: page(deliveryList))
        group.get("deliveries/:deliveryId", use: page(delivery))
    }

    private func visit(_ request: Request, _ context: AppRequestContext) async throws -> Visit? {
        guard let session = console.session(.tenant, request: request, context: context), let id = session.tenantID,
            let tenant = try await services.store.tenant(id: id)
        else { return nil }
        return Visit(csrf: session.csrf, tenant: tenant, request: request, context: context)
    }

    /// A page for a logged-in tenant; anyone else is sent to the login form.
    private func page(
        _ render: @escaping @Sendable (Visit) async throws -> Response
    ) -> @Sendable (Request, AppRequestContext) async throws -> Response {
        { [self] request, context in
            guard let visit = try await visit(request, context) else { return Console.toHome(.tenant) }
            return try await render(visit)
        }
    }

    private func render(_ page: some ConsolePage, _ title: String, _ visit: Visit, current: String) -> Response {
        console.page(page, title: title, kind: .tenant, csrf: visit.csrf, role: visit.tenant.name, current: current, tenantID: visit.tenant.id)
    }

    // MARK: Login and logout

    @Sendable func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let visit = try await visit(request, context) else { return console.loginPage(.tenant, error: nil) }
        return try await sessions(visit)
    }

    @Sendable func loginForm(_ request: Request, context: AppRequestContext) -> Response {
        console.loginForm(.tenant, request: request, context: context)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let fields = try await request.decodeFields()
        try console.checkLoginForm(.tenant, request: request, fields: fields)
        let user: TenantUserRecord
        do {
            user = try await services.authenticateTenant(
                username: fields["username"] ?? "", password: fields["password"] ?? "", clientAddress: context.clientAddress)
        } catch let error as LoginError {
            return console.loginPage(.tenant, error: error.problem.detail, status: error.problem.status)
        }
        return try await console.loggedIn(
            .tenant(user.tenantId), kind: .tenant, isForm: true, request: request, context: context)
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await console.logout(.tenant, request: request, context: context)
    }

    // MARK: Pages

    @Sendable func sessions(_ visit: Visit) async throws -> Response {
        let tenant = visit.tenant
        let sessions = try await services.store.sessions(scope: .tenant(tenant.id), after: nil, limit: .max)
        let page = TenantSessionsPage(
            sessions: sessions.map { SessionRow($0) }, count: sessions.count, maxSessions: tenant.maxSessions,
            single: tenant.maxSessions == 1, atLimit: sessions.count >= tenant.maxSessions,
            engines: EngineFactory.available.map(\.rawValue))
        return render(page, "Sessions", visit, current: "")
    }

    @Sendable func session(_ visit: Visit) async throws -> Response {
        let session = try await console.lookup.session(id: visit.context.parameters.require("sessionId"), scope: .tenant(visit.tenant.id))
        let row = SessionRow(session)
        let capabilities = session.engine.capabilities
        let page = TenantSessionPage(
            id: session.id, name: session.name, engine: session.engine.rawValue, status: session.status.rawValue,
            statusDetail: session.statusDetail ?? "", phone: row.phone, pushName: row.pushName,
            qr: session.qr ?? "", pairingCode: session.pairingCode ?? "",
            linking: session.qr != nil || session.pairingCode != nil, isSandbox: capabilities.isSimulated,
            isWeb: capabilities.linksByPhoneCode,
            cloud: CloudSessionOptions(session).map { options in
                .init(webhookUrl: services.baseURL + CloudWebhookController.path(sessionID: session.id), phoneNumberId: options.phoneNumberId)
            },
            hasGroups: capabilities.chatKinds.contains(.group), proxy: session.options.proxy ?? "", created: row.created,
            traffic: try await traffic(of: session),
            history: try await services.store.statusHistory(sessionID: session.id, limit: 20).map { change in
                .init(at: Console.time(change.at), status: change.status.rawValue, detail: change.detail ?? "")
            })
        return render(page, session.name, visit, current: "")
    }

    private func traffic(of session: SessionRecord) async throws -> TenantSessionPage.TrafficPanel {
        let counts = services.sessions.traffic.counts(session: session.id)
        let delivered = services.delivery.metrics.delivered
        let endpoints = try await services.outbox.endpoints(tenantID: session.tenantId)
        return .init(
            received: counts.received, committed: counts.committed, uncommitted: counts.uncommitted,
            isCommitting: counts.uncommitted > 0,
            delivered: endpoints.map { endpoint in
                .init(url: endpoint.url, count: delivered[.init(sessionID: session.id, endpointID: endpoint.id)] ?? 0)
            })
    }

    @Sendable func groups(_ visit: Visit) async throws -> Response {
        let session = try await console.lookup.session(id: visit.context.parameters.require("sessionId"), scope: .tenant(visit.tenant.id))
        var problem: String?
        var groups: [GroupInfo] = []
        if !session.engine.capabilities.chatKinds.contains(.group) {
            problem = "A \(session.engine.rawValue) session has no groups (the WhatsApp Cloud API does not offer them)."
        } else if let engine = await services.sessions.engine(for: session.id) {
            do {
                groups = try await engine.groups().sorted { ($0.subject.lowercased(), $0.id.rawValue) < ($1.subject.lowercased(), $1.id.rawValue) }
            } catch {
                problem = "The groups could not be listed: \(error)"
            }
        } else {
            problem = "The session is \(session.status.rawValue) and not running; restart it to see its groups."
        }
        let page = TenantGroupsPage(
            sessionId: session.id, sessionName: session.name, problem: problem, groups: groups.map(TenantGroupsPage.Row.init),
            count: groups.count, single: groups.count == 1)
        return render(page, "Groups of \(session.name)", visit, current: "")
    }

    @Sendable func webhooks(_ visit: Visit) async throws -> Response {
        let endpoints = try await services.outbox.endpoints(tenantID: visit.tenant.id).map {
            EndpointRow($0, health: console.lookup.webhookView($0), tenantName: visit.tenant.name)
        }
        return render(TenantWebhooksPage(endpoints: endpoints), "Webhooks", visit, current: "/webhooks")
    }

    @Sendable func settings(_ visit: Visit) async throws -> Response {
        let settings = visit.tenant.settings
        let humanize = HumanizePolicy.resolve(settings: settings.objectValue?["humanize"], overrides: nil)
        let keys = try await services.store.keys(tenantID: visit.tenant.id).filter { $0.revokedAt == nil }.map {
            KeyRow(id: $0.id, name: $0.name, prefix: $0.prefix, created: Console.time($0.createdAt), lastUsed: Console.time($0.lastUsedAt))
        }
        let prompt: String = if case .string(let text)? = settings.objectValue?["ai_prompt"] { text } else { "" }
        return render(TenantSettingsPage(aiPrompt: prompt, humanize: humanize, keys: keys), "Settings", visit, current: "/settings")
    }

    @Sendable func events(_ visit: Visit) async throws -> Response {
        let sessions = try await services.store.sessions(scope: .tenant(visit.tenant.id), after: nil, limit: .max)
        let page = TenantEventsPage(
            sessions: sessions.map { SessionRow($0) }, types: EventType.allCases.map(\.rawValue).joined(separator: ","))
        return render(page, "Events", visit, current: "/events")
    }

    @Sendable func messages(_ visit: Visit) async throws -> Response {
        let sessions = try await services.store.sessions(scope: .tenant(visit.tenant.id), after: nil, limit: .max)
        var jobs: [JobRow] = []
        for session in sessions {
            for job in try await services.store.jobs(sessionID: session.id, before: nil, limit: 50) {
                jobs.append(
                    JobRow(
                        id: job.id, sessionName: session.name, chatId: job.chatId, type: job.kind.rawValue, status: job.status.rawValue,
                        error: job.error, attempts: job.attempts, created: Console.time(job.createdAt), sent: Console.time(job.sentAt),
                        createdAt: job.createdAt))
            }
        }
        jobs.sort { $0.createdAt > $1.createdAt }
        let page = TenantMessagesPage(sessions: sessions.map { SessionRow($0) }, hasSessions: !sessions.isEmpty, jobs: Array(jobs.prefix(100)))
        return render(page, "Messages", visit, current: "/messages")
    }

    @Sendable func deliveryList(_ visit: Visit) async throws -> Response {
        try await deliveries.list(visit.request, kind: .tenant, csrf: visit.csrf, role: visit.tenant.name, tenantID: visit.tenant.id)
    }

    @Sendable func delivery(_ visit: Visit) async throws -> Response {
        try await deliveries.detail(
            visit.context.parameters.require("deliveryId"), kind: .tenant, csrf: visit.csrf, role: visit.tenant.name,
            tenantID: visit.tenant.id)
    }
}
