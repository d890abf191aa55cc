import Foundation
import Outbox
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// `/metrics` through swift-metrics and swift-prometheus: the same metric names, types and labels
/// as the hand-written text it replaced, with values that follow what happened.
@Suite struct MetricsTests {
    /// The value of the sample `name{labels}` (or `name` without labels) in an exposition.
    static func value(_ text: String, _ sample: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(sample + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func withAMetricsTokenOnlyItsBearerOrTheAdministratorReadsMetrics() async throws {
        try await TestWharf.run(configure: { $0.metricsToken = "scraper-token-0123456789" }) { app in
            #expect(try await app.call(.get, "/metrics").status == .unauthorized)
            #expect(try await app.call(.get, "/metrics", as: .bearer("wrong-token-0123456789")).status == .unauthorized)
            let tenant = try await app.makeTenant("curious")
            #expect(try await app.call(.get, "/metrics", as: .bearer(tenant.token)).status == .unauthorized)
            let scraped = try await app.call(.get, "/metrics", as: .bearer("scraper-token-0123456789"))
            #expect(scraped.status == .ok)
            #expect(scraped.text.contains("wharf_sessions"))
            #expect(try await app.call(.get, "/metrics", as: .admin).status == .ok)
        }
    }

    @Test func everyMetricKeepsItsNameTypeAndLabels() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: DeliveryTests.allowLoopback) { app in
            let (tenant, session, webhook) = try await DeliveryTests().setUp(app, receiver: receiver, username: "metered")
            _ = try await DeliveryTests().inject(app, token: tenant.token, session: session)
            try await eventually("delivered") {
                try await app.wharf.outbox.deliveries(matching: DeliveryFilter(status: .delivered), before: nil, limit: 10).count >= 1
            }
            let text = try await app.call(.get, "/metrics").text
            for (name, type) in [
                ("wharf_deliveries", "gauge"), ("wharf_oldest_pending_delivery_age_seconds", "gauge"),
                ("wharf_delivery_attempts_total", "counter"), ("wharf_delivery_attempt_duration_seconds", "histogram"),
                ("wharf_endpoint_breaker_state", "gauge"), ("wharf_sessions", "gauge"),
            ] {
                #expect(text.contains("# TYPE \(name) \(type)\n"), "\(name) is a \(type)")
            }
            for status in DeliveryStatus.allCases { #expect(text.contains("wharf_deliveries{status=\"\(status.rawValue)\"} ")) }
            for state in SessionState.allCases { #expect(text.contains("wharf_sessions{status=\"\(state.rawValue)\"} ")) }
            for outcome in ["delivered", "retry", "failed"] {
                #expect(text.contains("wharf_delivery_attempts_total{outcome=\"\(outcome)\"} "))
            }
            for bound in DeliveryMetrics.bucketBounds + [.infinity] {
                let label = bound.isInfinite ? "+Inf" : "\(bound)"
                #expect(text.contains("wharf_delivery_attempt_duration_seconds_bucket{le=\"\(label)\"} "), "bucket \(label)")
            }
            #expect(Self.value(text, "wharf_delivery_attempts_total{outcome=\"delivered\"}") ?? 0 >= 1)
            #expect(Self.value(text, "wharf_delivery_attempt_duration_seconds_count") ?? 0 >= 1)
            #expect(Self.value(text, "wharf_sessions{status=\"connected\"}") == 1)
            #expect(Self.value(text, "wharf_endpoint_breaker_state{endpoint=\"\(webhook)\",tenant=\"\(tenant.id)\"}") == 0)
            #expect(text.contains("wharf_oldest_pending_delivery_age_seconds "))

            // Counters keep counting across scrapes (nothing is counted twice), and a deleted
            // endpoint's breaker leaves the exposition.
            let again = try await app.call(.get, "/metrics").text
            #expect(
                Self.value(again, "wharf_delivery_attempts_total{outcome=\"delivered\"}")
                    == Self.value(text, "wharf_delivery_attempts_total{outcome=\"delivered\"}"))
            #expect(try await app.call(.delete, "/v1/webhooks/\(webhook)", as: .bearer(tenant.token)).status == .noContent)
            let after = try await app.call(.get, "/metrics").text
            #expect(!after.contains("endpoint=\"\(webhook)\""))
        }
    }
}
