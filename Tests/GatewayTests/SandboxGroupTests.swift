import Foundation
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// The sandbox simulates groups through the same routes as a linked phone, with the same events;
/// the Cloud API has none and says so.
@Suite struct SandboxGroupTests {
    func items(_ value: JSONValue?) -> [JSONValue] {
        if case .array(let items)? = value { return items }
        return []
    }

    func event(_ receiver: TestReceiver, _ type: String) async throws -> [String: Any] {
        let request = try await waitFor(type) { receiver.requests.first { $0.json?["type"] as? String == type } }
        return request.json?["data"] as? [String: Any] ?? [:]
    }

    @Test func theSandboxSimulatesGroupsWithTheirEvents() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let tenant = try await app.makeTenant("groups")
            _ = try await app.call(.post, "/v1/webhooks", json: ["url": .string(receiver.url)], as: .bearer(tenant.token))
            let session = try await app.makeConnectedSession(token: tenant.token)
            let base = "/v1/sessions/\(session)/groups"

            let made = try await app.call(
                .post, base, json: ["subject": "Family", "participants": ["+4915100000001", "4915100000002@c.us"]], as: .bearer(tenant.token))
            #expect(made.status == .created, "\(made.text)")
            let group = try #require(made.string("id"))
            #expect(group.hasSuffix("@g.us"))
            #expect(items(made["participants"]).count == 3)
            #expect(try await event(receiver, "group.joined")["action"] as? String == "created")

            // A contact writes in the group: message.received with is_group and the participant.
            let injected = try await app.call(
                .post, "/v1/sessions/\(session)/sandbox/inbound", json: ["from": "+4915100000001", "text": "hi all", "group": .string(group)],
                as: .bearer(tenant.token))
            #expect(injected.status == .created, "\(injected.text)")
            let message = try await event(receiver, "message.received")
            #expect(message["chat_id"] as? String == group && message["is_group"] as? Bool == true)
            #expect(message["participant"] as? String == "4915100000001@s.whatsapp.net")

            // Changes, members, invite links, joining and leaving: each with its event.
            let patched = try await app.call(.patch, "\(base)/\(group)", json: ["subject": "Family 2", "announce": true], as: .bearer(tenant.token))
            #expect(patched.status == .ok && patched["announce"] == .bool(true) && patched.string("subject") == "Family 2")
            _ = try await waitFor("the subject's group.updated") {
                receiver.requests.first {
                    $0.json?["type"] as? String == "group.updated"
                        && (($0.json?["data"] as? [String: Any])?["changes"] as? [String: Any])?["subject"] as? String == "Family 2"
                }
            }
            let results = try await app.call(
                .post, "\(base)/\(group)/participants/add", json: ["participants": ["+4915100000001", "+4915100000003"]], as: .bearer(tenant.token))
            #expect(items(results["results"]).map { $0["ok"] } == [.bool(false), .bool(true)])
            #expect(items(results["results"]).first?["reason"]?.stringValue == "already a member")
            #expect(try await event(receiver, "group.participants")["action"] as? String == "added")
            let code = try #require(try await app.call(.get, "\(base)/\(group)/invite", as: .bearer(tenant.token)).string("code"))
            let revoked = try await app.call(.post, "\(base)/\(group)/invite/revoke", as: .bearer(tenant.token))
            #expect(revoked.string("code") != code && revoked.string("url")?.hasPrefix("https://chat.whatsapp.com/") == true)
            let stale = try await app.call(
                .post, "\(base)/join", json: ["invite": .string("https://chat.whatsapp.com/\(code)")], as: .bearer(tenant.token))
            #expect(stale.status == .conflict && stale.string("detail") == "the invite link was revoked")
            let other = try await app.call(.post, "\(base)/join", json: ["invite": "sandbox-trial"], as: .bearer(tenant.token))
            let otherID = try #require(other.string("id"), "\(other.text)")
            let listed = try await app.call(.get, base, as: .bearer(tenant.token))
            #expect(Set(items(listed["groups"]).compactMap { $0["id"]?.stringValue }) == [group, otherID])
            #expect(try await app.call(.post, "\(base)/\(otherID)/leave", as: .bearer(tenant.token)).status == .noContent)
            #expect(try await event(receiver, "group.left")["chat_id"] as? String == otherID)
            let gone = try await app.call(.get, "\(base)/\(otherID)", as: .bearer(tenant.token))
            #expect(gone.status == .conflict && gone.string("detail")?.contains("not a member") == true)

            // Unknown groups and bad input.
            #expect(try await app.call(.get, "\(base)/120363000000000001@g.us", as: .bearer(tenant.token)).status == .notFound)
            #expect(try await app.call(.get, "\(base)/not-a-group!", as: .bearer(tenant.token)).status == .notFound)
            let empty = try await app.call(.post, base, json: ["subject": "", "participants": ["+4915100000001"]], as: .bearer(tenant.token))
            #expect(empty.status == .unprocessableContent && empty.string("field") == "subject")
            let badPerson = try await app.call(.post, base, json: ["subject": "x", "participants": ["hello"]], as: .bearer(tenant.token))
            #expect(badPerson.status == .unprocessableContent && badPerson.string("detail")?.contains("participants[0]") == true)
            let nothing = try await app.call(.patch, "\(base)/\(group)", json: [:], as: .bearer(tenant.token))
            #expect(nothing.status == .unprocessableContent)
            let wrongGroup = try await app.call(
                .post, "/v1/sessions/\(session)/sandbox/inbound", json: ["from": "+4915100000001", "text": "x", "group": .string(otherID)],
                as: .bearer(tenant.token))
            #expect(wrongGroup.status == .conflict)

            // Another tenant sees none of it.
            let stranger = try await app.makeTenant("stranger")
            #expect(try await app.call(.get, base, as: .bearer(stranger.token)).status == .notFound)
        }
    }
}
