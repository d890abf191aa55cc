import Foundation
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// A credentials store held in memory, for engine tests that do not need SQLite.
actor MemoryCredentials: CredentialsStore {
    var values: [String: Data] = [:]
    func value(forKey key: String) async throws -> Data? { values[key] }
    func setValue(_ value: Data?, forKey key: String) async throws { values[key] = value }
    func removeAll() async throws { values = [:] }
}

@Suite struct SandboxEngineTests {
    func nextStatus(_ iterator: inout AsyncStream<EngineEvent>.Iterator) async -> SessionStatus? {
        while let event = await iterator.next() {
            if case .status(let status) = event { return status }
        }
        return nil
    }

    @Test func instantConnectLinksAndStoresTheAccount() async throws {
        let credentials = MemoryCredentials()
        let engine = SandboxEngine(options: .init(), credentials: credentials, clock: ManualClock())
        var events = engine.events.makeAsyncIterator()
        try await engine.connect()
        #expect(await nextStatus(&events) == .connecting)
        guard case .connected(let account) = await nextStatus(&events) else {
            Issue.record("not connected")
            return
        }
        #expect(account.jid == "\(account.phone)@s.whatsapp.net")
        #expect(await credentials.values["sandbox.account"] != nil)

        // A second engine on the same credentials resumes the same account.
        let again = SandboxEngine(options: .init(requiresQRScan: true), credentials: credentials, clock: ManualClock())
        var againEvents = again.events.makeAsyncIterator()
        try await again.connect()
        _ = await nextStatus(&againEvents)
        #expect(await nextStatus(&againEvents) == .connected(account))
    }

    @Test func qrStepWaitsForTheScan() async throws {
        let engine = SandboxEngine(options: .init(requiresQRScan: true), credentials: MemoryCredentials(), clock: ManualClock())
        var events = engine.events.makeAsyncIterator()
        await #expect(throws: EngineError.self) { try await engine.scanQR() }
        try await engine.connect()
        _ = await nextStatus(&events)
        guard case .qr(let code) = await nextStatus(&events) else {
            Issue.record("no QR")
            return
        }
        #expect(code.hasPrefix("sandbox-qr:"))
        try await engine.scanQR()
        guard case .connected = await nextStatus(&events) else {
            Issue.record("not connected after scan")
            return
        }
    }

    @Test func injectedInboundReturnsOnlyAfterTheAck() async throws {
        let engine = SandboxEngine(options: .init(), credentials: MemoryCredentials(), clock: ManualClock())
        try await engine.connect()
        let acked = OrderFlag()
        let consumer = Task {
            for await event in engine.events {
                if case .inbound(let items, let ack) = event, case .message(let message)? = items.first {
                    #expect(message.text == "hello")
                    await acked.set()
                    await ack()
                    return
                }
            }
        }
        let message = try await engine.injectInbound(from: "+49 151 1234567", text: "hello")
        #expect(await acked.isSet)
        #expect(message.chat.rawValue == "491511234567@s.whatsapp.net")
        await consumer.value
    }

    @Test func sendsAndPresenceAreRecordedWithTheirTimesAndResendsAreIdempotent() async throws {
        let clock = ManualClock()
        let engine = SandboxEngine(options: .init(), credentials: MemoryCredentials(), clock: clock)
        let chat = ChatID("4915112345678@s.whatsapp.net")
        await #expect(throws: EngineError.notConnected) {
            try await engine.send(OutboundMessage(clientMessageID: "m0", chat: chat, content: .text("x")))
        }
        try await engine.connect()
        let start = clock.now
        try await engine.markRead(chat: chat, messageIDs: ["in1"])
        try await engine.setPresence(.composing, in: chat, answering: nil)
        clock.advance(by: .seconds(2))
        try await engine.setPresence(.paused, in: chat, answering: nil)
        let sent = try await engine.send(OutboundMessage(clientMessageID: "m1", chat: chat, content: .text("Hi!")))
        let resent = try await engine.send(OutboundMessage(clientMessageID: "m1", chat: chat, content: .text("Hi!")))
        #expect(sent == resent)
        let steps = await engine.recordedSteps()
        #expect(steps.map(\.step) == [.read, .composing, .paused, .send])
        #expect(steps[1].at == start)
        #expect(steps[2].at == start.addingTimeInterval(2))
        #expect(steps[3].text == "Hi!")
        #expect(steps[0].readMessageIDs == ["in1"])
    }

    @Test func echoContactAnswers() async throws {
        let engine = SandboxEngine(options: .init(isEchoEnabled: true), credentials: MemoryCredentials(), clock: ManualClock())
        try await engine.connect()
        _ = try await engine.send(
            OutboundMessage(clientMessageID: "m1", chat: ChatID("\(SandboxEngine.echoContact)@s.whatsapp.net"), content: .text("ping")))
        for await event in engine.events {
            if case .inbound(let items, _) = event, case .message(let message)? = items.first {
                #expect(message.text == "echo: ping")
                #expect(message.from == SandboxEngine.echoContact)
                break
            }
        }
    }

    @Test func logoutForgetsCredentialsAndEndsTheStream() async throws {
        let credentials = MemoryCredentials()
        let engine = SandboxEngine(options: .init(), credentials: credentials, clock: ManualClock())
        try await engine.connect()
        try await engine.logout()
        #expect(await credentials.values.isEmpty)
        var statuses: [SessionStatus] = []
        for await event in engine.events {
            if case .status(let status) = event { statuses.append(status) }
        }
        #expect(statuses.last == .loggedOut(reason: "logged out on request"))
    }
}

actor OrderFlag {
    var isSet = false
    func set() { isSet = true }
}
