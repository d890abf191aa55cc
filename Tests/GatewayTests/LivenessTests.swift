import Foundation
import TestSupport
import Testing
import WharfCore
import WhatsAppProtocol

@testable import Gateway

/// "Connected" on a dead connection: the watchdog probes a session that has gone quiet and
/// reconnects it when no answer comes, and the status history says why (virtual time).
@Suite struct LivenessTests {
    @Test func aQuietSessionThatAnswersIsLeftAloneAndASilentOneIsReconnected() async throws {
        try await TestWharf.run(configure: { configuration in
            configuration.watchdogLimits.quietFor = .seconds(120)
            configuration.watchdogLimits.probeTimeout = .seconds(20)
        }) { app in
            let tenant = try await app.makeTenant("acme")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let first = try #require(await app.wharf.sessions.engine(for: session) as? SandboxEngine)

            // Quiet but alive: probed once it has been quiet for 120 s, answers, stays as it is.
            app.clock.advance(by: .seconds(100))
            try await Task.sleep(for: .milliseconds(100))
            #expect(await first.probesAnswered == 0, "not yet: quiet for 100 of 120 seconds")
            _ = try await waitFor("the quiet session is probed") { () -> Bool? in
                app.clock.advance(by: .seconds(5))
                return await first.probesAnswered > 0 ? true : nil
            }
            #expect(await app.wharf.sessions.engine(for: session) === first)
            let alive = try await app.call(.get, "/v1/sessions/\(session)", as: .bearer(tenant.token))
            #expect(alive.string("status") == "connected")

            // Silent: still "connected", but the probe is not answered; 20 s later it reconnects.
            let silenced = try await app.call(.post, "/v1/sessions/\(session)/sandbox/silence", as: .bearer(tenant.token))
            #expect(silenced.status == .noContent, "\(silenced.text)")
            let second = try await waitFor("the silent session is reconnected") { () -> SandboxEngine? in
                app.clock.advance(by: .seconds(5))
                guard let engine = await app.wharf.sessions.engine(for: session) as? SandboxEngine, engine !== first else { return nil }
                return engine
            }
            try await app.waitForStatus(session, "connected", token: tenant.token)
            #expect(await second.account != nil)

            // The history, newest first: reconnected, starting, and the drop with its reason.
            let history = try await app.call(.get, "/v1/sessions/\(session)/status-history", as: .bearer(tenant.token))
            #expect(history.status == .ok, "\(history.text)")
            let items = try #require(history["items"]?.arrayValue)
            let changes = items.map { ($0["status"]?.stringValue ?? "", $0["detail"]?.stringValue ?? "") }
            #expect(changes.first?.0 == "connected")
            #expect(changes.first?.1 == "reconnected after a failed liveness probe", "\(changes)")
            let drop = try #require(changes.first { $0.0 == "disconnected" }, "\(changes)")
            #expect(drop.1.contains("no traffic for 120 s and no answer to a liveness probe within 20 s"), "\(drop.1)")
            #expect(changes.last?.0 == "starting", "the first entry is the session's creation: \(changes)")
            #expect(changes.filter { $0.0 == "connected" }.count == 2)

            // The session.status events say the same.
            let events = try await app.call(.get, "/v1/events?types=session.status", as: .bearer(tenant.token))
            let statuses = try #require(events["items"]?.arrayValue).compactMap { $0["data"] }
            #expect(statuses.contains { $0["status"] == .string("disconnected") && ($0["detail"]?.stringValue ?? "").contains("liveness probe") })
            #expect(statuses.last?["detail"] == .string("reconnected after a failed liveness probe"))

            // The console shows the history; another tenant cannot read it.
            let (cookie, _) = try await ConsoleTests.dashboardLogin(app, username: "acme", password: "password-acme")
            let page = try await app.call(.get, "/dashboard/sessions/\(session)", headers: [.cookie: cookie]).text
            #expect(page.contains(#"id="session-history""#))
            #expect(page.contains("no answer to a liveness probe"), "\(page)")
            let other = try await app.makeTenant("other")
            let hidden = try await app.call(.get, "/v1/sessions/\(session)/status-history", as: .bearer(other.token))
            #expect(hidden.status == .notFound)
        }
    }

    @Test func theStateProbesEachQuietSessionOnceAtATime() {
        var state = LivenessState(quietFor: .seconds(60))
        let start = Date(timeIntervalSince1970: 1_000)
        let quiet = SessionManager.ConnectedSession(sessionID: "a", tenantID: "t", quietSince: start)
        let busy = SessionManager.ConnectedSession(sessionID: "b", tenantID: "t", quietSince: start.addingTimeInterval(30))
        #expect(state.due([quiet, busy], now: start.addingTimeInterval(59)).isEmpty)
        #expect(state.due([quiet, busy], now: start.addingTimeInterval(60)).map(\.sessionID) == ["a"])
        #expect(state.due([quiet, busy], now: start.addingTimeInterval(70)).isEmpty, "a is being probed, b is not quiet long enough")
        state.finished("a")
        #expect(state.due([quiet, busy], now: start.addingTimeInterval(90)).map(\.sessionID) == ["a", "b"])
        var off = LivenessState(quietFor: .zero)
        #expect(off.due([quiet], now: start.addingTimeInterval(10_000)).isEmpty, "zero turns probing off")
    }
}
