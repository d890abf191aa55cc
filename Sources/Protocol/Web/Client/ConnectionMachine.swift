/// What one connection to WhatsApp is doing, and what each stanza from the server means for it.
///
/// A state machine without I/O: the connection feeds it every top-level node and performs the
/// action it returns. Reconnecting with backoff after a drop is the session manager's job (the same
/// policy for every engine); this machine only says which kind of end a connection had.
struct ConnectionMachine: Sendable {
    enum Phase: Equatable, Sendable {
        /// Registration payload sent: waiting for refs to show as QR codes, or for a pairing code.
        case registering
        /// The phone confirmed; waiting for the server to ask for a restart (stream error 515).
        case paired
        /// Login payload sent: waiting for `<success>` or `<failure>`.
        case loggingIn
        case connected
        case ended(ConnectionEnd)
    }

    /// How a connection ended, which decides what happens next.
    enum ConnectionEnd: Equatable, Sendable {
        /// Reconnect at once and log in (after pairing, or when the server asks).
        case restart
        /// The link is gone: forget the credentials, a new pairing is needed.
        case loggedOut(String)
        /// A drop, a refusal that may pass, or a stop we asked for: report it and let the session
        /// manager retry with backoff.
        case dropped(String)
        /// Another client took this device's connection over. Retrying would take it back, and the
        /// two would push each other out forever; stop until someone restarts the session.
        case replaced(String)
    }

    enum Action: Equatable, Sendable {
        case showRefs(iqID: String, refs: [String])
        case pairSuccess
        case linkCodeHello
        case loggedIn
        /// An answer to one of our `<iq>` requests.
        case response(id: String)
        /// The server pinged us; answer with an empty result.
        case answerPing(id: String)
        /// Stanzas the server wants acknowledged so that it does not send them again.
        case acknowledge
        /// Messages, receipts and notifications of a logged-in connection: handled in order, each
        /// acknowledged once what it means is stored.
        case inbound
        /// A contact typing or coming online.
        case presence
        /// The server is about to deliver what queued up while we were away; ask for it.
        case offlinePreview
        case end(ConnectionEnd)
        case ignore
    }

    private(set) var phase: Phase

    init(linked: Bool) {
        phase = linked ? .loggingIn : .registering
    }

    mutating func receive(_ node: BinaryNode) -> Action {
        if case .ended = phase { return .ignore }
        switch node.tag {
        case "stream:error":
            return end(Self.classifyStreamError(node))
        case "failure":
            return end(Self.classifyFailure(node))
        case "success":
            guard phase == .loggingIn else { return .ignore }
            phase = .connected
            return .loggedIn
        case "iq":
            return receiveIQ(node)
        case "notification":
            if node.child("link_code_companion_reg") != nil, phase == .registering { return .linkCodeHello }
            let handled = ["encrypt", "devices", "mediaretry", "w:gp2", "picture"].contains(node.string("type") ?? "")
            return phase == .connected && handled ? .inbound : .acknowledge
        case "message", "receipt":
            return phase == .connected ? .inbound : .acknowledge
        case "call":
            return phase == .connected ? .inbound : .acknowledge
        case "chatstate", "presence":
            return phase == .connected ? .presence : .ignore
        case "ack":
            // The server's answer to a message we sent.
            return node.string("class") == "message" ? .response(id: node.string("id") ?? "") : .ignore
        case "ib":
            return node.child("offline_preview") != nil ? .offlinePreview : .ignore
        case "xmlstreamend":
            return end(.dropped("the server closed the stream"))
        default:
            return .ignore
        }
    }

    /// The connection closed underneath us (socket error, keepalive timeout, our own disconnect).
    mutating func closed(_ reason: String) -> ConnectionEnd {
        if case .ended(let end) = phase { return end }
        let end: ConnectionEnd = phase == .paired ? .restart : .dropped(reason)
        phase = .ended(end)
        return end
    }

    mutating func pairingAccepted() {
        if phase == .registering { phase = .paired }
    }

    private mutating func end(_ end: ConnectionEnd) -> Action {
        phase = .ended(end)
        return .end(end)
    }

    private mutating func receiveIQ(_ node: BinaryNode) -> Action {
        let id = node.string("id") ?? ""
        switch node.string("type") {
        case "result", "error":
            return .response(id: id)
        case "get" where node.string("xmlns") == "urn:xmpp:ping":
            return .answerPing(id: id)
        case "set":
            if let pairDevice = node.child("pair-device"), phase == .registering {
                let refs = pairDevice.children.filter { $0.tag == "ref" }.compactMap(\.bytes).map {
                    String(decoding: $0, as: UTF8.self)
                }
                return .showRefs(iqID: id, refs: refs)
            }
            if node.child("pair-success") != nil, phase == .registering { return .pairSuccess }
            return .ignore
        default:
            return .ignore
        }
    }

    /// `<stream:error code=…>`: 515 asks for a restart (it follows every pairing); a
    /// `device_removed` conflict means the phone unlinked us; `replaced` means another client
    /// connected as this device; anything else is a drop to retry.
    static func classifyStreamError(_ node: BinaryNode) -> ConnectionEnd {
        let code = node.string("code")
        let conflict = node.child("conflict")?.string("type")
        switch (code, conflict) {
        case ("515", _): return .restart
        case (_, "device_removed"): return .loggedOut("the device was removed from the phone")
        case (_, "replaced"): return .replaced("another connection replaced this one; restart the session to take over")
        default: return .dropped("stream error \(code ?? conflict ?? "without a code")")
        }
    }

    /// `<failure reason=…>` refuses a login: 401, 403 and 406 end the link; 405 means WhatsApp
    /// refuses our client version.
    static func classifyFailure(_ node: BinaryNode) -> ConnectionEnd {
        switch node.string("reason") {
        case "401": .loggedOut("WhatsApp logged this device out")
        case "403": .loggedOut("WhatsApp refused this account (403)")
        case "406": .loggedOut("WhatsApp ended the link (406)")
        case "405": .dropped("WhatsApp refuses this client version; set WA_VERSION to a current one")
        case let reason: .dropped("WhatsApp refused the login (\(reason ?? "no reason"))")
        }
    }
}
