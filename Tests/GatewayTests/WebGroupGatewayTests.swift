import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore
import WhatsAppProtocol

/// Groups through the whole gateway: a real `wharf`, the fake server, pyaileys as the other
/// member, a real webhook receiver; the tenant manages the group and writes in it through the API.
@Suite(.serialized) struct WebGroupGatewayTests {
    let web = WebMessagingGatewayTests()

    @Test func aTenantMakesAGroupWritesInItAndHearsItsMembers() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await web.setUp(server, receiver: receiver)
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let bob = try await web.contact(server)
        let base = "/v1/sessions/\(setup.session)/groups"

        let made = try await setup.child.call(
            "POST", base, json: ["subject": "Orders", "participants": ["+\(WebMessagingGatewayTests.contactPhone)"]], token: setup.token)
        #expect(made.status == 201, "\(made.body)")
        let group = try #require(made.body["id"] as? String)
        #expect((made.body["participants"] as? [[String: Any]])?.count == 2)
        let joined = try await waitFor("group.joined") { receiver.requests.first { $0.json?["type"] as? String == "group.joined" } }
        #expect(((joined.json?["data"] as? [String: Any])?["group"] as? [String: Any])?["subject"] as? String == "Orders")

        // Bob writes in the group: message.received with is_group, the group's chat id and Bob, by
        // phone and by LID (which WhatsApp names beside the phone in the message).
        try await server.control("POST", "/addressing", ["phone": WebMessagingGatewayTests.contactPhone, "lidHints": true])
        let bobLID = try #require((bob.ready["lid"] as? String).flatMap(JID.init)).user
        let sent = try await bob.call(["op": "send_text", "to": group, "text": "Two pizzas please"])
        let bobID = try #require(sent["id"] as? String)
        let delivery = try await waitFor("Bob's group message") {
            receiver.requests.first { ($0.json?["data"] as? [String: Any])?["id"] as? String == bobID }
        }
        let data = try #require(delivery.json?["data"] as? [String: Any])
        #expect(data["is_group"] as? Bool == true)
        #expect(data["chat_id"] as? String == group)
        #expect(data["from"] as? String == WebMessagingGatewayTests.contactPhone)
        #expect(data["text"] as? String == "Two pizzas please")
        #expect(data["participant"] as? String == "\(WebMessagingGatewayTests.contactPhone)@s.whatsapp.net")
        #expect(data["from_lid"] as? String == "\(bobLID)@lid", "\(data)")

        // The tenant answers in the group through the send route: queued, humanized, read.
        let job = try await setup.child.call(
            "POST", "/v1/sessions/\(setup.session)/messages", json: ["chatId": group, "text": "On its way", "replyTo": bobID],
            token: setup.token)
        #expect(job.status == 202, "\(job.body)")
        let jobID = try #require(job.body["jobId"] as? String)
        let done = try await waitFor("the group job") { () -> [String: Any]? in
            let body = try await setup.child.call("GET", "/v1/jobs/\(jobID)", token: setup.token).body
            return ["sent", "failed"].contains(body["status"] as? String ?? "") ? body : nil
        }
        #expect(done["status"] as? String == "sent", "\(done)")
        let messageID = try #require(done["messageId"] as? String)
        var text: String?
        for count in 1...2 where text == nil {
            let answer = try await bob.call(["op": "wait", "for": "message", "match": ["id": messageID], "count": count])
            text = (answer["items"] as? [[String: Any]])?.compactMap { $0["text"] as? String }.first
        }
        #expect(text == "On its way")
        let read = try await bob.call(["op": "wait", "for": "receipt", "match": ["id": bobID, "type": "read"]])
        #expect((read["items"] as? [[String: Any]])?.first?["participant"] as? String != nil)

        // Administration through the API.
        let patched = try await setup.child.call(
            "PATCH", "\(base)/\(group)", json: ["subject": "Orders today", "description": "Pizza only", "locked": true], token: setup.token)
        #expect(patched.status == 200, "\(patched.body)")
        #expect(patched.body["subject"] as? String == "Orders today" && patched.body["locked"] as? Bool == true)
        let listed = try await setup.child.call("GET", base, token: setup.token)
        #expect((listed.body["groups"] as? [[String: Any]])?.map { $0["id"] as? String } == [group])
        let invite = try await setup.child.call("GET", "\(base)/\(group)/invite", token: setup.token)
        #expect((invite.body["url"] as? String)?.hasPrefix("https://chat.whatsapp.com/") == true)
        let results = try await setup.child.call(
            "POST", "\(base)/\(group)/participants/add", json: ["participants": ["+\(WebMessagingGatewayTests.contactPhone)", "+4915559999"]],
            token: setup.token)
        #expect(results.status == 200, "\(results.body)")
        #expect((results.body["results"] as? [[String: Any]])?.compactMap { $0["error"] as? Int } == [409, 404])
        let removed = try await setup.child.call(
            "POST", "\(base)/\(group)/participants/remove", json: ["participants": [WebMessagingGatewayTests.contactPhone]], token: setup.token)
        #expect((removed.body["results"] as? [[String: Any]])?.first?["ok"] as? Bool == true)
        let change = try await waitFor("group.participants") {
            receiver.requests.first { $0.json?["type"] as? String == "group.participants" }
        }
        #expect((change.json?["data"] as? [String: Any])?["action"] as? String == "removed")

        // Bad input and unknown groups are problems that say why.
        let long = try await setup.child.call("PATCH", "\(base)/\(group)", json: ["subject": String(repeating: "x", count: 26)], token: setup.token)
        #expect(long.status == 422 && (long.body["detail"] as? String)?.contains("1 to 25 characters") == true)
        let unknown = try await setup.child.call("GET", "\(base)/120363999999999999@g.us", token: setup.token)
        #expect(unknown.status == 404, "\(unknown.body)")
        let badAction = try await setup.child.call("POST", "\(base)/\(group)/participants/kick", json: ["participants": ["1"]], token: setup.token)
        #expect(badAction.status == 404)
        let left = try await setup.child.call("POST", "\(base)/\(group)/leave", token: setup.token)
        #expect(left.status == 204)
        _ = try await waitFor("group.left") { receiver.requests.first { $0.json?["type"] as? String == "group.left" } }
    }
}
