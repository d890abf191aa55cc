import Hummingbird

/// `/metrics`: Prometheus's text exposition of ``WharfMetrics``, its gauges read at each scrape.
struct MetricsController {
    let services: GatewayServices
    let metrics: WharfMetrics

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("metrics", use: scrape)
    }

    @Sendable func scrape(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await metrics.collect(services)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }
}
