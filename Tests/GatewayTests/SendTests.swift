import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Outbox
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// The send pipeline end to end on the sandbox engine, in virtual time.
@Suite(.serialized) struct SendTests {
    static let chat = "4915112345678@s.whatsapp.net"

    struct Step {
        var step: String
        var chat: String
        var at: Date
        var text: String?
        var messageID: String?
    }

    func steps(_ app: TestWharf, session: String, token: String) async throws -> [Step] {
        let reply = try await app.call(.get, "/v1/sessions/\(session)/sandbox/sent", as: .bearer(token))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return (reply["records"]?.arrayValue ?? []).map { record in
            Step(
                step: record["step"]?.stringValue ?? "", chat: record["chat"]?.stringValue ?? "",
                at: formatter.date(from: record["at"]?.stringValue ?? "") ?? .distantPast, text: record["text"]?.stringValue,
                messageID: record["messageID"]?.stringValue)
        }
    }

    func send(
        _ app: TestWharf, session: String, token: String, body: JSONValue, headers: HTTPFields = [:], query: String = ""
    )
        async throws -> TestWharf.Reply
    {
        try await app.call(.post, "/v1/sessions/\(session)/messages\(query)", json: body, as: .bearer(token), headers: headers)
    }

    /// Moves virtual time in small steps until `condition` holds.
    func advance(
        _ app: TestWharf, by step: Duration = .milliseconds(50), until condition: @Sendable () async throws -> Bool
    )
        async throws
    {
        try await TestSupport.advance(app.clock, by: step, until: condition)
    }

    func jobStatus(_ app: TestWharf, _ job: String, token: String) async throws -> String? {
        try await app.call(.get, "/v1/jobs/\(job)", as: .bearer(token)).string("status")
    }

    @Test func humanizedSendReadsTypesPausesThenSends() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant(
                "human", settings: ["humanize": ["charsPerSecond": 10, "typingMinMs": 1000, "typingMaxMs": 5000, "pauseMs": 400]])
            let session = try await app.makeConnectedSession(token: tenant.token)
            let inbound = try await app.call(
                .post, "/v1/sessions/\(session)/sandbox/inbound", json: ["from": "4915112345678", "text": "Hello?"], as: .bearer(tenant.token))
            let inboundID = try #require(inbound.string("id"))
            let text = String(repeating: "x", count: 30)
            let queued = try await send(app, session: session, token: tenant.token, body: ["chatId": "+49 151 12345678", "text": .string(text)])
            #expect(queued.status == .accepted)
            #expect(queued.string("status") == "queued")
            let job = try #require(queued.string("jobId"))
            try await advance(app) { try await jobStatus(app, job, token: tenant.token) == "sent" }
            let recorded = try await steps(app, session: session, token: tenant.token)
            #expect(recorded.map(\.step) == ["read", "composing", "paused", "send"])
            #expect(recorded.allSatisfy { $0.chat == Self.chat })
            let typing = recorded[2].at.timeIntervalSince(recorded[1].at)
            #expect(typing >= 2.25 && typing <= 3.75 + 0.3, "typing took \(typing) s")
            let pause = recorded[3].at.timeIntervalSince(recorded[2].at)
            #expect(pause >= 0.4 && pause <= 0.7)
            #expect(recorded[3].text == text)
            let read = try await app.wharf.store.writer.read { db in try Bool.fetchOne(db, sql: "SELECT is_read FROM chat_read_marker") }
            #expect(read == true)  // the marker was used, and is kept for typing indicators that need it
            _ = inboundID
            let sentJob = try await app.call(.get, "/v1/jobs/\(job)", as: .bearer(tenant.token))
            #expect(sentJob.string("messageId") == recorded[3].messageID)
            // message.sent went through the outbox, with WhatsApp's id.
            let payloads = try await app.wharf.outbox.writer.read { db in
                try Data.fetchAll(db, sql: "SELECT payload FROM event WHERE type = 'message.sent'")
            }
            let event = try #require(payloads.first.flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) })
            #expect(event["data"]?["id"]?.stringValue == recorded[3].messageID)
            #expect(event["data"]?["job_id"]?.stringValue == job)
        }
    }

    @Test func perChatFIFOUnderConcurrentEnqueuesAndChatsInterleave() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant(
                "fifo", settings: ["humanize": ["typingMs": 200, "pauseMs": 0, "gapMs": 1500, "maxPerMinute": 1000]])
            let session = try await app.makeConnectedSession(token: tenant.token)
            // Concurrent enqueues to two chats.
            let ids = try await withThrowingTaskGroup(of: (String, String).self) { group in
                for index in 0..<8 {
                    let chat = index % 2 == 0 ? "4915100000001" : "4915100000002"
                    group.addTask {
                        let reply = try await send(
                            app, session: session, token: tenant.token, body: ["chatId": .string(chat), "text": .string("m\(index)")])
                        return (reply.string("jobId") ?? "", chat)
                    }
                }
                return try await group.reduce(into: [(String, String)]()) { $0.append($1) }
            }
            #expect(ids.count == 8)
            try await advance(app, by: .milliseconds(100)) {
                try await steps(app, session: session, token: tenant.token).filter { $0.step == "send" }.count == 8
            }
            let jobs = try await app.wharf.store.jobs(sessionID: session, before: nil, limit: 100).sorted { $0.seq! < $1.seq! }
            let sends = try await steps(app, session: session, token: tenant.token).filter { $0.step == "send" }
            for chat in ["4915100000001@s.whatsapp.net", "4915100000002@s.whatsapp.net"] {
                #expect(sends.filter { $0.chat == chat }.map(\.text) == jobs.filter { $0.chatId == chat }.map(\.text))
            }
            // While one chat waits out its gap the other goes: the chats alternate.
            let order = sends.map(\.chat)
            #expect(zip(order, order.dropFirst()).allSatisfy { $0 != $1 }, "\(order)")
        }
    }

    @Test func rateCapSpacesMessagesOut() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("capped", settings: ["humanize": ["maxPerMinute": 2]])
            let session = try await app.makeConnectedSession(token: tenant.token)
            let start = app.clock.now
            for index in 0..<4 {
                let reply = try await send(
                    app, session: session, token: tenant.token, body: ["chatId": "4915100000003", "text": .string("r\(index)"), "humanize": false])
                #expect(reply.status == .accepted)
            }
            try await advance(app, by: .seconds(1)) {
                try await steps(app, session: session, token: tenant.token).filter { $0.step == "send" }.count == 4
            }
            let times = try await steps(app, session: session, token: tenant.token).filter { $0.step == "send" }
                .map { $0.at.timeIntervalSince(start) }
            #expect(times[0] < 1 && times[1] < 1)
            #expect(times[2] >= 30 && times[2] < 32)
            #expect(times[3] >= 60 && times[3] < 62)
            // humanize: false means no read, no presence.
            #expect(try await steps(app, session: session, token: tenant.token).allSatisfy { $0.step == "send" })
        }
    }

    @Test func concurrentDuplicatesWithOneIdempotencyKeyMakeOneJob() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("idem")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let headers: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "order-42"]
            let replies = try await withThrowingTaskGroup(of: TestWharf.Reply.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await send(
                            app, session: session, token: tenant.token, body: ["chatId": "4915100000004", "text": "once", "humanize": false],
                            headers: headers)
                    }
                }
                return try await group.reduce(into: [TestWharf.Reply]()) { $0.append($1) }
            }
            #expect(Set(replies.compactMap { $0.string("jobId") }).count == 1)
            #expect(replies.filter { $0.headers[HTTPField.Name("Idempotent-Replayed")!] == "true" }.count == 9)
            try await advance(app) { try await steps(app, session: session, token: tenant.token).count == 1 }
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await steps(app, session: session, token: tenant.token).count == 1)
            // Another tenant may use the same key.
            let other = try await app.makeTenant("idem2")
            let otherSession = try await app.makeConnectedSession(token: other.token)
            let theirs = try await send(
                app, session: otherSession, token: other.token, body: ["chatId": "4915100000004", "text": "x"], headers: headers)
            #expect(theirs.string("jobId") != replies[0].string("jobId"))
            // After 24 hours the key may be used again.
            app.clock.advance(by: .seconds(86401))
            let later = try await send(
                app, session: session, token: tenant.token, body: ["chatId": "4915100000004", "text": "again"], headers: headers)
            #expect(later.string("jobId") != replies[0].string("jobId"))
        }
    }

    @Test func restartResumesQueuedAndMidSendJobsWithTheSameMessageID() async throws {
        let directory = TestWharf.temporaryDirectory()
        let (session, token, first, second) = try await TestWharf.run(dataDirectory: directory) { app in
            let tenant = try await app.makeTenant("restart", settings: ["humanize": ["typingMs": 10000]])
            let session = try await app.makeConnectedSession(token: tenant.token)
            let first = try #require(
                try await send(app, session: session, token: tenant.token, body: ["chatId": "4915100000005", "text": "one"]).string("jobId"))
            let second = try #require(
                try await send(app, session: session, token: tenant.token, body: ["chatId": "4915100000005", "text": "two"]).string("jobId"))
            try await eventually("typing started") { try await steps(app, session: session, token: tenant.token).contains { $0.step == "composing" } }
            #expect(try await jobStatus(app, first, token: tenant.token) == "sending")
            #expect(try await jobStatus(app, second, token: tenant.token) == "queued")
            return (session, tenant.token, first, second)
        }
        try await TestWharf.run(dataDirectory: directory) { app in
            try await app.waitForStatus(session, "connected", token: token)
            let clientID = try #require(try await app.wharf.store.job(id: first, scope: .everything)?.clientMessageId)
            try await advance(app, by: .milliseconds(250)) { try await jobStatus(app, second, token: token) == "sent" }
            let sends = try await steps(app, session: session, token: token).filter { $0.step == "send" }
            #expect(sends.map(\.text) == ["one", "two"])
            #expect(sends[0].messageID == clientID)
            #expect(try await app.wharf.store.job(id: first, scope: .everything)?.attempts == 2)
        }
    }

    @Test func jobsWaitForADisconnectedSessionThenExpire() async throws {
        try await TestWharf.run(configure: { $0.jobHoldWhileDisconnected = .seconds(60) }) { app in
            let tenant = try await app.makeTenant("holder")
            let created = try await app.call(.post, "/v1/sessions", json: ["sandbox": ["qr": true]], as: .bearer(tenant.token))
            let session = try #require(created.string("id"))
            try await app.waitForStatus(session, "scan_qr", token: tenant.token)
            let held = try #require(
                try await send(app, session: session, token: tenant.token, body: ["chatId": "4915100000006", "text": "held", "humanize": false])
                    .string("jobId"))
            app.clock.advance(by: .seconds(30))
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await jobStatus(app, held, token: tenant.token) == "queued")
            _ = try await app.call(.post, "/v1/sessions/\(session)/sandbox/scan", as: .bearer(tenant.token))
            try await eventually("sent after connecting") { try await jobStatus(app, held, token: tenant.token) == "sent" }

            _ = try await app.call(.post, "/v1/sessions/\(session)/sandbox/disconnect", as: .bearer(tenant.token))
            try await app.waitForStatus(session, "disconnected", token: tenant.token)
            // Keep it disconnected: the session manager would reconnect it after its backoff.
            await app.wharf.sessions.logout(sessionID: session)
            let doomed = try #require(
                try await send(app, session: session, token: tenant.token, body: ["chatId": "4915100000006", "text": "doomed"]).string("jobId"))
            app.clock.advance(by: .seconds(61))
            try await eventually("expired") { try await jobStatus(app, doomed, token: tenant.token) == "failed" }
            let job = try await app.call(.get, "/v1/jobs/\(doomed)", as: .bearer(tenant.token))
            #expect(job.string("error")?.contains("not connected") == true)
            let failedEvents = try await app.wharf.outbox.writer.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE type = 'message.failed'")
            }
            #expect(failedEvents == 1)
        }
    }

    @Test func waitCancelListAndSeedRoutes() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("waiter")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let waited = try await send(
                app, session: session, token: tenant.token, body: ["chatId": "4915100000007", "text": "quick", "humanize": false], query: "?wait=5")
            #expect(waited.status == .ok)
            #expect(waited.string("status") == "sent")
            #expect(waited.string("messageId") != nil)

            let slow = try await send(
                app, session: session, token: tenant.token, body: ["chatId": "4915100000008", "text": "slow", "humanize": ["typingMs": 30000]])
            let queuedBehind = try await send(app, session: session, token: tenant.token, body: ["chatId": "4915100000008", "text": "behind"])
            let behind = try #require(queuedBehind.string("jobId"))
            let cancelled = try await app.call(.post, "/v1/jobs/\(behind)/cancel", as: .bearer(tenant.token))
            #expect(cancelled.string("status") == "cancelled")
            #expect(try await app.call(.post, "/v1/jobs/\(waited.string("jobId") ?? "")/cancel", as: .bearer(tenant.token)).status == .conflict)
            let list = try await app.call(.get, "/v1/sessions/\(session)/jobs", as: .bearer(tenant.token))
            #expect(list["items"]?.arrayValue?.count == 3)
            _ = slow

            let seed = try await app.call(
                .post, "/sessions/\(session)/send?token=\(tenant.token)", json: ["chatId": "4915100000009@c.us", "text": "seed"])
            #expect(seed.status == .accepted)
            #expect(seed.string("chatId") == "4915100000009@s.whatsapp.net")

            let other = try await app.makeTenant("outsider")
            #expect(try await app.call(.get, "/v1/jobs/\(behind)", as: .bearer(other.token)).status == .notFound)
            #expect(try await app.call(.post, "/v1/jobs/\(behind)/cancel", as: .bearer(other.token)).status == .notFound)
            #expect(try await send(app, session: session, token: other.token, body: ["chatId": "4915100000009", "text": "x"]).status == .notFound)
            #expect(try await app.call(.get, "/v1/sessions/\(session)/jobs", as: .bearer(other.token)).status == .notFound)
        }
    }

    @Test(arguments: [
        (#"{"text":"hi"}"#, 400, "chatId"),
        (#"{"chatId":"hello","text":"hi"}"#, 422, "chatId"),
        (#"{"chatId":"4915100000010"}"#, 400, "text"),
        (#"{"chatId":"4915100000010","text":""}"#, 400, "text"),
        (#"{"chatId":"4915100000010","type":"gif","mediaUrl":"https://example.com/a.gif"}"#, 422, "type"),
        (#"{"chatId":"4915100000010","text":"hi","humanize":"yes"}"#, 400, "humanize"),
        (#"{"chatId":4915100000010,"text":"hi"}"#, 400, "chatId"),
        (#"{"chatId":"4915100000010","type":"image"}"#, 400, "mediaUrl"),
    ])
    func badBodiesGetPreciseProblems(body: String, status: Int, field: String) async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("strict")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let reply = try await app.call(.post, "/v1/sessions/\(session)/messages", raw: body, as: .bearer(tenant.token))
            #expect(Int(reply.status.code) == status, "\(reply.text)")
            #expect(reply.string("field") == field, "\(reply.text)")
            #expect(reply.headers[.contentType] == "application/problem+json")
            if field == "chatId" && status == 422 { #expect(reply.string("detail")?.contains("@g.us") == true) }
        }
    }

    @Test func badWaitAndIdempotencyKeyAreRefused() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("strict2")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let body: JSONValue = ["chatId": "4915100000011", "text": "x"]
            #expect(try await send(app, session: session, token: tenant.token, body: body, query: "?wait=100").status == .badRequest)
            let long: HTTPFields = [HTTPField.Name("Idempotency-Key")!: String(repeating: "k", count: 300)]
            #expect(try await send(app, session: session, token: tenant.token, body: body, headers: long).status == .badRequest)
            #expect(try await app.call(.post, "/v1/sessions/ses_nope/messages", json: body, as: .bearer(tenant.token)).status == .notFound)
        }
    }
}

/// A local media server for download tests.
final class MediaServer: Sendable {
    let port: Int
    private let group: ServiceGroupBox

    private init(port: Int, group: ServiceGroupBox) {
        self.port = port
        self.group = group
    }

    static let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0, count: 200))

    static func start() async throws -> MediaServer {
        let router = Router()
        router.get("/small.png") { _, _ in
            Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
        router.get("/big.png") { _, _ in
            Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(repeating: 7, count: 6 << 20)))
        }
        router.get("/page.html") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: "<html></html>")))
        }
        router.get("/slow.png") { _, _ in
            try? await Task.sleep(for: .seconds(10))
            return Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
        router.get("/report.pdf") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/pdf"], body: .init(byteBuffer: ByteBuffer(string: "%PDF-1.4")))
        }
        let box = try await ServiceGroupBox.start(router: router)
        return MediaServer(port: box.port, group: box)
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }
    func stop() async { await group.stop() }
}

@Suite(.serialized) struct MediaTests {
    @Test func mediaIsDownloadedCheckedSentAndCleanedUp() async throws {
        let server = try await MediaServer.start()
        defer { Task { await server.stop() } }
        try await TestWharf.run(configure: {
            $0.outboundPolicy = try! OutboundPolicy(allowing: ["127.0.0.1"])
            // Long enough for a loaded machine to answer the quick files, short of the slow one.
            $0.mediaTimeout = .seconds(3)
        }) { app in
            let tenant = try await app.makeTenant("media")
            let session = try await app.makeConnectedSession(token: tenant.token)
            func post(_ body: JSONValue) async throws -> TestWharf.Reply {
                try await app.call(.post, "/v1/sessions/\(session)/messages", json: body, as: .bearer(tenant.token))
            }
            let privateTarget = try await post(["chatId": "4915100000012", "type": "image", "mediaUrl": "http://169.254.169.254/latest.png"])
            #expect(privateTarget.status == .unprocessableContent)
            #expect(privateTarget.string("detail")?.contains("OUTBOUND_ALLOW") == true)
            let big = try await post(["chatId": "4915100000012", "type": "image", "mediaUrl": .string(server.url("big.png"))])
            #expect(big.status == .contentTooLarge, "\(big.text)")
            #expect(big.string("detail")?.contains("5 MiB") == true)
            let html = try await post(["chatId": "4915100000012", "type": "image", "mediaUrl": .string(server.url("page.html"))])
            #expect(html.status == .unsupportedMediaType)
            #expect(html.string("detail")?.contains("text/html") == true)
            let slow = try await post(["chatId": "4915100000012", "type": "image", "mediaUrl": .string(server.url("slow.png"))])
            #expect(slow.status == .unprocessableContent)
            #expect(slow.string("detail")?.contains("timed out") == true)
            let missing = try await post(["chatId": "4915100000012", "type": "image", "mediaUrl": .string(server.url("nothing.png"))])
            #expect(missing.string("detail")?.contains("HTTP 404") == true)

            let ok = try await post([
                "chatId": "4915100000012", "type": "image", "mediaUrl": .string(server.url("small.png")), "caption": "Look",
                "humanize": false,
            ])
            #expect(ok.status == .accepted, "\(ok.text)")
            let seedMedia = try await app.call(
                .post, "/api/sessions/\(session)/send-media",
                json: ["chatId": "4915100000012", "mediaUrl": .string(server.url("report.pdf")), "caption": "Q4"], as: .bearer(tenant.token))
            #expect(seedMedia.status == .accepted, "\(seedMedia.text)")
            #expect(seedMedia.string("type") == "document")
            try await eventually("both sent") {
                app.clock.advance(by: .milliseconds(200))
                let reply = try await app.call(.get, "/v1/sessions/\(session)/sandbox/sent", as: .bearer(tenant.token))
                return (reply["records"]?.arrayValue ?? []).filter { $0["step"]?.stringValue == "send" }.count == 2
            }
            let records = try await app.call(.get, "/v1/sessions/\(session)/sandbox/sent", as: .bearer(tenant.token))["records"]?.arrayValue ?? []
            let image = try #require(records.first { $0["media"]?["kind"]?.stringValue == "image" })
            #expect(image["media"]?["mimeType"]?.stringValue == "image/png")
            #expect(image["text"]?.stringValue == "Look")
            let document = try #require(records.first { $0["media"]?["kind"]?.stringValue == "document" })
            #expect(document["media"]?["fileName"]?.stringValue == "report.pdf")
            let mediaDirectory = app.wharf.configuration.dataDirectory + "/media"
            try await eventually("temporary files removed") {
                ((try? FileManager.default.contentsOfDirectory(atPath: mediaDirectory)) ?? []).isEmpty
            }
        }
    }
}
