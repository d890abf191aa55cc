import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Reactions, places, contact cards, polls (with votes), edits and revokes between Wharf and
/// pyaileys, read on its side by its own WAProto decoder (Baileys' protobuf definitions), and the
/// view-once and forwarded flags on what Wharf receives.
@Suite(.serialized) struct WebRichMessageTests {
    let messaging = WebMessagingTests()
    static let bob = ChatID("\(WebMessagingTests.contactPhone)@s.whatsapp.net")

    /// The decrypted Message pyaileys got for `id`, as protobuf JSON, and the stanza's attributes.
    func received(_ id: String, at peer: JSONPeer) async throws -> (message: [String: Any], attrs: [String: Any]) {
        let answer = try await peer.call(["op": "wait", "for": "message", "match": ["id": id]])
        let item = try #require((answer["items"] as? [[String: Any]])?.first)
        return (item["message"] as? [String: Any] ?? [:], item["attrs"] as? [String: Any] ?? [:])
    }

    func send(_ engine: WebEngine, _ id: String, _ content: OutboundMessage.Content, to chat: ChatID = bob) async throws {
        _ = try await engine.send(OutboundMessage(clientMessageID: id, chat: chat, content: content))
    }

    @Test func richMessagesFromWharfReadOnPyaileys() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await messaging.link(server)
        defer { Task { await wharf.engine.shutdown() } }
        let bob = try await messaging.contact(server)
        let hello = try await #require(
            try bob.call(["op": "send_text", "to": "\(WebMessagingTests.phone)@s.whatsapp.net", "text": "hello"])["id"] as? String)
        _ = try await wharf.recorder.wait("Bob's message") { $0.messages.first { $0.id == hello } }

        try await send(wharf.engine, "3EB0REACT0001", .reaction(messageID: hello, emoji: "👍"))
        let reaction = try await received("3EB0REACT0001", at: bob)
        let reactionMessage = try #require(reaction.message["reactionMessage"] as? [String: Any])
        #expect(reactionMessage["text"] as? String == "👍")
        #expect((reactionMessage["key"] as? [String: Any])?["id"] as? String == hello)
        #expect((reactionMessage["key"] as? [String: Any])?["fromMe"] as? Bool != true)
        #expect(reaction.attrs["type"] as? String == "reaction")

        try await send(wharf.engine, "3EB0PLACE0001", .location(Location(latitude: 52.5163, longitude: 13.3777, name: "Brandenburger Tor")))
        let place = try #require(try await received("3EB0PLACE0001", at: bob).message["locationMessage"] as? [String: Any])
        #expect(place["degreesLatitude"] as? Double == 52.5163 && place["degreesLongitude"] as? Double == 13.3777)
        #expect(place["name"] as? String == "Brandenburger Tor")

        try await send(wharf.engine, "3EB0CARD00001", .contacts([ContactCard(name: "Ana; Lima", phone: "5511912345678")]))
        let card = try #require(try await received("3EB0CARD00001", at: bob).message["contactMessage"] as? [String: Any])
        #expect(card["displayName"] as? String == "Ana; Lima")
        #expect((card["vcard"] as? String)?.contains("FN:Ana\\; Lima\nTEL;type=CELL;type=VOICE;waid=5511912345678:+5511912345678") == true)
        try await send(
            wharf.engine, "3EB0CARDS0001",
            .contacts([ContactCard(name: "A", phone: "4915100000001"), ContactCard(name: "B", phone: "4915100000002")]))
        let cards = try #require(try await received("3EB0CARDS0001", at: bob).message["contactsArrayMessage"] as? [String: Any])
        #expect((cards["contacts"] as? [[String: Any]])?.compactMap { $0["displayName"] as? String } == ["A", "B"])

        // A poll, and Bob's vote (encrypted by the peer with `cryptography`) named on Wharf's side.
        try await send(wharf.engine, "3EB0POLL00001", .poll(Poll(name: "Lunch?", options: ["Pizza", "Sushi", "Salad"], selectableCount: 2)))
        let poll = try await received("3EB0POLL00001", at: bob)
        let creation = try #require(poll.message["pollCreationMessage"] as? [String: Any])
        #expect(creation["name"] as? String == "Lunch?")
        #expect((creation["options"] as? [[String: Any]])?.compactMap { $0["optionName"] as? String } == ["Pizza", "Sushi", "Salad"])
        #expect(creation["selectableOptionsCount"] as? Int == 2)
        #expect(((poll.message["messageContextInfo"] as? [String: Any])?["messageSecret"] as? String).map { Data(base64Encoded: $0)?.count } == 32)
        #expect(poll.attrs["type"] as? String == "poll")
        try await bob.call([
            "op": "vote", "to": "\(WebMessagingTests.phone)@s.whatsapp.net", "pollId": "3EB0POLL00001", "options": ["Sushi", "Pizza"],
        ])
        let vote = try await wharf.recorder.wait("the vote") { recorder in
            recorder.inbound.lazy.compactMap { if case .pollVote(let vote) = $0 { vote } else { nil } }.first
        }
        #expect(vote.pollID == "3EB0POLL00001" && vote.options == ["Pizza", "Sushi"] && vote.origin.from == WebMessagingTests.contactPhone)

        // Edit and revoke of our own message.
        try await send(wharf.engine, "3EB0TEXT00001", .text("see you at 5"))
        _ = try await received("3EB0TEXT00001", at: bob)
        try await send(wharf.engine, "3EB0EDIT00001", .edit(messageID: "3EB0TEXT00001", text: "see you at 6"))
        let edit = try await received("3EB0EDIT00001", at: bob)
        let edited = try #require(edit.message["protocolMessage"] as? [String: Any])
        #expect(edited["type"] as? String == "MESSAGE_EDIT")
        #expect((edited["editedMessage"] as? [String: Any])?["conversation"] as? String == "see you at 6")
        #expect((edited["key"] as? [String: Any])?["id"] as? String == "3EB0TEXT00001")
        #expect((edited["key"] as? [String: Any])?["fromMe"] as? Bool == true)
        #expect(edit.attrs["edit"] as? String == "1")
        try await send(wharf.engine, "3EB0REVOKE001", .revoke(messageID: "3EB0TEXT00001"))
        let revoke = try await received("3EB0REVOKE001", at: bob)
        let revoked = try #require(revoke.message["protocolMessage"] as? [String: Any])
        #expect(revoked["type"] as? String == nil || revoked["type"] as? String == "REVOKE")
        #expect((revoked["key"] as? [String: Any])?["id"] as? String == "3EB0TEXT00001")
        #expect(revoke.attrs["edit"] as? String == "7")
    }

    @Test func richMessagesFromPyaileysBecomeEvents() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await messaging.link(server)
        defer { Task { await wharf.engine.shutdown() } }
        let bob = try await messaging.contact(server)
        let me = "\(WebMessagingTests.phone)@s.whatsapp.net"
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0MINE00001", chat: Self.bob, content: .text("order 42 shipped")))
        _ = try await received("3EB0MINE00001", at: bob)

        func sendMessage(_ message: [String: Any], type: String = "text") async throws -> String {
            try #require(try await bob.call(["op": "send_message", "to": me, "message": message, "type": type])["id"] as? String)
        }
        let reactionID = try await sendMessage(
            ["reactionMessage": ["key": ["remoteJid": me, "fromMe": false, "id": "3EB0MINE00001"], "text": "❤️"]], type: "reaction")
        let reaction = try await wharf.recorder.wait("the reaction") { recorder in
            recorder.inbound.lazy.compactMap { if case .reaction(let r) = $0, r.reactionID == reactionID { r } else { nil } }.first
        }
        #expect(reaction.id == "3EB0MINE00001" && reaction.emoji == "❤️" && reaction.origin.from == WebMessagingTests.contactPhone)
        let removedID = try await sendMessage(["reactionMessage": ["key": ["remoteJid": me, "id": "3EB0MINE00001"], "text": ""]], type: "reaction")
        let removed = try await wharf.recorder.wait("the removal") { recorder in
            recorder.inbound.lazy.compactMap { if case .reaction(let r) = $0, r.reactionID == removedID { r } else { nil } }.first
        }
        #expect(removed.emoji.isEmpty)

        let placeID = try await sendMessage([
            "locationMessage": ["degreesLatitude": -23.5505, "degreesLongitude": -46.6333, "name": "Sé", "address": "Praça da Sé"]
        ])
        let place = try await wharf.recorder.wait("the place") { $0.messages.first { $0.id == placeID } }
        #expect(place.kind == "location" && place.location == Location(latitude: -23.5505, longitude: -46.6333, name: "Sé", address: "Praça da Sé"))

        let cardID = try await sendMessage(["contactMessage": ["displayName": "Ana", "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Ana\nEND:VCARD"]])
        let card = try await wharf.recorder.wait("the card") { $0.messages.first { $0.id == cardID } }
        #expect(card.kind == "contact" && card.contacts == [ContactCard(name: "Ana", vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Ana\nEND:VCARD")])

        let forwardedID = try await sendMessage(["extendedTextMessage": ["text": "fwd", "contextInfo": ["isForwarded": true, "forwardingScore": 1]]])
        #expect(try await wharf.recorder.wait("the forward") { $0.messages.first { $0.id == forwardedID } }.isForwarded == true)

        let pollID = try await sendMessage(
            [
                "pollCreationMessage": ["name": "Color?", "options": [["optionName": "Red"], ["optionName": "Blue"]], "selectableOptionsCount": 1],
                "messageContextInfo": ["messageSecret": Data((0..<32).map { UInt8($0) }).base64EncodedString()],
            ], type: "poll")
        let poll = try await wharf.recorder.wait("the poll") { $0.messages.first { $0.id == pollID } }
        #expect(poll.kind == "poll" && poll.poll == Poll(name: "Color?", options: ["Red", "Blue"], selectableCount: 1))

        // A vote on Bob's own poll (from his other device's point of view, Wharf is the voter):
        // Wharf decrypts votes of anyone on polls it knows, so a vote by Bob on it is named too.
        let secret = [UInt8]((0..<32).map { UInt8($0) })
        let record = PollRecord(secret: Data(secret), options: ["Red", "Blue"], creator: "\(WebMessagingTests.contactPhone)@s.whatsapp.net")
        #expect(Messenger.decryptVote(WAPollEncValue(), pollID: pollID, poll: record, voter: JID(me)!) == nil)
    }
}
