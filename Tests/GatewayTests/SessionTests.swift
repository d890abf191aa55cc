import Foundation
import Testing
import WharfCore
import WhatsAppProtocol

@testable import Gateway

@Suite struct SessionTests {
    @Test func sessionLimitIsEnforcedWithAClearConflict() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("limited", maxSessions: 1)
            _ = try await app.makeConnectedSession(token: tenant.token)
            let second = try await app.call(.post, "/v1/sessions", json: ["name": "two"], as: .bearer(tenant.token))
            #expect(second.status == .conflict)
            #expect(second.headers[.contentType] == "application/problem+json")
            #expect(second.string("detail")?.contains("maximum of 1 session") == true)
            #expect(second["maxSessions"]?.intValue == 1)
        }
    }

    @Test func concurrentCreatesNeverExceedTheLimit() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("racer", maxSessions: 2)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<6 {
                    group.addTask {
                        Int(try await app.call(.post, "/v1/sessions", json: ["name": .string("s\(index)")], as: .bearer(tenant.token)).status.code)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 2)
            #expect(statuses.filter { $0 == 409 }.count == 4)
        }
    }

    @Test func unknownEngineIsRefusedNamingTheAvailableOnes() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("engines")
            let reply = try await app.call(.post, "/v1/sessions", json: ["engine": "telegram"], as: .bearer(tenant.token))
            #expect(reply.status == .unprocessableContent)
            #expect(reply.string("detail")?.contains("available: sandbox") == true)
        }
    }

    @Test func sandboxInboundReachesTheSessionEventStream() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("inbound")
            let sessionID = try await app.makeConnectedSession(token: tenant.token)
            let stream = app.wharf.events.subscribe(sessionID: sessionID)
            let reply = try await app.call(
                .post, "/v1/sessions/\(sessionID)/sandbox/inbound",
                json: ["from": "+49 151 12345678", "text": "Hi there", "fromName": "Ana"], as: .bearer(tenant.token))
            #expect(reply.status == .created, "\(reply.text)")
            #expect(reply.string("chatId") == "4915112345678@s.whatsapp.net")
            var received: InboundMessage?
            for await event in stream {
                if case .message(let message) = event.kind {
                    received = message
                    #expect(event.tenantID == tenant.id)
                    break
                }
            }
            #expect(received?.text == "Hi there")
            #expect(received?.from == "4915112345678")
            #expect(received?.fromName == "Ana")
            #expect(received?.id == reply.string("id"))
        }
    }

    @Test func qrLinkingShowsTheCodeUntilScanned() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("qrcode")
            let created = try await app.call(
                .post, "/v1/sessions", json: ["name": "phone", "sandbox": ["qr": true]], as: .bearer(tenant.token))
            let id = try #require(created.string("id"))
            try await app.waitForStatus(id, "scan_qr", token: tenant.token)
            let qr = try await app.call(.get, "/v1/sessions/\(id)/qr", as: .bearer(tenant.token))
            #expect(qr.string("qr")?.hasPrefix("sandbox-qr:") == true)
            let scanned = try await app.call(.post, "/v1/sessions/\(id)/sandbox/scan", as: .bearer(tenant.token))
            #expect(scanned.status == .ok)
            try await app.waitForStatus(id, "connected", token: tenant.token)
            let session = try await app.call(.get, "/v1/sessions/\(id)", as: .bearer(tenant.token))
            #expect(session["qr"] == nil)
            #expect(session.string("phone")?.hasPrefix("1555") == true)
            #expect(try await app.call(.get, "/v1/sessions/\(id)/qr", as: .bearer(tenant.token)).status == .conflict)
        }
    }

    @Test func restartRestoresLinkedSessionsWithoutANewQR() async throws {
        let directory = TestWharf.temporaryDirectory()
        let (tenantID, sessionID, phone) = try await TestWharf.run(dataDirectory: directory) { app in
            let tenant = try await app.makeTenant("durable")
            let created = try await app.call(
                .post, "/v1/sessions", json: ["sandbox": ["qr": true]], as: .bearer(tenant.token))
            let id = try #require(created.string("id"))
            try await app.waitForStatus(id, "scan_qr", token: tenant.token)
            _ = try await app.call(.post, "/v1/sessions/\(id)/sandbox/scan", as: .bearer(tenant.token))
            try await app.waitForStatus(id, "connected", token: tenant.token)
            let phone = try await app.call(.get, "/v1/sessions/\(id)", as: .bearer(tenant.token)).string("phone")
            return (tenant.id, id, try #require(phone))
        }
        try await TestWharf.run(dataDirectory: directory) { app in
            let login = try await app.call(
                .post, "/v1/login", json: ["username": "durable", "password": "password-durable"])
            let token = try #require(login.string("token"))
            #expect(login.string("tenantId") == tenantID)
            try await app.waitForStatus(sessionID, "connected", token: token)
            let session = try await app.call(.get, "/v1/sessions/\(sessionID)", as: .bearer(token))
            #expect(session.string("phone") == phone)
            #expect(session["qr"] == nil)
        }
    }

    @Test func droppedConnectionIsReconnectedWithBackoff() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("flaky")
            let id = try await app.makeConnectedSession(token: tenant.token)
            let dropped = try await app.call(.post, "/v1/sessions/\(id)/sandbox/disconnect", as: .bearer(tenant.token))
            #expect(dropped.status == .noContent)
            try await app.waitForStatus(id, "disconnected", token: tenant.token)
            #expect(await app.clock.waitForSleepers(count: 1))
            // Still disconnected until the backoff (about a second, ±20 %) has passed in virtual time.
            app.clock.advance(by: .milliseconds(700))
            #expect(try await app.call(.get, "/v1/sessions/\(id)", as: .bearer(tenant.token)).string("status") == "disconnected")
            app.clock.advance(by: .seconds(1))
            try await app.waitForStatus(id, "connected", token: tenant.token)
        }
    }

    @Test func renameRestartAndDelete() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("owner")
            let id = try await app.makeConnectedSession(token: tenant.token)
            let renamed = try await app.call(.patch, "/v1/sessions/\(id)", json: ["name": "Support line"], as: .bearer(tenant.token))
            #expect(renamed.string("name") == "Support line")
            let restarted = try await app.call(.post, "/v1/sessions/\(id)/restart", as: .bearer(tenant.token))
            #expect(restarted.status == .accepted)
            try await app.waitForStatus(id, "connected", token: tenant.token)
            let list = try await app.call(.get, "/v1/sessions", as: .bearer(tenant.token))
            #expect(list["items"]?.arrayValue?.count == 1)
            #expect(try await app.call(.delete, "/v1/sessions/\(id)", as: .bearer(tenant.token)).status == .noContent)
            #expect(try await app.call(.get, "/v1/sessions/\(id)", as: .bearer(tenant.token)).status == .notFound)
            #expect(await app.wharf.sessions.engine(for: id) == nil)
            #expect(try await app.wharf.store.credentials(sessionID: id).value(forKey: "sandbox.account") == nil)
        }
    }

    @Test func adminCreatesSessionsForANamedTenant() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("managed")
            let missing = try await app.call(.post, "/v1/sessions", json: ["name": "x"], as: .admin)
            #expect(missing.status == .badRequest)
            #expect(missing.string("field") == "tenantId")
            let created = try await app.call(
                .post, "/v1/sessions", json: ["name": "x", "tenantId": .string(tenant.id)], as: .admin)
            #expect(created.status == .created)
            #expect(created.string("tenantId") == tenant.id)
            let unknown = try await app.call(.post, "/v1/sessions", json: ["tenantId": "ten_nope"], as: .admin)
            #expect(unknown.status == .notFound)
        }
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func delaysDoubleWithinJitterAndAreCapped() {
        var backoff = ReconnectBackoff(seed: 7)
        var expected = 1.0
        for _ in 0..<10 {
            let delay = backoff.nextDelay().timeInterval
            #expect(delay >= expected * 0.8 - 0.001 && delay <= expected * 1.2 + 0.001)
            expected = min(expected * 2, 60)
        }
        backoff.reset()
        #expect(backoff.nextDelay().timeInterval <= 1.2)
    }

    @Test func sameSeedSameDelays() {
        var first = ReconnectBackoff(seed: 42)
        var second = ReconnectBackoff(seed: 42)
        for _ in 0..<5 { #expect(first.nextDelay() == second.nextDelay()) }
    }
}
