import Crypto
import Foundation
import Hummingbird

/// `/metrics`: Prometheus's text exposition of ``WharfMetrics``, its gauges read at each scrape.
struct MetricsController {
    let services: GatewayServices
    let metrics: WharfMetrics

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("metrics", use: scrape)
    }

    @Sendable func scrape(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let token = services.configuration.metricsToken {
            // With METRICS_TOKEN set, the scraper's bearer token or the administrator's credentials.
            let given = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
            let isScraper = SHA256.hash(data: Data(given.utf8)) == SHA256.hash(data: Data(token.utf8))
            guard isScraper || context.identity?.isAdmin == true else {
                throw Problem(
                    .unauthorized, detail: "/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'", headers: [.wwwAuthenticate: "Bearer"])
            }
        }
        try await metrics.collect(services)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }
}
