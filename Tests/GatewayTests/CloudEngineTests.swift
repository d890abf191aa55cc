import Crypto
import Foundation
import GRDB
import HTTPTypes
import Outbox
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// The `cloud` engine through the whole gateway, against a strict fake of Meta's Graph API and
/// with Meta's documented webhook payloads, in virtual time.
@Suite(.serialized) struct CloudEngineTests {
    static let appSecret = "6f1c3b2a9d8e7f6a5b4c3d2e1f0a9b8c"
    static let verifyToken = "wharf-verify-0123"
    static let customer = "16505551234"

    static let textMessage = CloudExamples.textMessage
    /// The documented status, for another number of the same Meta app.
    static let statusOnly = CloudExamples.statusNotification(CloudExamples.sentStatus)

    /// A message type the Cloud API itself does not support, as Meta reports it.
    static let unsupportedMessage = """
        {"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "contacts":[{"profile":{"name":"Kerry Fisher"},"wa_id":"16315551234"}],
        "messages":[{"from":"16315551234","id":"wamid.UNSUPPORTED1","timestamp":"1749416400","type":"unsupported",
        "errors":[{"code":131051,"title":"Message type unknown","message":"Message type unknown",
        "error_data":{"details":"Message type is currently not supported."}}]}]}}]}]}
        """

    static func failedStatus(for messageID: String, recipient: String, code: Int, details: String) -> String {
        """
        {"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "statuses":[{"id":"\(messageID)","status":"failed","timestamp":"1750857390","recipient_id":"\(recipient)",
        "errors":[{"code":\(code),"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"\(details)"}}]}]}}]}]}
        """
    }

    static func signature(_ body: String, secret: String = appSecret) -> String {
        "sha256=" + Array(HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: SymmetricKey(data: Array(secret.utf8)))).hex
    }

    struct Setup {
        var tenant: (id: String, token: String)
        var session: String
        var graph: FakeGraphAPI
        var receiver: TestReceiver
    }

    /// A tenant with a webhook and a connected Cloud API session on a fresh fake Graph API.
    func setUp(
        _ app: TestWharf, name: String = "shop", humanize: JSONValue = ["typingMinMs": 1000, "typingMaxMs": 8000]
    ) async throws
        -> Setup
    {
        let clock = app.clock
        let graph = try await FakeGraphAPI.start(now: { clock.now })
        let receiver = try await TestReceiver.start()
        let tenant = try await app.makeTenant(name, settings: ["humanize": humanize])
        _ = try await app.call(.post, "/v1/webhooks", json: ["url": .string(receiver.url)], as: .bearer(tenant.token))
        let created = try await app.call(
            .post, "/v1/sessions",
            json: [
                "name": "Cloud", "engine": "cloud",
                "cloud": [
                    "phoneNumberId": .string(graph.phoneNumberID), "accessToken": .string(graph.token), "appSecret": .string(Self.appSecret),
                    "verifyToken": .string(Self.verifyToken), "graphBaseUrl": .string(graph.baseURL), "graphVersion": "v23.0",
                ],
            ], as: .bearer(tenant.token))
        #expect(created.status == .created, "\(created.text)")
        let session = try #require(created.string("id"))
        try await app.waitForStatus(session, "connected", token: tenant.token)
        return Setup(tenant: tenant, session: session, graph: graph, receiver: receiver)
    }

    func post(_ app: TestWharf, _ session: String, _ body: String, signature: String? = nil) async throws -> TestWharf.Reply {
        try await app.call(
            .post, "/v1/cloud/webhook/\(session)", raw: body,
            headers: [HTTPField.Name("X-Hub-Signature-256")!: signature ?? Self.signature(body)])
    }

    func events(_ setup: Setup, _ type: String) -> [[String: Any]] {
        setup.receiver.requests.compactMap(\.json).filter { $0["type"] as? String == type }
    }

    func storedEvents(_ app: TestWharf, _ type: String) async throws -> [JSONValue] {
        try await app.wharf.outbox.writer.read { db in
            try Data.fetchAll(db, sql: "SELECT payload FROM event WHERE type = ? ORDER BY created_at, rowid", arguments: [type])
        }.compactMap { try? JSONDecoder().decode(JSONValue.self, from: $0) }
    }

    func advance(_ app: TestWharf, by step: Duration = .milliseconds(100), until condition: @Sendable () async throws -> Bool) async throws {
        try await TestSupport.advance(app.clock, by: step, until: condition)
    }

    func job(_ app: TestWharf, _ id: String, token: String) async throws -> TestWharf.Reply {
        try await app.call(.get, "/v1/jobs/\(id)", as: .bearer(token))
    }

    func send(_ app: TestWharf, _ setup: Setup, _ body: JSONValue) async throws -> String {
        let reply = try await app.call(.post, "/v1/sessions/\(setup.session)/messages", json: body, as: .bearer(setup.tenant.token))
        #expect(reply.status == .accepted, "\(reply.text)")
        return try #require(reply.string("jobId"))
    }

    // MARK: Sessions and secrets

    @Test func aCloudSessionConnectsAndNeverShowsItsSecrets() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app)
            let shown = try await app.call(.get, "/v1/sessions/\(setup.session)", as: .bearer(setup.tenant.token))
            #expect(shown.string("phone") == "15550783881")
            #expect(shown.string("pushName") == "Wharf Test Shop")
            #expect(shown["cloud"]?["phoneNumberId"]?.stringValue == setup.graph.phoneNumberID)
            #expect(shown["cloud"]?["graphVersion"]?.stringValue == "v23.0")
            #expect(shown["cloud"]?["webhookUrl"]?.stringValue?.hasSuffix("/v1/cloud/webhook/\(setup.session)") == true)
            let list = try await app.call(.get, "/v1/sessions", as: .bearer(setup.tenant.token))
            let status = try await app.call(.get, "/api/tenant/status", as: .bearer(setup.tenant.token))
            let admin = try await app.call(.get, "/api/dashboard-data", as: .admin)
            for text in [shown.text, list.text, status.text, admin.text] {
                for secret in [setup.graph.token, Self.appSecret, Self.verifyToken] {
                    #expect(!text.contains(secret), "a secret was answered back")
                }
            }
            // The token went to Meta as a bearer token, on the number's details.
            let phone = try #require(setup.graph.requests.first)
            #expect(phone.method == "GET" && phone.path == "/v23.0/\(setup.graph.phoneNumberID)" && phone.query.contains("fields="))
            #expect(phone.headers[.authorization] == "Bearer \(setup.graph.token)")
            // At rest: sealed, and in the clear nowhere in the database file.
            let stored = try await app.wharf.store.writer.read { db in
                try Data.fetchOne(db, sql: "SELECT value FROM session_credential WHERE session_id = ?", arguments: [setup.session])
            }
            let sealed = try #require(stored)
            #expect(sealed.starts(with: [0x57, 0x58, 0x01]))
            for secret in [setup.graph.token, Self.appSecret, Self.verifyToken] {
                #expect(sealed.range(of: Data(secret.utf8)) == nil)
            }
            let session = setup.session
            let options =
                try await app.wharf.store.writer.read { db in
                    try String.fetchOne(db, sql: "SELECT options FROM session WHERE id = ?", arguments: [session])
                } ?? ""
            #expect(!options.contains(setup.graph.token) && !options.contains(Self.appSecret))
            #expect(setup.graph.violations.isEmpty, "\(setup.graph.violations)")
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func badCloudSettingsAreRefusedPrecisely() async throws {
        try await TestWharf.run(configure: DeliveryTests.allowLoopback) { app in
            let tenant = try await app.makeTenant("strict", maxSessions: 5)
            func create(_ cloud: JSONValue?) async throws -> TestWharf.Reply {
                var body: [String: JSONValue] = ["name": "c", "engine": "cloud"]
                if let cloud { body["cloud"] = cloud }
                return try await app.call(.post, "/v1/sessions", json: .object(body), as: .bearer(tenant.token))
            }
            let good: [String: JSONValue] = [
                "phoneNumberId": "106540352242922", "accessToken": "EAAG-x", "appSecret": "secret", "verifyToken": "verify",
            ]
            let missing = try await create(nil)
            #expect(missing.status == .badRequest && missing.string("field") == "cloud")
            var noToken = good
            noToken["accessToken"] = nil
            let token = try await create(.object(noToken))
            #expect(token.status == .badRequest && token.string("field") == "cloud.accessToken")
            var phone = good
            phone["phoneNumberId"] = "+1 555 078 3881"
            let badPhone = try await create(.object(phone))
            #expect(badPhone.status == .unprocessableContent && badPhone.string("field") == "cloud.phoneNumberId")
            var privateBase = good
            privateBase["graphBaseUrl"] = "http://10.1.2.3:8080"
            let refused = try await create(.object(privateBase))
            #expect(refused.status == .unprocessableContent && refused.string("detail")?.contains("OUTBOUND_ALLOW") == true)
            let made = try await create(.object(good))
            #expect(made.status == .created)
            let session = try #require(made.string("id"))
            let moved = try await app.call(
                .patch, "/v1/sessions/\(session)", json: ["cloud": ["graphBaseUrl": "http://169.254.169.254"]], as: .bearer(tenant.token))
            #expect(moved.status == .unprocessableContent && moved.string("field") == "cloud.graphBaseUrl")
            _ = try await app.call(.delete, "/v1/sessions/\(session)", as: .bearer(tenant.token))
            var version = good
            version["graphVersion"] = "latest"
            #expect(try await create(.object(version)).string("field") == "cloud.graphVersion")
            #expect(try await app.wharf.store.sessionCount(tenantID: tenant.id) == 0)
        }
    }

    @Test func theGraphBaseURLObeysTheOutboundAllowList() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("strict")
            let reply = try await app.call(
                .post, "/v1/sessions",
                json: [
                    "name": "c", "engine": "cloud",
                    "cloud": ["phoneNumberId": "1", "accessToken": "t", "appSecret": "s", "verifyToken": "v", "graphBaseUrl": "http://127.0.0.1:9"],
                ], as: .bearer(tenant.token))
            #expect(reply.status == .unprocessableContent)
            #expect(reply.string("field") == "cloud.graphBaseUrl")
        }
    }

    // MARK: Inbound

    @Test func metasSubscriptionCheckNeedsTheVerifyToken() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app)
            let path = "/v1/cloud/webhook/\(setup.session)?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="
            let ok = try await app.call(.get, path + Self.verifyToken)
            #expect(ok.status == .ok)
            #expect(ok.text == "1158201444")
            #expect(ok.headers[.contentType]?.hasPrefix("text/plain") == true)
            let wrong = try await app.call(.get, path + "guess")
            #expect(wrong.status == .forbidden)
            #expect(wrong.headers[.contentType] == "application/problem+json")
            #expect(try await app.call(.get, "/v1/cloud/webhook/ses_nope?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1").status == .notFound)
            let sandbox = try await app.makeConnectedSession(token: setup.tenant.token)
            #expect(
                try await app.call(.get, "/v1/cloud/webhook/\(sandbox)?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1").status == .notFound)
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func aSignedMessageIsStoredBeforeMetaGetsItsOK() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app)
            let bad = try await post(app, setup.session, Self.textMessage, signature: Self.signature(Self.textMessage, secret: "wrong"))
            #expect(bad.status == .unauthorized)
            let unsigned = try await app.call(.post, "/v1/cloud/webhook/\(setup.session)", raw: Self.textMessage)
            #expect(unsigned.status == .unauthorized)
            #expect(try await storedEvents(app, "message.received").isEmpty)

            let reply = try await post(app, setup.session, Self.textMessage)
            #expect(reply.status == .ok)
            // Committed by the time Meta has its answer.
            let stored = try await storedEvents(app, "message.received")
            #expect(stored.count == 1)
            // Meta delivers at least once: the same notification again is kept once.
            #expect(try await post(app, setup.session, Self.textMessage).status == .ok)
            #expect(try await storedEvents(app, "message.received").count == 1)

            try await eventually("the tenant's webhook got the message") { !events(setup, "message.received").isEmpty }
            let event = try #require(events(setup, "message.received").first)
            let data = try #require(event["data"] as? [String: Any])
            #expect(data["id"] as? String == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
            #expect(data["chat_id"] as? String == "16505551234@s.whatsapp.net")
            #expect(data["from"] as? String == "16505551234")
            #expect(data["from_name"] as? String == "Sheena Nelson")
            #expect(data["type"] as? String == "text")
            #expect(data["text"] as? String == "Does it come in another color?")
            #expect(data["timestamp"] as? Double == 1_749_416_383)
            #expect((event["session"] as? [String: Any])?["engine"] as? String == "cloud")
            let body = String(
                decoding: setup.receiver.requests.first { $0.json?["type"] as? String == "message.received" }?.body ?? Data(), as: UTF8.self)
            for secret in [setup.graph.token, Self.appSecret, Self.verifyToken] { #expect(!body.contains(secret)) }

            let unsupported = try await post(app, setup.session, Self.unsupportedMessage)
            #expect(unsupported.status == .ok)
            try await eventually("the unsupported message arrived") { events(setup, "message.received").count == 2 }
            let kept = try #require(events(setup, "message.received").last?["data"] as? [String: Any])
            #expect(kept["type"] as? String == "unsupported")
            #expect(kept["id"] as? String == "wamid.UNSUPPORTED1")
            #expect(kept["from_name"] as? String == "Kerry Fisher")

            let notJSON = "not json"
            #expect(try await post(app, setup.session, notJSON).status == .badRequest)
            // Meta's notifications may be larger than MAX_BODY_BYTES (64 KiB in these tests).
            let padding = String(repeating: "x", count: 200_000)
            let large = Self.textMessage.replacingOccurrences(of: "\"object\":", with: "\"padding\":\"\(padding)\",\"object\":")
            #expect(try await post(app, setup.session, large).status == .ok)
            #expect(try await app.call(.post, "/v1/sessions", raw: large, as: .bearer(setup.tenant.token)).status == .contentTooLarge)
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func statusesBecomeAcksAndFailuresNameTheirJob() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: false)
            // The documented status names another number of the same Meta app: it reaches the
            // tenant's session of that number.
            let clock = app.clock
            let second = try await FakeGraphAPI.start(phoneNumberID: "590968830767958", now: { clock.now })
            let other = try await app.call(
                .post, "/v1/sessions",
                json: [
                    "name": "Second", "engine": "cloud",
                    "cloud": [
                        "phoneNumberId": "590968830767958", "accessToken": .string(second.token), "appSecret": .string(Self.appSecret),
                        "verifyToken": "v2", "graphBaseUrl": .string(second.baseURL),
                    ],
                ], as: .bearer(setup.tenant.token))
            let secondSession = try #require(other.string("id"))
            try await app.waitForStatus(secondSession, "connected", token: setup.tenant.token)
            #expect(try await post(app, setup.session, Self.statusOnly).status == .ok)
            try await eventually("the ack arrived") { !events(setup, "message.ack").isEmpty }
            let ack = try #require(events(setup, "message.ack").first)
            #expect((ack["session"] as? [String: Any])?["id"] as? String == secondSession)
            let ackData = try #require(ack["data"] as? [String: Any])
            #expect(ackData["ack"] as? String == "server")
            #expect(ackData["id"] as? String == "wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA=")
            #expect(ackData["chat_id"] as? String == "5516992318222@s.whatsapp.net")
            // A number of another Meta app (another app secret) is not reachable with this one's signature.
            let patched = try await app.call(
                .patch, "/v1/sessions/\(secondSession)", json: ["cloud": ["appSecret": "another-apps-secret"]], as: .bearer(setup.tenant.token))
            #expect(patched.status == .ok)
            let delivered = CloudExamples.sentStatus.replacingOccurrences(of: "\"sent\"", with: "\"delivered\"")
            #expect(try await post(app, setup.session, CloudExamples.statusNotification(delivered)).status == .ok)
            #expect(try await storedEvents(app, "message.ack").count == 1)

            // Delivered, read and played, for this session's own number.
            let later = ["delivered", "read", "played"].map { kind in
                "{\"id\":\"wamid.LATER\",\"status\":\"\(kind)\",\"timestamp\":\"1750857400\",\"recipient_id\":\"\(Self.customer)\"}"
            }
            let own = CloudExamples.statusNotification(later.joined(separator: ","))
                .replacingOccurrences(of: "590968830767958", with: setup.graph.phoneNumberID)
            #expect(try await post(app, setup.session, own).status == .ok)
            let acks = try await storedEvents(app, "message.ack").compactMap { $0["data"]?["ack"]?.stringValue }
            #expect(acks == ["server", "delivered", "read", "played"])

            // A message Wharf sent, failed later by Meta: its job fails with a clear reason.
            let jobID = try await send(app, setup, ["chatId": .string(Self.customer), "text": "Your order shipped"])
            try await advance(app) { try await job(app, jobID, token: setup.tenant.token).string("status") == "sent" }
            let messageID = try #require(try await job(app, jobID, token: setup.tenant.token).string("messageId"))
            let failed = Self.failedStatus(
                for: messageID, recipient: Self.customer, code: 131047,
                details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.")
            #expect(try await post(app, setup.session, failed).status == .ok)
            let stored = try await job(app, jobID, token: setup.tenant.token)
            #expect(stored.string("status") == "failed")
            #expect(stored.string("error")?.contains("24 hours") == true)
            try await eventually("message.failed arrived") { !events(setup, "message.failed").isEmpty }
            let failure = try #require(events(setup, "message.failed").first?["data"] as? [String: Any])
            #expect(failure["job_id"] as? String == jobID)
            #expect(failure["id"] as? String == messageID)
            #expect(failure["code"] as? Double == 131047)
            #expect((failure["reason"] as? String)?.contains("template") == true)

            // Failed for a limit after Meta accepted it: sent again later, not reported as failed.
            let limited = try await send(app, setup, ["chatId": .string(Self.customer), "text": "Sale ends tonight"])
            try await advance(app) { try await job(app, limited, token: setup.tenant.token).string("status") == "sent" }
            let firstID = try #require(try await job(app, limited, token: setup.tenant.token).string("messageId"))
            let throttled = Self.failedStatus(
                for: firstID, recipient: Self.customer, code: 130429, details: "Cloud API message throughput has been reached.")
            #expect(try await post(app, setup.session, throttled).status == .ok)
            try await advance(app, by: .milliseconds(250)) {
                let again = try await job(app, limited, token: setup.tenant.token)
                return again.string("status") == "sent" && again.string("messageId") != firstID
            }
            #expect(try await job(app, limited, token: setup.tenant.token)["attempts"]?.intValue == 2)
            #expect(events(setup, "message.failed").count == 1)
            #expect(setup.graph.violations.isEmpty && second.violations.isEmpty)
            await second.stop()
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    // MARK: Outbound

    @Test func aReplyReadsTypesThenSends() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: ["charsPerSecond": 10, "typingMinMs": 1000, "typingMaxMs": 8000, "pauseMs": 400, "jitter": 0])
            #expect(try await post(app, setup.session, Self.textMessage).status == .ok)
            let inbound = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
            let text = String(repeating: "y", count: 30)
            let jobID = try await send(app, setup, ["chatId": "+1 650 555 1234", "text": .string(text), "replyTo": .string(inbound)])
            try await advance(app) { try await job(app, jobID, token: setup.tenant.token).string("status") == "sent" }
            let calls = setup.graph.messageRequests
            #expect(calls.map(\.kind) == ["read", "typing", "text"])
            #expect(calls[0].body["message_id"] as? String == inbound)
            #expect(calls[1].body["message_id"] as? String == inbound)
            let typed = calls[2].at.timeIntervalSince(calls[1].at)
            #expect(typed >= 3.4 && typed <= 3.4 + 0.5, "typed for \(typed) s")
            #expect(calls[2].body["to"] as? String == Self.customer)
            #expect((calls[2].body["text"] as? [String: Any])?["body"] as? String == text)
            #expect((calls[2].body["context"] as? [String: Any])?["message_id"] as? String == inbound)
            // WhatsApp's id for the job, and message.sent with it.
            let sent = try await job(app, jobID, token: setup.tenant.token)
            #expect(sent.string("messageId") == "wamid.FAKE1")
            try await eventually("message.sent arrived") { !events(setup, "message.sent").isEmpty }
            #expect((events(setup, "message.sent").first?["data"] as? [String: Any])?["id"] as? String == "wamid.FAKE1")
            #expect(setup.graph.violations.isEmpty, "\(setup.graph.violations)")
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func longTypingIsSentAgainAndAFirstMessageGetsNone() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: ["pauseMs": 0])
            #expect(try await post(app, setup.session, Self.textMessage).status == .ok)
            let long = try await send(app, setup, ["chatId": .string(Self.customer), "text": "a long answer", "humanize": ["typingMs": 50000]])
            try await advance(app, by: .milliseconds(500)) { try await job(app, long, token: setup.tenant.token).string("status") == "sent" }
            let calls = setup.graph.messageRequests
            #expect(calls.map(\.kind) == ["read", "typing", "typing", "typing", "text"])
            let typing = calls.filter { $0.kind == "typing" }.map(\.at)
            for (earlier, later) in zip(typing, typing.dropFirst()) {
                let gap = later.timeIntervalSince(earlier)
                #expect(gap >= 20 && gap < 25, "the indicator lapses after 25 s; re-sent after \(gap) s")
            }
            let total = calls.last!.at.timeIntervalSince(typing[0])
            #expect(total >= 50 && total <= 52)

            // Nobody wrote from this number: no read receipt and no indicator, just the message.
            let before = setup.graph.messageRequests.count
            let first = try await send(app, setup, ["chatId": "4915112345678", "text": "Hello from the shop"])
            try await advance(app) { try await job(app, first, token: setup.tenant.token).string("status") == "sent" }
            #expect(setup.graph.messageRequests.dropFirst(before).map(\.kind) == ["text"])
            #expect(setup.graph.violations.isEmpty, "\(setup.graph.violations)")
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func mediaGoesByLinkWithCaptionAndFileName() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: false)
            let image = try await send(
                app, setup,
                [
                    "chatId": .string(Self.customer), "type": "image", "mediaUrl": "https://example.com/aloe.png",
                    "caption": "The best succulent ever?",
                ])
            let document = try await send(
                app, setup,
                [
                    "chatId": .string(Self.customer), "mediaUrl": "https://example.com/files/report.pdf", "caption": "Q4 Report",
                ])
            let voice = try await send(
                app, setup,
                [
                    "chatId": .string(Self.customer), "type": "voice", "mediaUrl": "https://example.com/note.ogg", "caption": "dropped",
                    "replyTo": "wamid.Q",
                ])
            try await advance(app, by: .seconds(1)) {
                for id in [image, document, voice] where try await job(app, id, token: setup.tenant.token).string("status") != "sent" { return false }
                return true
            }
            let bodies = setup.graph.messageRequests.map(\.body)
            #expect(bodies.map { $0["type"] as? String } == ["image", "document", "audio"])
            #expect(bodies[0]["image"] as? [String: String] == ["link": "https://example.com/aloe.png", "caption": "The best succulent ever?"])
            #expect(
                bodies[1]["document"] as? [String: String] == [
                    "link": "https://example.com/files/report.pdf", "caption": "Q4 Report", "filename": "report.pdf",
                ])
            #expect(bodies[2]["audio"] as? [String: String] == ["link": "https://example.com/note.ogg"])
            #expect((bodies[2]["context"] as? [String: Any])?["message_id"] as? String == "wamid.Q")
            // Refused at once: a link Meta cannot fetch, a group, an over-long text.
            let privateLink = try await app.call(
                .post, "/v1/sessions/\(setup.session)/messages",
                json: ["chatId": .string(Self.customer), "type": "image", "mediaUrl": "http://192.168.1.10/x.png"], as: .bearer(setup.tenant.token))
            #expect(privateLink.status == .unprocessableContent && privateLink.string("field") == "mediaUrl")
            let group = try await app.call(
                .post, "/v1/sessions/\(setup.session)/messages", json: ["chatId": "120363012345678901@g.us", "text": "hi"],
                as: .bearer(setup.tenant.token))
            #expect(group.status == .unprocessableContent && group.string("field") == "chatId")
            let long = try await app.call(
                .post, "/v1/sessions/\(setup.session)/messages",
                json: ["chatId": .string(Self.customer), "text": .string(String(repeating: "z", count: 4097))], as: .bearer(setup.tenant.token))
            #expect(long.status == .unprocessableContent && long.string("field") == "text")
            #expect(setup.graph.violations.isEmpty, "\(setup.graph.violations)")
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test(arguments: [
        (FakeGraphAPI.Failure.reEngagement, "24 hours"),
        (FakeGraphAPI.Failure.undeliverable, "may not be on WhatsApp"),
    ])
    func graphRefusalsFailTheJobWithAClearReason(failure: FakeGraphAPI.Failure, phrase: String) async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: false)
            setup.graph.fail(recipient: Self.customer, with: failure)
            let jobID = try await send(app, setup, ["chatId": .string(Self.customer), "text": "hello"])
            try await advance(app) { try await job(app, jobID, token: setup.tenant.token).string("status") == "failed" }
            let failed = try await job(app, jobID, token: setup.tenant.token)
            #expect(failed.string("error")?.contains(phrase) == true, "\(failed.string("error") ?? "")")
            #expect(failed["attempts"]?.intValue == 1)
            try await eventually("message.failed arrived") { !events(setup, "message.failed").isEmpty }
            let data = try #require(events(setup, "message.failed").first?["data"] as? [String: Any])
            #expect(data["job_id"] as? String == jobID)
            #expect((data["reason"] as? String)?.contains(phrase) == true)
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func rateLimitsAreRetriedWithBackoff() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: false)
            setup.graph.failNextSends([.throughput, .throughput])
            let jobID = try await send(app, setup, ["chatId": .string(Self.customer), "text": "hello"])
            try await advance(app, by: .milliseconds(250)) { setup.graph.messageRequests.count == 1 }
            // The number's throughput is the limit, so another chat waits too.
            let other = try await send(app, setup, ["chatId": "4915112345678", "text": "and you"])
            try await advance(app, by: .milliseconds(250)) {
                for id in [jobID, other] where try await job(app, id, token: setup.tenant.token).string("status") != "sent" { return false }
                return true
            }
            let calls = setup.graph.messageRequests
            let mine = calls.filter { $0.body["to"] as? String == Self.customer }.map(\.at)
            #expect(mine.count == 3)
            let first = mine[1].timeIntervalSince(mine[0])
            let second = mine[2].timeIntervalSince(mine[1])
            #expect(first >= 4 && first <= 6.5, "first retry after \(first) s")
            #expect(second >= 8 && second <= 12.5, "second retry after \(second) s")
            let theirs = try #require(calls.first { $0.body["to"] as? String == "4915112345678" }?.at)
            #expect(theirs.timeIntervalSince(mine[0]) >= 4, "the other chat waited out the number's limit")
            #expect(try await job(app, jobID, token: setup.tenant.token)["attempts"]?.intValue == 3)
            #expect(events(setup, "message.failed").isEmpty)

            // No readable answer to a send: it may have gone out, so it is not sent twice.
            setup.graph.failNextSends([.badGateway])
            let unsure = try await send(app, setup, ["chatId": .string(Self.customer), "text": "once only"])
            try await advance(app) { try await job(app, unsure, token: setup.tenant.token).string("status") == "failed" }
            #expect(try await job(app, unsure, token: setup.tenant.token).string("error")?.contains("may have been sent") == true)
            #expect(setup.graph.messageRequests.filter { ($0.body["text"] as? [String: Any])?["body"] as? String == "once only" }.count == 1)
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func anExpiredTokenStopsTheSessionUntilANewOneIsGiven() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: false)
            setup.graph.rotateToken(to: "EAAG-new-token")
            let jobID = try await send(app, setup, ["chatId": .string(Self.customer), "text": "hello"])
            try await advance(app) { try await job(app, jobID, token: setup.tenant.token).string("status") == "failed" }
            #expect(try await job(app, jobID, token: setup.tenant.token).string("error")?.contains("accessToken") == true)
            try await app.waitForStatus(setup.session, "stopped", token: setup.tenant.token)
            let session = try await app.call(.get, "/v1/sessions/\(setup.session)", as: .bearer(setup.tenant.token))
            #expect(session.string("statusDetail")?.contains("access token") == true)
            // Jobs wait while the session is stopped, and go once it has a new token.
            let waiting = try await send(app, setup, ["chatId": .string(Self.customer), "text": "still there?"])
            let patched = try await app.call(
                .patch, "/v1/sessions/\(setup.session)", json: ["cloud": ["accessToken": "EAAG-new-token"]], as: .bearer(setup.tenant.token))
            #expect(patched.status == .ok)
            #expect(!patched.text.contains("EAAG-new-token"))
            try await app.waitForStatus(setup.session, "connected", token: setup.tenant.token)
            try await advance(app) { try await job(app, waiting, token: setup.tenant.token).string("status") == "sent" }
            #expect(setup.graph.messageRequests.last?.headers[.authorization] == "Bearer EAAG-new-token")
            // Logging out means nothing for a business number.
            let logout = try await app.call(.post, "/v1/sessions/\(setup.session)/logout", as: .bearer(setup.tenant.token))
            #expect(logout.status == .conflict)
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func anotherTenantCannotReachACloudSession() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app)
            let other = try await app.makeTenant("other")
            #expect(try await app.call(.get, "/v1/sessions/\(setup.session)", as: .bearer(other.token)).status == .notFound)
            let patch = try await app.call(
                .patch, "/v1/sessions/\(setup.session)", json: ["cloud": ["accessToken": "stolen"]], as: .bearer(other.token))
            #expect(patch.status == .notFound)
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }
    @Test func reactionsPlacesAndContactCardsGoAsTheCloudAPIDocumentsThemAndPollsAreRefused() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app, humanize: false)
            let reaction = try await send(
                app, setup, ["chatId": .string(Self.customer), "type": "reaction", "messageId": "wamid.IN1", "emoji": "👍"])
            let place = try await send(
                app, setup,
                [
                    "chatId": .string(Self.customer), "type": "location", "latitude": 52.5200, "longitude": 13.4050, "name": "Our stand",
                    "address": "Alexanderplatz 1, Berlin", "replyTo": "wamid.IN1",
                ])
            let card = try await send(
                app, setup,
                ["chatId": .string(Self.customer), "type": "contact", "contacts": [["name": "Ann Example", "phone": "+49 170 1234567"]]])
            let unreact = try await send(app, setup, ["chatId": .string(Self.customer), "type": "reaction", "messageId": "wamid.IN1", "emoji": ""])
            try await advance(app, by: .seconds(1)) {
                for id in [reaction, place, card, unreact] where try await job(app, id, token: setup.tenant.token).string("status") != "sent" {
                    return false
                }
                return true
            }
            let bodies = setup.graph.messageRequests.map(\.body)
            #expect(bodies.map { $0["type"] as? String } == ["reaction", "location", "contacts", "reaction"])
            #expect(bodies[0]["reaction"] as? [String: String] == ["message_id": "wamid.IN1", "emoji": "👍"])
            let location = try #require(bodies[1]["location"] as? [String: Any])
            #expect(location["latitude"] as? Double == 52.52 && location["longitude"] as? Double == 13.405)
            #expect(location["name"] as? String == "Our stand" && location["address"] as? String == "Alexanderplatz 1, Berlin")
            #expect((bodies[1]["context"] as? [String: Any])?["message_id"] as? String == "wamid.IN1")
            let contact = try #require((bodies[2]["contacts"] as? [[String: Any]])?.first)
            #expect(contact["name"] as? [String: String] == ["formatted_name": "Ann Example", "first_name": "Ann Example"])
            #expect(contact["phones"] as? [[String: String]] == [["phone": "+491701234567", "type": "CELL", "wa_id": "491701234567"]])
            #expect(bodies[3]["reaction"] as? [String: String] == ["message_id": "wamid.IN1", "emoji": ""])
            #expect(setup.graph.violations.isEmpty, "\(setup.graph.violations)")

            // What the Cloud API lacks is refused when the job is offered, saying so.
            let poll = try await app.call(
                .post, "/v1/sessions/\(setup.session)/messages",
                json: ["chatId": .string(Self.customer), "type": "poll", "poll": ["name": "Lunch?", "options": ["Yes", "No"]]],
                as: .bearer(setup.tenant.token))
            #expect(poll.status == .unprocessableContent && poll.string("detail")?.contains("cannot send poll") == true, "\(poll.text)")
            let edit = try await app.call(
                .patch, "/v1/sessions/\(setup.session)/messages/wamid.OUT1?chatId=\(Self.customer)", json: ["text": "fixed"],
                as: .bearer(setup.tenant.token))
            #expect(edit.status == .unprocessableContent, "\(edit.text)")
            await setup.graph.stop()
            await setup.receiver.stop()
        }
    }

    @Test func groupsAreRefusedWithAProblemThatSaysWhy() async throws {
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let setup = try await setUp(app)
            let token = setup.tenant.token
            for (method, path) in [
                (HTTPRequest.Method.get, "groups"), (.get, "groups/120363000000000001@g.us"), (.post, "groups/120363000000000001@g.us/leave"),
            ] {
                let answer = try await app.call(method, "/v1/sessions/\(setup.session)/\(path)", as: .bearer(token))
                #expect(answer.status == .unprocessableContent, "\(path): \(answer.text)")
                #expect(answer.string("detail")?.contains("has no groups") == true)
            }
            let send = try await app.call(
                .post, "/v1/sessions/\(setup.session)/messages", json: ["chatId": "120363000000000001@g.us", "text": "hi"], as: .bearer(token))
            #expect(send.status == .unprocessableContent, "\(send.text)")
            let reaction = try await app.call(
                .post, "/v1/sessions/\(setup.session)/messages",
                json: ["chatId": "120363000000000001@g.us", "type": "reaction", "messageId": "X", "emoji": "👍"],
                as: .bearer(token))
            #expect(reaction.status == .unprocessableContent, "a reaction in a group: \(reaction.text)")
        }
    }
}

/// Engine credentials are sealed at rest, bound to their row, and older plaintext rows get sealed.
@Suite struct CredentialEncryptionTests {
    @Test func legacyPlaintextIsSealedAndAWrongKeyCannotOpenIt() async throws {
        let path = TestWharf.temporaryDirectory() + "/wharf.sqlite"
        let key = Identifier.randomBytes(32)
        let store = try SQLiteGatewayStore(try SQLiteDatabase.openPool(at: path), secretBox: SecretBox(key: key))
        let now = Date()
        try await store.createTenant(
            TenantRecord(id: "ten_a", name: "A", maxSessions: 2, settings: "{}", createdAt: now, updatedAt: now),
            user: TenantUserRecord(id: "usr_a", tenantId: "ten_a", username: "a", passwordHash: "x", createdAt: now, passwordChangedAt: now))
        for id in ["ses_a", "ses_b"] {
            try await store.insertSession(
                SessionRecord(id: id, tenantId: "ten_a", name: id, engine: .web, status: .starting, createdAt: now, updatedAt: now),
                maxSessions: 2)
        }
        // As an earlier version stored it: in the clear.
        try await store.writer.write { db in
            try db.execute(sql: "INSERT INTO session_credential VALUES ('ses_a', 'web.device', ?)", arguments: [Data("{\"noise\":\"k\"}".utf8)])
        }
        #expect(try await store.sealLegacyCredentials() == 1)
        #expect(try await store.sealLegacyCredentials() == 0)
        let raw = try await store.writer.read { db in try Data.fetchOne(db, sql: "SELECT value FROM session_credential") }
        #expect(raw?.starts(with: [0x57, 0x58, 0x01]) == true)
        #expect(try await store.credentials(sessionID: "ses_a").value(forKey: "web.device") == Data("{\"noise\":\"k\"}".utf8))
        // A value in the clear found later was not written by Wharf: refused.
        try await store.writer.write { db in
            try db.execute(sql: "INSERT INTO session_credential VALUES ('ses_b', 'cloud.config', ?)", arguments: [Data("{}".utf8)])
        }
        await #expect(throws: SecretBoxError.notSealed) { try await store.credentials(sessionID: "ses_b").value(forKey: "cloud.config") }
        try await store.writer.write { db in try db.execute(sql: "DELETE FROM session_credential WHERE session_id = 'ses_b'") }
        // Moved to another session's row, the sealed value does not open.
        try await store.writer.write { db in try db.execute(sql: "UPDATE session_credential SET session_id = 'ses_b'") }
        await #expect(throws: SecretBoxError.self) { try await store.credentials(sessionID: "ses_b").value(forKey: "web.device") }
        try await store.writer.write { db in try db.execute(sql: "UPDATE session_credential SET session_id = 'ses_a'") }
        let otherKey = try SQLiteGatewayStore(try SQLiteDatabase.openPool(at: path), secretBox: SecretBox(key: Identifier.randomBytes(32)))
        await #expect(throws: SecretBoxError.self) { try await otherKey.credentials(sessionID: "ses_a").value(forKey: "web.device") }
    }

    @Test func theKeyIsGeneratedOnceOrTakenFromEncryptionKey() async throws {
        let directory = TestWharf.temporaryDirectory()
        let first = try await TestWharf.run(dataDirectory: directory) { app in app.wharf.configuration.encryptionKey }
        let second = try await TestWharf.run(dataDirectory: directory) { app in app.wharf.configuration.encryptionKey }
        #expect(first != nil && first == second)
        let given = Array(repeating: UInt8(7), count: 32)
        let configured = try await TestWharf.run(configure: { $0.encryptionKey = given }) { app in app.wharf.configuration.encryptionKey }
        #expect(configured == given)
        #expect(SecretsFile.decodeKey(String(repeating: "07", count: 32)) == given)
        #expect(SecretsFile.decodeKey("too short") == nil)
    }

}
