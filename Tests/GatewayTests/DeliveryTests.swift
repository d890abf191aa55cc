import Foundation
import GRDB
import HTTPTypes
import Outbox
import PeerSupport
import Synchronization
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// Webhook delivery end to end: the sandbox engine, the outbox, libcurl, a real receiver; retries in
/// virtual time.
@Suite(.serialized) struct DeliveryTests {
    static func allowLoopback(_ configuration: inout WharfConfiguration) {
        configuration.outboundPolicy = try! OutboundPolicy(allowing: ["127.0.0.1"])
        configuration.webhookTimeout = .seconds(5)
    }

    /// A tenant whose seed webhook points at `receiver`, with a connected sandbox session.
    func setUp(
        _ app: TestWharf, receiver: TestReceiver, username: String = "hooks"
    ) async throws
        -> (tenant: (id: String, token: String), session: String, webhook: String)
    {
        let tenant = try await app.makeTenant(username)
        let updated = try await app.call(.put, "/api/tenants/\(tenant.id)", json: ["webhookUrl": .string(receiver.url)], as: .admin)
        #expect(updated.string("webhookUrl") == receiver.url)
        let session = try await app.makeConnectedSession(token: tenant.token)
        let hooks = try await app.call(.get, "/v1/webhooks", as: .bearer(tenant.token))
        let webhook = try #require(hooks["items"]?.arrayValue?.first?["id"]?.stringValue)
        return (tenant, session, webhook)
    }

    func inject(_ app: TestWharf, token: String, session: String, text: String = "Hi") async throws -> String {
        let reply = try await app.call(
            .post, "/v1/sessions/\(session)/sandbox/inbound", json: ["from": "4915112345678", "text": .string(text)],
            as: .bearer(token))
        #expect(reply.status == .created, "\(reply.text)")
        return reply.string("id") ?? ""
    }

    /// The message.received deliveries, with their attempt counts, once none is in flight.
    func settledAttempts(_ app: TestWharf, count: Int) async throws {
        try await eventually("\(count) attempts recorded") {
            try await app.wharf.outbox.writer.read { db in
                let attempts =
                    try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id WHERE d.type = 'message.received'")
                    ?? 0
                let inflight = try Int.fetchOne(db, sql: "SELECT count(*) FROM delivery WHERE status = 'inflight'") ?? 0
                return attempts >= count && inflight == 0
            }
        }
    }

    func messageDeliveries(_ app: TestWharf) async throws -> [DeliveryRecord] {
        try await app.wharf.outbox.deliveries(matching: DeliveryFilter(type: "message.received"), before: nil, limit: 100)
    }

    static func verifyWithPeer(secret: String, received: TestReceiver.Received) async throws -> Bool {
        let bodyFile = NSTemporaryDirectory() + "webhook-body-\(UUID().uuidString)"
        try received.body.write(to: URL(fileURLWithPath: bodyFile))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("peers/verify_webhook.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", script, secret, bodyFile, received.header("webhook-id") ?? "", received.header("webhook-timestamp") ?? "",
            received.header("webhook-signature") ?? "",
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return await offThePool {
            process.waitUntilExit()
            return process.terminationStatus
        } == 0
    }

    @Test func inboundMessageIsSignedAndVerifiedByTheReferenceLibrary() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: Self.allowLoopback) { app in
            let (tenant, session, webhook) = try await setUp(app, receiver: receiver)
            _ = try await app.call(.put, "/user/settings", json: ["ai_prompt": "Be brief."], as: .bearer(tenant.token))
            let messageID = try await inject(app, token: tenant.token, session: session, text: "Hello Wharf")
            try await eventually("delivery") { receiver.requests.contains { ($0.json?["type"] as? String) == "message.received" } }
            let delivered = try #require(receiver.requests.first { ($0.json?["type"] as? String) == "message.received" })
            let json = try #require(delivered.json)
            let data = try #require(json["data"] as? [String: Any])
            #expect(data["id"] as? String == messageID)
            #expect(data["text"] as? String == "Hello Wharf")
            #expect(data["chat_id"] as? String == "4915112345678@s.whatsapp.net")
            #expect(data["from_me"] as? Bool == false)
            #expect((json["tenant"] as? [String: Any])?["id"] as? String == tenant.id)
            #expect((json["session"] as? [String: Any])?["id"] as? String == session)
            #expect((json["settings"] as? [String: Any])?["ai_prompt"] as? String == "Be brief.")
            #expect(delivered.header("webhook-id") == json["id"] as? String)
            #expect(delivered.header("content-type") == "application/json")

            let secret = try #require(
                try await app.call(.get, "/v1/webhooks/\(webhook)/secret", as: .bearer(tenant.token)).string("secret"))
            #expect(!String(decoding: delivered.body, as: UTF8.self).contains("whsec_"))
            await #expect(try Self.verifyWithPeer(secret: secret, received: delivered))
            var tampered = delivered
            tampered.body = Data(String(decoding: delivered.body, as: UTF8.self).replacingOccurrences(of: "Hello", with: "Hallo").utf8)
            await #expect(try !Self.verifyWithPeer(secret: secret, received: tampered))
            await #expect(try !Self.verifyWithPeer(secret: WebhookSecret.generate().encoded, received: delivered))
        }
    }

    /// `OUTBOUND_ALLOW=localhost`: deliveries to that name reach the loopback address it resolves
    /// to; the address under its own name stays refused.
    @Test func anAllowListedHostNameIsReachedAtConnectTimeAndOnlyByThatName() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(
            clock: ManualClock(now: Date()),
            configure: {
                $0.outboundPolicy = try! OutboundPolicy(allowing: ["localhost"])
                $0.webhookTimeout = .seconds(5)
            }
        ) { app in
            let tenant = try await app.makeTenant("named")
            let byName = "http://localhost:\(receiver.port)/hook"
            let created = try await app.call(.post, "/v1/webhooks", json: ["url": .string(byName)], as: .bearer(tenant.token))
            #expect(created.status == .created, "\(created.text)")
            let byAddress = try await app.call(
                .post, "/v1/webhooks", json: ["url": .string("http://127.0.0.1:\(receiver.port)/hook")], as: .bearer(tenant.token))
            #expect(byAddress.status == .unprocessableContent)
            let session = try await app.makeConnectedSession(token: tenant.token)
            _ = try await inject(app, token: tenant.token, session: session, text: "by name")
            try await eventually("the delivery by name") {
                receiver.requests.contains { (($0.json?["data"] as? [String: Any])?["text"] as? String) == "by name" }
            }
        }
    }

    @Test func receiverDownThenUp() async throws {
        let probe = try await TestReceiver.start()
        let port = probe.port
        await probe.stop()
        try await TestWharf.run(configure: Self.allowLoopback) { app in
            let down = try await TestReceiver.start()
            await down.stop()
            let tenant = try await app.makeTenant("downup")
            _ = try await app.call(
                .put, "/api/tenants/\(tenant.id)", json: ["webhookUrl": .string("http://127.0.0.1:\(port)/hook")], as: .admin)
            let session = try await app.makeConnectedSession(token: tenant.token)
            _ = try await inject(app, token: tenant.token, session: session)
            try await settledAttempts(app, count: 1)
            let failed = try #require(try await messageDeliveries(app).first)
            #expect(failed.status == .pending)
            #expect(failed.lastError?.contains("curl error 7") == true || failed.lastError?.contains("connect") == true)

            let receiver = try await TestReceiver.start(port: port)
            defer { Task { await receiver.stop() } }
            app.clock.advance(by: .seconds(7))
            try await eventually("redelivery") { receiver.requests.contains { ($0.json?["type"] as? String) == "message.received" } }
            try await settledAttempts(app, count: 2)
            #expect(try await messageDeliveries(app).first?.status == .delivered)
        }
    }

    @Test func serverErrorsThenSuccessWithEveryAttemptLogged() async throws {
        let receiver = try await TestReceiver.start { _, request in
            guard (request.json?["type"] as? String) == "message.received" else { return .init() }
            let attempts = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
            return attempts <= 2 ? .init(status: .internalServerError, body: "boom \(attempts)") : .init(status: .noContent, body: "")
        }
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: Self.allowLoopback) { app in
            let (tenant, session, _) = try await setUp(app, receiver: receiver)
            _ = try await inject(app, token: tenant.token, session: session)
            try await settledAttempts(app, count: 1)
            app.clock.advance(by: .seconds(7))
            try await settledAttempts(app, count: 2)
            let second = try #require(try await messageDeliveries(app).first)
            #expect(second.status == .pending)
            #expect(second.lastStatus == 500)
            app.clock.advance(by: .seconds(37))
            try await settledAttempts(app, count: 3)
            let delivery = try #require(try await messageDeliveries(app).first)
            #expect(delivery.status == .delivered)
            let detail = try await app.call(.get, "/v1/deliveries/\(delivery.id)", as: .bearer(tenant.token))
            let attempts = try #require(detail["attempts"]?.arrayValue)
            #expect(attempts.map { $0["httpStatus"]?.intValue } == [500, 500, 204])
            #expect(attempts.first?["responseSnippet"]?.stringValue == "boom 1")
            #expect(detail["payload"]?["type"]?.stringValue == "message.received")
            let ids = Set(receiver.requests.filter { ($0.json?["type"] as? String) == "message.received" }.map { $0.header("webhook-id") })
            #expect(ids.count == 1)
        }
    }

    static let counter = Atomic<Int>(0)

    @Test func slowReceiverTimesOutAndIsRetried() async throws {
        let receiver = try await TestReceiver.start { _, request in
            (request.json?["type"] as? String) == "message.received" ? .init(delay: .seconds(3)) : .init()
        }
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: {
            Self.allowLoopback(&$0)
            $0.webhookTimeout = .milliseconds(300)
        }) { app in
            let (tenant, session, _) = try await setUp(app, receiver: receiver)
            _ = try await inject(app, token: tenant.token, session: session)
            try await settledAttempts(app, count: 1)
            let delivery = try #require(try await messageDeliveries(app).first)
            #expect(delivery.status == .pending)
            #expect(delivery.lastError?.contains("timed out") == true)
            #expect(delivery.lastStatus == nil)
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        let receiver = try await TestReceiver.start { index, request in
            guard (request.json?["type"] as? String) == "message.received" else { return .init() }
            return Self.retryAfterCount.wrappingAdd(1, ordering: .relaxed).newValue == 1
                ? .init(status: .serviceUnavailable, headers: [.retryAfter: "120"]) : .init()
        }
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: Self.allowLoopback) { app in
            let start = app.clock.now
            let (tenant, session, _) = try await setUp(app, receiver: receiver)
            _ = try await inject(app, token: tenant.token, session: session)
            try await settledAttempts(app, count: 1)
            let delivery = try #require(try await messageDeliveries(app).first)
            let wait = delivery.nextAttemptAt.timeIntervalSince(start)
            #expect(wait >= 120 && wait < 121)
            app.clock.advance(by: .seconds(30))
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await messageDeliveries(app).first?.status == .pending)
            app.clock.advance(by: .seconds(91))
            try await settledAttempts(app, count: 2)
            #expect(try await messageDeliveries(app).first?.status == .delivered)
        }
    }

    static let retryAfterCount = Atomic<Int>(0)

    @Test func goneDisablesTheEndpointUntilReEnabled() async throws {
        let receiver = try await TestReceiver.start { _, request in
            (request.json?["type"] as? String) == "message.received" && Self.goneCount.wrappingAdd(1, ordering: .relaxed).newValue == 1
                ? .init(status: .gone) : .init()
        }
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: Self.allowLoopback) { app in
            let (tenant, session, webhook) = try await setUp(app, receiver: receiver)
            let operations = try await app.call(
                .post, "/v1/webhooks", json: ["url": .string(receiver.url), "eventTypes": ["webhook.*"]], as: .bearer(tenant.token))
            #expect(operations.status == .created)
            _ = try await inject(app, token: tenant.token, session: session, text: "one")
            try await settledAttempts(app, count: 1)
            #expect(try await messageDeliveries(app).first?.status == .failed)
            // The operational event reaches the tenant's other endpoint.
            try await eventually("webhook.disabled event") {
                receiver.requests.contains { ($0.json?["type"] as? String) == "webhook.disabled" }
            }
            let notice = try #require(receiver.requests.first { ($0.json?["type"] as? String) == "webhook.disabled" }?.json)
            #expect((notice["data"] as? [String: Any])?["endpoint_id"] as? String == webhook)
            let endpoint = try await app.call(.get, "/v1/webhooks/\(webhook)", as: .bearer(tenant.token))
            #expect(endpoint["enabled"] == .bool(false))
            #expect(endpoint.string("disabledReason")?.contains("410") == true)

            _ = try await inject(app, token: tenant.token, session: session, text: "two")
            app.clock.advance(by: .seconds(60))
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await messageDeliveries(app).count == 1)  // a disabled endpoint gets no new deliveries

            let enabled = try await app.call(.post, "/v1/webhooks/\(webhook)/enable", as: .bearer(tenant.token))
            #expect(enabled["enabled"] == .bool(true))
            let retried = try await app.call(.post, "/v1/deliveries/retry", json: [:], as: .bearer(tenant.token))
            #expect(retried["count"]?.intValue == 1)
            try await settledAttempts(app, count: 2)
            #expect(try await messageDeliveries(app).first?.status == .delivered)
        }
    }

    static let goneCount = Atomic<Int>(0)

    @Test func breakerOpensHoldsWithoutBurningAttemptsProbesAndCloses() async throws {
        let receiverIsUp = Atomic<Bool>(false)
        let receiver = try await TestReceiver.start { _, request in
            guard (request.json?["type"] as? String) == "message.received" else { return .init() }
            return receiverIsUp.load(ordering: .relaxed) ? .init() : .init(status: .badGateway)
        }
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: Self.allowLoopback) { app in
            let (tenant, session, webhook) = try await setUp(app, receiver: receiver)
            for index in 0..<5 { _ = try await inject(app, token: tenant.token, session: session, text: "m\(index)") }
            try await settledAttempts(app, count: 5)
            let health = try await app.call(.get, "/v1/webhooks/\(webhook)", as: .bearer(tenant.token))
            #expect(health.string("breaker") == "open")

            // Held: more messages and time within the probe interval spend no attempts.
            for index in 5..<8 { _ = try await inject(app, token: tenant.token, session: session, text: "m\(index)") }
            app.clock.advance(by: .seconds(30))
            try await Task.sleep(for: .milliseconds(150))
            let held = try await messageDeliveries(app)
            #expect(held.count == 8)
            #expect(held.filter { $0.attempts == 0 }.count == 3)
            #expect(held.reduce(0) { $0 + $1.attempts } == 5)
            // While held, the deliverer sleeps until the probe: its due deliveries do not wake it
            // again and again (that was a busy loop, a core at 100% per open breaker).
            let wakeups = app.wharf.delivery.metrics.loopWakeups
            try await Task.sleep(for: .milliseconds(300))
            #expect(app.wharf.delivery.metrics.loopWakeups - wakeups <= 2, "the clock did not move, so neither did the deliverer")

            // The probe after 60 s fails: still open, one more attempt in all.
            app.clock.advance(by: .seconds(31))
            try await settledAttempts(app, count: 6)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await messageDeliveries(app).reduce(0) { $0 + $1.attempts } == 6)

            // The receiver recovers; the next probe closes the breaker and everything flows.
            receiverIsUp.store(true, ordering: .relaxed)
            app.clock.advance(by: .seconds(61))
            try await eventually("all delivered") {
                try await messageDeliveries(app).allSatisfy { $0.status == .delivered }
            }
            #expect(try await app.call(.get, "/v1/webhooks/\(webhook)", as: .bearer(tenant.token)).string("breaker") == "closed")
            let metrics = try await app.call(.get, "/metrics")
            #expect(metrics.text.contains("wharf_deliveries{status=\"delivered\"}"))
            #expect(metrics.text.contains("wharf_endpoint_breaker_state{endpoint=\"\(webhook)\""))
            #expect(metrics.text.contains("wharf_delivery_attempt_duration_seconds_count"))
        }
    }

    @Test func consoleRetriesReplaysAndDiscardsWithTheSameWebhookID() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(configure: Self.allowLoopback) { app in
            let (tenant, session, webhook) = try await setUp(app, receiver: receiver)
            let other = try await app.makeTenant("stranger")
            _ = try await inject(app, token: tenant.token, session: session, text: "replay me")
            try await settledAttempts(app, count: 1)
            let delivery = try #require(try await messageDeliveries(app).first)
            #expect(delivery.status == .delivered)

            let list = try await app.call(
                .get, "/v1/deliveries?type=message.received&status=delivered", as: .bearer(tenant.token))
            #expect(list["items"]?.arrayValue?.count == 1)
            let adminList = try await app.call(.get, "/v1/deliveries?tenantId=\(tenant.id)&endpointId=\(webhook)", as: .admin)
            #expect((adminList["items"]?.arrayValue?.count ?? 0) >= 1)
            #expect(try await app.call(.get, "/v1/deliveries/\(delivery.id)", as: .bearer(other.token)).status == .notFound)
            #expect(try await app.call(.post, "/v1/deliveries/\(delivery.id)/retry", as: .bearer(other.token)).status == .notFound)
            #expect(try await app.call(.get, "/v1/deliveries", as: .bearer(other.token))["items"]?.arrayValue?.isEmpty == true)

            let range: JSONValue = [
                "from": .string(delivery.createdAt.addingTimeInterval(-1).iso8601Milliseconds),
                "to": .string(delivery.createdAt.addingTimeInterval(1).iso8601Milliseconds), "type": "message.received",
            ]
            var dryRun = range
            if case .object(var members) = dryRun {
                members["dryRun"] = true
                dryRun = .object(members)
            }
            let counted = try await app.call(.post, "/v1/deliveries/replay", json: dryRun, as: .admin)
            #expect(counted["count"]?.intValue == 1)
            #expect(counted["dryRun"] == .bool(true))
            let replayed = try await app.call(.post, "/v1/deliveries/replay", json: range, as: .admin)
            #expect(replayed.status == .accepted)
            #expect(replayed["count"]?.intValue == 1)
            try await settledAttempts(app, count: 2)
            let messages = receiver.requests.filter { ($0.json?["type"] as? String) == "message.received" }
            #expect(messages.count == 2)
            #expect(messages[0].header("webhook-id") == messages[1].header("webhook-id"))

            let retried = try await app.call(.post, "/v1/deliveries/\(delivery.id)/retry", as: .bearer(tenant.token))
            #expect(retried.status == .accepted)
            try await settledAttempts(app, count: 3)
            let discarded = try await app.call(.post, "/v1/deliveries/\(delivery.id)/discard", as: .bearer(tenant.token))
            #expect(discarded["count"]?.intValue == 1)
            #expect(try await app.call(.get, "/v1/deliveries?status=discarded", as: .bearer(tenant.token))["items"]?.arrayValue?.count == 1)
            let badStatus = try await app.call(.get, "/v1/deliveries?status=lost", as: .bearer(tenant.token))
            #expect(badStatus.status == .badRequest)
        }
    }

    @Test func webhookSecretsAreShownOnceRevealedOnRequestAndRotatedWithOverlap() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: Self.allowLoopback) { app in
            let tenant = try await app.makeTenant("rotator")
            let created = try await app.call(
                .post, "/v1/webhooks",
                json: [
                    "url": .string(receiver.url), "eventTypes": ["webhook.test"],
                    "header": ["name": "X-Api-Key", "value": "n8n-header-secret"],
                ], as: .bearer(tenant.token))
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.string("id"))
            let original = try #require(created.string("secret"))
            #expect(original.hasPrefix("whsec_"))
            let listed = try await app.call(.get, "/v1/webhooks", as: .bearer(tenant.token))
            #expect(!listed.text.contains("whsec_") && !listed.text.contains("n8n-header-secret"))
            #expect(listed["items"]?.arrayValue?.first?["headerName"]?.stringValue == "X-Api-Key")
            #expect(try await app.call(.get, "/v1/webhooks/\(id)/secret", as: .bearer(tenant.token)).string("secret") == original)

            let rotated = try await app.call(.post, "/v1/webhooks/\(id)/rotate", json: ["overlapSeconds": 3600], as: .bearer(tenant.token))
            let new = try #require(rotated.string("secret"))
            #expect(new != original)
            let test = try await app.call(.post, "/v1/webhooks/\(id)/test", as: .bearer(tenant.token))
            #expect(test.status == .accepted)
            try await eventually("test event") { !receiver.requests.isEmpty }
            let received = receiver.requests[0]
            #expect(received.json?["type"] as? String == "webhook.test")
            #expect(received.header("X-Api-Key") == "n8n-header-secret")
            #expect(received.header("webhook-signature")?.split(separator: " ").count == 2)
            await #expect(try Self.verifyWithPeer(secret: new, received: received))
            await #expect(try Self.verifyWithPeer(secret: original, received: received))

            let other = try await app.makeTenant("peeker")
            #expect(try await app.call(.get, "/v1/webhooks/\(id)/secret", as: .bearer(other.token)).status == .notFound)
            #expect(try await app.call(.post, "/v1/webhooks/\(id)/rotate", as: .bearer(other.token)).status == .notFound)
            #expect(try await app.call(.delete, "/v1/webhooks/\(id)", as: .bearer(other.token)).status == .notFound)
            let refused = try await app.call(
                .post, "/v1/webhooks", json: ["url": "http://10.0.0.1/hook"], as: .bearer(tenant.token))
            #expect(refused.status == .unprocessableContent)
            #expect(refused.string("detail")?.contains("OUTBOUND_ALLOW") == true)
            #expect(try await app.call(.delete, "/v1/webhooks/\(id)", as: .bearer(tenant.token)).status == .noContent)
        }
    }

    @Test(
        arguments: [
            ("header", ["name": "X-Key", "value": "abc\u{0}def"], "header.value"),
            ("header", ["name": "X-Key", "value": "abc\u{7}"], "header.value"),
            ("header", ["name": "Transfer-Encoding", "value": "chunked"], "header.name"),
            ("header", ["name": "Content-Length", "value": "0"], "header.name"),
            ("header", ["name": "Host", "value": "example.com"], "header.name"),
            ("header", ["name": "Connection", "value": "close"], "header.name"),
            ("basicAuth", ["username": "n8n\u{0}", "password": "x"], "basicAuth.username"),
            ("basicAuth", ["username": "n8n", "password": "pa\u{0}ss"], "basicAuth.password"),
        ] as [(String, [String: String], String)])
    func staticHeadersAndBasicAuthRefuseControlCharactersAndFramingHeaders(
        member: String, value: [String: String], field: String
    )
        async throws
    {
        try await TestWharf.run(configure: Self.allowLoopback) { app in
            let tenant = try await app.makeTenant("headers")
            var object: [String: JSONValue] = [:]
            for (key, text) in value { object[key] = .string(text) }
            var body: [String: JSONValue] = ["url": "http://127.0.0.1:9/hook"]
            body[member] = .object(object)
            let reply = try await app.call(.post, "/v1/webhooks", json: .object(body), as: .bearer(tenant.token))
            #expect(reply.status == .unprocessableContent, "\(reply.text)")
            #expect(reply.string("field") == field)
        }
    }

    @Test func gracefulShutdownFinishesTheRequestInFlight() async throws {
        let receiver = try await TestReceiver.start { _, request in
            (request.json?["type"] as? String) == "message.received" ? .init(delay: .milliseconds(500)) : .init()
        }
        defer { Task { await receiver.stop() } }
        let directory = TestWharf.temporaryDirectory()
        let store = try await TestWharf.run(dataDirectory: directory, configure: Self.allowLoopback) { app in
            let (tenant, session, _) = try await setUp(app, receiver: receiver)
            _ = try await inject(app, token: tenant.token, session: session)
            try await eventually("request in flight") {
                receiver.requests.contains { ($0.json?["type"] as? String) == "message.received" }
            }
            return app.wharf.outbox
        }
        let delivery = try #require(try await store.deliveries(matching: DeliveryFilter(type: "message.received"), before: nil, limit: 1).first)
        #expect(delivery.status == .delivered)
    }
}
