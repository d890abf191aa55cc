import Foundation
import Outbox
import Synchronization
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// A graceful shutdown with work in flight: nothing is left running and nothing is lost.
@Suite(.serialized) struct ShutdownTests {
    @Test func shutdownWithWorkInFlightLeavesNothingRunningAndLosesNothing() async throws {
        let directory = TestWharf.temporaryDirectory()
        let clock = ManualClock()
        let answering = Atomic<Bool>(false)
        let receiver = try await TestReceiver.start { _, _ in
            answering.load(ordering: .relaxed) ? .init() : .init(status: .serviceUnavailable)
        }
        defer { Task { await receiver.stop() } }
        let configure: (inout WharfConfiguration) -> Void = { DeliveryTests.allowLoopback(&$0) }
        let send = SendTests()

        let (wharf, tenant, typing, dropped, job, eventID) = try await TestWharf.run(
            dataDirectory: directory, clock: clock, configure: configure
        ) { app in
            let tenant = try await app.makeTenant("shutdown", settings: ["humanize": ["typingMs": 10000]])
            _ = try await app.call(.put, "/api/tenants/\(tenant.id)", json: ["webhookUrl": .string(receiver.url)], as: .admin)
            let typing = try await app.makeConnectedSession(token: tenant.token, name: "typing")
            let dropped = try await app.makeConnectedSession(token: tenant.token, name: "dropped")

            // A message being "typed" when the shutdown comes.
            let queued = try await send.send(app, session: typing, token: tenant.token, body: ["chatId": "4915100000042", "text": "typed"])
            let job = try #require(queued.string("jobId"))
            try await eventually("typing started") {
                try await send.steps(app, session: typing, token: tenant.token).contains { $0.step == "composing" }
            }
            // An inbound event whose webhook has failed once and waits for its retry.
            let inbound = try await app.call(
                .post, "/v1/sessions/\(typing)/sandbox/inbound", json: ["from": "4915112345678", "text": "kept"], as: .bearer(tenant.token))
            try await eventually("the first delivery attempt") { !receiver.messages.isEmpty }
            let eventID = try #require(receiver.messages.first?.header("webhook-id"))
            #expect(inbound.status == .created)
            // A session waiting out its reconnect backoff.
            _ = try await app.call(.post, "/v1/sessions/\(dropped)/sandbox/disconnect", as: .bearer(tenant.token))
            try await app.waitForStatus(dropped, "disconnected", token: tenant.token)
            return (app.wharf, tenant, typing, dropped, job, eventID)
        }

        // Nothing is left running: no task sleeps on the clock (typing, backoff, the deliverer's
        // next retry), no engine is held, and moving time on changes nothing.
        #expect(clock.sleeperCount == 0)
        #expect(await wharf.sessions.engine(for: typing) == nil)
        #expect(await wharf.sessions.engine(for: dropped) == nil)
        clock.advance(by: .seconds(3600))
        try await Task.sleep(for: .milliseconds(100))
        let handedBack = try #require(try await wharf.store.job(id: job, scope: .everything))
        #expect(handedBack.status == .queued)
        #expect(handedBack.attempts == 1)
        let pending = try await wharf.outbox.deliveries(matching: DeliveryFilter(type: "message.received"), before: nil, limit: 10)
        #expect(pending.map(\.status) == [.pending])
        #expect(receiver.messages.count == 1)

        // Nothing is lost: the next start sends the message under the same id and delivers the event.
        answering.store(true, ordering: .relaxed)
        try await TestWharf.run(dataDirectory: directory, clock: clock, configure: configure) { app in
            try await app.waitForStatus(typing, "connected", token: tenant.token)
            try await send.advance(app, by: .milliseconds(250)) {
                try await send.jobStatus(app, job, token: tenant.token) == "sent"
                    && receiver.messages.contains { $0.header("webhook-id") == eventID }
            }
            let sends = try await send.steps(app, session: typing, token: tenant.token).filter { $0.step == "send" }
            #expect(sends.map(\.messageID) == [handedBack.clientMessageId])
            #expect(try await app.wharf.store.job(id: job, scope: .everything)?.attempts == 2)
        }
    }
}

extension TestReceiver {
    /// The `message.received` deliveries received so far.
    fileprivate var messages: [Received] { requests.filter { $0.json?["type"] as? String == "message.received" } }
}
