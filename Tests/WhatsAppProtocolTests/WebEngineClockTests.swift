import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Time-driven behaviour of the native engine (QR rotation, keepalive), with an injected clock: the
/// fake server answers at network speed, the engine's waits only end when the test moves time.
@Suite(.serialized) struct WebEngineClockTests {
    @Test func qrCodesRotateSixtyThenTwentySecondsAndThenTheAttemptEnds() async throws {
        let server = try await FakeWhatsApp()
        let clock = ManualClock(now: Date())
        let engine = WebEngine(configuration: server.configuration, credentials: MemoryCredentials(), clock: clock)
        let events = StatusRecorder(engine)
        try await engine.connect()
        guard case .qr(let first) = try await events.next(seconds: 60, where: WebEngineTests.isQR) else { return }
        try await server.control("POST", "/refs", ["count": 3])  // a fresh set of three refs
        guard case .qr(let second) = try await events.next(seconds: 60, where: WebEngineTests.isQR) else { return }
        #expect(second != first)
        #expect(await clock.waitForSleepers(count: 1))

        clock.advance(by: .seconds(59))
        try await Task.sleep(for: .milliseconds(200))
        #expect(await events.pending == 0, "the first code of a set stays 60 seconds")
        clock.advance(by: .seconds(1))
        guard case .qr(let third) = try await events.next(seconds: 60, where: WebEngineTests.isQR) else { return }
        #expect(third != second)

        #expect(await clock.waitForSleepers(count: 1))
        clock.advance(by: .seconds(19))
        try await Task.sleep(for: .milliseconds(200))
        #expect(await events.pending == 0, "later codes stay 20 seconds")
        clock.advance(by: .seconds(1))
        guard case .qr = try await events.next(seconds: 60, where: WebEngineTests.isQR) else { return }

        #expect(await clock.waitForSleepers(count: 1))
        clock.advance(by: .seconds(20))
        #expect(
            try await events.next(seconds: 60, where: { if case .disconnected = $0 { true } else { false } })
                == .disconnected(reason: "the QR code was not scanned in time"))
        await engine.shutdown()
    }

    @Test func keepalivePingsAndGivesUpAfterThreeUnansweredOnes() async throws {
        let server = try await FakeWhatsApp()
        let clock = ManualClock(now: Date())
        let engine = WebEngine(configuration: server.configuration, credentials: MemoryCredentials(), clock: clock)
        let events = StatusRecorder(engine)
        try await engine.connect()
        guard case .qr(let qr) = try await events.next(seconds: 60, where: WebEngineTests.isQR) else { return }
        #expect(try await server.control("POST", "/scan", ["qr": qr, "phone": "491701234567"]).status == 200)
        _ = try await events.next(seconds: 60, where: WebEngineTests.isConnected)

        func pings() async throws -> Int {
            let connections = try await server.control("GET", "/state").json["connections"] as? [[String: Any]] ?? []
            return connections.compactMap { $0["pings"] as? Int }.max() ?? 0
        }
        func waitForPings(_ count: Int) async throws {
            _ = try await poll(attempts: 500, every: .milliseconds(10)) { try await pings() >= count }
            #expect(try await pings() == count)
        }

        #expect(await clock.waitForSleepers(count: 1))
        #expect(try await pings() == 0)
        clock.advance(by: .seconds(30))  // the interval is 20–30 s
        try await waitForPings(1)

        try await server.control("POST", "/pings", ["answer": false])
        for round in 2...4 {
            #expect(await clock.waitForSleepers(count: 1))
            clock.advance(by: .seconds(30))
            try await waitForPings(round)
            #expect(await clock.waitForSleepers(count: 1))
            clock.advance(by: .seconds(10))  // the answer deadline
        }
        #expect(
            try await events.next(seconds: 60, where: { if case .disconnected = $0 { true } else { false } })
                == .disconnected(reason: "WhatsApp stopped answering keepalive pings"))
        await engine.shutdown()
    }
}

@Suite struct WebEngineStopTests {
    /// A server that accepts and never answers the upgrade, and deadlines of an hour: only the close
    /// itself can end the attempt (the time limit turns a hang into a failure).
    @Test(.timeLimit(.minutes(1))) func disconnectDuringAStalledUpgradeReturnsAtOnce() async throws {
        let silent = try PeerProcess("silent_server.py")
        let port = try await silent.receiveText("port")
        var configuration = WebEngineConfiguration()
        configuration.url = "ws://127.0.0.1:\(port)/ws/chat"
        configuration.connectTimeout = .seconds(3600)
        let engine = WebEngine(configuration: configuration, credentials: MemoryCredentials(), clock: ManualClock(now: Date()))
        let events = StatusRecorder(engine)
        try await engine.connect()
        _ = try await events.next(seconds: 10, where: { $0 == .connecting })
        try await Task.sleep(for: .milliseconds(200))  // let the TCP connection open
        await engine.disconnect()
        #expect(
            try await events.next(seconds: 10, where: { if case .disconnected = $0 { true } else { false } })
                == .disconnected(reason: "disconnected"))
        await engine.shutdown()
    }

    @Test func unreadableStoredKeysAreReportedNotReplaced() async throws {
        let credentials = MemoryCredentials()
        try await credentials.setValue(Data("not json".utf8), forKey: DeviceCredentials.storageKey)
        let engine = WebEngine(configuration: WebEngineConfiguration(), credentials: credentials, clock: ManualClock())
        await #expect(throws: EngineError.self) { try await engine.connect() }
        #expect(await credentials.values[DeviceCredentials.storageKey] == Data("not json".utf8))
        await engine.shutdown()
    }

    @Test func storedKeysOfTheWrongLengthAreAnErrorNotACrash() async throws {
        let credentials = MemoryCredentials()
        var json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(DeviceCredentials.generate())) as? [String: Any])
        json["identityKey"] = Data(repeating: 7, count: 31).base64EncodedString()
        try await credentials.setValue(try JSONSerialization.data(withJSONObject: json), forKey: DeviceCredentials.storageKey)
        let engine = WebEngine(configuration: WebEngineConfiguration(), credentials: credentials, clock: ManualClock())
        do {
            try await engine.connect()
            Issue.record("a 31-byte identity key was accepted")
        } catch EngineError.unreadableState(let reason) {
            #expect(reason.contains("cannot be read"))
        }
        await engine.shutdown()
    }
}
