import Crypto
import Foundation
import SwiftProtobuf

extension Messenger {
    /// Which devices have our current sender key for a group (device JIDs), so each gets the
    /// distribution message once; forgotten with the key when a member leaves.
    static func distributionKey(_ group: JID) -> String { "web.skdist/\(group.account)" }

    // MARK: Sending to a group

    /// Sends to a group: one `skmsg` under our sender key for everyone, and our key, encrypted
    /// pairwise, to every member device that lacks it. The chain step, the new sessions and who
    /// has the key are stored before the stanza leaves. A `phash` in the server's answer that
    /// differs from ours means the member or device list changed: it is fetched again next time.
    func sendToGroup(_ message: WAMessage, id: String, group: JID, on socket: NoiseSocket) async throws -> BinaryNode {
        let info = try await cachedGroup(group, on: socket)
        let byLID = info.addressingMode == "lid"
        let me = byLID ? (account.lid ?? account.jid) : account.jid
        var everyone: [JID] = []
        for member in info.participants {
            let user = byLID ? JID(user: member.lid ?? member.phone, server: JID.hiddenUserServer) : JID(user: member.phone, server: JID.userServer)
            everyone += try await deviceList(of: user, on: socket)
        }
        if !everyone.contains(where: { $0.user == me.user && $0.device == me.device }) { everyone.append(me) }
        let others = everyone.filter { !($0.user == me.user && $0.device == me.device) }
        let known = Set(try await SignalTransaction(store: store).decode([String].self, Self.distributionKey(group)) ?? [])
        let bundles = try await bundlesForDevicesWithoutSession(others.filter { !known.contains($0.description) }, on: socket)
        let plaintext: [UInt8] = try message.serializedBytes()
        let kind = Self.stanzaKind(of: message)
        let phash = Self.participantHash(everyone)

        let stanza: BinaryNode = try await lock.withLock {
            var transaction = SignalTransaction(store: store)
            let sender = try await address(of: me, in: transaction)
            var record = try await transaction.senderKeys(group: group.description, sender: sender)
            var holders = Set(try await transaction.decode([String].self, Self.distributionKey(group)) ?? [])
            if record.states.first?.signingPrivateKey == nil {
                record = SenderKeyRecord(states: [GroupCipher.makeOwnState()])
                holders = []
            }
            let distribution = try GroupCipher.distribution(of: record)
            let groupMessage = try GroupCipher.encrypt(WhatsAppPadding.pad(plaintext, using: &random), record: &record)
            try transaction.setSenderKeys(record, group: group.description, sender: sender)
            var keyMessage = WAMessage()
            keyMessage.senderKeyDistributionMessage.groupID = group.description
            keyMessage.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = Data(distribution.serialized)
            let keyPlaintext: [UInt8] = try keyMessage.serializedBytes()
            var participants: [BinaryNode] = []
            var anyPreKey = false
            for device in others where !holders.contains(device.description) {
                guard let ciphertext = try await encrypt(keyPlaintext, for: device, bundle: bundles[device], in: &transaction) else { continue }
                anyPreKey = anyPreKey || ciphertext.wireType == "pkmsg"
                participants.append(
                    BinaryNode("to", ["jid": .jid(device)], children: [Self.encNode(ciphertext, mediaType: nil, hidesFailure: kind.hidesFailure)]))
                holders.insert(device.description)
            }
            try transaction.encode(holders.sorted(), Self.distributionKey(group))
            try await logSent(SentRecord(id: id, chat: group.description, message: Data(plaintext), sentAt: clock.now), in: &transaction)
            try await store.apply(transaction.changes)
            var attributes = kind.attributes(id: id, to: group.account)
            attributes.append(.init("phash", .string(phash)))
            if byLID { attributes.append(.init("addressing_mode", "lid")) }
            var enc: [BinaryNode.Attribute] = [.init("v", "2"), .init("type", "skmsg")]
            if let mediaType = kind.mediaType { enc.append(.init("mediatype", .string(mediaType))) }
            if kind.hidesFailure { enc.append(.init("decrypt-fail", "hide")) }
            var children: [BinaryNode] = []
            if !participants.isEmpty { children.append(BinaryNode("participants", children: participants)) }
            children.append(BinaryNode("enc", enc, content: .bytes(groupMessage.serialized)))
            if anyPreKey { children.append(BinaryNode("device-identity", bytes: account.signedIdentity)) }
            if let meta = kind.meta { children.append(meta) }
            return BinaryNode("message", attributes, content: .nodes(children))
        }
        let answer = try await socket.send(stanza, awaitingAnswerTo: id, timeout: requestTimeout, clock: clock)
        if let served = answer.string("phash"), served != phash {
            logger.info("the group's device list changed; it is fetched again", metadata: ["group": "\(group)"])
            groupInfos[group.account.description] = nil
            for member in info.participants { forgetDevices(of: JID(user: member.phone, server: JID.userServer)) }
        }
        return answer
    }

    /// whatsmeow's participant hash: `2:` and the unpadded base64 of the first 6 bytes of SHA-256
    /// over the sorted `user.agent:device@server` forms of every device.
    static func participantHash(_ devices: [JID]) -> String {
        let joined = devices.map { "\($0.user).\($0.agent):\($0.device)@\($0.server)" }.sorted().joined()
        let digest = Array(SHA256.hash(data: Array(joined.utf8)).prefix(6))
        return "2:" + Data(digest).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// A message for one device that could not decrypt a group message: the message again, with
    /// our sender key inside, encrypted for that device alone.
    func groupResendPlaintext(_ message: WAMessage, group: JID, in transaction: SignalTransaction) async throws -> [UInt8] {
        let sender = try await address(of: account.jid, in: transaction)
        let record = try await transaction.senderKeys(group: group.description, sender: sender)
        var message = message
        if let distribution = try? GroupCipher.distribution(of: record) {
            message.senderKeyDistributionMessage.groupID = group.description
            message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = Data(distribution.serialized)
        }
        return try message.serializedBytes()
    }

    // MARK: Group requests

    /// The group's metadata, cached until a notification about it arrives.
    func cachedGroup(_ group: JID, on socket: NoiseSocket) async throws -> GroupInfo {
        if let cached = groupInfos[group.account.description] { return cached }
        return try await groupInfo(group, on: socket)
    }

    func groupInfo(_ group: JID, on socket: NoiseSocket) async throws -> GroupInfo {
        let answer = try await groupRequest("get", to: group.account, BinaryNode("query", ["request": "interactive"]), on: socket)
        guard let node = answer.child("group") else { throw EngineError.rejected("WhatsApp's answer has no group") }
        return try await remember(node)
    }

    func groups(on socket: NoiseSocket) async throws -> [GroupInfo] {
        let answer = try await groupRequest(
            "get", to: Self.groupsServer, BinaryNode("participating", children: [BinaryNode("participants"), BinaryNode("description")]),
            on: socket)
        var found: [GroupInfo] = []
        for node in answer.child("groups")?.children ?? [] where node.tag == "group" { found.append(try await remember(node)) }
        return found
    }

    func createGroup(subject: String, participants: [JID], on socket: NoiseSocket) async throws -> GroupInfo {
        let create = BinaryNode(
            "create", ["subject": .string(subject), "key": .string(Self.newRequestKey())],
            children: participants.map { BinaryNode("participant", ["jid": .jid($0.account)]) })
        let answer = try await groupRequest("set", to: Self.groupsServer, create, on: socket)
        guard let node = answer.child("group") else { throw EngineError.rejected("WhatsApp's answer has no group") }
        return try await remember(node)
    }

    func updateGroup(_ group: JID, _ setting: GroupSetting, on socket: NoiseSocket) async throws {
        let child: BinaryNode
        switch setting {
        case .subject(let subject):
            child = BinaryNode("subject", content: .bytes(Array(subject.utf8)))
        case .description(let text):
            let current = try await groupInfo(group, on: socket).descriptionID
            var attributes: [BinaryNode.Attribute] = [.init("id", .string(Self.newRequestKey()))]
            if let current { attributes.append(.init("prev", .string(current))) }
            if let text, !text.isEmpty {
                child = BinaryNode("description", attributes, content: .nodes([BinaryNode("body", content: .bytes(Array(text.utf8)))]))
            } else {
                child = BinaryNode("description", attributes + [.init("delete", "true")])
            }
        case .announce(let on):
            child = BinaryNode(on ? "announcement" : "not_announcement")
        case .locked(let on):
            child = BinaryNode(on ? "locked" : "unlocked")
        }
        _ = try await groupRequest("set", to: group.account, child, on: socket)
        groupInfos[group.account.description] = nil
    }

    func changeParticipants(
        _ group: JID, _ action: GroupParticipantAction, _ participants: [JID], on socket: NoiseSocket
    ) async throws -> [GroupParticipantResult] {
        let answer = try await groupRequest(
            "set", to: group.account,
            BinaryNode(action.rawValue, children: participants.map { BinaryNode("participant", ["jid": .jid($0.account)]) }), on: socket)
        groupInfos[group.account.description] = nil
        let listed = answer.child(action.rawValue)?.children.filter { $0.tag == "participant" } ?? []
        return participants.map { asked in
            let node = listed.first { if case .jid(let jid)? = $0[attribute: "jid"] { jid.user == asked.user } else { false } }
            let code = node?.string("error").flatMap(Int.init)
            return GroupParticipantResult(
                participant: asked.account.description, error: code, reason: code.map { Self.participantReason($0, action) },
                inviteCode: node?.child("add_request")?.string("code"))
        }
    }

    func inviteCode(of group: JID, revoke: Bool, on socket: NoiseSocket) async throws -> String {
        let answer = try await groupRequest(revoke ? "set" : "get", to: group.account, BinaryNode("invite"), on: socket)
        guard let code = answer.child("invite")?.string("code") else { throw EngineError.rejected("WhatsApp's answer has no invite code") }
        return code
    }

    func joinGroup(inviteCode code: String, on socket: NoiseSocket) async throws -> ChatID {
        let answer = try await groupRequest("set", to: Self.groupsServer, BinaryNode("invite", ["code": .string(code)]), on: socket)
        if answer.child("membership_approval_request") != nil {
            throw EngineError.rejected("the group's admins must approve the request to join")
        }
        guard case .jid(let group)? = answer.child("group")?[attribute: "jid"] else {
            throw EngineError.rejected("WhatsApp's answer names no group")
        }
        return ChatID(group.account.description)
    }

    func leaveGroup(_ group: JID, on socket: NoiseSocket) async throws {
        _ = try await groupRequest(
            "set", to: Self.groupsServer, BinaryNode("leave", children: [BinaryNode("group", ["id": .jid(group.account)])]), on: socket)
        groupInfos[group.account.description] = nil
    }

    static let groupsServer = JID(user: "", server: JID.groupServer)

    static func newRequestKey() -> String {
        "3EB0" + (0..<8).map { _ in String(format: "%02X", UInt8.random(in: 0...255)) }.joined()
    }

    /// One `w:g2` request, its refusals turned into errors that say what went wrong.
    private func groupRequest(_ type: String, to: JID, _ child: BinaryNode, on socket: NoiseSocket) async throws -> BinaryNode {
        do {
            return try await request(BinaryNode("iq", ["to": .jid(to), "xmlns": "w:g2", "type": .string(type)], children: [child]), on: socket)
        } catch EngineError.rejected(let text) {
            throw Self.groupError(code: Int(text.prefix { $0.isNumber }) ?? 0, request: child.tag)
        }
    }

    static func groupError(code: Int, request: String) -> EngineError {
        switch code {
        case 401: .rejected("only the group's admins can do that (error 401)")
        case 403: .rejected("this account is not a member of the group (error 403)")
        case 404: .notFound(request == "invite" ? "WhatsApp knows no group for this invite code" : "WhatsApp knows no such group")
        case 406:
            .invalidRequest(
                request == "invite" ? "the invite code is not valid" : "WhatsApp refused the value (a subject is at most 25 characters)")
        case 409: .rejected("the group changed meanwhile (error 409); fetch it and try again")
        case 410: .rejected("the invite link was revoked")
        case 419: .rejected("the group is full")
        case 429: .temporary("WhatsApp limits group requests for now (error 429)", retryAfter: .seconds(60))
        default: .rejected("WhatsApp refused the group request (error \(code))")
        }
    }

    static func participantReason(_ code: Int, _ action: GroupParticipantAction) -> String {
        switch (code, action) {
        case (403, .add): "their privacy settings allow invitations only: send them the invite code"
        case (409, .add): "already a member"
        case (404, .add): "not on WhatsApp"
        case (404, _): "not a member of the group"
        default: "WhatsApp refused it (error \(code))"
        }
    }

    /// Reads a `<group>` and keeps it (and the phone ↔ LID pairs it states).
    private func remember(_ node: BinaryNode) async throws -> GroupInfo {
        var transaction = SignalTransaction(store: store)
        let info = try await Self.parseGroup(node, learning: &transaction)
        if !transaction.changes.isEmpty { try await store.apply(transaction.changes) }
        groupInfos[info.id.rawValue] = info
        return info
    }

    /// A `<group>` (an answer, or inside a `create` notification) as a ``GroupInfo``.
    static func parseGroup(_ node: BinaryNode, learning transaction: inout SignalTransaction) async throws -> GroupInfo {
        let raw = node.string("id") ?? node.string("jid") ?? ""
        let id = raw.contains("@") ? raw : "\(raw)@\(JID.groupServer)"
        func date(_ name: String) -> Date? { node.string(name).flatMap(TimeInterval.init).map(Date.init(timeIntervalSince1970:)) }
        var members: [GroupMember] = []
        for participant in node.children where participant.tag == "participant" && participant.string("error") == nil {
            if let member = try await member(participant, learning: &transaction) { members.append(member) }
        }
        let description = node.child("description")
        return GroupInfo(
            id: ChatID(id), subject: node.string("subject") ?? "", subjectOwner: node.string("s_o").flatMap(JID.init)?.user,
            subjectTime: date("s_t"), creator: node.string("creator").flatMap(JID.init)?.user, creation: date("creation"),
            description: description?.child("body").map { String(decoding: $0.bytes ?? [], as: UTF8.self) },
            descriptionID: description?.string("id"), isAnnounce: node.child("announcement") != nil, isLocked: node.child("locked") != nil,
            ephemeralSeconds: node.child("ephemeral")?.string("expiration").flatMap(Int.init), addressingMode: node.string("addressing_mode") ?? "pn",
            participants: members)
    }

    /// A `<participant jid [lid|phone_number] [type]>`.
    static func member(_ node: BinaryNode, learning transaction: inout SignalTransaction) async throws -> GroupMember? {
        guard let jid = node.string("jid").flatMap(JID.init) else { return nil }
        let role = GroupMember.Role(rawValue: node.string("type") ?? "") ?? .member
        if jid.server == JID.hiddenUserServer {
            let phone = node.string("phone_number").flatMap(JID.init)?.user
            if let phone { try await transaction.link(phone: phone, lid: jid.user) }
            let known = try await transaction.phone(ofLID: jid.user)
            return GroupMember(phone: phone ?? known ?? jid.user, lid: jid.user, role: role)
        }
        let lid = node.string("lid").flatMap(JID.init)?.user
        if let lid { try await transaction.link(phone: jid.user, lid: lid) }
        return GroupMember(phone: jid.user, lid: try await transaction.lid(ofPhone: jid.user) ?? lid, role: role)
    }

    // MARK: Group notifications

    /// A `w:gp2` notification: what changed becomes a ``GroupUpdate``; a member who left makes us
    /// start a new sender key (they must not read what follows), in the same transaction as the
    /// event. Then the notification is acknowledged.
    func receive(groupNotification node: BinaryNode, on socket: NoiseSocket) async {
        guard case .jid(let from)? = node[attribute: "from"], from.server == JID.groupServer else {
            await send(acknowledgement(of: node, error: nil), on: socket)
            return
        }
        let group = from.account
        groupInfos[group.description] = nil
        let timestamp = node.string("t").flatMap(TimeInterval.init).map(Date.init(timeIntervalSince1970:)) ?? clock.now
        var transaction = SignalTransaction(store: store)
        var events: [InboundEvent] = []
        do {
            var actor: (phone: String?, lid: String?) = (nil, nil)
            if case .jid(let who)? = node[attribute: "participant"] ?? node[attribute: "author"] {
                actor = try await identities(of: who, in: transaction)
            }
            func update(
                _ kind: GroupUpdate.Kind, action: String? = nil, members: [GroupMember] = [], changes: [String: String] = [:]
            )
                -> InboundEvent
            {
                .group(
                    GroupUpdate(
                        kind: kind, group: ChatID(group.description), actor: actor.phone ?? actor.lid, actorLID: actor.lid, action: action,
                        participants: members, changes: changes, timestamp: timestamp))
            }
            var changes: [String: String] = [:]
            for child in node.children {
                switch child.tag {
                case "create":
                    guard let groupNode = child.child("group") else { continue }
                    let info = try await Self.parseGroup(groupNode, learning: &transaction)
                    events.append(
                        .group(
                            GroupUpdate(
                                kind: .joined, group: info.id, actor: actor.phone ?? actor.lid, actorLID: actor.lid, action: "created",
                                participants: info.participants, info: info, timestamp: timestamp)))
                case "add", "remove", "promote", "demote":
                    var members: [GroupMember] = []
                    var includesUs = false
                    for participant in child.children where participant.tag == "participant" {
                        guard let member = try await Self.member(participant, learning: &transaction) else { continue }
                        if let jid = participant.string("jid").flatMap(JID.init), account.isOurs(jid) { includesUs = true }
                        members.append(member)
                    }
                    let action = ["add": "added", "remove": "removed", "promote": "promoted", "demote": "demoted"][child.tag] ?? child.tag
                    if child.tag == "remove" && !includesUs {
                        // Someone left: our next message goes under a new sender key.
                        try await forgetOwnSenderKey(group, in: &transaction)
                    }
                    if includesUs && child.tag == "add" {
                        events.append(update(.joined, action: child.string("reason") == "invite" ? "joined" : "added", members: members))
                    } else if includesUs && child.tag == "remove" {
                        try await forgetOwnSenderKey(group, in: &transaction)
                        events.append(update(.left, action: actor.phone == members.first?.phone ? "left" : "removed", members: members))
                    } else {
                        events.append(update(.participants, action: action, members: members))
                    }
                case "modify":
                    try await forgetOwnSenderKey(group, in: &transaction)
                case "subject":
                    changes["subject"] = child.string("subject") ?? ""
                case "description":
                    changes["description"] = child.child("body").map { String(decoding: $0.bytes ?? [], as: UTF8.self) } ?? ""
                case "announcement", "not_announcement":
                    changes["announce"] = child.tag == "announcement" ? "true" : "false"
                case "locked", "unlocked":
                    changes["locked"] = child.tag == "locked" ? "true" : "false"
                case "invite":
                    changes["invite_code"] = child.string("code") ?? ""
                case "ephemeral", "not_ephemeral":
                    changes["ephemeral_seconds"] = child.tag == "ephemeral" ? child.string("expiration") ?? "0" : "0"
                case "set",
                    "delete" where node.string("type") == "picture":
                    changes["picture_id"] = child.tag == "set" ? child.string("id") ?? "" : ""
                    if case .jid(let author)? = child[attribute: "author"] { actor = try await identities(of: author, in: transaction) }
                default:
                    continue
                }
            }
            if !changes.isEmpty { events.append(update(.updated, changes: changes)) }
        } catch {
            logger.debug("group notification not read", metadata: ["group": "\(group)", "error": "\(error)"])
        }
        if !events.isEmpty || !transaction.changes.isEmpty {
            guard await commit(events, changes: transaction.changes) == .committed else {
                await socket.close()
                return
            }
        }
        await send(acknowledgement(of: node, error: nil), on: socket)
    }

    /// Drops our sender key for a group and the list of who has it: the next message starts a
    /// new chain and hands it to the members there are then.
    private func forgetOwnSenderKey(_ group: JID, in transaction: inout SignalTransaction) async throws {
        let sender = try await address(of: account.jid, in: transaction)
        transaction.write(nil, SignalTransaction.Key.senderKey(group: group.description, sender: sender))
        transaction.write(nil, Self.distributionKey(group))
        if let lid = account.lid {
            let lidSender = try await address(of: lid, in: transaction)
            if lidSender != sender { transaction.write(nil, SignalTransaction.Key.senderKey(group: group.description, sender: lidSender)) }
        }
    }
}
