import Foundation
import PeerSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// The native engine against the fake WhatsApp server: every byte it sends is read by code we
/// did not write (see FakeWhatsApp). Waits use the real clock only for network round trips.
@Suite(.serialized) struct WebEngineTests {
    let phone = "491701234567"

    /// The next status matching `accept` after those already seen; fails after `seconds`.
    func nextStatus(
        _ events: StatusRecorder, seconds: Double = 60, where accept: @escaping @Sendable (SessionStatus) -> Bool = { _ in true }
    ) async throws -> SessionStatus {
        try await events.next(seconds: seconds, where: accept)
    }

    static func isQR(_ status: SessionStatus) -> Bool { if case .qr = status { true } else { false } }
    static func isConnected(_ status: SessionStatus) -> Bool { if case .connected = status { true } else { false } }

    func linkByQR(_ server: FakeWhatsApp, credentials: MemoryCredentials) async throws -> (WebEngine, StatusRecorder, String) {
        let engine = WebEngine(configuration: server.configuration, credentials: credentials, clock: SystemClock())
        let events = StatusRecorder(engine)
        try await engine.connect()
        #expect(try await nextStatus(events) == .connecting)
        guard case .qr(let qr) = try await nextStatus(events) else { throw PeerProcess.PeerFailure(description: "no QR") }
        let scan = try await server.control("POST", "/scan", ["qr": qr, "phone": phone])
        #expect(scan.status == 200, "scan: \(scan.json)")
        #expect(scan.json["deviceSignatureValid"] as? Bool == true)
        let jid = try #require(scan.json["jid"] as? String)
        guard case .connected(let account) = try await nextStatus(events, where: Self.isConnected) else {
            throw PeerProcess.PeerFailure(description: "not connected")
        }
        #expect(account.jid == JID(jid)?.account.description, "the account, not the device")
        #expect(account.phone == phone)
        return (engine, events, jid)
    }

    @Test func qrLinkingThenLoginWithStoredCredentialsThenLogout() async throws {
        let server = try await FakeWhatsApp()
        let credentials = MemoryCredentials()
        let (engine, _, jid) = try await linkByQR(server, credentials: credentials)
        let stored = try #require(await credentials.values[DeviceCredentials.storageKey])
        let device = try JSONDecoder().decode(DeviceCredentials.self, from: stored)
        #expect(device.account?.jid == jid)
        #expect(device.account?.lid?.hasSuffix("@lid") == true)
        await engine.shutdown()

        // A new engine on the same credentials logs in: no QR code this time.
        let again = WebEngine(configuration: server.configuration, credentials: credentials, clock: SystemClock())
        let events = StatusRecorder(again)
        try await again.connect()
        #expect(try await nextStatus(events) == .connecting)
        guard case .connected(let account) = try await nextStatus(events) else {
            Issue.record("expected to connect without a QR code")
            return
        }
        #expect(account.jid == JID(jid)?.account.description)
        let state = try await server.control("GET", "/state").json
        let connections = state["connections"] as? [[String: Any]] ?? []
        #expect(connections.contains { $0["jid"] as? String == jid && $0["active"] as? Bool == true })

        try await again.logout()
        #expect(try await nextStatus(events, where: { if case .loggedOut = $0 { true } else { false } }) == .loggedOut(reason: "logged out"))
        #expect(try await server.devices().isEmpty)
        #expect(await credentials.values.isEmpty)
        await again.shutdown()
    }

    @Test func phoneCodeLinking() async throws {
        let server = try await FakeWhatsApp()
        let engine = WebEngine(configuration: server.configuration, credentials: MemoryCredentials(), clock: SystemClock())
        let events = StatusRecorder(engine)
        try await engine.connect()
        _ = try await nextStatus(events, where: Self.isQR)
        let code = try await engine.requestPairingCode(phone: "+49 170 1234567")
        #expect(code.count == 9 && code.dropFirst(4).first == "-")
        #expect(code.allSatisfy { LinkCode.alphabet.contains($0) || $0 == "-" })
        #expect(try await nextStatus(events) == .pairingCode(code))

        let typed = try await server.control("POST", "/pair-code", ["phone": phone, "code": code])
        #expect(typed.status == 200, "pair-code: \(typed.json)")
        guard case .connected(let account) = try await nextStatus(events, where: Self.isConnected) else { return }
        #expect(account.phone == phone)
        await engine.shutdown()
    }

    @Test func aWrongPhoneCodeDoesNotLink() async throws {
        let server = try await FakeWhatsApp()
        let engine = WebEngine(configuration: server.configuration, credentials: MemoryCredentials(), clock: SystemClock())
        let events = StatusRecorder(engine)
        try await engine.connect()
        _ = try await nextStatus(events, where: Self.isQR)
        let code = try await engine.requestPairingCode(phone: phone)
        let wrong = String(code.reversed())
        let typed = try await server.control("POST", "/pair-code", ["phone": phone, "code": wrong == code ? "1111-1111" : wrong])
        #expect(typed.status == 409)
        #expect(try await server.devices().isEmpty)
        await engine.shutdown()
        #expect(try await server.devices().isEmpty)
    }

    @Test func streamErrorsMapToSessionEvents() async throws {
        let server = try await FakeWhatsApp()
        let credentials = MemoryCredentials()
        let (engine, events, jid) = try await linkByQR(server, credentials: credentials)
        let iterator = events

        // A dropped socket is a disconnection the session manager retries.
        #expect(try await server.control("POST", "/drop", ["jid": jid]).status == 200)
        guard case .disconnected = try await nextStatus(iterator) else {
            Issue.record("expected disconnected")
            return
        }
        try await engine.connect()
        _ = try await nextStatus(iterator, where: Self.isConnected)

        // The server asking for a restart reconnects at once, without a disconnection.
        #expect(try await server.control("POST", "/stream-error", ["jid": jid, "code": "515"]).status == 200)
        #expect(try await nextStatus(iterator) == .connecting)
        _ = try await nextStatus(iterator, where: Self.isConnected)

        // Removing the device on the phone logs the session out and forgets its keys.
        #expect(try await server.control("POST", "/remove-device", ["jid": jid]).status == 200)
        #expect(try await nextStatus(iterator) == .loggedOut(reason: "the device was removed from the phone"))
        #expect(await credentials.values.isEmpty)
        await engine.shutdown()
    }

    @Test func beingReplacedStopsInsteadOfFightingBack() async throws {
        let server = try await FakeWhatsApp()
        let credentials = MemoryCredentials()
        let (engine, events, jid) = try await linkByQR(server, credentials: credentials)
        #expect(try await server.control("POST", "/stream-error", ["jid": jid, "code": "409", "conflict": "replaced"]).status == 200)
        #expect(
            try await nextStatus(events, where: { if case .stopped = $0 { true } else { false } })
                == .stopped(reason: "another connection replaced this one; restart the session to take over"))
        #expect(await credentials.values[DeviceCredentials.storageKey] != nil, "the link is intact")
        await engine.shutdown()
    }

    @Test func compressedFramesAndQRRotationAreHandled() async throws {
        let server = try await FakeWhatsApp()
        let engine = WebEngine(configuration: server.configuration, credentials: MemoryCredentials(), clock: SystemClock())
        let events = StatusRecorder(engine)
        try await engine.connect()
        guard case .qr(let first) = try await nextStatus(events, where: Self.isQR) else { return }
        #expect(first.hasPrefix("https://wa.me/settings/linked_devices#"))
        #expect(first.split(separator: ",").count == 5)
        try await server.control("POST", "/compress", ["on": true])
        try await server.control("POST", "/refs", ["count": 2])
        guard case .qr(let fresh) = try await nextStatus(events, where: Self.isQR) else { return }
        #expect(fresh != first)
        let scan = try await server.control("POST", "/scan", ["qr": fresh, "phone": phone])
        #expect(scan.status == 200)
        _ = try await nextStatus(events, where: Self.isConnected)
        await engine.shutdown()
    }
}

/// Collects an engine's status events as they come, so a test can wait for one with a deadline.
actor StatusRecorder {
    private var statuses: [SessionStatus] = []
    private var cursor = 0
    private var task: Task<Void, Never>?

    init(_ engine: any Engine) {
        let events = engine.events
        task = nil
        Task { await self.start(events) }
    }

    private func start(_ events: AsyncStream<EngineEvent>) {
        task = Task {
            for await event in events {
                if case .status(let status) = event { self.append(status) }
            }
        }
    }

    private func append(_ status: SessionStatus) {
        if ProcessInfo.processInfo.environment["DEBUG_STATUS"] != nil { print("status:", status) }
        statuses.append(status)
    }

    /// Statuses that arrived but no `next` has looked at yet.
    var pending: Int { statuses.count - cursor }

    func next(seconds: Double, where accept: (SessionStatus) -> Bool) async throws -> SessionStatus {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            while cursor < statuses.count {
                let status = statuses[cursor]
                cursor += 1
                if accept(status) { return status }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw PeerProcess.PeerFailure(description: "no matching status within \(seconds) s; seen \(statuses)")
    }
}
