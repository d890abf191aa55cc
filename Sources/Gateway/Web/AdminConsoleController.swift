import Foundation
import Hummingbird
import Outbox
import WharfCore

/// The admin panel (`/admin…`): overview, tenants, sessions, the retry console and endpoint
/// health. Pages are rendered here; their buttons call the JSON API with the session's CSRF token.
struct AdminConsoleController {
    let console: Console
    var services: GatewayServices { console.services }
    var deliveries: DeliveryPages { DeliveryPages(console: console) }

    /// What every page handler gets: the admin's CSRF token, and the request.
    struct Visit {
        var csrf: String
        var request: Request
        var context: AppRequestContext
    }

    static let role = "Administrator"

    /// Adds the routes under `group`, which is `/admin`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get(use: home)
        group.get("login", use: loginForm)
        group.post("login", use: login)
        group.post("logout", use: logout)
        group.get("tenants", use: page(tenants))
        group.get("tenants/:tenantId", use: page(tenant))
        group.get("sessions", use: page(sessions))
        group.get("endpoints", use: page(endpoints))
        group.get("deliveries", use: page(deliveryList))
        group.get("deliveries/:deliveryId", use: page(delivery))
    }

    /// A page for the logged-in admin; anyone else is sent to the login form.
    private func page(
        _ render: @escaping @Sendable (Visit) async throws -> Response
    ) -> @Sendable (Request, AppRequestContext) async throws -> Response {
        { [console] request, context in
            guard let session = console.session(.admin, request: request, context: context) else { return Console.toHome(.admin) }
            return try await render(Visit(csrf: session.csrf, request: request, context: context))
        }
    }

    private func render(_ page: some ConsolePage, _ title: String, _ visit: Visit, current: String) -> Response {
        console.page(page, title: title, kind: .admin, csrf: visit.csrf, role: Self.role, current: current, tenantID: nil)
    }

    // MARK: Login and logout

    @Sendable func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = console.session(.admin, request: request, context: context) else {
            return console.loginPage(.admin, error: nil)
        }
        return try await overview(Visit(csrf: session.csrf, request: request, context: context))
    }

    @Sendable func loginForm(_ request: Request, context: AppRequestContext) -> Response {
        console.loginForm(.admin, request: request, context: context)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let isForm = request.isFormPost
        let fields = try await request.decodeFields()
        if isForm { try console.checkLoginForm(.admin, request: request, fields: fields) }
        do {
            try await services.authenticateAdmin(password: fields["password"] ?? "", clientAddress: context.clientAddress)
        } catch LoginError.wrongCredentials {
            if isForm { return console.loginPage(.admin, error: "Wrong password.", status: .unauthorized) }
            throw Problem(.unauthorized, detail: "wrong admin password")
        } catch let error as LoginError where isForm {
            return console.loginPage(.admin, error: error.problem.detail, status: error.problem.status)
        }
        return try await console.loggedIn(.admin, kind: .admin, isForm: isForm, request: request, context: context)
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await console.logout(.admin, request: request, context: context)
    }

    // MARK: Pages

    @Sendable func overview(_ visit: Visit) async throws -> Response {
        let sessions = try await services.store.allSessions()
        var byStatus: [String: Int] = [:]
        for session in sessions { byStatus[session.status.rawValue, default: 0] += 1 }
        let queue = try await services.outbox.queueSnapshot()
        let failing = try await endpointRows().filter(\.isFailing)
        let page = AdminOverviewPage(
            tenantCount: try await services.store.tenants(after: nil, limit: .max).count,
            sessionCount: sessions.count,
            sessionsByStatus: byStatus.sorted { $0.key < $1.key }.map { NamedCount(name: $0.key, count: $0.value) },
            jobsQueued: try await services.store.jobCount(status: .queued),
            deliveriesPending: (queue.counts[.pending] ?? 0) + (queue.counts[.inflight] ?? 0),
            deliveriesFailed: queue.counts[.failed] ?? 0,
            deliveriesByStatus: DeliveryStatus.allCases.map { NamedCount(name: $0.rawValue, count: queue.counts[$0] ?? 0) },
            oldestPending: queue.oldestPending.map { Console.age($0, now: services.clock.now) } ?? "none",
            hasFailing: !failing.isEmpty, rows: failing)
        return render(page, "Overview", visit, current: "")
    }

    @Sendable func tenants(_ visit: Visit) async throws -> Response {
        var rows: [TenantRow] = []
        for tenant in try await services.store.tenants(after: nil, limit: .max) { rows.append(try await tenantRow(tenant)) }
        return render(AdminTenantsPage(tenants: rows), "Tenants", visit, current: "/tenants")
    }

    @Sendable func tenant(_ visit: Visit) async throws -> Response {
        let id = try visit.context.parameters.require("tenantId")
        let tenant = try await console.lookup.tenant(id: id)
        let endpoints = try await services.outbox.endpoints(tenantID: id).map {
            EndpointRow($0, health: console.lookup.webhookView($0), tenantName: tenant.name)
        }
        let sessions = try await services.store.sessions(scope: .tenant(id), after: nil, limit: .max).map { SessionRow($0) }
        let page = AdminTenantPage(tenant: try await tenantRow(tenant), endpoints: endpoints, sessions: sessions)
        return render(page, tenant.name, visit, current: "/tenants")
    }

    @Sendable func sessions(_ visit: Visit) async throws -> Response {
        let names = try await deliveries.tenantNames()
        let rows = try await services.store.allSessions().map { SessionRow($0, tenantName: names[$0.tenantId] ?? $0.tenantId) }
        return render(AdminSessionsPage(sessions: rows), "Sessions", visit, current: "/sessions")
    }

    @Sendable func endpoints(_ visit: Visit) async throws -> Response {
        render(AdminEndpointsPage(rows: try await endpointRows()), "Endpoints", visit, current: "/endpoints")
    }

    @Sendable func deliveryList(_ visit: Visit) async throws -> Response {
        try await deliveries.list(visit.request, kind: .admin, csrf: visit.csrf, role: Self.role, tenantID: nil)
    }

    @Sendable func delivery(_ visit: Visit) async throws -> Response {
        try await deliveries.detail(
            visit.context.parameters.require("deliveryId"), kind: .admin, csrf: visit.csrf, role: Self.role, tenantID: nil)
    }

    // MARK: Rows

    private func tenantRow(_ tenant: TenantRecord) async throws -> TenantRow {
        TenantRow(
            id: tenant.id, name: tenant.name, username: try await services.store.user(tenantID: tenant.id)?.username ?? "",
            maxSessions: tenant.maxSessions, sessionCount: try await services.store.sessionCount(tenantID: tenant.id),
            webhookUrl: try await services.seedWebhookURL(tenantID: tenant.id) ?? "—", created: Console.time(tenant.createdAt),
            settings: Console.pretty(tenant.settings))
    }

    private func endpointRows() async throws -> [EndpointRow] {
        let names = try await deliveries.tenantNames()
        return try await services.outbox.allEndpoints().map {
            EndpointRow($0, health: console.lookup.webhookView($0), tenantName: names[$0.tenantId] ?? $0.tenantId)
        }
    }
}
