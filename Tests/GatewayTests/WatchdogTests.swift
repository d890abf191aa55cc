import Foundation
import HTTPTypes
import TestSupport
import Testing
import WharfCore

/// The watchdog's counts per session: what the engine handed over, what was committed as events,
/// what reached each endpoint; in `/metrics` and on the session's console page.
@Suite struct WatchdogTests {
    /// The value of the sample `name{labels…}` in a Prometheus exposition, when all `labels` match.
    static func sample(_ exposition: String, _ name: String, _ labels: [String: String]) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(name + "{") {
            guard let close = line.lastIndex(of: "}") else { continue }
            let inside = line[line.index(line.startIndex, offsetBy: name.count + 1)..<close]
            let matches = labels.allSatisfy { key, value in inside.contains("\(key)=\"\(value)\"") }
            if matches { return Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)) }
        }
        return nil
    }

    @Test func theCountsOfFiveHundredMessagesAddUp() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: DeliveryTests.allowLoopback) { app in
            let tenant = try await app.makeTenant("acme")
            let hook = try await app.call(
                .post, "/v1/webhooks", json: ["url": .string(receiver.url), "eventTypes": ["message.received"]], as: .bearer(tenant.token))
            #expect(hook.status == .created, "\(hook.text)")
            let endpoint = try #require(hook.string("id"))
            let session = try await app.makeConnectedSession(token: tenant.token)
            let count = 500
            for index in 0..<count {
                _ = try await EventStreamTests.inject(app, session: session, token: tenant.token, text: "hello \(index)")
            }
            _ = try await waitFor("\(count) deliveries", seconds: 120) {
                receiver.requests.count >= count ? true : nil
            }
            let exposition = try await waitFor("the delivered count reaches \(count)") { () -> String? in
                let text = try await app.call(.get, "/metrics", as: .admin).text
                let delivered = Self.sample(text, "wharf_session_events_delivered_total", ["session": session, "endpoint": endpoint])
                return delivered == Double(count) ? text : nil
            }
            #expect(Self.sample(exposition, "wharf_session_events_received_total", ["session": session]) == Double(count))
            #expect(Self.sample(exposition, "wharf_session_events_committed_total", ["session": session]) == Double(count))
            #expect(receiver.requests.count == count, "each message delivered once")

            let (cookie, _) = try await ConsoleTests.dashboardLogin(app, username: "acme", password: "password-acme")
            let page = try await app.call(.get, "/dashboard/sessions/\(session)", headers: [.cookie: cookie])
            #expect(page.status == .ok)
            #expect(page.text.contains(#"<dd id="traffic-received">500</dd>"#), "\(page.text)")
            #expect(page.text.contains(#"<dd id="traffic-committed">500</dd>"#))
            #expect(page.text.contains(#"<dd class="traffic-delivered">500</dd>"#))
            #expect(!page.text.contains("traffic-uncommitted"))
        }
    }
}
