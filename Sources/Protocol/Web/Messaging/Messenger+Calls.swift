import Foundation

extension Messenger {
    /// A `<call>`: an offer becomes `call.received`, a terminate `call.ended`; the rest of the call
    /// set-up (transport, relay latency, accept elsewhere) is not for a gateway. Acknowledged once
    /// stored, like a message.
    func receive(call node: BinaryNode, on socket: NoiseSocket) async {
        guard !isHalted else { return }
        guard case .jid(let from)? = node[attribute: "from"], let child = node.children.first,
            ["offer", "terminate"].contains(child.tag), let callID = child.string("call-id")
        else {
            await send(acknowledgement(of: node, error: nil), on: socket)
            return
        }
        let timestamp = node.string("t").flatMap(TimeInterval.init).map(Date.init(timeIntervalSince1970:)) ?? clock.now
        var transaction = SignalTransaction(store: store)
        var event: CallEvent?
        do {
            let creator = child.string("call-creator").flatMap(JID.init) ?? from
            if creator.server == JID.hiddenUserServer, let phone = node.string("caller_pn").flatMap(JID.init) {
                try await transaction.link(phone: phone.user, lid: creator.user)
            }
            let (phone, lid) = try await identities(of: creator, in: transaction)
            let group = child.string("group-jid").flatMap(JID.init).map { ChatID($0.account.description) }
            event = CallEvent(
                kind: child.tag == "offer" ? .received : .ended, callID: callID, from: phone ?? lid ?? creator.user,
                fromLID: lid.map { "\($0)@lid" }, callerDevice: from.description, creator: creator.description,
                isVideo: child.child("video") != nil || child.string("media") == "video",
                group: group, reason: child.string("reason"), timestamp: timestamp)
        } catch {
            logger.debug("call not read", metadata: ["error": "\(error)"])
        }
        if let event {
            guard await commit([.call(event)], changes: transaction.changes) == .committed else {
                await socket.close()
                return
            }
        }
        await send(acknowledgement(of: node, error: nil), on: socket)
    }

    /// `<call to=CALLER><reject call-id call-creator count="0"/></call>`.
    func reject(_ call: CallEvent, on socket: NoiseSocket) async throws {
        guard let device = JID(call.callerDevice), let creator = JID(call.creator) else {
            throw EngineError.invalidRequest("the call names no caller")
        }
        try await socket.send(
            BinaryNode(
                "call", ["id": .string(Self.newRequestKey()), "to": .jid(device.account), "from": .jid(account.jid.account)],
                children: [BinaryNode("reject", ["call-id": .string(call.callID), "call-creator": .jid(creator), "count": "0"])]))
    }
}
