import Foundation
import WharfCore

/// A simulated WhatsApp account, so flows can be tried (and tested) with no phone.
///
/// It links instantly or through a QR step, accepts inbound messages injected by the tenant or the
/// tests, records every presence step and every send with its time on the injected clock, and can
/// run an echo contact that answers what it is sent. It keeps its "linked device" in the
/// credentials store exactly like a real engine, so a restart resumes without a new QR.
public actor SandboxEngine: Engine {
    /// The phone number of the built-in echo contact.
    public static let echoContact = "15550000000"

    public nonisolated let kind: EngineKind = .sandbox
    /// Everything a WhatsApp account can be asked to send, and the simulation routes.
    public static let capabilities = EngineCapabilities(
        textLimit: 65_536, chatKinds: Set(EngineCapabilities.ChatKind.allCases), mediaSource: .file,
        messageTypes: MessageType.basic.union(MessageType.rich), linking: .linkedDevice(phoneCode: false), isSimulated: true,
        hasContactLookups: true)
    public nonisolated let events: AsyncStream<EngineEvent>

    private let options: SandboxOptions
    let credentials: any CredentialsStore
    let clock: any WharfClock
    let continuation: AsyncStream<EngineEvent>.Continuation
    private var state: State = .idle
    private var records: [SandboxRecord] = []
    private var messageCounter = 0
    private var sentIDs: [String: SentMessage] = [:]
    /// Cleared by ``simulateSilentConnection()``: the connection looks up but nothing answers.
    private var answersProbes = true
    /// The probes this engine answered.
    public private(set) var probesAnswered = 0

    private enum State {
        case idle
        case waitingForScan(qr: String)
        case connected(Account)
        case loggedOut
    }

    private static let accountKey = "sandbox.account"

    public init(options: SandboxOptions, credentials: any CredentialsStore, clock: any WharfClock) {
        self.options = options
        self.credentials = credentials
        self.clock = clock
        (events, continuation) = AsyncStream.makeStream(of: EngineEvent.self)
    }

    // MARK: Engine

    public func connect() async throws {
        if case .connected = state { return }
        continuation.yield(.status(.connecting))
        let stored: Data?
        do {
            stored = try await credentials.value(forKey: Self.accountKey)
        } catch {
            throw EngineError.unreadableState("the simulated account cannot be read (\(error)); log out and link again")
        }
        if let stored {
            guard let account = try? JSONDecoder().decode(Account.self, from: stored) else {
                throw EngineError.unreadableState("the simulated account cannot be read; log out and link again")
            }
            becomeConnected(account)
        } else if options.requiresQRScan {
            let qr = "sandbox-qr:" + Identifier.token(byteCount: 12)
            state = .waitingForScan(qr: qr)
            continuation.yield(.status(.qr(qr)))
        } else {
            try await link()
        }
    }

    public func disconnect() async {
        guard case .connected = state else { return }
        state = .idle
        continuation.yield(.status(.disconnected(reason: "disconnected on request")))
    }

    public func logout() async throws {
        try await credentials.removeAll()
        state = .loggedOut
        continuation.yield(.status(.loggedOut(reason: "logged out on request")))
        continuation.finish()
    }

    public func shutdown() async {
        state = .idle
        continuation.finish()
    }

    public func send(_ message: OutboundMessage) async throws -> SentMessage {
        guard case .connected = state else { throw EngineError.notConnected }
        if let earlier = sentIDs[message.clientMessageID] { return earlier }
        if message.chat.isGroup, try await !isMember(of: message.chat) {
            throw EngineError.rejected("this account is not a member of the group (error 403)")
        }
        let sent = SentMessage(messageID: message.clientMessageID, timestamp: clock.now)
        sentIDs[message.clientMessageID] = sent
        var record = SandboxRecord(step: .send, chat: message.chat.rawValue, at: sent.timestamp)
        record.messageID = sent.messageID
        record.replyTo = message.replyTo
        switch message.content {
        case .text(let text):
            record.text = text
        case .media(let kind, _, let mimeType, let caption, let fileName):
            record.text = caption
            record.media = SandboxRecord.Media(kind: kind.rawValue, mimeType: mimeType, fileName: fileName)
        case .mediaLink(let kind, let url, let caption, let fileName):
            record.text = caption
            record.media = SandboxRecord.Media(kind: kind.rawValue, mimeType: "", fileName: fileName, url: url)
        case .reaction(let target, let emoji):
            record.type = "reaction"
            record.target = target
            record.text = emoji
        case .location(let place):
            record.type = "location"
            record.location = place
        case .contacts(let cards):
            record.type = "contact"
            record.contacts = cards
        case .poll(let poll):
            record.type = "poll"
            record.poll = poll
            record.text = poll.name
        case .edit(let target, let text):
            record.type = "edit"
            record.target = target
            record.text = text
        case .revoke(let target):
            record.type = "revoke"
            record.target = target
        }
        records.append(record)
        continuation.yield(
            .receipt(MessageReceipt(messageID: sent.messageID, chat: message.chat, level: .server, timestamp: sent.timestamp)))
        if options.isEchoEnabled, message.chat.user == Self.echoContact, case .text(let text) = message.content {
            _ = try? await deliverInbound(from: Self.echoContact, fromName: "Echo", text: "echo: \(text)", awaitAck: false)
        }
        return sent
    }

    public func setPresence(_ presence: ChatPresence, in chat: ChatID, answering messageID: String?) async throws {
        guard case .connected = state else { throw EngineError.notConnected }
        let step: SandboxRecord.Step =
            switch presence {
            case .composing: .composing
            case .recording: .recording
            case .paused: .paused
            }
        records.append(SandboxRecord(step: step, chat: chat.rawValue, at: clock.now))
    }

    public func markRead(chat: ChatID, messageIDs: [String]) async throws {
        guard case .connected = state else { throw EngineError.notConnected }
        var record = SandboxRecord(step: .read, chat: chat.rawValue, at: clock.now)
        record.readMessageIDs = messageIDs
        records.append(record)
    }

    /// Answers at once, unless ``simulateSilentConnection()`` made the connection a silent one:
    /// then the answer never comes (the wait ends when the caller gives up).
    public func probe() async throws {
        guard case .connected = state else { throw EngineError.notConnected }
        guard answersProbes else {
            try await clock.sleep(for: .seconds(86_400))
            throw EngineError.notConnected
        }
        probesAnswered += 1
    }

    // MARK: Simulation

    /// Completes a pending QR link as if the phone had scanned the code.
    public func scanQR() async throws {
        guard case .waitingForScan = state else {
            throw EngineError.invalidRequest("there is no QR code waiting to be scanned")
        }
        try await link()
    }

    /// Delivers a message from a simulated contact and returns once the gateway has acknowledged it,
    /// that is once it is stored durably.
    public func injectInbound(
        from contact: String, fromName: String? = nil, text: String, group: ChatID? = nil
    ) async throws
        -> InboundMessage
    {
        if let group, try await !isMember(of: group) {
            throw EngineError.rejected("the sandbox account is not a member of group '\(group)'")
        }
        return try await deliverInbound(from: contact, fromName: fromName, text: text, group: group, awaitAck: true)
    }

    /// Drops the connection as a network failure would, so the gateway's reconnect logic runs.
    public func simulateConnectionLoss() {
        guard case .connected = state else { return }
        state = .idle
        continuation.yield(.status(.disconnected(reason: "connection lost (simulated)")))
    }

    /// Keeps the session "connected" but stops answering probes, as a connection does whose
    /// other end vanished without closing it (a NAT timeout, a dead Wi-Fi). A new connection
    /// (another engine for the session) answers again.
    public func simulateSilentConnection() {
        answersProbes = false
    }

    func note(_ record: SandboxRecord) { records.append(record) }

    /// Everything the session did, oldest first.
    public func recordedSteps() -> [SandboxRecord] { records }

    /// The linked account, if connected.
    public var account: Account? {
        if case .connected(let account) = state { return account }
        return nil
    }

    // MARK: Private

    private func link() async throws {
        let number = "1555" + String(format: "%07d", Int.random(in: 0..<10_000_000))
        let account = Account(jid: "\(number)@s.whatsapp.net", phone: number, pushName: "Sandbox")
        try await credentials.setValue(try JSONEncoder().encode(account), forKey: Self.accountKey)
        becomeConnected(account)
    }

    private func becomeConnected(_ account: Account) {
        state = .connected(account)
        continuation.yield(.status(.connected(account)))
    }

    private func deliverInbound(
        from contact: String, fromName: String?, text: String, group: ChatID? = nil, awaitAck: Bool
    ) async throws
        -> InboundMessage
    {
        guard case .connected = state else { throw EngineError.notConnected }
        messageCounter += 1
        let digits = contact.filter(\.isNumber)
        let message = InboundMessage(
            id: "SBX" + Identifier.token(byteCount: 9).uppercased().filter { $0.isLetter || $0.isNumber },
            chat: group ?? ChatID("\(digits)@s.whatsapp.net"),
            from: digits,
            fromName: fromName,
            text: text,
            timestamp: clock.now
        )
        if awaitAck {
            await deliverStored([.message(message)])
        } else {
            continuation.yield(.inbound([.message(message)], .none))
        }
        return message
    }

    /// Hands inbound events to the gateway as a real engine would and returns once they are
    /// stored (or storing failed).
    func deliverStored(_ events: [InboundEvent]) async {
        await withCheckedContinuation { (stored: CheckedContinuation<Void, Never>) in
            continuation.yield(.inbound(events, Acknowledgement(onFailure: { _ in stored.resume() }) { stored.resume() }))
        }
    }
}

/// How a sandbox session behaves.
public struct SandboxOptions: Sendable, Codable, Equatable {
    /// Whether linking goes through a QR step that must be "scanned" through the API.
    public var requiresQRScan: Bool
    /// Whether the echo contact (``SandboxEngine/echoContact``) answers what it is sent.
    public var isEchoEnabled: Bool

    public init(requiresQRScan: Bool = false, isEchoEnabled: Bool = false) {
        self.requiresQRScan = requiresQRScan
        self.isEchoEnabled = isEchoEnabled
    }

    enum CodingKeys: String, CodingKey {
        case requiresQRScan = "qr"
        case isEchoEnabled = "echo"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requiresQRScan = try container.decodeIfPresent(Bool.self, forKey: .requiresQRScan) ?? false
        isEchoEnabled = try container.decodeIfPresent(Bool.self, forKey: .isEchoEnabled) ?? false
    }
}

/// One thing a sandbox session did, with when it did it.
public struct SandboxRecord: Sendable, Codable, Equatable {
    public enum Step: String, Sendable, Codable {
        case read, composing, recording, paused, send
        /// A call declined.
        case reject
        /// A presence subscription, and the account's own availability (`text`).
        case subscribe, availability
    }

    public struct Media: Sendable, Codable, Equatable {
        public var kind: String
        public var mimeType: String
        public var fileName: String?
        /// Set when the media was passed on by link rather than as bytes.
        public var url: String?
    }

    public var step: Step
    public var chat: String
    public var at: Date
    public var text: String?
    public var messageID: String?
    public var replyTo: String?
    public var media: Media?
    public var readMessageIDs: [String]?
    /// For rich messages: `reaction`, `location`, `contact`, `poll`, `edit` or `revoke`, the
    /// message a reaction, edit or revoke is about, and what was shared.
    public var type: String?
    public var target: String?
    public var location: Location?
    public var contacts: [ContactCard]?
    public var poll: Poll?

    public init(step: Step, chat: String, at: Date) {
        self.step = step
        self.chat = chat
        self.at = at
    }
}
