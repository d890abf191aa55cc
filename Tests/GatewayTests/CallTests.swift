import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// Calls: `call.received` and `call.ended` events, and a tenant's automatic rejection with a
/// message to the caller, on a linked phone (the fake server rings) and on the sandbox.
@Suite(.serialized) struct CallTests {
    let web = WebMessagingGatewayTests()

    @Test func aCallToALinkedPhoneIsReportedDeclinedAndAnswered() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await web.setUp(
            server, receiver: receiver, humanize: ["typingMs": 100, "pauseMs": 0, "gapMs": 0],
            settings: ["calls": ["reject": true, "message": "Sorry, no calls here; please write."]])
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let bob = try await web.contact(server)

        let rung = try await server.control(
            "POST", "/call", ["from": WebMessagingGatewayTests.contactPhone, "to": WebMessagingGatewayTests.phone, "video": true])
        let callID = try #require(rung.json["callId"] as? String, "\(rung.json)")
        let received = try await waitFor("call.received") { receiver.requests.first { $0.json?["type"] as? String == "call.received" } }
        let data = try #require(received.json?["data"] as? [String: Any])
        #expect(data["call_id"] as? String == callID && data["from"] as? String == WebMessagingGatewayTests.contactPhone)
        #expect(data["video"] as? Bool == true && data["is_group"] as? Bool == false)

        // Declined on the wire, and the tenant's message reaches the caller.
        let rejected = try await waitFor("the rejection") { () -> [String: Any]? in
            let calls = try await server.control("GET", "/state").json["calls"] as? [[String: Any]]
            return calls?.first { $0["id"] as? String == callID && $0["rejectedBy"] is String }
        }
        #expect((rejected["rejectNode"] as? String)?.contains("call-id=\"\(callID)\"") == true)
        let reply = try await bob.call(["op": "wait", "for": "message", "match": ["text": "Sorry, no calls here; please write."], "timeout": 20])
        #expect((reply["items"] as? [[String: Any]])?.count == 1)

        _ = try await server.control("POST", "/call/end", ["callId": callID, "reason": "timeout"])
        let ended = try await waitFor("call.ended") { receiver.requests.first { $0.json?["type"] as? String == "call.ended" } }
        #expect((ended.json?["data"] as? [String: Any])?["reason"] as? String == "timeout")
    }

    @Test func theSandboxRingsAndDeclinesWhenAsked() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let tenant = try await app.makeTenant(
                "callers", settings: ["calls": ["reject": true, "message": "Call me never"], "humanize": ["enabled": false]])
            _ = try await app.call(.post, "/v1/webhooks", json: ["url": .string(receiver.url)], as: .bearer(tenant.token))
            let session = try await app.makeConnectedSession(token: tenant.token)
            let rung = try await app.call(.post, "/v1/sessions/\(session)/sandbox/call", json: ["from": "+4915100000009"], as: .bearer(tenant.token))
            #expect(rung.status == .created, "\(rung.text)")
            let call = try await waitFor("call.received") { receiver.requests.first { $0.json?["type"] as? String == "call.received" } }
            #expect((call.json?["data"] as? [String: Any])?["from"] as? String == "4915100000009")
            try await SendTests().advance(app) {
                let records = try await app.call(.get, "/v1/sessions/\(session)/sandbox/sent", as: .bearer(tenant.token))["records"]?.arrayValue ?? []
                return records.contains { $0["step"]?.stringValue == "reject" } && records.contains { $0["text"]?.stringValue == "Call me never" }
            }
            let bad = try await app.call(.post, "/v1/sessions/\(session)/sandbox/call", json: ["from": "nobody"], as: .bearer(tenant.token))
            #expect(bad.status == .unprocessableContent)
        }
    }
}
