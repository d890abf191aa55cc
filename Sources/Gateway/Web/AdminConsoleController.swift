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

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin") { request, context in
            guard let session = console.session(.admin, request: request, context: context) else {
                return console.loginPage(.admin, error: nil)
            }
            return try await overview(csrf: session.csrf)
        }
        router.post("/admin/login") { request, context in try await login(request, context: context) }
        router.post("/admin/logout") { request, context in try await console.logout(.admin, request: request, context: context) }
        page(router, "/admin/tenants") { csrf, _, _ in try await tenants(csrf: csrf) }
        page(router, "/admin/tenants/:tenantId") { csrf, _, context in
            try await tenant(context.parameters.require("tenantId"), csrf: csrf)
        }
        page(router, "/admin/sessions") { csrf, _, _ in try await sessions(csrf: csrf) }
        page(router, "/admin/endpoints") { csrf, _, _ in
            let rows = try await endpointRows()
            return console.page(
                "adminEndpoints", title: "Endpoints", kind: .admin, csrf: csrf, role: "Administrator", current: "/endpoints",
                model: ["rows": rows])
        }
        page(router, "/admin/deliveries") { csrf, request, _ in
            try await deliveries.list(request, kind: .admin, csrf: csrf, role: "Administrator", tenantID: nil)
        }
        page(router, "/admin/deliveries/:deliveryId") { csrf, _, context in
            try await deliveries.detail(context.parameters.require("deliveryId"), kind: .admin, csrf: csrf, role: "Administrator", tenantID: nil)
        }
    }

    /// A page for the logged-in admin; anyone else is sent to the login form.
    private func page(
        _ router: Router<AppRequestContext>, _ path: RouterPath,
        _ render: @escaping @Sendable (String, Request, AppRequestContext) async throws -> Response
    ) {
        router.get(path) { request, context in
            guard let session = console.session(.admin, request: request, context: context) else {
                return Response(status: .seeOther, headers: [.location: "/admin"])
            }
            return try await render(session.csrf, request, context)
        }
    }

    private func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let isForm = request.isFormPost
        let fields = try await request.decodeFields()
        if isForm { try console.checkLoginForm(.admin, request: request, fields: fields) }
        let keys = ["admin-ip:\(context.clientAddress)"]
        if let wait = services.limiter.retryAfter(keys) {
            throw Problem.tooManyRequests(retryAfter: wait, detail: "too many failed logins; try again in \(wait) seconds")
        }
        guard try await services.hasher.verify(fields["password"] ?? "", hash: services.adminPasswordHash) else {
            services.limiter.recordFailure(keys)
            if isForm { return console.loginPage(.admin, error: "Wrong password.", status: .unauthorized) }
            throw Problem(.unauthorized, detail: "wrong admin password")
        }
        services.limiter.recordSuccess(keys)
        return try await console.loggedIn(.admin, kind: .admin, isForm: isForm)
    }

    // MARK: Pages

    private func overview(csrf: String) async throws -> Response {
        let sessions = try await services.store.allSessions()
        var byStatus: [String: Int] = [:]
        for session in sessions { byStatus[session.status.rawValue, default: 0] += 1 }
        let queue = try await services.outbox.queueSnapshot()
        let failing = try await endpointRows().filter(\.isFailing)
        let model: [String: Any] = [
            "tenantCount": try await services.store.tenants(after: nil, limit: .max).count,
            "sessionCount": sessions.count,
            "sessionsByStatus": byStatus.sorted { $0.key < $1.key }.map { NamedCount(name: $0.key, count: $0.value) },
            "jobsQueued": try await services.store.jobCount(status: .queued),
            "deliveriesPending": (queue.counts[.pending] ?? 0) + (queue.counts[.inflight] ?? 0),
            "deliveriesFailed": queue.counts[.failed] ?? 0,
            "deliveriesByStatus": DeliveryStatus.allCases.map { NamedCount(name: $0.rawValue, count: queue.counts[$0] ?? 0) },
            "oldestPending": queue.oldestPending.map { Console.age($0, now: services.clock.now) } ?? "none",
            "hasFailing": !failing.isEmpty, "rows": failing,
        ]
        return console.page("adminOverview", title: "Overview", kind: .admin, csrf: csrf, role: "Administrator", current: "", model: model)
    }

    struct TenantRow {
        var id: String
        var name: String
        var username: String
        var maxSessions: Int
        var sessionCount: Int
        var webhookUrl: String
        var created: String
        var settings: String
    }

    private func tenantRow(_ tenant: TenantRecord) async throws -> TenantRow {
        TenantRow(
            id: tenant.id, name: tenant.name, username: try await services.store.user(tenantID: tenant.id)?.username ?? "",
            maxSessions: tenant.maxSessions, sessionCount: try await services.store.sessionCount(tenantID: tenant.id),
            webhookUrl: try await services.seedWebhookURL(tenantID: tenant.id) ?? "—", created: Console.time(tenant.createdAt),
            settings: Console.pretty(tenant.settings))
    }

    private func tenants(csrf: String) async throws -> Response {
        var rows: [TenantRow] = []
        for tenant in try await services.store.tenants(after: nil, limit: .max) { rows.append(try await tenantRow(tenant)) }
        return console.page(
            "adminTenants", title: "Tenants", kind: .admin, csrf: csrf, role: "Administrator", current: "/tenants",
            model: ["tenants": rows])
    }

    private func tenant(_ id: String, csrf: String) async throws -> Response {
        guard let tenant = try await services.store.tenant(id: id) else { throw Problem.notFound("tenant '\(id)'") }
        let webhooks = WebhookController(services: services)
        let endpoints = try await services.outbox.endpoints(tenantID: id).map {
            EndpointRow($0, health: webhooks.view($0), tenantName: tenant.name)
        }
        let sessions = try await services.store.sessions(scope: .tenant(id), after: nil, limit: .max).map { SessionRow($0) }
        return console.page(
            "adminTenant", title: tenant.name, kind: .admin, csrf: csrf, role: "Administrator", current: "/tenants",
            model: ["tenant": try await tenantRow(tenant), "endpoints": endpoints, "sessions": sessions])
    }

    private func sessions(csrf: String) async throws -> Response {
        let names = try await deliveries.tenantNames()
        let rows = try await services.store.allSessions().map { SessionRow($0, tenantName: names[$0.tenantId] ?? $0.tenantId) }
        return console.page(
            "adminSessions", title: "Sessions", kind: .admin, csrf: csrf, role: "Administrator", current: "/sessions",
            model: ["sessions": rows])
    }

    private func endpointRows() async throws -> [EndpointRow] {
        let names = try await deliveries.tenantNames()
        let webhooks = WebhookController(services: services)
        return try await services.outbox.allEndpoints().map {
            EndpointRow($0, health: webhooks.view($0), tenantName: names[$0.tenantId] ?? $0.tenantId)
        }
    }
}
