import Foundation
import Gateway
import HTTPTypes
import NIOCore
import PeerSupport
import TestSupport
import Testing
import WharfCore

@Suite struct SlowConsumerTests {
    static func texts(_ events: [String]) -> [String] {
        events.map { data in
            let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
            return ((object?["data"] as? [String: Any])?["text"] as? String) ?? "?"
        }
    }

    /// A message big enough that a few hundred fill any socket buffer between Wharf and a client
    /// (loopback's large segments let the kernel buffer megabytes).
    static let bulky = String(repeating: "x", count: 30_000)

    @Test func anSSEClientThatFallsBehindGetsAReasonAndOneThatReadsNothingIsClosed() async throws {
        try await TestWharf.run(configure: { $0.eventStreamLimits.maxLag = 50 }) { app in
            let port = try #require(app.client.port)
            let alice = try await app.makeTenant("alice")
            let session = try await app.makeConnectedSession(token: alice.token)
            let count = 600

            // Falls behind: reads the first event, pauses while the rest are committed, then reads on.
            let slow = try await RawStreamClient(port: port, path: "/v1/events/stream?types=message.received", token: alice.token)
            _ = try await EventStreamTests.inject(app, session: session, token: alice.token, text: "0 \(Self.bulky)")
            _ = try await slow.read { $0.contains("event: message.received") }
            for index in 1..<count {
                _ = try await EventStreamTests.inject(app, session: session, token: alice.token, text: "\(index) \(Self.bulky)")
            }
            let body = try await slow.read { $0.hasSuffix("\r\n0\r\n\r\n") }
            let events = RawStreamClient.serverSentEvents(body)
            let notice = try #require(events.last, "the stream ended with a notice: \(body.prefix(200)) … \(body.suffix(200))")
            #expect(notice.type == "stream.closed" && notice.id == nil, "\(notice)")
            #expect(notice.data.contains("slow consumer") && notice.data.contains("resumeAfter"), "\(notice.data)")
            let got = events.filter { $0.type == "message.received" }
            #expect(got.count < count)
            let cursor = try #require(got.last?.id)
            #expect(notice.data.contains(cursor))
            let resumed = EventStreamTests.SSEReader(port: port, token: alice.token, query: "?types=message.received", lastEventID: cursor)
            let rest = try await resumed.wait(for: count - got.count, of: "message.received")
            resumed.disconnect()
            let all = Self.texts((got.map(\.data) + rest.map(\.data))).map { $0.prefix { $0 != " " } }
            #expect(all == (0..<count).map { "\($0)"[...] }, "nothing lost, nothing twice")

            // Reads nothing at all: its writes stall, and after the stall time the connection is closed.
            let stuck = try await RawStreamClient(port: port, path: "/v1/events/stream?after=start", token: alice.token)
            try await Task.sleep(for: .seconds(1))
            for _ in 0..<4 {
                app.clock.advance(by: .seconds(61))
                try await Task.sleep(for: .milliseconds(300))
            }
            let drained = try await stuck.read { _ in false }
            #expect(stuck.sawEnd, "closed by the server")
            #expect(!drained.contains("stream.closed"), "a client that reads nothing is closed without a notice")
            #expect(RawStreamClient.serverSentEvents(drained).count < count, "it was closed before it had everything")
        }
    }
}
