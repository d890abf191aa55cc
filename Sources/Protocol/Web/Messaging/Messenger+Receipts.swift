import Foundation

extension Messenger {
    /// A `<receipt>`: retries are answered; delivery, read and played receipts become acks of our
    /// messages, committed before WhatsApp is told we have them.
    func receive(receipt node: BinaryNode, on socket: NoiseSocket) async {
        guard !isHalted else { return }
        if node.string("type") == "retry" {
            await receive(retry: node, on: socket)
            return
        }
        guard let level = Self.level(of: node.string("type")), let id = node.string("id"), case .jid(let from)? = node[attribute: "from"]
        else {
            // "sender", "inactive", "peer_msg", "hist_sync": nothing a tenant is told.
            await send(acknowledgement(of: node, error: nil), on: socket)
            return
        }
        let ids = [id] + (node.child("list")?.children.compactMap { $0.tag == "item" ? $0.string("id") : nil } ?? [])
        var chat = from.account
        if case .jid(let recipient)? = node[attribute: "recipient"] { chat = recipient.account }
        let timestamp = node.string("t").flatMap(TimeInterval.init).map(Date.init(timeIntervalSince1970:)) ?? clock.now
        let transaction = SignalTransaction(store: store)
        let chatID = ChatID(((try? await phoneForm(of: chat, in: transaction)) ?? chat).description)
        let events = ids.map { InboundEvent.receipt(MessageReceipt(messageID: $0, chat: chatID, level: level, timestamp: timestamp)) }
        guard await commit(events, changes: CredentialChanges()) == .committed else {
            await socket.close()
            return
        }
        await send(acknowledgement(of: node, error: nil), on: socket)
    }

    static func level(of type: String?) -> MessageReceipt.Level? {
        switch type {
        case nil, "delivery": .delivered
        case "read", "read-self": .read
        case "played", "played-self": .played
        default: nil
        }
    }

    /// A `<notification>`: prekeys running low, a contact's new identity, a changed device list.
    func receive(notification node: BinaryNode, on socket: NoiseSocket) async {
        guard !isHalted else { return }
        switch node.string("type") {
        case "encrypt":
            if let count = node.child("count")?.string("value").flatMap(Int.init) {
                await topUpPreKeys(serverCount: count, on: socket)
            } else if node.child("identity") != nil, case .jid(let from)? = node[attribute: "from"] {
                guard await identityChanged(of: from, on: socket) else { return }
            }
        case "mediaretry":
            receivedMediaRetry(node)
        case "w:gp2",
            "picture" where node.string("from").flatMap(JID.init)?.server == JID.groupServer:
            await receive(groupNotification: node, on: socket)
            return
        case "devices":
            if case .jid(let from)? = node[attribute: "from"] {
                forgetDevices(of: from)
                if case .jid(let lid)? = node[attribute: "lid"] {
                    forgetDevices(of: lid)
                    var transaction = SignalTransaction(store: store)
                    do {
                        if try await transaction.link(phone: from.user, lid: lid.user) { try await store.apply(transaction.changes) }
                    } catch {
                        logger.debug("phone number and LID not stored", metadata: ["user": "\(from.user)", "error": "\(error)"])
                    }
                }
            }
        default:
            break
        }
        await send(acknowledgement(of: node, error: nil), on: socket)
    }

    /// A contact reinstalled (a new identity for the account): their sessions and identities are
    /// forgotten, so the next message sets a new session up from fresh bundles, and the tenant is
    /// told. `false` when the event could not be stored (the connection is closed).
    private func identityChanged(of user: JID, on socket: NoiseSocket) async -> Bool {
        forgetDevices(of: user)
        await lock.lock()
        defer { lock.unlock() }
        var transaction = SignalTransaction(store: store)
        do {
            for device in try await deviceList(of: user.account, on: socket) {
                let address = try await address(of: device, in: transaction)
                transaction.write(nil, SignalTransaction.Key.session(address))
                transaction.write(nil, SignalTransaction.Key.identity(address))
            }
            let origin = try await origin(chat: user.account, sender: user, isFromMe: false, in: transaction)
            let change = IdentityChange(origin: origin, device: user.account.description, timestamp: clock.now)
            guard await commit([.identityChanged(change)], changes: transaction.changes) == .committed else {
                await socket.close()
                return false
            }
        } catch {
            logger.debug("identity change not handled", metadata: ["user": "\(user)", "error": "\(error)"])
        }
        return true
    }

    /// `<chatstate>` and `<presence>` from contacts: typing, recording, online.
    func presence(from node: BinaryNode) async -> PresenceUpdate? {
        guard case .jid(let from)? = node[attribute: "from"] else { return nil }
        let sender: JID = if case .jid(let participant)? = node[attribute: "participant"] { participant } else { from }
        let state: String
        if node.tag == "chatstate" {
            guard let child = node.children.first else { return nil }
            state = child.tag == "composing" && child.string("media") == "audio" ? "recording" : child.tag
        } else {
            state = node.string("type") ?? "available"
        }
        let transaction = SignalTransaction(store: store)
        let chat = (try? await phoneForm(of: from, in: transaction)) ?? from.account
        let who = (try? await identities(of: sender, in: transaction))?.phone ?? sender.user
        return PresenceUpdate(chat: ChatID(chat.description), from: who, presence: state, timestamp: clock.now)
    }
}
