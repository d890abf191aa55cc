import Foundation
import HTTPTypes
import TestSupport
import Testing
import WharfCore

/// `GET /v1/events/ws` on real sockets: a client that disconnects mid-burst resumes with every
/// event once and in order, refusals are problems, another tenant's events never show, and a
/// client that falls behind is closed with a reason and resumes without loss.
@Suite struct EventSocketTests {
    /// A WebSocket client of the event stream on a bare socket (``RawStreamClient``).
    static func connect(_ port: Int, _ query: String, token: String) async throws -> RawStreamClient {
        try await RawStreamClient(port: port, path: "/v1/events/ws\(query)", token: token, headers: WebSocketFrames.upgradeHeaders)
    }

    static func id(_ envelope: String) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(envelope.utf8)) as? [String: Any])?["id"] as? String
    }

    @Test func aClientThatDisconnectsMidBurstResumesWithEveryEventOnceInOrder() async throws {
        try await TestWharf.run { app in
            let port = try #require(app.client.port)
            let alice = try await app.makeTenant("alice")
            let bob = try await app.makeTenant("bob")
            let aliceSession = try await app.makeConnectedSession(token: alice.token)
            let bobSession = try await app.makeConnectedSession(token: bob.token)
            _ = try await EventStreamTests.inject(app, session: aliceSession, token: alice.token, text: "before")

            // Live from now: what happened before the socket opened is not sent.
            let first = try await Self.connect(port, "?types=message.received", token: alice.token)
            let head = try await first.readHead()
            #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
            try await Task.sleep(for: .milliseconds(200))
            let burst = 1000
            let injecting = Task {
                for index in 0..<burst {
                    _ = try await EventStreamTests.inject(app, session: aliceSession, token: alice.token, text: "burst \(index)")
                    if index % 100 == 0 { _ = try await EventStreamTests.inject(app, session: bobSession, token: bob.token, text: "bob \(index)") }
                }
            }
            // Mid-burst the client goes away (a frame it had half read is lost to it, not to the stream).
            let early = WebSocketFrames(try await first.readBytes { WebSocketFrames($0).texts.count >= 300 }).texts
            first.disconnect()
            let cursor = try #require(early.last.flatMap(Self.id))
            let second = try await Self.connect(port, "?types=message.received&after=\(cursor)", token: alice.token)
            try await injecting.value
            let rest = WebSocketFrames(try await second.readBytes { WebSocketFrames($0).texts.count >= burst - early.count }).texts
            second.disconnect()

            let streamed = early + rest
            #expect(SlowConsumerTests.texts(streamed) == (0..<burst).map { "burst \($0)" }, "each event once, in commit order, across the reconnect")
            #expect(Set(streamed.compactMap(Self.id)).count == burst, "no event twice at the seam")
            // The envelope is the webhook's.
            let envelope = try #require(try JSONSerialization.jsonObject(with: Data(streamed[0].utf8)) as? [String: Any])
            #expect(envelope["type"] as? String == "message.received")
            #expect((envelope["tenant"] as? [String: Any])?["id"] as? String == alice.id)

            // The administrator follows one tenant from the start of its history.
            let admin = try await RawStreamClient(
                port: port, path: "/v1/events/ws?after=start&tenantId=\(bob.id)&types=message.*", token: TestWharf.adminKey,
                headers: WebSocketFrames.upgradeHeaders)
            let bobs = WebSocketFrames(try await admin.readBytes { WebSocketFrames($0).texts.count >= 10 }).texts
            admin.disconnect()
            #expect(SlowConsumerTests.texts(bobs) == stride(from: 0, to: burst, by: 100).map { "bob \($0)" })
        }
    }

    @Test func refusalsAreProblemsAndAnotherTenantsCursorIsNotFound() async throws {
        try await TestWharf.run { app in
            let port = try #require(app.client.port)
            let alice = try await app.makeTenant("alice")
            let bob = try await app.makeTenant("bob")
            let bobSession = try await app.makeConnectedSession(token: bob.token)
            _ = try await EventStreamTests.inject(app, session: bobSession, token: bob.token, text: "secret")
            let bobEvent = try #require(
                try await app.call(.get, "/v1/events?after=start&types=message.received", as: .bearer(bob.token))["items"]?.arrayValue?.first)
            let bobEventID = try #require(bobEvent["id"]?.stringValue)

            // Refused after the upgrade: the problem as the last message, its status in the close code.
            for (query, token, status, text) in [
                ("", "not-a-token", 401, "the token is invalid"),
                ("?after=\(bobEventID)", alice.token, 410, "not stored"),
                ("?types=message%20received", alice.token, 400, "types"),
            ] {
                let client = try await Self.connect(port, query, token: token)
                let frames = WebSocketFrames(try await client.readBytes { WebSocketFrames($0).close != nil })
                #expect(client.head.hasPrefix("HTTP/1.1 101"), "\(query): \(client.head)")
                #expect(frames.close?.closeCode == UInt16(4000 + status), "\(query)")
                let message = try #require(
                    frames.texts.first.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }, "\(query): \(frames.texts)")
                #expect(message["type"] == "stream.refused")
                #expect(message["problem"]?["status"]?.intValue == status)
                #expect(message["problem"]?["detail"]?.stringValue?.contains(text) == true, "\(query): \(message)")
                #expect(frames.texts.count == 1, "no event follows a refusal")
            }
            // A console login counts from Wharf's own pages only: another site's page cannot read them.
            let (cookie, _) = try await ConsoleTests.dashboardLogin(app, username: "alice", password: "password-alice")
            let hijack = try await RawStreamClient(
                port: port, path: "/v1/events/ws", token: "",
                headers: WebSocketFrames.upgradeHeaders + ["Cookie: \(cookie)", "Origin: https://evil.example"])
            let hijacked = WebSocketFrames(try await hijack.readBytes { WebSocketFrames($0).close != nil })
            #expect(hijacked.close?.closeCode == 4403, "\(hijacked.texts)")
            let own = try await RawStreamClient(
                port: port, path: "/v1/events/ws?after=start", token: "",
                headers: WebSocketFrames.upgradeHeaders + ["Cookie: \(cookie)", "Origin: http://127.0.0.1:\(port)"])
            _ = try await EventStreamTests.inject(
                app, session: try await app.makeConnectedSession(token: alice.token), token: alice.token, text: "mine")
            let mine = WebSocketFrames(try await own.readBytes { data in WebSocketFrames(data).texts.contains { $0.contains("\"mine\"") } })
            own.disconnect()
            #expect(mine.close == nil && !mine.texts.contains { $0.contains("secret") }, "the dashboard's own page reads its tenant's events")

            // Not an upgrade at all.
            let plain = try await app.call(.get, "/v1/events/ws", as: .bearer(alice.token))
            #expect(plain.status == .upgradeRequired, "\(plain.text)")
            #expect(plain.text.contains("/v1/events/stream"))
        }
    }

    @Test func aClientThatFallsBehindIsClosedWithTheCursorToResumeFrom() async throws {
        try await TestWharf.run(configure: { configuration in
            configuration.eventStreamLimits.maxLag = 50
            // This client does not answer pings while it pauses, however long a loaded machine makes the pause.
            configuration.eventStreamLimits.pingInterval = .seconds(3600)
        }) { app in
            let port = try #require(app.client.port)
            let alice = try await app.makeTenant("alice")
            let session = try await app.makeConnectedSession(token: alice.token)
            let count = 600

            // Reads the first event, pauses while the rest are committed, then reads on.
            let slow = try await Self.connect(port, "?types=message.received", token: alice.token)
            _ = try await slow.readHead()
            try await Task.sleep(for: .milliseconds(200))
            _ = try await EventStreamTests.inject(app, session: session, token: alice.token, text: "0 \(SlowConsumerTests.bulky)")
            _ = try await slow.readBytes { WebSocketFrames($0).texts.count >= 1 }
            for index in 1..<count {
                _ = try await EventStreamTests.inject(app, session: session, token: alice.token, text: "\(index) \(SlowConsumerTests.bulky)")
            }
            let frames = WebSocketFrames(try await slow.readBytes { WebSocketFrames($0).close != nil })
            #expect(frames.close?.closeCode == 4008, "closed as a slow consumer")
            let notice = try #require(frames.texts.last)
            let closed = try #require(try JSONSerialization.jsonObject(with: Data(notice.utf8)) as? [String: Any])
            #expect(closed["type"] as? String == "stream.closed")
            #expect((closed["reason"] as? String)?.contains("slow consumer") == true, "\(notice)")
            let got = frames.texts.dropLast()
            #expect(got.count < count)
            let cursor = try #require(got.last.flatMap(Self.id))
            #expect(closed["resumeAfter"] as? String == cursor)

            let resumed = try await Self.connect(port, "?types=message.received&after=\(cursor)", token: alice.token)
            let rest = WebSocketFrames(try await resumed.readBytes { WebSocketFrames($0).texts.count >= count - got.count }).texts
            resumed.disconnect()
            let all = SlowConsumerTests.texts(Array(got) + rest).map { $0.prefix { $0 != " " } }
            #expect(all == (0..<count).map { "\($0)"[...] }, "nothing lost, nothing twice")
        }
    }
}
