import Crypto
import Foundation
import Logging
import WharfCore

/// One connection to WhatsApp's Web endpoint, from the WebSocket upgrade to its end: the Noise
/// handshake, then every stanza through `ConnectionMachine`, pairing, login and keepalive.
///
/// The engine makes a new one per attempt; `run()` returns how the connection ended.
actor WebConnection {
    typealias StatusSink = @Sendable (SessionStatus) -> Void
    typealias CredentialsSink = @Sendable (DeviceCredentials) async throws -> Void
    typealias EventSink = @Sendable (EngineEvent) -> Void

    private let configuration: WebEngineConfiguration
    private var credentials: DeviceCredentials
    private let clock: any WharfClock
    private let logger: Logger
    private let emit: StatusSink
    private let save: CredentialsSink
    private let deliver: EventSink
    /// The engine's credentials store, where the Signal state lives.
    private let store: any CredentialsStore
    /// Messaging, once logged in.
    private var messenger: Messenger?
    /// Messages, receipts and notifications, handled one after the other in arrival order.
    private let inbox: AsyncStream<BinaryNode>
    private let inboxInput: AsyncStream<BinaryNode>.Continuation
    private var machine: ConnectionMachine
    private var socket: NoiseSocket?
    /// The WebSocket from the moment it is open, so `close()` works during the handshake too.
    private var outbound: WebSocket.Writer?
    /// The TCP connection before the WebSocket is open (during TLS and the upgrade).
    private var closer: WebSocket.Closer?
    private var finished = false
    private var background: [Task<Void, Never>] = []
    private var qrRotation: Task<Void, Never>?
    private var closeReason: String?
    private var linkCode: (code: LinkCode, phone: String, ref: [UInt8])?

    init(
        configuration: WebEngineConfiguration, credentials: DeviceCredentials, store: any CredentialsStore, clock: any WharfClock,
        logger: Logger, emit: @escaping StatusSink, deliver: @escaping EventSink, save: @escaping CredentialsSink
    ) {
        self.configuration = configuration
        self.credentials = credentials
        self.store = store
        self.clock = clock
        self.logger = logger
        self.emit = emit
        self.deliver = deliver
        self.save = save
        self.machine = ConnectionMachine(linked: credentials.account != nil)
        (inbox, inboxInput) = AsyncStream.makeStream(of: BinaryNode.self)
    }

    /// The credentials as this connection last knew them (pairing adds the account).
    var currentCredentials: DeviceCredentials { credentials }

    func run() async -> ConnectionMachine.ConnectionEnd {
        do {
            var proxy: WebSocket.Proxy?
            if let configured = configuration.proxy {
                do {
                    guard let address = try configured.addresses().first else {
                        throw ProxyHandshakeError.unresolvable(configured.endpoint.host)
                    }
                    proxy = WebSocket.Proxy(endpoint: configured.endpoint, address: address)
                } catch {
                    closeReason = "the proxy \(configured.endpoint.redacted) may not be used: \(error)"
                    throw error
                }
            }
            // A frame is at most 16 MiB; the WebSocket message around it may carry a few more bytes.
            try await WebSocket.connect(
                url: configuration.url, origin: configuration.origin, maximumMessage: 1 << 25, proxy: proxy,
                connectTimeout: .milliseconds(configuration.connectTimeout.milliseconds),
                upgradeTimeout: .milliseconds(configuration.connectTimeout.milliseconds),
                opened: { closer in Task { await self.adopt(closer) } }
            ) { messages, writer in
                await self.drive(&messages, writer)
            }
        } catch {
            if closeReason == nil {
                let route = configuration.proxy.map { " through the proxy \($0.endpoint.redacted)" } ?? ""
                closeReason = "could not reach WhatsApp\(route): \(error)"
            }
        }
        await finish()
        return machine.closed(closeReason ?? "the connection closed")
    }

    /// Ends the connection; `run()` then returns. Before the WebSocket is open, the attempt ends as
    /// soon as it opens.
    func close(_ reason: String) async {
        if closeReason == nil { closeReason = reason }
        if let socket {
            await socket.close()
        } else if let outbound {
            await outbound.close()
        } else {
            closer?.close()
        }
    }

    private func adopt(_ closer: WebSocket.Closer) {
        self.closer = closer
        if closeReason != nil { closer.close() }
    }

    private func finish() async {
        finished = true
        inboxInput.finish()
        qrRotation?.cancel()
        for task in background { task.cancel() }
        background = []
        await socket?.close()
    }

    // MARK: - Handshake and read loop

    /// Runs outside the actor: the WebSocket iterator belongs to this one task. State changes go
    /// through the actor's methods.
    private nonisolated func drive(_ messages: inout WebSocket.Messages, _ outbound: WebSocket.Writer) async {
        guard await begin(outbound) else {
            await outbound.close()
            return
        }
        var reader = FrameReader()
        var writer = FrameWriter(header: ClientHandshake.header())
        let credentials = await currentCredentials
        var handshake = ClientHandshake(staticKey: credentials.noisePrivateKey, trust: configuration.trust)
        let deadline = Task { [clock, timeout = configuration.requestTimeout] in
            guard (try? await clock.sleep(for: timeout)) != nil else { return }
            await self.noteEnd("the WhatsApp handshake timed out")
            await outbound.close()
        }
        defer { deadline.cancel() }

        func nextFrame() async throws -> [UInt8]? {
            while true {
                if let frame = reader.next() { return frame }
                guard let message = try await messages.next() else { return nil }
                reader.append(message)
            }
        }

        let transport: NoiseTransport
        do {
            try await outbound.send(try writer.frame(handshake.clientHello()))
            guard let serverHello = try await nextFrame() else {
                await noteEnd("WhatsApp closed the connection during the handshake")
                return
            }
            try handshake.receiveServerHello(serverHello, now: clock.now)
            let payload: [UInt8]
            if let account = credentials.account, let jid = JID(account.jid), let user = UInt64(jid.user) {
                payload = ClientPayloadBuilder.login(user: user, device: UInt32(jid.device), configuration: configuration)
            } else {
                payload = ClientPayloadBuilder.registration(credentials, configuration: configuration)
            }
            let finish = try handshake.clientFinish(payload: payload)
            try await outbound.send(try writer.frame(finish.message))
            transport = finish.transport
        } catch {
            await noteEnd("the WhatsApp handshake failed: \(error)")
            await outbound.close()
            return
        }
        deadline.cancel()
        var receiver = transport.receiver
        let socket = NoiseSocket(sender: transport.sender, outbound: outbound, writer: writer)
        guard await attach(socket) else {
            await socket.close()
            return
        }

        let decoder = BinaryDecoder()
        do {
            while let frame = try await nextFrame() {
                let node = try decoder.decodeFrame(try receiver.open(frame))
                logger.trace("received \(node)")
                if await handle(node, socket: socket) { break }
            }
        } catch {
            await noteEnd("the connection failed: \(error)")
        }
        await socket.close()
    }

    private func noteEnd(_ reason: String) {
        if closeReason == nil { closeReason = reason }
    }

    /// `false` when the attempt was closed meanwhile.
    private func begin(_ outbound: WebSocket.Writer) -> Bool {
        self.outbound = outbound
        return closeReason == nil
    }

    /// `false` when the attempt was closed during the handshake.
    private func attach(_ socket: NoiseSocket) -> Bool {
        self.socket = socket
        return closeReason == nil
    }

    /// Performs what the machine says about one node; `true` ends the connection.
    private func handle(_ node: BinaryNode, socket: NoiseSocket) async -> Bool {
        switch machine.receive(node) {
        case .end(let end):
            if case .dropped(let reason) = end { closeReason = closeReason ?? reason }
            return true
        case .response:
            await socket.deliver(node)
        case .answerPing(let id):
            try? await socket.send(BinaryNode("iq", ["to": .jid(.server), "type": "result", "id": .string(id)]))
        case .acknowledge:
            try? await socket.send(Self.acknowledgement(of: node))
        case .showRefs(let id, let refs):
            try? await socket.send(BinaryNode("iq", ["to": .jid(.server), "id": .string(id), "type": "result"]))
            rotateQRCodes(refs)
        case .pairSuccess:
            await pair(node, socket: socket)
        case .linkCodeHello:
            try? await socket.send(Self.acknowledgement(of: node))
            spawn { await self.finishLinkCode(node, socket: socket) }
        case .loggedIn:
            spawn { await self.completeLogin(node, socket: socket) }
        case .inbound:
            inboxInput.yield(node)
        case .presence:
            if let update = await messenger?.presence(from: node) { deliver(.presence(update)) }
        case .offlinePreview:
            // WhatsApp Web asks for the queued stanzas in batches; without asking, few arrive.
            try? await socket.send(BinaryNode("ib", children: [BinaryNode("offline_batch", ["count": "100"])]))
        case .ignore:
            break
        }
        return false
    }

    static func acknowledgement(of node: BinaryNode) -> BinaryNode {
        var attributes: [BinaryNode.Attribute] = [.init("class", .string(node.tag)), .init("id", .string(node.string("id") ?? ""))]
        if let from = node[attribute: "from"] { attributes.append(.init("to", from)) }
        if let participant = node[attribute: "participant"] { attributes.append(.init("participant", participant)) }
        if node.tag != "message", let type = node[attribute: "type"] { attributes.append(.init("type", type)) }
        return BinaryNode("ack", attributes)
    }

    private func spawn(_ work: @escaping @Sendable () async -> Void) {
        guard !finished else { return }
        background.append(Task { await work() })
    }

    // MARK: - Pairing

    private func rotateQRCodes(_ refs: [String]) {
        qrRotation?.cancel()
        let credentials = credentials
        qrRotation = Task { [clock, emit] in
            for (index, ref) in refs.enumerated() {
                emit(.qr(QRCodeData.make(ref: ref, credentials: credentials)))
                guard (try? await clock.sleep(for: QRCodeData.lifetime(ofRefAt: index))) != nil else { return }
            }
            await self.close("the QR code was not scanned in time")
        }
    }

    private func pair(_ node: BinaryNode, socket: NoiseSocket) async {
        qrRotation?.cancel()
        let id = node.string("id") ?? ""
        do {
            let outcome = try PairSuccess.handle(node, credentials: credentials)
            var paired = credentials
            paired.account = outcome.account
            // Stored before the phone hears back: a crash after the reply must not lose the link.
            do {
                try await save(paired)
            } catch {
                throw PairSuccess.Refusal(code: 500, text: "internal-error")
            }
            credentials = paired
            try await socket.send(BinaryNode("iq", ["to": .jid(.server), "type": "result", "id": .string(id)], children: [outcome.reply]))
            machine.pairingAccepted()
            logger.info("paired as \(outcome.account.jid)")
        } catch let refusal as PairSuccess.Refusal {
            try? await socket.send(
                BinaryNode(
                    "iq", ["to": .jid(.server), "type": "error", "id": .string(id)],
                    children: [BinaryNode("error", ["code": .string(String(refusal.code)), "text": .string(refusal.text)])]))
            await close("pairing failed: \(refusal.text)")
        } catch {
            await close("pairing failed: \(error)")
        }
    }

    /// Asks the server for a code the user types on the phone at `phone` (digits, international).
    func requestPairingCode(phone: String) async throws -> String {
        guard let socket, machine.phase == .registering else { throw EngineError.notConnected }
        let code = LinkCode()
        let wrapped = try LinkCode.wrap(Array(code.ephemeral.publicKey.rawRepresentation), code: code.code)
        let answer = try await socket.request(
            BinaryNode(
                "iq", ["xmlns": "md", "type": "set", "to": .jid(.server)],
                children: [
                    BinaryNode(
                        "link_code_companion_reg",
                        [
                            "jid": .jid(JID(user: phone, server: JID.userServer)), "stage": "companion_hello",
                            "should_show_push_notification": "true",
                        ],
                        children: [
                            BinaryNode("link_code_pairing_wrapped_companion_ephemeral_pub", bytes: wrapped),
                            BinaryNode("companion_server_auth_key_pub", bytes: credentials.noisePublicKey),
                            BinaryNode("companion_platform_id", content: .text("1")),
                            BinaryNode("companion_platform_display", content: .text(.string(configuration.browserDisplay))),
                            BinaryNode("link_code_pairing_nonce", bytes: [0]),
                        ])
                ]), timeout: configuration.requestTimeout, clock: clock)
        guard let ref = answer.child("link_code_companion_reg")?.child("link_code_pairing_ref")?.bytes else {
            throw EngineError.rejected("WhatsApp did not return a pairing reference")
        }
        linkCode = (code, phone, ref)
        qrRotation?.cancel()
        emit(.pairingCode(code.displayCode))
        return code.displayCode
    }

    private func finishLinkCode(_ notification: BinaryNode, socket: NoiseSocket) async {
        guard let pending = linkCode, let hello = notification.child("link_code_companion_reg"),
            hello.child("link_code_pairing_ref")?.bytes == pending.ref,
            let wrapped = hello.child("link_code_pairing_wrapped_primary_ephemeral_pub")?.bytes,
            let primaryIdentity = hello.child("primary_identity_pub")?.bytes
        else {
            logger.warning("ignored a code-pairing notification that matches no pairing in progress")
            return
        }
        do {
            let finish = try pending.code.finish(
                primaryWrappedEphemeral: wrapped, primaryIdentity: primaryIdentity, identity: credentials.identityPrivateKey)
            credentials.advSecret = Data(finish.advSecret)
            try await save(credentials)
            _ = try await socket.request(
                BinaryNode(
                    "iq", ["xmlns": "md", "type": "set", "to": .jid(.server)],
                    children: [
                        BinaryNode(
                            "link_code_companion_reg",
                            [
                                "jid": .jid(JID(user: pending.phone, server: JID.userServer)), "stage": "companion_finish",
                            ],
                            children: [
                                BinaryNode("link_code_pairing_wrapped_key_bundle", bytes: finish.wrappedKeyBundle),
                                BinaryNode("companion_identity_public", bytes: credentials.identityPublicKey),
                                BinaryNode("link_code_pairing_ref", bytes: pending.ref),
                            ])
                    ]), timeout: configuration.requestTimeout, clock: clock)
        } catch {
            await close("code pairing failed: \(error)")
        }
    }

    // MARK: - Login and keepalive

    private func completeLogin(_ success: BinaryNode, socket: NoiseSocket) async {
        guard let messenger = makeMessenger(success: success) else {
            await close("the stored account cannot be used to log in; log out and link again")
            return
        }
        self.messenger = messenger
        do {
            // Before going active (which is when the server starts delivering): enough prekeys
            // for contacts to reach us, and a fresh signed prekey.
            if let rotated = try await messenger.prepareKeys(credentials: credentials, on: socket) { credentials = rotated }
        } catch {
            await close("WhatsApp did not take the device's prekeys: \(error)")
            return
        }
        spawn { await self.processInbox(messenger, socket: socket) }
        do {
            _ = try await socket.request(
                BinaryNode("iq", ["to": .jid(.server), "xmlns": "passive", "type": "set"], children: [BinaryNode("active")]),
                timeout: configuration.requestTimeout, clock: clock)
        } catch {
            await close("WhatsApp did not accept the active state: \(error)")
            return
        }
        // The connection may have ended while we waited; a late "connected" would hide that.
        guard closeReason == nil, !finished, machine.phase == .connected,
            let account = credentials.account, let jid = JID(account.jid)
        else { return }
        try? await socket.send(BinaryNode("presence", ["type": "available"]))
        emit(.connected(Account(jid: jid.account.description, phone: jid.user)))
        spawn { await self.keepalive(socket: socket) }
    }

    private func makeMessenger(success: BinaryNode) -> Messenger? {
        guard let linked = credentials.account, let jid = JID(linked.jid) else { return nil }
        var lid = linked.lid.flatMap(JID.init)
        if case .jid(let given)? = success[attribute: "lid"] { lid = given }
        let account = Messenger.Account(
            jid: jid, lid: lid, identity: LocalIdentity(keyPair: credentials.identityKey, registrationID: credentials.registrationID),
            signedPreKeyID: credentials.signedPreKeyID, signedPreKey: credentials.signedPreKey,
            signedPreKeySignature: Array(credentials.signedPreKeySignature), signedIdentity: Array(linked.signedIdentity),
            primaryIdentity: Array(linked.accountSignatureKey))
        var media = configuration.media
        if let proxy = configuration.proxy, let transport = media.transport {
            media.transport = ProxiedHTTPTransport(transport, through: proxy.endpoint)
        }
        return Messenger(
            account: account, store: store, clock: clock, requestTimeout: configuration.requestTimeout, logger: logger,
            media: media, deliver: deliver)
    }

    /// Handles messages, receipts and notifications in arrival order; each is acknowledged to
    /// WhatsApp only once what it meant is stored.
    private nonisolated func processInbox(_ messenger: Messenger, socket: NoiseSocket) async {
        for await node in inbox {
            switch node.tag {
            case "message": await messenger.receive(message: node, on: socket)
            case "receipt": await messenger.receive(receipt: node, on: socket)
            case "notification": await messenger.receive(notification: node, on: socket)
            case "call": await messenger.receive(call: node, on: socket)
            default: break
            }
        }
    }

    // MARK: Messaging

    private func loggedIn() throws -> (Messenger, NoiseSocket) {
        guard let messenger, let socket, machine.phase == .connected, !finished else { throw EngineError.notConnected }
        return (messenger, socket)
    }

    func send(_ message: OutboundMessage) async throws -> SentMessage {
        let (messenger, socket) = try loggedIn()
        return try await messenger.send(message, on: socket)
    }

    /// Runs `body` with the logged-in connection's messenger and socket.
    func messaging<T: Sendable>(_ body: @Sendable (Messenger, NoiseSocket) async throws -> T) async throws -> T {
        let (messenger, socket) = try loggedIn()
        return try await body(messenger, socket)
    }

    func setPresence(_ presence: ChatPresence, in chat: ChatID) async throws {
        let (messenger, socket) = try loggedIn()
        try await messenger.setPresence(presence, in: chat, on: socket)
    }

    func markRead(chat: ChatID, messageIDs: [String]) async throws {
        let (messenger, socket) = try loggedIn()
        try await messenger.markRead(chat: chat, messageIDs: messageIDs, on: socket)
    }

    func downloadMedia(_ reference: MediaReference, to file: URL) async throws(MediaDownloadError) -> MediaReference? {
        guard let (messenger, socket) = try? loggedIn() else { throw MediaDownloadError(EngineError.notConnected.description, isRetryable: true) }
        return try await messenger.downloadMedia(reference, to: file, on: socket)
    }

    /// One ping answered now, on top of the keepalive's own (the gateway's liveness probe).
    func probe() async throws {
        let (_, socket) = try loggedIn()
        try await ping(socket)
    }

    /// `<iq xmlns="w:p"><ping/></iq>`, answered by WhatsApp's server with an empty result.
    private func ping(_ socket: NoiseSocket) async throws {
        _ = try await socket.request(
            BinaryNode("iq", ["to": .jid(.server), "xmlns": "w:p", "type": "get"], children: [BinaryNode("ping")]),
            timeout: configuration.requestTimeout, clock: clock)
    }

    private func keepalive(socket: NoiseSocket) async {
        var failures = 0
        while !Task.isCancelled {
            let wait = Double.random(in: configuration.keepaliveInterval)
            guard (try? await clock.sleep(for: .milliseconds(Int64(wait * 1000)))) != nil else { return }
            do {
                try await ping(socket)
                failures = 0
            } catch {
                failures += 1
                if failures >= configuration.keepaliveMaximumFailures {
                    await close("WhatsApp stopped answering keepalive pings")
                    return
                }
            }
        }
    }

    /// Unlinks this device on WhatsApp's side, then closes.
    func logout() async throws {
        guard let socket, machine.phase == .connected, let account = credentials.account, let jid = JID(account.jid) else {
            throw EngineError.notConnected
        }
        _ = try await socket.request(
            BinaryNode(
                "iq", ["xmlns": "md", "type": "set", "to": .jid(.server)],
                children: [
                    BinaryNode("remove-companion-device", ["jid": .jid(jid), "reason": "user_initiated"])
                ]), timeout: configuration.requestTimeout, clock: clock)
        await close("logged out")
    }
}
