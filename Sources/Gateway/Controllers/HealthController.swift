import Hummingbird

/// `/health` (the process answers) and `/ready` (and its database does).
struct HealthController {
    let services: GatewayServices

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("health", use: health)
        group.get("ready", use: ready)
    }

    @Sendable func health(_ request: Request, context: AppRequestContext) -> [String: String] { ["status": "ok"] }

    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> [String: String] {
        _ = try await services.store.sessionCount(tenantID: "")
        return ["status": "ready"]
    }
}
