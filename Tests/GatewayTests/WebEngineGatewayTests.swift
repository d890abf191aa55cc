import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore
import WhatsAppProtocol

/// Sessions on the native engine through the whole gateway, against the fake WhatsApp server:
/// a real `wharf` process linked by QR, killed, restarted (and logged in again without a QR code),
/// then unlinked through the API; and linking by phone code.
@Suite(.serialized) struct WebEngineGatewayTests {
    let phone = "491701234567"

    func environment(_ server: FakeWhatsApp) -> [String: String] {
        ["WA_WS_URL": server.url, "WA_ROOT_KEY": server.rootKey.hex, "LOG_LEVEL": "warning"]
    }

    /// Polls until `condition` holds for the session's JSON (bounded; the fake server is local).
    func waitFor(
        _ child: CrashTests.Child, session: String, token: String, _ what: String,
        _ condition: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let body = try await poll(attempts: 1500, every: .milliseconds(10)) {
            let body = try await child.call("GET", "/v1/sessions/\(session)", token: token).body
            return condition(body) ? body : nil
        }
        guard let body else { throw PeerProcess.PeerFailure(description: "session never became \(what)") }
        return body
    }

    func tenant(_ child: CrashTests.Child, _ name: String, webhook: String? = nil) async throws -> String {
        var tenant: [String: Any] = ["name": name, "username": name, "password": "password-\(name)", "maxSessions": 3]
        if let webhook { tenant["webhookUrl"] = webhook }
        #expect(try await child.call("POST", "/v1/tenants", json: tenant).status == 201)
        return try #require(
            try await child.call("POST", "/v1/login", json: ["username": name, "password": "password-\(name)"]).body["token"] as? String)
    }

    @Test func linkedByQRSurvivesAKillAndLogsOutThroughTheAPI() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        /// (type, data.status, data.qr) of each event the webhook received.
        let events = Locked<[[String?]]>([])
        let receiver = try await TestReceiver.start { _, request in
            if let json = request.json {
                let data = json["data"] as? [String: Any]
                events.withLock { $0.append([json["type"] as? String, data?["status"] as? String, data?["qr"] as? String]) }
            }
            return .init()
        }
        defer { Task { await receiver.stop() } }
        let directory = TestWharf.temporaryDirectory()
        let child = try await CrashTests.Child(dataDirectory: directory, environment: environment(server))
        defer { if child.process.isRunning { child.kill() } }
        let log = try String(contentsOfFile: child.errorLog, encoding: .utf8)
        #expect(log.contains("WA_ROOT_KEY replaces WhatsApp's certificate root"))

        let token = try await tenant(child, "native", webhook: receiver.url)
        let created = try await child.call("POST", "/v1/sessions", json: ["name": "phone", "engine": "web"], token: token)
        #expect(created.status == 201, "\(created.body)")
        let session = try #require(created.body["id"] as? String)
        _ = try await waitFor(child, session: session, token: token, "scan_qr") { $0["status"] as? String == "scan_qr" }
        let qr = try await child.call("GET", "/v1/sessions/\(session)/qr", token: token)
        let code = try #require(qr.body["qr"] as? String)
        #expect(code.hasPrefix("https://wa.me/settings/linked_devices#"))

        let scan = try await server.control("POST", "/scan", ["qr": code, "phone": phone])
        #expect(scan.status == 200, "\(scan.json)")
        var linked = try await waitFor(child, session: session, token: token, "connected") { $0["status"] as? String == "connected" }
        #expect(linked["phone"] as? String == phone)
        #expect(linked["jid"] as? String == JID(scan.json["jid"] as? String ?? "")?.account.description)
        // The tenant's webhook hears about it through the outbox: the QR code, then the connection.
        _ = try await poll(attempts: 1000, every: .milliseconds(10)) { events.withLock { $0.contains { $0[1] == "connected" } } }
        let received = events.withLock { $0 }
        #expect(received.contains { $0[0] == "session.qr" && $0[2] == code })
        #expect(received.contains { $0[0] == "session.status" && $0[1] == "connected" })

        // A dropped connection comes back by itself (the session manager's backoff).
        let firstConnection = linked["connectedAt"] as? String
        #expect(try await server.control("POST", "/drop", [:]).status == 200)
        linked = try await waitFor(child, session: session, token: token, "reconnected") {
            $0["status"] as? String == "connected" && $0["connectedAt"] as? String != firstConnection
        }

        // SIGKILL: nothing is flushed or closed politely. The stored credentials must be enough.
        child.kill()
        let restarted = try await CrashTests.Child(dataDirectory: directory, environment: environment(server))
        defer { if restarted.process.isRunning { restarted.kill() } }
        let before = linked["connectedAt"] as? String
        _ = try await waitFor(restarted, session: session, token: token, "connected again") {
            $0["status"] as? String == "connected" && $0["connectedAt"] as? String != before
        }
        let connections = try await server.control("GET", "/state").json["connections"] as? [[String: Any]] ?? []
        #expect(connections.allSatisfy { $0["kind"] as? String == "login" }, "no new registration after the restart: \(connections)")
        #expect(try await restarted.call("GET", "/v1/sessions/\(session)/qr", token: token).status == 409)

        let logout = try await restarted.call("POST", "/v1/sessions/\(session)/logout", token: token)
        #expect(logout.status == 200)
        #expect(logout.body["status"] as? String == "logged_out")
        #expect(try await server.devices().isEmpty)
        restarted.terminate()
    }

    @Test func linkedByPhoneCodeThroughTheAPI() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else { return }
        let server = try await FakeWhatsApp()
        let child = try await CrashTests.Child(dataDirectory: TestWharf.temporaryDirectory(), environment: environment(server))
        defer { if child.process.isRunning { child.kill() } }
        let token = try await tenant(child, "coder")
        let session = try #require(
            try await child.call("POST", "/v1/sessions", json: ["name": "code", "engine": "web"], token: token).body["id"] as? String)
        _ = try await waitFor(child, session: session, token: token, "scan_qr") { $0["status"] as? String == "scan_qr" }

        let bad = try await child.call("POST", "/v1/sessions/\(session)/pairing-code", json: ["phone": "0170 123"], token: token)
        #expect(bad.status == 400)
        #expect((bad.body["detail"] as? String)?.contains("international format") == true)

        let requested = try await child.call("POST", "/v1/sessions/\(session)/pairing-code", json: ["phone": "+49 170 1234567"], token: token)
        #expect(requested.status == 200, "\(requested.body)")
        let code = try #require(requested.body["pairingCode"] as? String)
        let shown = try await waitFor(child, session: session, token: token, "pairing_code") { $0["status"] as? String == "pairing_code" }
        #expect(shown["pairingCode"] as? String == code)

        #expect(try await server.control("POST", "/pair-code", ["phone": phone, "code": code]).status == 200)
        _ = try await waitFor(child, session: session, token: token, "connected") { $0["status"] as? String == "connected" }
        let again = try await child.call("POST", "/v1/sessions/\(session)/pairing-code", json: ["phone": phone], token: token)
        #expect(again.status == 409)

        let sandbox = try #require(
            try await child.call("POST", "/v1/sessions", json: ["name": "toy", "engine": "sandbox"], token: token).body["id"] as? String)
        let refused = try await child.call("POST", "/v1/sessions/\(sandbox)/pairing-code", json: ["phone": phone], token: token)
        #expect(refused.status == 409)
        #expect((refused.body["detail"] as? String)?.contains("does not link by phone number") == true)
        child.terminate()
    }
}
