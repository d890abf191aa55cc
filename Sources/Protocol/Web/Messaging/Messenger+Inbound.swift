import Foundation
import SwiftProtobuf
import Synchronization

extension Messenger {
    /// How the gateway answered a stanza's events.
    enum Outcome: Sendable {
        case committed
        case failed
    }

    /// Hands events and the state they produced to the gateway and waits until they are stored.
    func commit(_ events: [InboundEvent], changes: CredentialChanges) async -> Outcome {
        guard !isHalted else { return .failed }
        let outcome = OneShot<Outcome>()
        deliver(
            .inbound(events, Acknowledgement(stateChanges: changes, onFailure: { _ in outcome.resolve(.failed) }) { outcome.resolve(.committed) }))
        // A connection that ends meanwhile gives up waiting; WhatsApp delivers the stanza again.
        let result = await withTaskCancellationHandler {
            await outcome.wait()
        } onCancel: {
            outcome.resolve(.failed)
        }
        if result == .failed { isHalted = true }
        return result
    }

    // MARK: Messages

    /// One `<message>`: decrypts every `<enc>` under the lock, commits the events with the new
    /// state, and only then sends the delivery receipt that makes WhatsApp forget it.
    func receive(message node: BinaryNode, on socket: NoiseSocket) async {
        guard !isHalted else { return }
        guard let id = node.string("id"), case .jid(let from)? = node[attribute: "from"] else {
            await send(acknowledgement(of: node, error: "487"), on: socket)
            return
        }
        let isGroup = from.server == JID.groupServer || from.server == "broadcast"
        let participant: JID? = if case .jid(let jid)? = node[attribute: "participant"] { jid } else { nil }
        let sender = (isGroup ? participant : from) ?? from
        let isFromMe = account.isOurs(sender)
        var chat = from.account
        if !isGroup, isFromMe, case .jid(let recipient)? = node[attribute: "recipient"] { chat = recipient.account }
        let timestamp = node.string("t").flatMap(TimeInterval.init).map(Date.init(timeIntervalSince1970:)) ?? clock.now

        await lock.lock()
        defer { lock.unlock() }
        var transaction = SignalTransaction(store: store)
        var events: [InboundEvent] = []
        var failure: (any Error)?
        var sawDuplicate = false
        do {
            try await learnAddresses(of: node, sender: sender, in: &transaction)
            if !isFromMe, let name = node.string("notify"), !name.isEmpty, let phone = try await identities(of: sender, in: transaction).phone,
                try await transaction.read(Self.pushNameKey(phone)) != Data(name.utf8)
            {
                transaction.write(Data(name.utf8), Self.pushNameKey(phone))
            }
            let address = try await address(of: sender, in: transaction)
            let origin = try await origin(chat: chat, sender: sender, isFromMe: isFromMe, in: transaction)
            for enc in node.children where enc.tag == "enc" {
                let type = enc.string("type") ?? ""
                guard type == "pkmsg" || type == "msg" || (type == "skmsg" && isGroup) else { continue }
                let plaintext: [UInt8]
                do {
                    if type == "skmsg" {
                        // The pairwise `<enc>` before it, if any, carried the sender key it needs.
                        plaintext = try await decryptGroupMessage(enc.bytes ?? [], group: chat, sender: address, in: &transaction)
                    } else {
                        plaintext = try await decrypt(
                            type: type, enc.bytes ?? [], from: sender, address: address, origin: origin, at: timestamp, events: &events,
                            in: &transaction)
                    }
                } catch SignalError.duplicateMessage {
                    // Its key was used up, so it was decrypted and stored before: only the receipt is missing.
                    sawDuplicate = true
                    continue
                }
                let padded = enc.string("v") == "3" ? plaintext : try WhatsAppPadding.unpad(plaintext)
                let message = try WAMessage(serializedBytes: padded)
                events += try await interpret(
                    message, id: id, origin: origin, sender: sender, pushName: node.string("notify"), at: timestamp, in: &transaction)
            }
        } catch {
            failure = error
        }

        if let failure {
            await decryptionFailed(
                node, id: id, sender: sender, chat: chat, isFromMe: isFromMe, reason: failure, at: timestamp,
                on: socket)
            return
        }
        retries[retryKey(sender, id)] = nil
        if isGroup, !isFromMe { groupAuthors.remember(sender.description, for: id) }
        if events.isEmpty && transaction.changes.isEmpty {
            if sawDuplicate { logger.debug("a message decrypted before arrived again", metadata: ["id": "\(id)"]) }
        } else {
            guard await commit(events, changes: transaction.changes) == .committed else {
                // Nothing was stored: leave the message unacknowledged and reconnect, so that WhatsApp
                // delivers it again.
                await socket.close()
                return
            }
        }
        await send(deliveryReceipt(for: node, id: id, isFromMe: isFromMe), on: socket)
    }

    /// Decrypts one `<enc>` into the transaction; a new identity of the sender is trusted and
    /// reported (trust on first use, then on every change, as WhatsApp's clients do).
    private func decrypt(
        type: String, _ bytes: [UInt8], from sender: JID, address: SignalAddress, origin: MessageOrigin, at timestamp: Date,
        events: inout [InboundEvent], in transaction: inout SignalTransaction
    ) async throws -> [UInt8] {
        var record = try await transaction.record(address)
        if type == "msg" {
            let plaintext = try SessionCipher.decrypt(try SignalMessage(bytes), record: &record)
            try transaction.setRecord(record, address)
            return plaintext
        }
        let message = try PreKeySignalMessage(bytes)
        let known = try await transaction.identity(address)
        if let known, known != message.identityKey {
            events.append(.identityChanged(IdentityChange(origin: origin, device: sender.description, timestamp: timestamp)))
        }
        let signed = try await signedPreKey(message.signedPreKeyID, in: transaction)
        let oneTime = try await message.preKeyID.asyncMap { try await transaction.preKey($0) } ?? nil
        let keys = SessionCipher.LocalKeys(
            identity: account.identity, signedPreKey: { $0 == message.signedPreKeyID ? signed : nil },
            oneTimePreKey: { $0 == message.preKeyID ? oneTime : nil })
        let (plaintext, used) = try SessionCipher.decrypt(message, record: &record, keys: keys)
        try transaction.setRecord(record, address)
        transaction.setIdentity(message.identityKey, address)
        if let used { transaction.removePreKey(used) }
        return plaintext
    }

    /// Decrypts a `skmsg` with the sender's chain in the group, which its distribution message
    /// (received earlier, or in this stanza) set up.
    private func decryptGroupMessage(
        _ bytes: [UInt8], group: JID, sender: SignalAddress, in transaction: inout SignalTransaction
    ) async throws -> [UInt8] {
        var record = try await transaction.senderKeys(group: group.description, sender: sender)
        let plaintext = try GroupCipher.decrypt(try SenderKeyMessage(bytes), record: &record)
        try transaction.setSenderKeys(record, group: group.description, sender: sender)
        return plaintext
    }

    /// The signed prekey with `id`: the current one, or one of the few kept after a rotation.
    func signedPreKey(_ id: UInt32, in transaction: SignalTransaction) async throws -> KeyPair? {
        if id == account.signedPreKeyID { return account.signedPreKey }
        guard let stored = try await transaction.decode(SignedPreKeyRecord.self, SignalTransaction.Key.signedPreKey(id)) else {
            return nil
        }
        return stored.keyPair
    }

    /// Phone number ↔ LID pairs a message states (`sender_pn`, `sender_lid`, `peer_recipient_pn`…).
    private func learnAddresses(of node: BinaryNode, sender: JID, in transaction: inout SignalTransaction) async throws {
        func jid(_ name: String) -> JID? {
            switch node[attribute: name] {
            case .jid(let jid)?: jid
            case .string(let text)?: JID(text)
            case nil: nil
            }
        }
        if sender.server == JID.hiddenUserServer, let phone = jid("sender_pn") ?? jid("participant_pn") {
            try await transaction.link(phone: phone.user, lid: sender.user)
        } else if sender.server == JID.userServer, let lid = jid("sender_lid") ?? jid("participant_lid") {
            try await transaction.link(phone: sender.user, lid: lid.user)
        }
        if case .jid(let recipient)? = node[attribute: "recipient"] {
            if recipient.server == JID.hiddenUserServer, let phone = jid("peer_recipient_pn") {
                try await transaction.link(phone: phone.user, lid: recipient.user)
            } else if recipient.server == JID.userServer, let lid = jid("peer_recipient_lid") {
                try await transaction.link(phone: recipient.user, lid: lid.user)
            }
        }
    }

    /// What a decrypted Message means: a text (with its quote and mentions), an edit, a
    /// revocation, a sender key to keep, or a type Wharf does not read yet.
    func interpret(
        _ message: WAMessage, id: String, origin: MessageOrigin, sender: JID, pushName: String?, at timestamp: Date,
        in transaction: inout SignalTransaction
    ) async throws -> [InboundEvent] {
        var origin = origin
        var message = message
        if message.hasDeviceSentMessage {
            // Typed on the phone or another companion: the real chat is the destination.
            if let destination = JID(message.deviceSentMessage.destinationJid) {
                let chat = try await phoneForm(of: destination, in: transaction)
                origin.chat = ChatID(chat.description)
            }
            message = message.deviceSentMessage.message
        }
        var isViewOnce = false
        while let inner = Self.wrapped(in: message) {
            isViewOnce = isViewOnce || message.hasViewOnceMessage || message.hasViewOnceMessageV2
            message = inner
        }
        isViewOnce = isViewOnce || message.imageMessage.viewOnce || message.videoMessage.viewOnce || message.audioMessage.viewOnce
        for distribution in [message.senderKeyDistributionMessage, message.fastRatchetKeySenderKeyDistributionMessage]
        where !distribution.groupID.isEmpty && !distribution.axolotlSenderKeyDistributionMessage.isEmpty {
            let address = try await address(of: sender, in: transaction)
            var record = try await transaction.senderKeys(group: distribution.groupID, sender: address)
            record.add(try SenderKeyDistributionMessage(distribution.axolotlSenderKeyDistributionMessage))
            try transaction.setSenderKeys(record, group: distribution.groupID, sender: address)
        }
        if message.hasProtocolMessage {
            let protocolMessage = message.protocolMessage
            switch protocolMessage.type {
            case .revoke:
                return [.revoked(MessageRevocation(id: protocolMessage.key.id, origin: origin, timestamp: timestamp))]
            case .messageEdit:
                let text = Self.text(of: protocolMessage.editedMessage)
                recentTexts.remember(text, for: protocolMessage.key.id)
                return [.edited(MessageEdit(id: protocolMessage.key.id, origin: origin, text: text, timestamp: timestamp))]
            default:
                // Key shares, history sync, settings: housekeeping, nothing for a tenant.
                return []
            }
        }
        if let rich = try await interpretRich(
            message, id: id, origin: origin, sender: sender, pushName: pushName, at: timestamp, in: &transaction)
        {
            return rich
        }
        if let media = ReceivedMedia(message) {
            let context = media.context
            recentTexts.remember(media.caption, for: id)
            var received = InboundMessage(
                id: id, chat: origin.chat, from: origin.from, fromLID: origin.fromLID, fromName: origin.isFromMe ? nil : pushName,
                isFromMe: origin.isFromMe, kind: media.kind, text: media.caption,
                media: media.info(messageID: id, origin: origin, participant: origin.chat.isGroup ? sender.description : nil),
                replyTo: context.stanzaID.isEmpty ? nil : context.stanzaID, mentions: context.mentionedJid, timestamp: timestamp)
            if isViewOnce { received.isViewOnce = true }
            if context.isForwarded { received.isForwarded = true }
            return [.message(received)]
        }
        if let text = Self.text(of: message) {
            let context = message.extendedTextMessage.contextInfo
            recentTexts.remember(text, for: id)
            var received = InboundMessage(
                id: id, chat: origin.chat, from: origin.from, fromLID: origin.fromLID, fromName: origin.isFromMe ? nil : pushName,
                isFromMe: origin.isFromMe, kind: "text", text: text,
                replyTo: context.stanzaID.isEmpty ? nil : context.stanzaID, mentions: context.mentionedJid, timestamp: timestamp)
            if context.isForwarded { received.isForwarded = true }
            return [.message(received)]
        }
        // Only a sender key, or an empty shell: nothing to show.
        if Self.isHousekeeping(message) { return [] }
        return [
            .message(
                InboundMessage(
                    id: id, chat: origin.chat, from: origin.from, fromLID: origin.fromLID, fromName: pushName, isFromMe: origin.isFromMe,
                    kind: "unsupported", timestamp: timestamp))
        ]
    }

    /// The message inside a wrapper that only changes how it is shown (disappearing, view once,
    /// edited, a document with a caption).
    static func wrapped(in message: WAMessage) -> WAMessage? {
        if message.hasEphemeralMessage { return message.ephemeralMessage.message }
        if message.hasEditedMessage { return message.editedMessage.message }
        if message.hasViewOnceMessage { return message.viewOnceMessage.message }
        if message.hasViewOnceMessageV2 { return message.viewOnceMessageV2.message }
        if message.hasDocumentWithCaptionMessage { return message.documentWithCaptionMessage.message }
        return nil
    }

    static func text(of message: WAMessage) -> String? {
        if message.hasConversation { return message.conversation }
        if message.hasExtendedTextMessage { return message.extendedTextMessage.text }
        return nil
    }

    /// Whether the message carries nothing but keys and context (a sender key distribution alone).
    static func isHousekeeping(_ message: WAMessage) -> Bool {
        var rest = message
        rest.clearSenderKeyDistributionMessage()
        rest.clearFastRatchetKeySenderKeyDistributionMessage()
        rest.clearMessageContextInfo()
        return rest == WAMessage() && rest.unknownFields.data.isEmpty
    }

    // MARK: Failures

    func retryKey(_ sender: JID, _ id: String) -> String { "\(sender)/\(id)" }

    /// Asks the sender to encrypt the message again (a retry receipt, with our keys from the second
    /// one on), and after the last retry reports the message as undecryptable.
    private func decryptionFailed(
        _ node: BinaryNode, id: String, sender: JID, chat: JID, isFromMe: Bool, reason: any Error, at timestamp: Date,
        on socket: NoiseSocket
    ) async {
        let key = retryKey(sender, id)
        // A resend after our restart carries the sender's count; ours starts over at 1.
        let resentCount = node.children.first { $0.tag == "enc" }?.string("count").flatMap(Int.init) ?? 0
        let count = max(retries[key] ?? 0, resentCount) + 1
        logger.debug("decryption failed", metadata: ["id": "\(id)", "from": "\(sender)", "count": "\(count)", "error": "\(reason)"])
        if count <= Self.maximumRetries {
            retries[key] = count
            do {
                let receipt = try await retryReceipt(for: node, id: id, count: count)
                try await socket.send(receipt)
            } catch {
                logger.debug("retry receipt not sent", metadata: ["id": "\(id)", "error": "\(error)"])
            }
            await send(acknowledgement(of: node, error: nil), on: socket)
            return
        }
        retries[key] = nil
        let origin =
            (try? await self.origin(chat: chat, sender: sender, isFromMe: isFromMe, in: SignalTransaction(store: store)))
            ?? MessageOrigin(chat: ChatID(chat.description), from: sender.user, isFromMe: isFromMe)
        let event = UndecryptableMessage(
            id: id, origin: origin, reason: "the message could not be decrypted after \(Self.maximumRetries) retries: \(reason)",
            timestamp: timestamp)
        guard await commit([.undecryptable(event)], changes: CredentialChanges()) == .committed else {
            await socket.close()
            return
        }
        await send(acknowledgement(of: node, error: nil), on: socket)
    }

    /// `<receipt type="retry">`: the count, our registration id, and from the second retry on our
    /// identity, a fresh one-time prekey, our signed prekey and device identity, so the sender can
    /// set a new session up without fetching anything.
    private func retryReceipt(for node: BinaryNode, id: String, count: Int) async throws -> BinaryNode {
        var attributes: [BinaryNode.Attribute] = [.init("id", .string(id)), .init("type", "retry")]
        if let from = node[attribute: "from"] { attributes.insert(.init("to", from), at: 1) }
        for name in ["participant", "recipient"] {
            if let value = node[attribute: name] { attributes.append(.init(name, value)) }
        }
        var children = [
            BinaryNode(
                "retry", ["count": .string(String(count)), "id": .string(id), "t": .string(node.string("t") ?? "0"), "v": "1"]),
            BinaryNode("registration", bytes: Self.bigEndian(account.identity.registrationID, count: 4)),
        ]
        if count > 1 {
            let preKey = try await makeUnlistedPreKey()
            let signature = account.signedPreKeySignature
            children.append(
                BinaryNode(
                    "keys",
                    children: [
                        BinaryNode("type", bytes: [SignalKeys.djbType]),
                        BinaryNode("identity", bytes: account.identity.keyPair.publicKey),
                        BinaryNode(
                            "key",
                            children: [
                                BinaryNode("id", bytes: Self.bigEndian(preKey.id, count: 3)), BinaryNode("value", bytes: preKey.key.publicKey),
                            ]),
                        BinaryNode(
                            "skey",
                            children: [
                                BinaryNode("id", bytes: Self.bigEndian(account.signedPreKeyID, count: 3)),
                                BinaryNode("value", bytes: account.signedPreKey.publicKey), BinaryNode("signature", bytes: signature),
                            ]),
                        BinaryNode("device-identity", bytes: account.signedIdentity),
                    ]))
        }
        return BinaryNode("receipt", attributes, content: .nodes(children))
    }

    // MARK: Receipts and acknowledgements

    /// The delivery receipt: "sender" for a copy of our own message from another of our devices.
    func deliveryReceipt(for node: BinaryNode, id: String, isFromMe: Bool) -> BinaryNode {
        var attributes: [BinaryNode.Attribute] = [.init("id", .string(id))]
        if let from = node[attribute: "from"] { attributes.append(.init("to", from)) }
        for name in ["participant", "recipient"] {
            if let value = node[attribute: name] { attributes.append(.init(name, value)) }
        }
        if isFromMe {
            attributes.append(.init("type", node.string("type") == "peer_msg" ? "peer_msg" : "sender"))
        }
        return BinaryNode("receipt", attributes)
    }

    /// `<ack class=…>` for a stanza; `error` only for one we cannot take.
    func acknowledgement(of node: BinaryNode, error: String?) -> BinaryNode {
        var ack = WebConnection.acknowledgement(of: node)
        if let error { ack.attributes.append(.init("error", .string(error))) }
        return ack
    }

    static func bigEndian(_ value: UInt32, count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
    }
}

/// A value that arrives once, for one waiter: the first `resolve` wins.
final class OneShot<T: Sendable>: Sendable {
    private struct State {
        var value: T?
        var waiter: CheckedContinuation<T, Never>?
    }

    private let state = Mutex(State())

    func resolve(_ value: T) {
        let waiter = state.withLock { state -> CheckedContinuation<T, Never>? in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    func wait() async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let ready = state.withLock { state -> T? in
                if let value = state.value { return value }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

extension Optional {
    /// `map` with an async transform.
    fileprivate func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
