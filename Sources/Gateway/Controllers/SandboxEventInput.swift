import Foundation
import Hummingbird
import WharfCore
import WhatsAppProtocol

/// What `POST /v1/sessions/:id/sandbox/event` takes: one thing a simulated contact does, besides
/// writing text (``SessionController/InboundInput``), so that every event type can be tried.
struct SandboxEventInput: Decodable {
    struct Target: Decodable {
        var messageId: String
        var emoji: String?
        var text: String?
    }

    struct Vote: Decodable {
        var pollId: String
        var options: [String]
    }

    struct Card: Decodable {
        var name: String
        var phone: String
    }

    struct PollInput: Decodable {
        var name: String
        var options: [String]
        var selectableCount: Int?
    }

    var from: String
    var fromName: String?
    var group: String?
    var reaction: Target?
    var location: Location?
    var contact: Card?
    var poll: PollInput?
    var pollVote: Vote?
    var edit: Target?
    var revoke: Target?

    /// The event, checked; exactly one kind must be given.
    func event(at now: Date) throws -> InboundEvent {
        let digits = from.filter(\.isNumber)
        guard (5...20).contains(digits.count), from.allSatisfy({ $0.isNumber || "+ -()".contains($0) }) else {
            throw Problem.unprocessable("field 'from' must be a phone number such as +4915112345678", field: "from")
        }
        var chat = ChatID("\(digits)@s.whatsapp.net")
        if let group {
            guard let id = ChatAddress.normalize(group.contains("@") ? group : "\(group)@g.us"), id.isGroup else {
                throw Problem.unprocessable("field 'group' must be a group id such as 120363041234567890@g.us", field: "group")
            }
            chat = id
        }
        let given = [reaction != nil, location != nil, contact != nil, poll != nil, pollVote != nil, edit != nil, revoke != nil]
        guard given.filter({ $0 }).count == 1 else {
            throw Problem.unprocessable("give exactly one of 'reaction', 'location', 'contact', 'poll', 'pollVote', 'edit', 'revoke'")
        }
        let origin = MessageOrigin(chat: chat, from: digits)
        let id = "SBX" + Identifier.token(byteCount: 9).uppercased().filter { $0.isLetter || $0.isNumber }
        func message(kind: String, text: String? = nil) -> InboundMessage {
            InboundMessage(id: id, chat: chat, from: digits, fromName: fromName, kind: kind, text: text, timestamp: now)
        }
        if let reaction {
            return .reaction(MessageReaction(id: reaction.messageId, reactionID: id, origin: origin, emoji: reaction.emoji ?? "", timestamp: now))
        }
        if let location {
            guard (-90...90).contains(location.latitude), (-180...180).contains(location.longitude) else {
                throw Problem.unprocessable("field 'location': latitude -90 to 90, longitude -180 to 180", field: "location")
            }
            var received = message(kind: "location", text: location.name)
            received.location = location
            return .message(received)
        }
        if let contact {
            guard let person = ChatAddress.normalize(contact.phone), person.rawValue.hasSuffix("@s.whatsapp.net") else {
                throw Problem.unprocessable("field 'contact.phone' must be a phone number", field: "contact")
            }
            var received = message(kind: "contact")
            received.contacts = [ContactCard(name: contact.name, phone: person.user)]
            return .message(received)
        }
        if let poll {
            guard poll.options.count >= 2 else { throw Problem.unprocessable("field 'poll.options': at least two", field: "poll") }
            var received = message(kind: "poll", text: poll.name)
            received.poll = Poll(name: poll.name, options: poll.options, selectableCount: poll.selectableCount ?? 1)
            return .message(received)
        }
        if let pollVote {
            return .pollVote(PollVote(pollID: pollVote.pollId, voteID: id, origin: origin, options: pollVote.options, timestamp: now))
        }
        if let edit {
            return .edited(MessageEdit(id: edit.messageId, origin: origin, text: edit.text, timestamp: now))
        }
        return .revoked(MessageRevocation(id: revoke?.messageId ?? "", origin: origin, timestamp: now))
    }
}
