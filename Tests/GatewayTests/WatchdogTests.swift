import Foundation
import HTTPTypes
import Outbox
import TestSupport
import Testing
import WharfCore

@testable import Gateway

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

    // MARK: Alerts

    /// The `session.alert` envelopes `receiver` got, in order.
    static func alerts(_ receiver: TestReceiver) -> [[String: Any]] {
        receiver.requests.compactMap(\.json).filter { $0["type"] as? String == "session.alert" }
    }

    static func data(_ envelope: [String: Any]) -> [String: Any] { envelope["data"] as? [String: Any] ?? [:] }

    @Test func aReceiverThatBlackHolesRequestsRaisesTheAlertOnceAndDeletingItClearsIt() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let hole = try BlackHole()
        defer { hole.stop() }
        try await TestWharf.run(configure: { configuration in
            DeliveryTests.allowLoopback(&configuration)
            // Longer than the test: the request to the black hole stays in flight throughout.
            configuration.webhookTimeout = .seconds(3600)
            configuration.watchdogLimits.deliverWithin = .seconds(120)
        }) { app in
            let tenant = try await app.makeTenant("acme")
            let other = try await app.makeTenant("other")
            let alerts = try await app.call(
                .post, "/v1/webhooks", json: ["url": .string(receiver.url), "eventTypes": ["session.alert"]], as: .bearer(tenant.token))
            #expect(alerts.status == .created, "\(alerts.text)")
            let silent = try await app.call(
                .post, "/v1/webhooks", json: ["url": .string(hole.url), "eventTypes": ["message.received"]], as: .bearer(tenant.token))
            let holeID = try #require(silent.string("id"))
            let session = try await app.makeConnectedSession(token: tenant.token)
            _ = try await EventStreamTests.inject(app, session: session, token: tenant.token, text: "into the void")
            _ = try await waitFor("the delivery to the black hole is in flight") { () -> Bool? in
                try await app.wharf.outbox.countDeliveries(matching: DeliveryFilter(endpointID: holeID, status: .inflight)) == 1 ? true : nil
            }

            // Under the limit nothing is said; past it, one alert.
            app.clock.advance(by: .seconds(60))
            try await Task.sleep(for: .milliseconds(200))
            #expect(Self.alerts(receiver).isEmpty, "not yet: the event has waited 60 of 120 seconds")
            app.clock.advance(by: .seconds(61))
            let raised = try await waitFor("session.alert raised") { () -> [String: Any]? in
                app.clock.advance(by: .seconds(5))
                return Self.alerts(receiver).first
            }
            let data = Self.data(raised)
            #expect(data["alert"] as? String == "undelivered")
            #expect(data["state"] as? String == "raised")
            #expect(data["endpoint_id"] as? String == holeID)
            #expect(data["url"] as? String == hole.url)
            #expect(data["waiting"] as? Double == 1)
            #expect((raised["session"] as? [String: Any])?["id"] as? String == session)

            // Both consoles show it with a link to the waiting deliveries; another tenant's does not.
            let (cookie, _) = try await ConsoleTests.dashboardLogin(app, username: "acme", password: "password-acme")
            let dashboard = try await app.call(.get, "/dashboard", headers: [.cookie: cookie]).text
            #expect(dashboard.contains(#"data-alert="undelivered""#), "\(dashboard)")
            #expect(dashboard.contains("/dashboard/deliveries?endpointId=\(holeID)"))
            let waiting = try await app.call(.get, "/dashboard/deliveries?endpointId=\(holeID)", headers: [.cookie: cookie]).text
            #expect(waiting.contains("inflight"), "the retry console lists the waiting delivery")
            let (adminCookie, _) = try await ConsoleTests.adminLogin(app)
            let overview = try await app.call(.get, "/admin", headers: [.cookie: adminCookie]).text
            #expect(overview.contains("/admin/deliveries?endpointId=\(holeID)"), "\(overview)")
            let (otherCookie, _) = try await ConsoleTests.dashboardLogin(app, username: "other", password: "password-other")
            #expect(!(try await app.call(.get, "/dashboard", headers: [.cookie: otherCookie]).text.contains("data-alert")))
            #expect(other.id != tenant.id)

            // It is raised once per episode, however long it lasts.
            for _ in 0..<5 {
                app.clock.advance(by: .seconds(5))
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(Self.alerts(receiver).count == 1)

            #expect(try await app.call(.delete, "/v1/webhooks/\(holeID)", as: .bearer(tenant.token)).status == .noContent)
            let cleared = try await waitFor("session.alert cleared") { () -> [String: Any]? in
                app.clock.advance(by: .seconds(5))
                return Self.alerts(receiver).first { Self.data($0)["state"] as? String == "cleared" }
            }
            #expect(Self.data(cleared)["endpoint_id"] as? String == holeID)
            #expect(!(try await app.call(.get, "/dashboard", headers: [.cookie: cookie]).text.contains("data-alert")))
            // Its connection reset, the request in flight ends before the server shuts down.
            hole.stop()
        }
    }

    @Test func aFailingEndpointGetsABannerAndOneClickReEnablesItAndReplaysWhatItMissed() async throws {
        let failing = Locked(true)
        let delivered = Locked<[String]>([])
        let receiver = try await TestReceiver.start { _, request in
            if failing.withLock({ $0 }) { return TestReceiver.Reply(status: .internalServerError, body: "down for maintenance") }
            let text = ((request.json?["data"] as? [String: Any])?["text"] as? String) ?? "?"
            delivered.withLock { $0.append(text) }
            return TestReceiver.Reply()
        }
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: { configuration in
            DeliveryTests.allowLoopback(&configuration)
            configuration.deliveryOptions.breaker.failureThreshold = 1
            configuration.deliveryOptions.breaker.probeInterval = .seconds(10)
            configuration.deliveryOptions.breaker.disableAfter = .seconds(600)
            configuration.deliveryOptions.retryPolicy = RetryPolicy(delays: Array(repeating: .seconds(10), count: 200), jitter: 0)
            configuration.watchdogLimits.deliverWithin = .seconds(120)
        }) { app in
            let tenant = try await app.makeTenant("acme")
            let created = try await app.call(
                .post, "/v1/webhooks", json: ["url": .string(receiver.url), "eventTypes": ["message.received"]], as: .bearer(tenant.token))
            let endpoint = try #require(created.string("id"))
            let session = try await app.makeConnectedSession(token: tenant.token)
            let (cookie, _) = try await ConsoleTests.dashboardLogin(app, username: "acme", password: "password-acme")
            func dashboard() async throws -> String { try await app.call(.get, "/dashboard", headers: [.cookie: cookie]).text }

            _ = try await EventStreamTests.inject(app, session: session, token: tenant.token, text: "missed 0")
            _ = try await waitFor("the first attempt fails") { receiver.requests.isEmpty ? nil : true }
            #expect(!(try await dashboard().contains("data-endpoint-trouble")), "one failure is not yet 'a while'")

            // Failing for longer than the limit: a banner with the last error and the fix.
            let failingPage = try await waitFor("the failing banner") { () -> String? in
                app.clock.advance(by: .seconds(10))
                let page = try await dashboard()
                return page.contains(#"data-endpoint-trouble="\#(endpoint)""#) ? page : nil
            }
            #expect(failingPage.contains("has been failing since"), "\(failingPage)")
            #expect(failingPage.contains("HTTP 500"))
            #expect(failingPage.contains(#"data-api="/v1/webhooks/\#(endpoint)/replay-missed""#))

            // The breaker gives up and disables it; what arrives meanwhile gets no delivery.
            _ = try await waitFor("the endpoint is disabled", seconds: 60) { () -> Bool? in
                app.clock.advance(by: .seconds(30))
                return try await app.call(.get, "/v1/webhooks/\(endpoint)", as: .bearer(tenant.token))["enabled"] == .bool(false)
                    ? true : nil
            }
            for index in 1...2 { _ = try await EventStreamTests.inject(app, session: session, token: tenant.token, text: "missed \(index)") }
            _ = try await waitFor("the disabled banner") { () -> Bool? in
                app.clock.advance(by: .seconds(5))
                return try await dashboard().contains("was disabled") ? true : nil
            }

            failing.withLock { $0 = false }
            let revived = try await app.call(.post, "/v1/webhooks/\(endpoint)/replay-missed", as: .bearer(tenant.token))
            #expect(revived.status == .ok, "\(revived.text)")
            #expect(revived["added"]?.intValue == 2, "the two events stored while it was disabled")
            #expect(revived["webhook"]?["enabled"] == .bool(true))
            #expect(!(try await dashboard().contains("data-endpoint-trouble")), "the banner goes with the click")

            let answered = try await waitFor("every missed event delivered") { () -> [String]? in
                app.clock.advance(by: .seconds(5))
                let texts = delivered.withLock { $0 }
                return texts.count >= 3 ? texts : nil
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(delivered.withLock { $0 }.count == 3, "nothing twice")
            #expect(answered.sorted() == ["missed 0", "missed 1", "missed 2"], "each once: \(answered)")
            // Another tenant cannot replay it.
            let other = try await app.makeTenant("other")
            #expect(try await app.call(.post, "/v1/webhooks/\(endpoint)/replay-missed", as: .bearer(other.token)).status == .notFound)
        }
    }

    static let limits: WatchdogLimits = {
        var limits = WatchdogLimits()
        limits.commitWithin = .seconds(10)
        limits.deliverWithin = .seconds(300)
        return limits
    }()

    @Test func messagesStuckBeforeTheCommitRaiseAnAlertAndAFailingEndpointIsLeftToItsBreaker() {
        var state = WatchdogState(limits: Self.limits)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let stuck = WatchdogState.Uncommitted(sessionID: "ses_a", tenantID: "ten_a", count: 3, oldest: start)
        var failing = WatchdogState.Waiting(
            deliveries: .init(sessionID: "ses_a", tenantID: "ten_a", endpointID: "whk_down", count: 9, oldest: start),
            endpointURL: "https://down.example", endpointHealthy: false)

        let early = state.observe(.init(uncommitted: [stuck], waiting: [failing]), now: start.addingTimeInterval(9))
        #expect(early.isEmpty, "a commit may take a few seconds under load")
        let late = state.observe(.init(uncommitted: [stuck], waiting: [failing]), now: start.addingTimeInterval(400))
        #expect(late.count == 1, "an endpoint its breaker holds open has its own banner, not this alert")
        guard case .raised(let alert) = late.first else {
            Issue.record("\(late)")
            return
        }
        #expect(alert.kind == .uncommitted && alert.waiting == 3 && alert.tenantID == "ten_a")
        #expect(alert.message.contains("3 received messages not stored"))

        // The outbox could not be read: what held stays; a healthy endpoint's old events raise theirs.
        #expect(state.observe(.init(uncommitted: [stuck], waiting: nil), now: start.addingTimeInterval(405)).isEmpty)
        failing.endpointHealthy = true
        let both = state.observe(.init(uncommitted: [stuck], waiting: [failing]), now: start.addingTimeInterval(410))
        #expect(both.map(\.kind) == ["raised undelivered"])
        #expect(state.observe(.init(uncommitted: [stuck], waiting: nil), now: start.addingTimeInterval(415)).isEmpty)

        let calm = state.observe(.init(uncommitted: [], waiting: []), now: start.addingTimeInterval(420))
        #expect(calm.map(\.kind) == ["cleared uncommitted", "cleared undelivered"])
        #expect(state.active.isEmpty)
    }
}

extension WatchdogState.Transition {
    /// `raised undelivered`, `cleared uncommitted`, …: what a test compares.
    var kind: String {
        switch self {
        case .raised(let alert): "raised \(alert.kind.rawValue)"
        case .cleared(let alert): "cleared \(alert.kind.rawValue)"
        }
    }
}
