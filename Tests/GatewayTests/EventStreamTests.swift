import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import TestSupport
import Testing
import WharfCore

/// Events without a webhook, on real sockets: the SSE stream resumes after a disconnect with every
/// event once and in commit order, another tenant's events never show, and `GET /v1/events` pages
/// the same history with the same filters.
@Suite struct EventStreamTests {
    /// One SSE connection, read incrementally: the events as (id, type, data) in arrival order.
    final class SSEReader: Sendable {
        struct Event: Sendable {
            var id: String
            var type: String
            var data: String
        }

        private let events = Locked<[Event]>([])
        private let task: Task<Void, any Error>

        init(port: Int, token: String, query: String = "", lastEventID: String? = nil) {
            let events = self.events
            task = Task {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events/stream\(query)")
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
                #expect(response.status == .ok)
                #expect(response.headers.first(name: "content-type") == "text/event-stream")
                var pending = ""
                for try await buffer in response.body {
                    pending += String(buffer: buffer)
                    while let end = pending.range(of: "\n\n") {
                        let block = pending[..<end.lowerBound]
                        pending = String(pending[end.upperBound...])
                        var event = Event(id: "", type: "", data: "")
                        for line in block.split(separator: "\n") {
                            if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                            if line.hasPrefix("event: ") { event.type = String(line.dropFirst(7)) }
                            if line.hasPrefix("data: ") { event.data = String(line.dropFirst(6)) }
                        }
                        if !event.id.isEmpty { events.withLock { $0.append(event) } }
                    }
                }
            }
        }

        var received: [Event] { events.withLock { $0 } }

        /// Waits until `count` events of `type` arrived.
        func wait(for count: Int, of type: String) async throws -> [Event] {
            try await waitFor("\(count) \(type) events on the stream", seconds: 120) {
                let matching = received.filter { $0.type == type }
                return matching.count >= count ? matching : nil
            }
        }

        /// Drops the connection, as a client that goes away does.
        func disconnect() { task.cancel() }
    }

    static func inject(_ app: TestWharf, session: String, token: String, text: String) async throws -> String {
        let sent = try await app.call(
            .post, "/v1/sessions/\(session)/sandbox/inbound", json: ["from": "+4915100000001", "text": .string(text)], as: .bearer(token))
        #expect(sent.status == .created, "\(sent.text)")
        return sent.string("id") ?? ""
    }

    @Test func aClientThatDisconnectsMidBurstResumesWithEveryEventOnceInOrder() async throws {
        try await TestWharf.run { app in
            let port = try #require(app.client.port)
            let alice = try await app.makeTenant("alice")
            let bob = try await app.makeTenant("bob")
            let aliceSession = try await app.makeConnectedSession(token: alice.token)
            let bobSession = try await app.makeConnectedSession(token: bob.token)

            // Live from now: what happened before the stream opened is not sent.
            let first = SSEReader(port: port, token: alice.token)
            try await Task.sleep(for: .milliseconds(200))
            let burst = 1000
            let injecting = Task {
                for index in 0..<burst {
                    _ = try await Self.inject(app, session: aliceSession, token: alice.token, text: "burst \(index)")
                    if index % 100 == 0 { _ = try await Self.inject(app, session: bobSession, token: bob.token, text: "bob \(index)") }
                }
            }
            // Mid-burst the client goes away.
            let early = try await first.wait(for: 300, of: "message.received")
            first.disconnect()
            let resumeFrom = try #require(first.received.last?.id)
            let second = SSEReader(port: port, token: alice.token, lastEventID: resumeFrom)
            try await injecting.value
            let rest = try await second.wait(for: burst - first.received.filter { $0.type == "message.received" }.count, of: "message.received")
            second.disconnect()

            let streamed = (first.received + second.received).filter { $0.type == "message.received" }
            let texts = streamed.map { event -> String in
                let object = try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any]
                return ((object?["data"] as? [String: Any])?["text"] as? String) ?? "?"
            }
            #expect(texts == (0..<burst).map { "burst \($0)" }, "each event once, in commit order, across the reconnect")
            #expect(Set(streamed.map(\.id)).count == streamed.count, "no event twice at the seam")
            #expect(early.count >= 300 && !rest.isEmpty)
            #expect(!texts.contains { $0.hasPrefix("bob") }, "another tenant's events never show")
            // The envelope is the webhook's: its id is the SSE id.
            let envelope = try #require(try JSONSerialization.jsonObject(with: Data(streamed[0].data.utf8)) as? [String: Any])
            #expect(envelope["id"] as? String == streamed[0].id && envelope["type"] as? String == "message.received")

            // The same history, paged, with the same order; filters by type and session.
            var paged: [String] = []
            var cursor = "start"
            while true {
                let page = try await app.call(
                    .get, "/v1/events?after=\(cursor)&limit=400&types=message.received&sessionId=\(aliceSession)", as: .bearer(alice.token))
                #expect(page.status == .ok, "\(page.text)")
                let items = page["items"]?.arrayValue ?? []
                paged += items.compactMap { $0["id"]?.stringValue }
                guard let next = page.string("nextCursor"), !items.isEmpty else { break }
                cursor = next
            }
            #expect(paged == streamed.map(\.id))
            let admin = try await app.call(.get, "/v1/events?after=start&limit=500&tenantId=\(bob.id)&types=message.*", as: .admin)
            #expect(admin["items"]?.arrayValue?.count == 10, "the administrator reads one tenant's events: \(admin.text.prefix(300))")
        }
    }

    @Test func cursorsAndFiltersAreCheckedAndAnotherTenantsCursorIsNotFound() async throws {
        try await TestWharf.run { app in
            let alice = try await app.makeTenant("alice")
            let bob = try await app.makeTenant("bob")
            let session = try await app.makeConnectedSession(token: alice.token)
            let bobSession = try await app.makeConnectedSession(token: bob.token)
            let bobMessage = try await Self.inject(app, session: bobSession, token: bob.token, text: "secret")
            _ = try await Self.inject(app, session: session, token: alice.token, text: "hello")
            let bobEvent = try #require(
                try await app.call(.get, "/v1/events?after=start&types=message.received", as: .bearer(bob.token))["items"]?.arrayValue?.first)
            #expect(bobEvent["data"]?["id"]?.stringValue == bobMessage)
            let bobEventID = try #require(bobEvent["id"]?.stringValue)

            let foreign = try await app.call(.get, "/v1/events?after=\(bobEventID)", as: .bearer(alice.token))
            #expect(foreign.status == .gone && foreign.string("field") == "after", "\(foreign.text)")
            let unknown = try await app.call(
                .get, "/v1/events/stream", as: .bearer(alice.token), headers: [HTTPField.Name("Last-Event-ID")!: "evt_nope"])
            #expect(unknown.status == .gone)
            let badTypes = try await app.call(.get, "/v1/events?types=message%20received", as: .bearer(alice.token))
            #expect(badTypes.status == .badRequest && badTypes.string("field") == "types")
            #expect(try await app.call(.get, "/v1/events").status == .unauthorized)

            // Alice's history holds only her events; the session filter holds only that session's.
            let mine = try await app.call(.get, "/v1/events?after=start", as: .bearer(alice.token))
            let tenants = Set((mine["items"]?.arrayValue ?? []).compactMap { $0["tenant"]?["id"]?.stringValue })
            #expect(tenants == [alice.id], "\(mine.text.prefix(400))")
            let none = try await app.call(.get, "/v1/events?after=start&sessionId=\(bobSession)", as: .bearer(alice.token))
            #expect(none["items"]?.arrayValue?.isEmpty == true)
            // A page past the end keeps its cursor, so a poller can ask again later.
            let last = try #require(mine["items"]?.arrayValue?.last?["id"]?.stringValue)
            let end = try await app.call(.get, "/v1/events?after=\(last)", as: .bearer(alice.token))
            #expect(end["items"]?.arrayValue?.isEmpty == true && end.string("nextCursor") == last)
        }
    }
}
