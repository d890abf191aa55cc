import Foundation
import Outbox
import WharfCore
import WhatsAppProtocol

/// The JSON every webhook receives (DESIGN §3): a top-level `type` for n8n's Switch node, who it
/// concerns, flat engine-independent `data`, and the tenant's workflow settings. Never a secret.
struct EventEnvelope: Encodable {
    struct Tenant: Encodable {
        var id: String
        var name: String
    }

    struct Session: Encodable {
        var id: String
        var name: String
        var engine: String
    }

    var id: String
    /// One of ``EventType``'s values.
    var type: String
    var timestamp: Date
    var tenant: Tenant
    var session: Session?
    var data: JSONValue
    var settings: JSONValue

    /// Encodes the envelope into the exact bytes that will be signed and sent.
    func encoded() throws -> Data { try JSONEncoder.wharf.encode(self) }

    /// The type and `data` of a session event.
    static func describe(_ kind: SessionEvent.Kind) -> (type: String, data: JSONValue) {
        switch kind {
        case .message(let message):
            return (EventType.messageReceived.rawValue, messageData(message))
        case .status(let state, let detail):
            return (EventType.sessionStatus.rawValue, ["status": .string(state.rawValue), "detail": detail.map(JSONValue.string) ?? .null])
        case .qr(let code):
            return (EventType.sessionQR.rawValue, ["qr": .string(code)])
        case .pairingCode(let code):
            return (EventType.sessionStatus.rawValue, ["status": .string(SessionState.pairingCode.rawValue), "pairing_code": .string(code)])
        case .receipt(let receipt):
            return (
                EventType.messageAck.rawValue,
                [
                    "id": .string(receipt.messageID), "chat_id": .string(receipt.chat.rawValue),
                    "ack": .string(receipt.level.rawValue), "timestamp": .number(receipt.timestamp.timeIntervalSince1970.rounded()),
                ]
            )
        case .messageSent(let job, let messageID):
            return (
                EventType.messageSent.rawValue,
                [
                    "id": .string(messageID), "job_id": .string(job.id), "chat_id": .string(job.chatId),
                    "type": .string(job.kind.rawValue), "text": job.text.map(JSONValue.string) ?? .null,
                    "reply_to": job.replyTo.map(JSONValue.string) ?? .null,
                    "timestamp": .number((job.sentAt ?? job.updatedAt).timeIntervalSince1970.rounded()),
                ]
            )
        case .messageFailed(let job, let reason):
            return (
                EventType.messageFailed.rawValue,
                [
                    "id": job.waMessageId.map(JSONValue.string) ?? .null, "job_id": .string(job.id), "chat_id": .string(job.chatId),
                    "type": .string(job.kind.rawValue), "reason": .string(reason), "code": .null,
                ]
            )
        case .deliveryFailed(let messageID, let chat, let reason, let code, let job):
            return (
                EventType.messageFailed.rawValue,
                [
                    "id": .string(messageID), "job_id": job.map { JSONValue.string($0.id) } ?? .null, "chat_id": .string(chat.rawValue),
                    "type": job.map { JSONValue.string($0.kind.rawValue) } ?? .null, "reason": .string(reason),
                    "code": code.map { JSONValue.number(Double($0)) } ?? .null,
                ]
            )
        case .mediaFailed(let media, let reason):
            return (
                EventType.mediaFailed.rawValue,
                [
                    "media_id": .string(media.id), "message_id": .string(media.messageId), "chat_id": .string(media.chatId),
                    "kind": .string(media.kind), "reason": .string(reason),
                ]
            )
        case .alert(let alert, let raised):
            return (
                EventType.sessionAlert.rawValue,
                [
                    "alert": .string(alert.kind.rawValue), "state": .string(raised ? "raised" : "cleared"),
                    "message": .string(alert.message), "waiting": .number(Double(alert.waiting)),
                    "since": timestamp(alert.since), "endpoint_id": alert.key.endpointID.map(JSONValue.string) ?? .null,
                    "url": alert.endpointURL.map(JSONValue.string) ?? .null,
                ]
            )
        case .undecryptable(let message):
            return (
                EventType.messageUndecryptable.rawValue,
                originData(
                    message.origin,
                    merging: [
                        "id": .string(message.id), "reason": .string(message.reason), "timestamp": timestamp(message.timestamp),
                    ])
            )
        case .identityChanged(let change):
            return (
                EventType.sessionIdentityChanged.rawValue,
                originData(change.origin, merging: ["device": .string(change.device), "timestamp": timestamp(change.timestamp)])
            )
        case .edited(let edit):
            return (
                EventType.messageEdited.rawValue,
                originData(
                    edit.origin,
                    merging: [
                        "id": .string(edit.id), "text": edit.text.map(JSONValue.string) ?? .null, "timestamp": timestamp(edit.timestamp),
                    ])
            )
        case .revoked(let revocation):
            return (
                EventType.messageRevoked.rawValue,
                originData(revocation.origin, merging: ["id": .string(revocation.id), "timestamp": timestamp(revocation.timestamp)])
            )
        case .group(let update):
            return (groupType(update.kind).rawValue, groupData(update))
        case .reaction(let reaction):
            return (
                EventType.messageReaction.rawValue,
                originData(
                    reaction.origin,
                    merging: [
                        "id": .string(reaction.id), "reaction_id": .string(reaction.reactionID),
                        "emoji": reaction.emoji.isEmpty ? .null : .string(reaction.emoji), "removed": .bool(reaction.emoji.isEmpty),
                        "timestamp": timestamp(reaction.timestamp),
                    ])
            )
        case .call(let call):
            return (
                (call.kind == .received ? EventType.callReceived : EventType.callEnded).rawValue,
                [
                    "call_id": .string(call.callID), "from": .string(call.from), "from_lid": call.fromLID.map(JSONValue.string) ?? .null,
                    "video": .bool(call.isVideo), "is_group": .bool(call.isGroup), "group_id": call.group.map { .string($0.rawValue) } ?? .null,
                    "reason": call.reason.map(JSONValue.string) ?? .null, "timestamp": timestamp(call.timestamp),
                ]
            )
        case .pollVote(let vote):
            return (
                EventType.pollVote.rawValue,
                originData(
                    vote.origin,
                    merging: [
                        "poll_id": .string(vote.pollID), "vote_id": .string(vote.voteID), "options": .array(vote.options.map(JSONValue.string)),
                        "timestamp": timestamp(vote.timestamp),
                    ])
            )
        case .presence(let presence):
            return (
                EventType.presenceUpdate.rawValue,
                [
                    "chat_id": .string(presence.chat.rawValue), "from": .string(presence.from),
                    "presence": .string(presence.presence), "timestamp": .number(presence.timestamp.timeIntervalSince1970.rounded()),
                ]
            )
        }
    }

    static func messageData(_ message: InboundMessage) -> JSONValue {
        var media: JSONValue = .null
        if let info = message.media {
            func number<T: BinaryInteger>(_ value: T?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
            media = [
                "mime_type": .string(info.mimeType), "url": info.url.map(JSONValue.string) ?? .null,
                "caption": info.caption.map(JSONValue.string) ?? .null, "filename": info.fileName.map(JSONValue.string) ?? .null,
                "id": info.id.map(JSONValue.string) ?? .null, "kind": info.kind.map(JSONValue.string) ?? .null, "size": number(info.size),
                "sha256": info.sha256.map(JSONValue.string) ?? .null, "width": number(info.width), "height": number(info.height),
                "seconds": number(info.seconds),
            ]
        }
        return [
            "id": .string(message.id),
            "chat_id": .string(message.chat.rawValue),
            "from": .string(message.from),
            "from_lid": message.fromLID.map(JSONValue.string) ?? .null,
            "from_name": message.fromName.map(JSONValue.string) ?? .null,
            "from_me": .bool(message.isFromMe),
            "is_group": .bool(message.chat.isGroup),
            "participant": message.chat.isGroup ? .string(participantJID(from: message.from, lid: message.fromLID)) : .null,
            "type": .string(message.kind),
            "text": message.text.map(JSONValue.string) ?? .null,
            "media": media,
            "reply_to": message.replyTo.map(JSONValue.string) ?? .null,
            "mentions": .array(message.mentions.map(JSONValue.string)),
            "timestamp": .number(message.timestamp.timeIntervalSince1970.rounded()),
            "location": message.location.map(locationData) ?? .null,
            "contacts": message.contacts.map { .array($0.map { ["name": .string($0.name), "vcard": .string($0.vcard)] }) } ?? .null,
            "poll": message.poll.map { poll in
                [
                    "name": .string(poll.name), "options": .array(poll.options.map(JSONValue.string)),
                    "selectable_count": .number(Double(poll.selectableCount)),
                ]
            } ?? .null,
            "view_once": .bool(message.isViewOnce ?? false),
            "forwarded": .bool(message.isForwarded ?? false),
        ]
    }

    static func locationData(_ place: Location) -> JSONValue {
        [
            "latitude": .number(place.latitude), "longitude": .number(place.longitude), "name": place.name.map(JSONValue.string) ?? .null,
            "address": place.address.map(JSONValue.string) ?? .null,
        ]
    }

    /// The sender of a group message as a JID: by phone number when one is known, else by LID.
    static func participantJID(from: String, lid: String?) -> String {
        if let lid, lid.hasPrefix("\(from)@") { return lid }
        return "\(from)@s.whatsapp.net"
    }

    static func groupType(_ kind: GroupUpdate.Kind) -> EventType {
        switch kind {
        case .joined: .groupJoined
        case .left: .groupLeft
        case .participants: .groupParticipants
        case .updated: .groupUpdated
        }
    }

    static func memberData(_ member: GroupMember) -> JSONValue {
        ["phone": .string(member.phone), "lid": member.lid.map { .string("\($0)@lid") } ?? .null, "role": .string(member.role.rawValue)]
    }

    /// A group's metadata as the API and events show it.
    static func groupInfoData(_ info: GroupInfo) -> JSONValue {
        func date(_ value: Date?) -> JSONValue { value.map { .number($0.timeIntervalSince1970.rounded()) } ?? .null }
        return [
            "id": .string(info.id.rawValue), "subject": .string(info.subject), "subject_owner": info.subjectOwner.map(JSONValue.string) ?? .null,
            "subject_time": date(info.subjectTime), "owner": info.creator.map(JSONValue.string) ?? .null, "created_at": date(info.creation),
            "description": info.description.map(JSONValue.string) ?? .null, "announce": .bool(info.isAnnounce), "locked": .bool(info.isLocked),
            "ephemeral_seconds": info.ephemeralSeconds.map { .number(Double($0)) } ?? .null, "addressing_mode": .string(info.addressingMode),
            "participants": .array(info.participants.map(memberData)),
        ]
    }

    private static func groupData(_ update: GroupUpdate) -> JSONValue {
        var data: [String: JSONValue] = [
            "chat_id": .string(update.group.rawValue), "is_group": true, "by": update.actor.map(JSONValue.string) ?? .null,
            "by_lid": update.actorLID.map { .string("\($0)@lid") } ?? .null, "action": update.action.map(JSONValue.string) ?? .null,
            "participants": .array(update.participants.map(memberData)), "timestamp": timestamp(update.timestamp),
        ]
        if update.kind == .updated {
            var changes: [String: JSONValue] = [:]
            for (name, value) in update.changes {
                switch name {
                case "announce", "locked": changes[name] = .bool(value == "true")
                case "ephemeral_seconds": changes[name] = .number(Double(value) ?? 0)
                case "description": changes[name] = value.isEmpty ? .null : .string(value)
                default: changes[name] = .string(value)
                }
            }
            data["changes"] = .object(changes)
        }
        if let info = update.info { data["group"] = groupInfoData(info) }
        return .object(data)
    }

    /// Who a message came from, as `message.received` says it, with `members` added.
    private static func originData(_ origin: MessageOrigin, merging members: [String: JSONValue]) -> JSONValue {
        var data: [String: JSONValue] = [
            "chat_id": .string(origin.chat.rawValue), "from": .string(origin.from),
            "from_lid": origin.fromLID.map(JSONValue.string) ?? .null, "from_me": .bool(origin.isFromMe),
            "is_group": .bool(origin.chat.isGroup),
        ]
        data.merge(members) { $1 }
        return .object(data)
    }

    private static func timestamp(_ date: Date) -> JSONValue { .number(date.timeIntervalSince1970.rounded()) }
}
