import Foundation
import SwiftProtobuf

/// A message we sent, kept for a while so that a retry receipt can be answered with the same
/// message (re-encrypted), not "waiting for this message" on the other side.
struct SentRecord: Codable, Sendable, Equatable {
    var id: String
    var chat: String
    var message: Data
    var sentAt: Date
}

extension Messenger {
    // MARK: Sending

    /// Sends a text to a person: every device of theirs and every other device of ours gets its own
    /// encryption (ours wrapped as sent-from-this-account), one stanza carries them all, and the
    /// server's `<ack>` confirms it. The ratchet steps are stored before the stanza leaves.
    func send(_ outbound: OutboundMessage, on socket: NoiseSocket) async throws -> SentMessage {
        guard let chat = JID(outbound.chat.rawValue), [JID.userServer, JID.hiddenUserServer, JID.groupServer].contains(chat.server) else {
            throw EngineError.invalidRequest("'\(outbound.chat)' is not a person's or a group's chat")
        }
        let id = outbound.clientMessageID
        let message: WAMessage
        var text: String?
        switch outbound.content {
        case .text(let body):
            text = body
            message = makeTextMessage(body, replyTo: outbound.replyTo, chat: chat)
        case .media(let kind, let file, let mimeType, let caption, let fileName):
            text = caption
            var media = try await makeMediaMessage(
                kind: kind, file: file, mimeType: mimeType, caption: caption, fileName: fileName,
                context: outbound.replyTo.map { quoteContext(replyTo: $0, chat: chat) }, on: socket)
            media.messageContextInfo.messageSecret = newMessageSecret()
            message = media
        case .mediaLink:
            throw EngineError.unsupported("media by link (the file is fetched by the gateway)")
        case .reaction, .location, .contacts, .poll, .edit, .revoke:
            message = try await makeRichMessage(outbound.content, id: id, chat: chat, replyTo: outbound.replyTo)
        }
        if chat.server == JID.groupServer {
            let answer = try await sendToGroup(message, id: id, group: chat, on: socket)
            if let error = answer.string("error") { throw Self.sendError(code: error) }
            recentTexts.remember(text, for: id)
            let timestamp = answer.string("t").flatMap(TimeInterval.init).map(Date.init(timeIntervalSince1970:)) ?? clock.now
            return SentMessage(messageID: id, timestamp: timestamp)
        }
        var recipient = chat.account
        if recipient.server == JID.hiddenUserServer, let phone = try await SignalTransaction(store: store).phone(ofLID: recipient.user) {
            // An account that has not moved to LID chats writes in the phone-number namespace
            // (WhatsApp Web refuses a LID-addressed chat from one); the session is the same.
            recipient = JID(user: phone, server: JID.userServer)
        }
        var targets = try await deviceList(of: recipient, on: socket)
        if targets.isEmpty, recipient.server == JID.userServer,
            let lid = try await SignalTransaction(store: store).lid(ofPhone: recipient.user)
        {
            // Reachable only by their LID now: send there rather than to nobody.
            recipient = JID(user: lid, server: JID.hiddenUserServer)
            targets = try await deviceList(of: recipient, on: socket)
        }
        guard !targets.isEmpty else {
            throw EngineError.rejected("\(chat.user) has no WhatsApp devices (is the number on WhatsApp?)")
        }
        let ownDevices = try await deviceList(
            of: recipient.server == JID.hiddenUserServer ? (account.lid ?? account.jid).account : account.jid.account,
            on: socket
        ).filter { $0.device != ownDevice(in: recipient.server).device }
        let stanza = try await encryptAndStore(
            message, id: id, chat: recipient, devices: targets, ownDevices: ownDevices, on: socket)
        let answer = try await socket.send(stanza, awaitingAnswerTo: id, timeout: requestTimeout, clock: clock)
        if let error = answer.string("error") {
            throw Self.sendError(code: error)
        }
        recentTexts.remember(text, for: id)
        let timestamp = answer.string("t").flatMap(TimeInterval.init).map(Date.init(timeIntervalSince1970:)) ?? clock.now
        return SentMessage(messageID: id, timestamp: timestamp)
    }

    /// Our own device as the other side sees it in `server`'s namespace.
    private func ownDevice(in server: String) -> JID {
        server == JID.hiddenUserServer ? (account.lid ?? account.jid) : account.jid
    }

    static func sendError(code: String) -> EngineError {
        switch code {
        case "463": .rejected("WhatsApp refused the message: this chat needs the contact to write first (error 463)")
        case "479": .rejected("WhatsApp refused the message as malformed or stale (error 479); it will be retried after a resync")
        case "500", "503": .temporary("WhatsApp could not take the message now (error \(code))")
        default: .rejected("WhatsApp refused the message (error \(code))")
        }
    }

    /// The Message for a text: plain, or extended with the quoted message and mentions.
    private func makeTextMessage(_ text: String, replyTo: String?, chat: JID) -> WAMessage {
        var message = WAMessage()
        let mentions = Self.mentions(in: text)
        if replyTo == nil && mentions.isEmpty {
            message.conversation = text
        } else {
            var extended = WAExtendedTextMessage()
            extended.text = text
            var context = replyTo.map { quoteContext(replyTo: $0, chat: chat) } ?? WAContextInfo()
            context.mentionedJid = mentions
            extended.contextInfo = context
            message.extendedTextMessage = extended
        }
        message.messageContextInfo.messageSecret = newMessageSecret()
        return message
    }

    /// WhatsApp's clients give every message a secret (edits and reactions refer to it).
    func newMessageSecret() -> Data {
        Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
    }

    /// A reply's context: the quoted message's id, its sender and (as far as known) its text.
    func quoteContext(replyTo: String, chat: JID) -> WAContextInfo {
        var context = WAContextInfo()
        context.stanzaID = replyTo
        context.participant = chat.account.description
        var quoted = WAMessage()
        quoted.conversation = recentTexts[replyTo] ?? ""
        context.quotedMessage = quoted
        return context
    }

    /// The copy for our own other devices: the message wrapped with the chat it went to.
    static func sentToSelf(_ message: WAMessage, chat: JID) -> WAMessage {
        var wrapped = WAMessage()
        wrapped.deviceSentMessage.destinationJid = chat.description
        wrapped.deviceSentMessage.message = message
        wrapped.messageContextInfo = message.messageContextInfo
        return wrapped
    }

    /// `@4915112345678` in a text mentions that number, as WhatsApp's apps write mentions.
    static func mentions(in text: String) -> [String] {
        var found: [String] = []
        var index = text.startIndex
        while let at = text[index...].firstIndex(of: "@") {
            let digits = text[text.index(after: at)...].prefix { $0.isASCII && $0.isNumber }
            if (7...15).contains(digits.count), !found.contains("\(digits)@s.whatsapp.net") { found.append("\(digits)@s.whatsapp.net") }
            index = text.index(after: at)
        }
        return found
    }

    /// Encrypts `message` for each device (sessions set up from fetched bundles where missing),
    /// stores the ratchet steps and the sent record in one transaction, and builds the stanza.
    private func encryptAndStore(
        _ message: WAMessage, id: String, chat: JID, devices: [JID], ownDevices: [JID], on socket: NoiseSocket
    ) async throws -> BinaryNode {
        let plaintext: [UInt8] = try message.serializedBytes()
        let selfPlaintext: [UInt8] = try Self.sentToSelf(message, chat: chat).serializedBytes()
        let kind = Self.stanzaKind(of: message)
        let everyone = devices + ownDevices
        let bundles = try await bundlesForDevicesWithoutSession(everyone, on: socket)

        return try await lock.withLock {
            var transaction = SignalTransaction(store: store)
            var participants: [BinaryNode] = []
            var anyPreKey = false
            for device in everyone {
                let isOwn = account.isOurs(device)
                guard let ciphertext = try await encrypt(isOwn ? selfPlaintext : plaintext, for: device, bundle: bundles[device], in: &transaction)
                else { continue }
                anyPreKey = anyPreKey || ciphertext.wireType == "pkmsg"
                participants.append(
                    BinaryNode(
                        "to", ["jid": .jid(device)],
                        children: [Self.encNode(ciphertext, mediaType: kind.mediaType, hidesFailure: kind.hidesFailure)]))
            }
            guard participants.contains(where: { node in devices.contains { .jid($0) == node[attribute: "jid"] } }) else {
                throw EngineError.rejected("no device of \(chat.user) could be reached (no session and no prekey bundle)")
            }
            try await logSent(SentRecord(id: id, chat: chat.description, message: Data(plaintext), sentAt: clock.now), in: &transaction)
            try await store.apply(transaction.changes)
            var children = [BinaryNode("participants", children: participants)]
            if anyPreKey { children.append(BinaryNode("device-identity", bytes: account.signedIdentity)) }
            if let meta = kind.meta { children.append(meta) }
            return BinaryNode("message", kind.attributes(id: id, to: chat), content: .nodes(children))
        }
    }

    /// One device's `<enc>`, with the `mediatype` a file's message carries.
    static func encNode(_ ciphertext: CiphertextMessage, mediaType: String?, count: Int? = nil, hidesFailure: Bool = false) -> BinaryNode {
        var attributes: [BinaryNode.Attribute] = [.init("v", "2"), .init("type", .string(ciphertext.wireType))]
        if let count { attributes.append(.init("count", .string(String(count)))) }
        if let mediaType { attributes.append(.init("mediatype", .string(mediaType))) }
        if hidesFailure { attributes.append(.init("decrypt-fail", "hide")) }
        return BinaryNode("enc", attributes, content: .bytes(ciphertext.serialized))
    }

    /// One device's ciphertext, setting a session up from `bundle` when there is none; `nil` when
    /// neither exists (the device is left out, not the whole message).
    func encrypt(
        _ plaintext: [UInt8], for device: JID, bundle: PreKeyBundle?, in transaction: inout SignalTransaction
    )
        async throws -> CiphertextMessage?
    {
        let address = try await address(of: device, in: transaction)
        var record = try await transaction.record(address)
        if record.current == nil {
            guard let bundle else { return nil }
            do {
                record.promote(try SessionBuilder.initiate(with: bundle, identity: account.identity))
            } catch {
                logger.debug("prekey bundle refused", metadata: ["device": "\(device)", "error": "\(error)"])
                return nil
            }
            try await noteIdentity(bundle.identityKey, of: device, address: address, in: &transaction)
        }
        let ciphertext = try SessionCipher.encrypt(WhatsAppPadding.pad(plaintext, using: &random), record: &record)
        try transaction.setRecord(record, address)
        return ciphertext
    }

    /// Stores a device's identity key; a different one than before is reported as a change.
    private func noteIdentity(
        _ key: [UInt8], of device: JID, address: SignalAddress, in transaction: inout SignalTransaction
    )
        async throws
    {
        let known = try await transaction.identity(address)
        transaction.setIdentity(key, address)
        guard let known, known != key else { return }
        let origin = try await origin(chat: device.account, sender: device, isFromMe: false, in: transaction)
        deliver(.inbound([.identityChanged(IdentityChange(origin: origin, device: device.description, timestamp: clock.now))], .none))
    }

    /// Keeps the sent message for retries, dropping the oldest beyond ``sentLogSize``.
    func logSent(_ record: SentRecord, in transaction: inout SignalTransaction) async throws {
        var index = try await transaction.decode([String].self, SignalTransaction.Key.sentIndex) ?? []
        index.removeAll { $0 == record.id }
        index.append(record.id)
        while index.count > Self.sentLogSize { transaction.write(nil, SignalTransaction.Key.sent(index.removeFirst())) }
        try transaction.encode(record, SignalTransaction.Key.sent(record.id))
        try transaction.encode(index, SignalTransaction.Key.sentIndex)
    }

    // MARK: Retry receipts from others

    /// A device could not decrypt a message we sent: set a session up from the keys it sent (or
    /// fetch its bundle from the second retry on) and send it the same message again.
    func receive(retry node: BinaryNode, on socket: NoiseSocket) async {
        await resend(answering: node, on: socket)
        await send(acknowledgement(of: node, error: nil), on: socket)
    }

    private func resend(answering node: BinaryNode, on socket: NoiseSocket) async {
        guard let id = node.string("id"), case .jid(let from)? = node[attribute: "from"],
            let retry = node.child("retry"), let count = retry.string("count").flatMap(Int.init),
            let record = try? await SignalTransaction(store: store).decode(SentRecord.self, SignalTransaction.Key.sent(id)),
            let message = try? WAMessage(serializedBytes: record.message), let chat = JID(record.chat)
        else {
            logger.debug("retry receipt for a message no longer kept", metadata: ["id": "\(node.string("id") ?? "")"])
            return
        }
        // In a group the device that asks is the participant; it gets our sender key with the message.
        let group: JID? = from.server == JID.groupServer ? from.account : nil
        let participant: JID? = if case .jid(let jid)? = node[attribute: "participant"] { jid } else { nil }
        guard let device = group == nil ? from : participant else { return }
        do {
            let keys = node.child("keys")
            var bundle = keys.flatMap { Self.bundle(from: $0, registration: node.child("registration")?.bytes) }
            if bundle == nil, count >= 2 {
                bundle = try await fetchBundles(for: [device], on: socket)[device]
            }
            let plaintext: [UInt8] =
                if let group {
                    try await groupResendPlaintext(message, group: group, in: SignalTransaction(store: store))
                } else {
                    try (account.isOurs(device) ? Self.sentToSelf(message, chat: chat) : message).serializedBytes()
                }
            let stanza: BinaryNode = try await lock.withLock {
                var transaction = SignalTransaction(store: store)
                let address = try await address(of: device, in: transaction)
                var stored = try await transaction.record(address)
                if let bundle {
                    stored.promote(try SessionBuilder.initiate(with: bundle, identity: account.identity))
                    try await noteIdentity(bundle.identityKey, of: device, address: address, in: &transaction)
                }
                let ciphertext = try SessionCipher.encrypt(WhatsAppPadding.pad(plaintext, using: &random), record: &stored)
                try transaction.setRecord(stored, address)
                try await store.apply(transaction.changes)
                let kind = Self.stanzaKind(of: message)
                var children = [Self.encNode(ciphertext, mediaType: kind.mediaType, count: count, hidesFailure: kind.hidesFailure)]
                if ciphertext.wireType == "pkmsg" { children.append(BinaryNode("device-identity", bytes: account.signedIdentity)) }
                if let group {
                    return BinaryNode(
                        "message",
                        [
                            "to": .jid(group), "type": .string(kind.type), "id": .string(id), "t": .string(retry.string("t") ?? "0"),
                            "participant": .jid(device),
                        ],
                        children: children)
                }
                return BinaryNode(
                    "message",
                    [
                        "to": .jid(device), "type": .string(kind.type), "id": .string(id), "t": .string(retry.string("t") ?? "0"),
                        "device_fanout": "false",
                    ],
                    children: children)
            }
            try await socket.send(stanza)
            logger.debug("resent after a retry receipt", metadata: ["id": "\(id)", "to": "\(device)", "count": "\(count)"])
        } catch {
            logger.debug("retry not answered", metadata: ["id": "\(id)", "error": "\(error)"])
        }
    }

    // MARK: Device lists and bundles

    /// An account's devices (usync, cached until a `devices` notification); LIDs it reveals are kept.
    func deviceList(of user: JID, on socket: NoiseSocket) async throws -> [JID] {
        let key = user.account.description
        if let cached = devices[key] { return cached }
        let answer = try await request(
            BinaryNode(
                "iq", ["to": .jid(.server), "xmlns": "usync", "type": "get"],
                children: [
                    BinaryNode(
                        "usync",
                        [
                            "sid": .string(String(UInt32.random(in: 0...UInt32.max), radix: 16)), "mode": "query", "last": "true",
                            "index": "0", "context": "message",
                        ],
                        children: [
                            BinaryNode("query", children: [BinaryNode("devices", ["version": "2"]), BinaryNode("lid")]),
                            BinaryNode("list", children: [BinaryNode("user", ["jid": .jid(user.account)])]),
                        ])
                ]), on: socket)
        var found: [JID] = []
        var transaction = SignalTransaction(store: store)
        for entry in answer.child("usync")?.child("list")?.children ?? [] where entry.tag == "user" {
            guard case .jid(let jid)? = entry[attribute: "jid"], jid.user == user.user else { continue }
            for device in entry.child("devices")?.child("device-list")?.children ?? [] where device.tag == "device" {
                guard let id = device.string("id").flatMap(UInt16.init) else { continue }
                // A companion without a key index cannot be addressed (Baileys' rule).
                if id != 0 && device.string("key-index") == nil { continue }
                found.append(JID(user: user.user, device: id, server: user.server))
            }
            if case .jid(let lid)? = entry.child("lid")?[attribute: "val"], user.server == JID.userServer {
                try await transaction.link(phone: user.user, lid: lid.user)
            } else if let text = entry.child("lid")?.string("val"), let lid = JID(text), user.server == JID.userServer {
                try await transaction.link(phone: user.user, lid: lid.user)
            }
        }
        if !transaction.changes.isEmpty { try await store.apply(transaction.changes) }
        devices[key] = found
        return found
    }

    /// Forgets an account's device list (a `devices` notification, an identity change).
    func forgetDevices(of user: JID) {
        devices[user.account.description] = nil
    }

    func bundlesForDevicesWithoutSession(_ devices: [JID], on socket: NoiseSocket) async throws -> [JID: PreKeyBundle] {
        let transaction = SignalTransaction(store: store)
        var missing: [JID] = []
        for device in devices where try await transaction.record(try await address(of: device, in: transaction)).current == nil {
            missing.append(device)
        }
        return missing.isEmpty ? [:] : try await fetchBundles(for: missing, on: socket)
    }

    /// Prekey bundles by device; a device the server has no keys for is left out.
    func fetchBundles(for devices: [JID], on socket: NoiseSocket) async throws -> [JID: PreKeyBundle] {
        let answer = try await request(
            BinaryNode(
                "iq", ["to": .jid(.server), "xmlns": "encrypt", "type": "get"],
                children: [BinaryNode("key", children: devices.map { BinaryNode("user", ["jid": .jid($0), "reason": "identity"]) })]),
            on: socket)
        var bundles: [JID: PreKeyBundle] = [:]
        for user in answer.child("list")?.children ?? [] where user.tag == "user" {
            guard case .jid(let jid)? = user[attribute: "jid"], user.child("error") == nil else { continue }
            let keys = user.child("keys") ?? user
            if let bundle = Self.bundle(from: keys, registration: user.child("registration")?.bytes) { bundles[jid] = bundle }
        }
        return bundles
    }

    /// A bundle from `<identity>`, `<skey>` and an optional `<key>` (a bundle fetch or a retry
    /// receipt's `<keys>`); `nil` when a part is missing or the wrong size.
    static func bundle(from node: BinaryNode, registration: [UInt8]?) -> PreKeyBundle? {
        guard let identity = node.child("identity")?.bytes, identity.count == 32, let skey = node.child("skey"),
            let signedID = skey.child("id")?.bytes, let signed = skey.child("value")?.bytes, signed.count == 32,
            let signature = skey.child("signature")?.bytes, signature.count == 64
        else { return nil }
        if let type = node.child("type")?.bytes, type != [SignalKeys.djbType] { return nil }
        let key = node.child("key")
        let preKey = key?.child("value")?.bytes
        return PreKeyBundle(
            registrationID: registration.map(Self.integer) ?? 0, identityKey: identity, signedPreKeyID: Self.integer(signedID),
            signedPreKey: signed, signedPreKeySignature: signature,
            preKeyID: preKey?.count == 32 ? key?.child("id")?.bytes.map(Self.integer) : nil, preKey: preKey?.count == 32 ? preKey : nil)
    }

    static func integer(_ bytes: [UInt8]) -> UInt32 { bytes.suffix(4).reduce(0) { $0 << 8 | UInt32($1) } }

    // MARK: Chat state and read receipts

    func setPresence(_ presence: ChatPresence, in chat: ChatID, on socket: NoiseSocket) async throws {
        guard let jid = JID(chat.rawValue) else { throw EngineError.invalidRequest("'\(chat)' is not a chat id") }
        let state: BinaryNode =
            switch presence {
            case .composing: BinaryNode("composing")
            case .recording: BinaryNode("composing", ["media": "audio"])
            case .paused: BinaryNode("paused")
            }
        try await socket.send(BinaryNode("chatstate", ["to": .jid(jid.account)], children: [state]))
    }

    func markRead(chat: ChatID, messageIDs: [String], on socket: NoiseSocket) async throws {
        guard !messageIDs.isEmpty else { return }
        guard let jid = JID(chat.rawValue) else { throw EngineError.invalidRequest("'\(chat)' is not a chat id") }
        guard jid.server == JID.groupServer else {
            try await socket.send(readReceipt(to: jid.account, ids: messageIDs, author: nil))
            return
        }
        // In a group each receipt names the author; messages whose author is not known here (from
        // before a restart) are left unread rather than sent a receipt WhatsApp would refuse.
        var byAuthor: [String: [String]] = [:]
        for id in messageIDs {
            if let author = groupAuthors[id] { byAuthor[author, default: []].append(id) }
        }
        for (author, ids) in byAuthor.sorted(by: { $0.key < $1.key }) {
            guard let participant = JID(author) else { continue }
            try await socket.send(readReceipt(to: jid.account, ids: ids, author: participant))
        }
    }

    private func readReceipt(to chat: JID, ids: [String], author: JID?) -> BinaryNode {
        var attributes: [BinaryNode.Attribute] = [
            .init("id", .string(ids[0])), .init("to", .jid(chat)), .init("type", "read"),
            .init("t", .string(String(Int(clock.now.timeIntervalSince1970)))),
        ]
        if let author { attributes.append(.init("participant", .jid(author))) }
        var children: [BinaryNode] = []
        if ids.count > 1 {
            children.append(BinaryNode("list", children: ids.dropFirst().map { BinaryNode("item", ["id": .string($0)]) }))
        }
        return BinaryNode("receipt", attributes, content: children.isEmpty ? nil : .nodes(children))
    }
}
