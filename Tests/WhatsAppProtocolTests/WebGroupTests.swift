import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Groups on the native engine through the fake server, with pyaileys accounts (their own Signal
/// and sender-key code) as the other members: messages both ways, a new sender key after a
/// removal, administration, invite links and the notifications that become group events.
@Suite(.serialized) struct WebGroupTests {
    static let bobPhone = "4915550002"
    static let carolPhone = "4915550003"

    let messaging = WebMessagingTests()

    func person(_ phone: String) -> ChatID { ChatID("\(phone)@s.whatsapp.net") }

    func groupUpdates(_ recorder: EngineRecorder) async -> [GroupUpdate] {
        await recorder.inbound.compactMap { if case .group(let update) = $0 { update } else { nil } }
    }

    /// Waits until `peer` has decrypted the text of message `id` (pyaileys reports the sender key
    /// alone first, then the text), and returns it.
    func text(of id: String, at peer: JSONPeer, timeout: Int = 10) async throws -> [String: Any]? {
        let answer = try await peer.send(["op": "wait", "for": "message", "match": ["id": id], "count": 1, "timeout": timeout])
        let items = answer["items"] as? [[String: Any]] ?? []
        if let found = items.first(where: { $0["text"] is String }) { return found }
        let more = try await peer.send(["op": "wait", "for": "message", "match": ["id": id], "count": 2, "timeout": timeout])
        return (more["items"] as? [[String: Any]])?.first { $0["text"] is String }
    }

    @Test func messagesBothWaysAndANewSenderKeyAfterARemoval() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await messaging.link(server)
        defer { Task { await wharf.engine.shutdown() } }
        let bob = try await messaging.contact(server, phone: Self.bobPhone, name: "Bob")
        let carol = try await messaging.contact(server, phone: Self.carolPhone, name: "Carol")

        let group = try await wharf.engine.createGroup(subject: "Team", participants: [person(Self.bobPhone), person(Self.carolPhone)])
        #expect(group.id.isGroup)
        #expect(group.subject == "Team")
        #expect(Set(group.participants.map(\.phone)) == [WebMessagingTests.phone, Self.bobPhone, Self.carolPhone])
        #expect(group.participants.first { $0.phone == WebMessagingTests.phone }?.role == .superadmin)
        let created = try await wharf.recorder.wait("the group's creation") { recorder in
            recorder.inbound.lazy.compactMap { if case .group(let update) = $0, update.kind == .joined { update } else { nil } }.first
        }
        #expect(created.group == group.id && created.action == "created" && created.info?.subject == "Team")

        // Bob writes in the group: his sender key arrives pairwise, then the skmsg decrypts.
        let fromBob = try await bob.call(["op": "send_text", "to": group.id.rawValue, "text": "hello from Bob"])
        let bobID = try #require(fromBob["id"] as? String)
        let received = try await wharf.recorder.wait("Bob's group message") { $0.messages.first { $0.id == bobID } }
        #expect(received.text == "hello from Bob")
        #expect(received.chat == group.id)
        #expect(received.from == Self.bobPhone)
        #expect(received.fromName == "Bob")

        // Wharf writes: both members decrypt exactly that text; the first carries our sender key.
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0GROUP0001", chat: group.id, content: .text("hello team")))
        for peer in [bob, carol] {
            let item = try #require(try await text(of: "3EB0GROUP0001", at: peer))
            #expect(item["text"] as? String == "hello team")
            #expect(item["chat"] as? String == group.id.rawValue)
        }
        var state = try await server.control("GET", "/state").json
        let first = try #require((state["groupMessages"] as? [[String: Any]])?.last)
        #expect(
            Set(first["distributedTo"] as? [String] ?? []).isSuperset(of: ["\(Self.bobPhone)@s.whatsapp.net", "\(Self.carolPhone)@s.whatsapp.net"]))
        let firstKey = try SenderKeyMessage([UInt8](hex: first["skmsg"] as? String ?? "") ?? []).keyID

        // A second message is the bare skmsg under the same key, given to nobody again.
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0GROUP0002", chat: group.id, content: .text("again")))
        #expect(try await text(of: "3EB0GROUP0002", at: carol)?["encTypes"] as? [String] == ["skmsg"])
        state = try await server.control("GET", "/state").json
        let second = try #require((state["groupMessages"] as? [[String: Any]])?.last)
        #expect((second["distributedTo"] as? [String])?.isEmpty == true)
        #expect(try SenderKeyMessage([UInt8](hex: second["skmsg"] as? String ?? "") ?? []).keyID == firstKey)

        // Carol writes too, and Wharf reads it.
        let fromCarol = try await carol.call(["op": "send_text", "to": group.id.rawValue, "text": "Carol here"])
        let carolID = try #require(fromCarol["id"] as? String)
        #expect(try await wharf.recorder.wait("Carol's message") { $0.messages.first { $0.id == carolID } }.text == "Carol here")

        // Carol is removed: a participants event, and Wharf's next message is under a new key that
        // only Bob gets; handed to Carol anyway, it does not decrypt.
        let results = try await wharf.engine.changeParticipants(group.id, .remove, [person(Self.carolPhone)])
        #expect(results == [GroupParticipantResult(participant: "\(Self.carolPhone)@s.whatsapp.net")])
        let removal = try await wharf.recorder.wait("the removal") { recorder in
            recorder.inbound.lazy.compactMap { if case .group(let update) = $0, update.kind == .participants { update } else { nil } }.first
        }
        #expect(removal.action == "removed" && removal.participants.map(\.phone) == [Self.carolPhone] && removal.actor == WebMessagingTests.phone)
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0GROUP0003", chat: group.id, content: .text("without Carol")))
        #expect(try await text(of: "3EB0GROUP0003", at: bob)?["text"] as? String == "without Carol")
        state = try await server.control("GET", "/state").json
        let third = try #require((state["groupMessages"] as? [[String: Any]])?.last)
        #expect((third["distributedTo"] as? [String])?.contains("\(Self.carolPhone)@s.whatsapp.net") == false)
        #expect((third["distributedTo"] as? [String])?.contains("\(Self.bobPhone)@s.whatsapp.net") == true)
        let thirdBytes = third["skmsg"] as? String ?? ""
        #expect(try SenderKeyMessage([UInt8](hex: thirdBytes) ?? []).keyID != firstKey)
        let delivered = try await server.control(
            "POST", "/deliver",
            [
                "jid": "\(Self.carolPhone)@s.whatsapp.net",
                "node": [
                    "tag": "message",
                    "attrs": [
                        "from": group.id.rawValue, "participant": wharf.device, "id": "3EB0LEAKED001", "t": "1700000000", "type": "text",
                    ],
                    "content": [["tag": "enc", "attrs": ["v": "2", "type": "skmsg"], "bytes": thirdBytes]],
                ],
            ])
        #expect(delivered.status == 200, "\(delivered.json)")
        let refused = try await carol.call(["op": "wait", "for": "decryptError", "match": ["id": "3EB0LEAKED001"]])
        #expect((refused["items"] as? [[String: Any]])?.count == 1)
        #expect(try await carol.send(["op": "wait", "for": "message", "match": ["id": "3EB0GROUP0003"], "timeout": 1])["ok"] as? Bool == false)
    }

    @Test func administrationInviteLinksAndNotifications() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await messaging.link(server)
        defer { Task { await wharf.engine.shutdown() } }
        let bob = try await messaging.contact(server, phone: Self.bobPhone, name: "Bob")
        _ = bob
        let group = try await wharf.engine.createGroup(subject: "Club", participants: [person(Self.bobPhone)])

        try await wharf.engine.updateGroup(group.id, .subject("Club 2"))
        try await wharf.engine.updateGroup(group.id, .description("Tuesdays"))
        try await wharf.engine.updateGroup(group.id, .announce(true))
        try await wharf.engine.updateGroup(group.id, .locked(true))
        let info = try await wharf.engine.groupInfo(group.id)
        #expect(info.subject == "Club 2" && info.description == "Tuesdays" && info.isAnnounce && info.isLocked)
        try await wharf.engine.updateGroup(group.id, .description(nil))
        #expect(try await wharf.engine.groupInfo(group.id).description == nil)
        // Our own changes come back as group.updated, as every member sees them.
        let changed = try await wharf.recorder.wait("the updates") { recorder -> [String: String]? in
            let merged = recorder.inbound.compactMap { if case .group(let update) = $0, update.kind == .updated { update.changes } else { nil } }
                .reduce(into: [String: String]()) { $0.merge($1) { $1 } }
            return merged["locked"] == "true" && merged["description"] == "" ? merged : nil
        }
        #expect(changed["subject"] == "Club 2" && changed["announce"] == "true")

        // Bob (not an admin) cannot change the subject; promoted, he can, and we hear of it.
        let refused = try await server.control(
            "POST", "/groups/act", ["group": group.id.rawValue, "actor": Self.bobPhone, "action": "subject", "subject": "Bob's"])
        #expect(refused.status == 409)
        #expect(try await wharf.engine.changeParticipants(group.id, .promote, [person(Self.bobPhone)]).allSatisfy(\.succeeded))
        _ = try await server.control(
            "POST", "/groups/act", ["group": group.id.rawValue, "actor": Self.bobPhone, "action": "subject", "subject": "Bob's club"])
        let renamed = try await wharf.recorder.wait("Bob's rename") { recorder in
            recorder.inbound.lazy.compactMap { event -> GroupUpdate? in
                if case .group(let update) = event, update.changes["subject"] == "Bob's club" { update } else { nil }
            }.first
        }
        #expect(renamed.actor == Self.bobPhone)
        _ = try await server.control("POST", "/groups/act", ["group": group.id.rawValue, "actor": Self.bobPhone, "action": "picture"])
        _ = try await wharf.recorder.wait("the picture") { recorder in
            recorder.inbound.lazy.compactMap { if case .group(let u) = $0, u.changes["picture_id"] != nil { u } else { nil } }.first
        }

        // Per-participant results: already a member, not on WhatsApp.
        let results = try await wharf.engine.changeParticipants(group.id, .add, [person(Self.bobPhone), person("4915559999")])
        #expect(results.map(\.error) == [409, 404])
        #expect(results[0].reason == "already a member")

        // Invite codes: get, revoke (the old one is refused), and joining another group by code.
        let code = try await wharf.engine.inviteCode(of: group.id, revoke: false)
        let newCode = try await wharf.engine.inviteCode(of: group.id, revoke: true)
        #expect(code != newCode && !newCode.isEmpty)
        let other = try await server.control("POST", "/groups", ["subject": "Bob's own", "creator": Self.bobPhone, "members": [String]()])
        let otherCode = try #require(other.json["inviteCode"] as? String)
        await #expect(throws: EngineError.rejected("the invite link was revoked")) { _ = try await wharf.engine.joinGroup(inviteCode: code) }
        let joined = try await wharf.engine.joinGroup(inviteCode: otherCode)
        #expect(joined.rawValue == other.json["id"] as? String)
        _ = try await wharf.recorder.wait("joining") { recorder in
            recorder.inbound.lazy.compactMap { if case .group(let u) = $0, u.kind == .joined, u.group == joined { u } else { nil } }.first
        }
        #expect(Set(try await wharf.engine.groups().map(\.id)) == [group.id, joined])

        // Leaving: group.left; the group is no longer listed, and asking for it is refused.
        try await wharf.engine.leaveGroup(joined)
        let left = try await wharf.recorder.wait("leaving") { recorder in
            recorder.inbound.lazy.compactMap { if case .group(let u) = $0, u.kind == .left { u } else { nil } }.first
        }
        #expect(left.group == joined && left.action == "left")
        #expect(try await wharf.engine.groups().map(\.id) == [group.id])
        await #expect(throws: EngineError.rejected("this account is not a member of the group (error 403)")) {
            _ = try await wharf.engine.groupInfo(joined)
        }
    }
}
