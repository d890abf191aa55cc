import Crypto
import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore
import WhatsAppProtocol

/// A linked phone's chats through the whole gateway: a real `wharf` process, the fake WhatsApp
/// server's relay, pyaileys as the contact, a real webhook receiver; the tenant sends through the API.
@Suite(.serialized) struct WebMessagingGatewayTests {
    static let phone = "491701234567"
    static let contactPhone = "4915550002"

    /// A running wharf with a tenant, a webhook (its secret kept to check signatures) and a web
    /// session linked to the fake server's phone.
    struct Setup {
        let server: FakeWhatsApp
        let child: CrashTests.Child
        let directory: String
        let token: String
        let session: String
        let secret: String
        let device: String
    }

    static func environment(_ server: FakeWhatsApp) -> [String: String] {
        ["WA_WS_URL": server.url, "WA_ROOT_KEY": server.rootKey.hex, "LOG_LEVEL": "warning"]
    }

    func setUp(
        _ server: FakeWhatsApp, receiver: TestReceiver, humanize: [String: Any] = ["typingMs": 300, "pauseMs": 50, "gapMs": 0],
        settings: [String: Any] = [:], environment: [String: String] = [:], session sessionFields: [String: Any] = [:]
    )
        async throws -> Setup
    {
        let directory = TestWharf.temporaryDirectory()
        let child = try await CrashTests.Child(
            dataDirectory: directory, environment: Self.environment(server).merging(environment) { $1 })
        var tenantSettings = settings
        tenantSettings["humanize"] = humanize
        let tenant: [String: Any] = [
            "name": "Chats", "username": "chats", "password": "password-chats", "maxSessions": 3, "settings": tenantSettings,
        ]
        #expect(try await child.call("POST", "/v1/tenants", json: tenant).status == 201)
        let token = try #require(
            try await child.call("POST", "/v1/login", json: ["username": "chats", "password": "password-chats"]).body["token"] as? String)
        let hook = try await child.call("POST", "/v1/webhooks", json: ["url": receiver.url], token: token)
        let secret = try #require(hook.body["secret"] as? String, "\(hook.body)")
        let created = try await child.call(
            "POST", "/v1/sessions", json: sessionFields.merging(["name": "phone", "engine": "web"]) { $1 }, token: token)
        let session = try #require(created.body["id"] as? String, "\(created.body)")
        let qr = try await waitFor("a QR code") {
            try await child.call("GET", "/v1/sessions/\(session)/qr", token: token).body["qr"] as? String
        }
        let scan = try await server.control("POST", "/scan", ["qr": qr, "phone": Self.phone])
        #expect(scan.status == 200, "\(scan.json)")
        try await child.waitConnected(session: session, token: token)
        return Setup(
            server: server, child: child, directory: directory, token: token, session: session, secret: secret,
            device: scan.json["jid"] as? String ?? "")
    }

    func contact(_ server: FakeWhatsApp) async throws -> JSONPeer {
        try await JSONPeer(
            "wa_contact.py",
            ["--control", server.controlURL, "--ws", server.url, "--root", server.rootKey.hex, "--phone", Self.contactPhone, "--push-name", "Bob"])
    }

    /// Whether a delivery carries a valid Standard Webhooks signature under `secret`.
    static func isSigned(_ request: TestReceiver.Received, secret: String) -> Bool {
        guard let id = request.header("webhook-id"), let timestamp = request.header("webhook-timestamp"),
            let signatures = request.header("webhook-signature"), secret.hasPrefix("whsec_"),
            let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count)))
        else { return false }
        let content = Data("\(id).\(timestamp).".utf8) + request.body
        let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))).base64EncodedString()
        return signatures.split(separator: " ").contains { String($0) == expected }
    }

    @Test func aContactsMessagesReachTheWebhookAndTheTenantAnswersThroughTheAPI() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await setUp(server, receiver: receiver)
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        // Bob's messages name his LID too.
        try await server.control("POST", "/addressing", ["phone": Self.contactPhone, "lidHints": true])
        let bob = try await contact(server)
        let lid = try #require((bob.ready["lid"] as? String).flatMap(JID.init)).user

        let sent = try await bob.call(["op": "send_text", "to": "\(Self.phone)@s.whatsapp.net", "text": "Do you deliver on Sundays?"])
        let bobID = try #require(sent["id"] as? String)
        let delivery = try await waitFor("the message.received webhook") {
            receiver.requests.first { ($0.json?["data"] as? [String: Any])?["id"] as? String == bobID }
        }
        #expect(Self.isSigned(delivery, secret: setup.secret), "a valid Standard Webhooks signature")
        let event = try #require(delivery.json)
        #expect(event["type"] as? String == "message.received")
        let data = try #require(event["data"] as? [String: Any])
        #expect(data["text"] as? String == "Do you deliver on Sundays?")
        #expect(data["from"] as? String == Self.contactPhone)
        #expect(data["from_lid"] as? String == "\(lid)@lid")
        #expect(data["from_name"] as? String == "Bob")
        #expect(data["chat_id"] as? String == "\(Self.contactPhone)@s.whatsapp.net")
        #expect(data["from_me"] as? Bool == false)

        // The tenant answers with a quote: read, typing, then the message, all real on the wire.
        let job = try await setup.child.call(
            "POST", "/v1/sessions/\(setup.session)/messages",
            json: ["chatId": "+\(Self.contactPhone)", "text": "Yes, from 10 to 4.", "replyTo": bobID], token: setup.token)
        #expect(job.status == 202, "\(job.body)")
        let jobID = try #require(job.body["jobId"] as? String)
        let done = try await waitFor("the job to be sent") { () -> [String: Any]? in
            let body = try await setup.child.call("GET", "/v1/jobs/\(jobID)", token: setup.token).body
            return ["sent", "failed"].contains(body["status"] as? String ?? "") ? body : nil
        }
        #expect(done["status"] as? String == "sent", "\(done)")
        let messageID = try #require(done["messageId"] as? String)
        let answer = try await bob.call(["op": "wait", "for": "message", "match": ["id": messageID]])
        let item = try #require((answer["items"] as? [[String: Any]])?.first)
        #expect(item["text"] as? String == "Yes, from 10 to 4.")
        #expect(item["quotedId"] as? String == bobID)
        let states = try await bob.call(["op": "wait", "for": "chatstate", "count": 2])
        #expect((states["items"] as? [[String: Any]])?.compactMap { $0["state"] as? String }.prefix(2) == ["composing", "paused"])
        let read = try await bob.call(["op": "wait", "for": "receipt", "match": ["id": bobID, "type": "read"]])
        #expect((read["items"] as? [[String: Any]])?.isEmpty == false, "the tenant's reply marked Bob's message read")

        // Bob's delivery and read receipts come back as message.ack events for Wharf's message.
        try await bob.call(["op": "receipt", "ids": [messageID], "type": "read"])
        let acks = try await waitFor("delivered and read acks") { () -> Set<String>? in
            let levels = Set(
                receiver.requests.compactMap { request -> String? in
                    guard request.json?["type"] as? String == "message.ack",
                        let data = request.json?["data"] as? [String: Any], data["id"] as? String == messageID
                    else { return nil }
                    return data["ack"] as? String
                })
            return levels.isSuperset(of: ["delivered", "read"]) ? levels : nil
        }
        #expect(acks.contains("read"))
        let sentEvent = try await waitFor("the message.sent webhook") {
            receiver.requests.first { $0.json?["type"] as? String == "message.sent" }
        }
        #expect((sentEvent.json?["data"] as? [String: Any])?["id"] as? String == messageID)
        setup.child.terminate()
    }

    /// 50 messages each way while `wharf` is SIGKILLed at random points, once exactly between
    /// decrypting a message and committing it: every message arrives at least once, each with one
    /// event id, none becomes undecryptable, and the chat goes on after every restart.
    @Test func fiftyMessagesEachWaySurviveKillsAtAnyPoint() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else { return }
        let server = try await FakeWhatsApp()
        /// Message id → the webhook-ids its message.received deliveries carried.
        let received = Locked<[String: Set<String>]>([:])
        let undecryptable = Locked<Int>(0)
        let receiver = try await TestReceiver.start { _, request in
            switch request.json?["type"] as? String {
            case "message.received":
                if let id = (request.json?["data"] as? [String: Any])?["id"] as? String, let hook = request.header("webhook-id") {
                    received.withLock { _ = $0[id, default: []].insert(hook) }
                }
            case "message.undecryptable":
                undecryptable.withLock { $0 += 1 }
            default:
                break
            }
            return .init()
        }
        defer { Task { await receiver.stop() } }
        let setup = try await setUp(server, receiver: receiver, humanize: ["enabled": false])
        let children = Locked<[CrashTests.Child]>([setup.child])
        defer { for child in children.withLock({ $0 }) where child.process.isRunning { child.kill() } }
        let bob = try await contact(server)
        let wharfChat = "\(Self.phone)@s.whatsapp.net"
        var random = SystemRandomNumberGenerator()

        func restart(_ environment: [String: String] = [:]) async throws -> CrashTests.Child {
            let child = try await CrashTests.Child(
                dataDirectory: setup.directory, environment: Self.environment(server).merging(environment) { $1 })
            children.withLock { $0.append(child) }
            try await child.waitConnected(session: setup.session, token: setup.token)
            return child
        }

        // Inbound, first with a kill exactly between decrypting the 3rd message and committing it.
        setup.child.kill()
        var child = try await CrashTests.Child(
            dataDirectory: setup.directory, environment: Self.environment(server).merging(["WHARF_TEST_KILL_BEFORE_COMMIT": "3"]) { $1 })
        children.withLock { $0.append(child) }
        var bobIDs: [String] = []
        for index in 1...50 {
            let sent = try await bob.call(["op": "send_text", "to": wharfChat, "text": "in \(index)", "waitAck": false])
            bobIDs.append(try #require(sent["id"] as? String))
            if index == 10 {
                // By now the self-kill has happened: the decrypted 3rd message was never committed.
                _ = try await waitFor("the self-kill before the commit", seconds: 20) { child.process.isRunning ? nil : true }
                child = try await restart()
            } else if [22, 35].contains(index) {
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...40, using: &random)))
                child.kill()
                child = try await restart()
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 2...15, using: &random)))
        }
        _ = try await waitFor("every inbound message at the webhook", seconds: 60) {
            Set(bobIDs).isSubset(of: received.withLock { Set($0.keys) }) ? true : nil
        }
        let ids = received.withLock { $0 }
        #expect(bobIDs.allSatisfy { ids[$0]?.count == 1 }, "one event id per message: \(bobIDs.filter { ids[$0]?.count != 1 })")
        #expect(undecryptable.withLock { $0 } == 0)

        // Outbound: 50 jobs while the process is killed twice more.
        var jobs: [String] = []
        for index in 1...50 {
            let job = try await child.call(
                "POST", "/v1/sessions/\(setup.session)/messages", json: ["chatId": Self.contactPhone, "text": "out \(index)"], token: setup.token)
            jobs.append(try #require(job.body["jobId"] as? String, "\(job.body)"))
            if [15, 33].contains(index) {
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...60, using: &random)))
                child.kill()
                child = try await restart()
            }
        }
        let texts = (1...50).map { "out \($0)" }
        let arrived = try await waitFor("every outbound message at the contact", seconds: 90) { () -> [[String: Any]]? in
            let items = try await bob.call(["op": "list", "of": "message"])["items"] as? [[String: Any]] ?? []
            let seen = Set(items.compactMap { $0["text"] as? String })
            return Set(texts).isSubset(of: seen) ? items : nil
        }
        // At least once, and every copy under the job's one message id.
        var idsByText: [String: Set<String>] = [:]
        for item in arrived { if let text = item["text"] as? String, let id = item["id"] as? String { idsByText[text, default: []].insert(id) } }
        #expect(texts.allSatisfy { idsByText[$0]?.count == 1 }, "one message id per job")
        let errors = try await bob.call(["op": "list", "of": "decryptError"])["items"] as? [[String: Any]] ?? []
        #expect(errors.isEmpty, "the contact could decrypt everything: \(errors)")
        for job in jobs {
            #expect(try await child.call("GET", "/v1/jobs/\(job)", token: setup.token).body["status"] as? String == "sent")
        }

        // The conversation goes on.
        let last = try #require(try await bob.call(["op": "send_text", "to": wharfChat, "text": "still there?"])["id"] as? String)
        _ = try await waitFor("the last message") { received.withLock { $0[last] } }
        let reply = try await child.call(
            "POST", "/v1/sessions/\(setup.session)/messages?wait=10", json: ["chatId": Self.contactPhone, "text": "yes"], token: setup.token)
        #expect(reply.body["status"] as? String == "sent", "\(reply.body)")
        child.terminate()
    }
}
