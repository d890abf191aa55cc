import Crypto
import Foundation
import SwiftProtobuf

/// How a message goes on the wire besides its ciphertext: the stanza's `type` and `edit`, the
/// `<enc>`'s `mediatype` and `decrypt-fail`, and a `<meta>` child for polls.
struct StanzaKind: Sendable, Equatable {
    var type: String
    var mediaType: String?
    /// `1` an edit, `7` a revoke (or a reaction taken back).
    var edit: String?
    /// Reactions, edits and votes hide the "waiting for this message" placeholder when they do
    /// not decrypt; revokes never carry it (the server drops them).
    var hidesFailure = false
    var pollType: String?

    var meta: BinaryNode? { pollType.map { BinaryNode("meta", ["polltype": .string($0)]) } }

    func attributes(id: String, to chat: JID) -> [BinaryNode.Attribute] {
        var attributes: [BinaryNode.Attribute] = [.init("id", .string(id)), .init("to", .jid(chat)), .init("type", .string(type))]
        if let edit { attributes.append(.init("edit", .string(edit))) }
        return attributes
    }
}

/// A poll we sent or received, kept so that its votes can be decrypted and named.
struct PollRecord: Codable, Sendable, Equatable {
    var secret: Data
    var options: [String]
    /// Who made the poll, non-AD, in the namespace voters address it in.
    var creator: String
}

extension Messenger {
    static func pollKey(_ id: String) -> String { "web.poll/\(id)" }

    static func stanzaKind(of message: WAMessage) -> StanzaKind {
        var inner = message
        if inner.hasDeviceSentMessage { inner = inner.deviceSentMessage.message }
        if inner.hasImageMessage { return StanzaKind(type: "media", mediaType: WAMediaType.image.encAttribute) }
        if inner.hasVideoMessage { return StanzaKind(type: "media", mediaType: inner.videoMessage.gifPlayback ? "gif" : "video") }
        if inner.hasAudioMessage { return StanzaKind(type: "media", mediaType: inner.audioMessage.ptt ? "ptt" : "audio") }
        if inner.hasDocumentMessage { return StanzaKind(type: "media", mediaType: "document") }
        if inner.hasStickerMessage { return StanzaKind(type: "media", mediaType: "sticker") }
        if inner.hasLocationMessage { return StanzaKind(type: "media", mediaType: "location") }
        if inner.hasContactMessage { return StanzaKind(type: "media", mediaType: "vcard") }
        if inner.hasContactsArrayMessage { return StanzaKind(type: "media", mediaType: "contact_array") }
        if inner.hasReactionMessage {
            return StanzaKind(type: "reaction", edit: inner.reactionMessage.text.isEmpty ? "7" : nil, hidesFailure: true)
        }
        if inner.hasPollCreationMessage { return StanzaKind(type: "poll", pollType: "creation") }
        if inner.hasPollUpdateMessage { return StanzaKind(type: "poll", hidesFailure: true, pollType: "vote") }
        if inner.hasProtocolMessage {
            switch inner.protocolMessage.type {
            case .messageEdit: return StanzaKind(type: "text", edit: "1", hidesFailure: true)
            case .revoke: return StanzaKind(type: "text", edit: "7")
            default: break
            }
        }
        return StanzaKind(type: "text")
    }

    // MARK: Building

    /// The Message for a reaction, a place, contact cards, a poll, an edit or a revoke.
    func makeRichMessage(_ content: OutboundMessage.Content, id: String, chat: JID, replyTo: String?) async throws -> WAMessage {
        var message = WAMessage()
        let context = replyTo.map { quoteContext(replyTo: $0, chat: chat) }
        switch content {
        case .reaction(let target, let emoji):
            var reaction = WAReactionMessage()
            reaction.key = try await key(of: target, in: chat)
            reaction.text = emoji
            reaction.senderTimestampMs = Int64(clock.now.timeIntervalSince1970 * 1000)
            message.reactionMessage = reaction
        case .location(let place):
            var location = WALocationMessage()
            location.degreesLatitude = place.latitude
            location.degreesLongitude = place.longitude
            if let name = place.name { location.name = name }
            if let address = place.address { location.address = address }
            if let context { location.contextInfo = context }
            message.locationMessage = location
        case .contacts(let cards):
            func card(_ contact: ContactCard) -> WAContactMessage {
                var card = WAContactMessage()
                card.displayName = contact.name
                card.vcard = contact.vcard
                return card
            }
            if cards.count == 1 {
                message.contactMessage = card(cards[0])
                if let context { message.contactMessage.contextInfo = context }
            } else {
                var array = WAContactsArrayMessage()
                array.displayName = "\(cards.count) contacts"
                array.contacts = cards.map(card)
                if let context { array.contextInfo = context }
                message.contactsArrayMessage = array
            }
        case .poll(let poll):
            var creation = WAPollCreationMessage()
            creation.name = poll.name
            creation.options = poll.options.map { name in
                var option = WAPollCreationMessage.Option()
                option.optionName = name
                return option
            }
            creation.selectableOptionsCount = UInt32(poll.selectableCount)
            message.pollCreationMessage = creation
            let secret = newMessageSecret()
            message.messageContextInfo.messageSecret = secret
            var transaction = SignalTransaction(store: store)
            let creator = chat.server == JID.hiddenUserServer ? (account.lid ?? account.jid).account : account.jid.account
            try transaction.encode(PollRecord(secret: secret, options: poll.options, creator: creator.description), Self.pollKey(id))
            try await store.apply(transaction.changes)
            return message
        case .edit(let target, let text):
            var edit = WAProtocolMessage()
            edit.key = ownKey(target, in: chat)
            edit.type = .messageEdit
            edit.editedMessage.conversation = text
            edit.timestampMs = Int64(clock.now.timeIntervalSince1970 * 1000)
            message.protocolMessage = edit
            recentTexts.remember(text, for: target)
            return message
        case .revoke(let target):
            var revoke = WAProtocolMessage()
            revoke.key = ownKey(target, in: chat)
            revoke.type = .revoke
            message.protocolMessage = revoke
            return message
        case .text, .media, .mediaLink:
            throw EngineError.invalidRequest("not a rich message")
        }
        message.messageContextInfo.messageSecret = newMessageSecret()
        return message
    }

    /// The key of a message of ours.
    private func ownKey(_ id: String, in chat: JID) -> WAMessageKey {
        var key = WAMessageKey()
        key.remoteJid = chat.account.description
        key.fromMe = true
        key.id = id
        return key
    }

    /// The key of a message in a chat: ours when we sent it (it is in the sent log), else the
    /// other side's, with its author in a group.
    private func key(of id: String, in chat: JID) async throws -> WAMessageKey {
        var key = WAMessageKey()
        key.remoteJid = chat.account.description
        key.id = id
        let ours = try await SignalTransaction(store: store).read(SignalTransaction.Key.sent(id)) != nil
        key.fromMe = ours
        if !ours, chat.server == JID.groupServer, let author = groupAuthors[id].flatMap(JID.init) {
            key.participant = author.account.description
        }
        return key
    }

    // MARK: Reading

    /// What a reaction, a place, contact cards, a poll or a vote means; `nil` for other messages.
    func interpretRich(
        _ message: WAMessage, id: String, origin: MessageOrigin, sender: JID, pushName: String?, at timestamp: Date,
        in transaction: inout SignalTransaction
    ) async throws -> [InboundEvent]? {
        func inbound(kind: String, text: String? = nil, context: WAContextInfo?) -> InboundMessage {
            var received = InboundMessage(
                id: id, chat: origin.chat, from: origin.from, fromLID: origin.fromLID, fromName: origin.isFromMe ? nil : pushName,
                isFromMe: origin.isFromMe, kind: kind, text: text, replyTo: context.flatMap { $0.stanzaID.isEmpty ? nil : $0.stanzaID },
                mentions: context?.mentionedJid ?? [], timestamp: timestamp)
            if let context, context.isForwarded { received.isForwarded = true }
            return received
        }
        if message.hasReactionMessage {
            let reaction = message.reactionMessage
            return [
                .reaction(MessageReaction(id: reaction.key.id, reactionID: id, origin: origin, emoji: reaction.text, timestamp: timestamp))
            ]
        }
        if message.hasLocationMessage {
            let place = message.locationMessage
            var received = inbound(kind: "location", text: place.name.isEmpty ? nil : place.name, context: place.contextInfo)
            received.location = Location(
                latitude: place.degreesLatitude, longitude: place.degreesLongitude, name: place.name.isEmpty ? nil : place.name,
                address: place.address.isEmpty ? nil : place.address)
            return [.message(received)]
        }
        if message.hasContactMessage || message.hasContactsArrayMessage {
            let cards = message.hasContactMessage ? [message.contactMessage] : message.contactsArrayMessage.contacts
            let context = message.hasContactMessage ? message.contactMessage.contextInfo : message.contactsArrayMessage.contextInfo
            var received = inbound(kind: "contact", context: context)
            received.contacts = cards.map { ContactCard(name: $0.displayName, vcard: $0.vcard) }
            return [.message(received)]
        }
        let creation: WAPollCreationMessage? =
            message.hasPollCreationMessage
            ? message.pollCreationMessage
            : message.hasPollCreationMessageV3
                ? message.pollCreationMessageV3 : message.hasPollCreationMessageV2 ? message.pollCreationMessageV2 : nil
        if let creation {
            var received = inbound(kind: "poll", text: creation.name, context: creation.hasContextInfo ? creation.contextInfo : nil)
            let options = creation.options.map(\.optionName)
            received.poll = Poll(name: creation.name, options: options, selectableCount: Int(creation.selectableOptionsCount))
            if !message.messageContextInfo.messageSecret.isEmpty {
                let creator = JID(user: sender.user, server: sender.server).description
                try transaction.encode(
                    PollRecord(secret: message.messageContextInfo.messageSecret, options: options, creator: creator), Self.pollKey(id))
            }
            return [.message(received)]
        }
        if message.hasPollUpdateMessage {
            let update = message.pollUpdateMessage
            let pollID = update.pollCreationMessageKey.id
            guard let poll = try await transaction.decode(PollRecord.self, Self.pollKey(pollID)) else {
                logger.debug("a vote for a poll not known here", metadata: ["poll": "\(pollID)"])
                return []
            }
            let voter = JID(user: sender.user, server: sender.server)
            guard let hashes = Self.decryptVote(update.vote, pollID: pollID, poll: poll, voter: voter) else {
                logger.debug("a poll vote did not decrypt", metadata: ["poll": "\(pollID)"])
                return []
            }
            let chosen = poll.options.filter { hashes.contains(Data(SHA256.hash(data: Array($0.utf8)))) }
            return [.pollVote(PollVote(pollID: pollID, voteID: id, origin: origin, options: chosen, timestamp: timestamp))]
        }
        return nil
    }

    /// A vote's chosen option hashes: AES-256-GCM under HKDF(secret, info = poll id ‖ creator ‖
    /// voter ‖ "Poll Vote"), with poll id ‖ 0 ‖ voter as additional data.
    static func decryptVote(_ vote: WAPollEncValue, pollID: String, poll: PollRecord, voter: JID) -> [Data]? {
        let info = Array((pollID + poll.creator + voter.description + "Poll Vote").utf8)
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: poll.secret), salt: [UInt8](), info: info, outputByteCount: 32)
        let payload = Array(vote.encPayload)
        guard payload.count > 16, let nonce = try? AES.GCM.Nonce(data: vote.encIv),
            let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: payload.dropLast(16), tag: payload.suffix(16)),
            let plaintext = try? AES.GCM.open(box, using: key, authenticating: Array((pollID + "\u{0}" + voter.description).utf8)),
            let decoded = try? WAPollVoteMessage(serializedBytes: Array(plaintext))
        else { return nil }
        return decoded.selectedOptions
    }
}
