import Foundation
import Logging
import WharfCore

/// A business phone number on Meta's official WhatsApp Cloud API, behind the engine contract.
///
/// Outbound is the Graph API: `connect()` asks for the number's details (which proves the token),
/// `send` posts messages by link, `markRead` and typing post read receipts. Inbound does not come
/// through here: Meta posts it to the gateway's webhook route, which checks the signature, stores
/// the events and only then answers Meta. That answer is the acknowledgement, so this engine's
/// event stream carries status changes only.
public actor CloudEngine: Engine {
    public nonisolated let kind: EngineKind = .cloud
    public nonisolated let events: AsyncStream<EngineEvent>
    /// Meta hides the indicator after 25 seconds and shows it only in answer to a message.
    /// Phone numbers only, 4,096 characters, media by link; the typing indicator answers an
    /// inbound message and fades after 25 s, so it is sent again every 20 s.
    /// Reactions, places and contact cards too; polls, edits and deletions the Cloud API lacks.
    public static let capabilities = EngineCapabilities(
        textLimit: 4096, chatKinds: [.person], mediaSource: .link, messageTypes: MessageType.basic.union([.reaction, .location, .contact]),
        typing: TypingIndicator(needsInboundMessage: true, resendInterval: .seconds(20)), linking: .configured)

    private let credentials: any CredentialsStore
    private let transport: any HTTPTransport
    private let clock: any WharfClock
    private let timeout: Duration
    private let logger: Logger
    private let continuation: AsyncStream<EngineEvent>.Continuation
    private var client: GraphClient?
    private var account: Account?
    /// Counts disconnects, so a connect that was waiting on Meta when one happened does not undo it.
    private var generation = 0

    public init(
        credentials: any CredentialsStore, transport: any HTTPTransport, clock: any WharfClock,
        timeout: Duration = .seconds(15), logger: Logger = Logger(label: "wharf.cloud")
    ) {
        self.credentials = credentials
        self.transport = transport
        self.clock = clock
        self.timeout = timeout
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: EngineEvent.self)
    }

    // MARK: Engine

    public func connect() async throws {
        if account != nil { return }
        let configuration: CloudConfiguration
        do {
            guard let stored = try await CloudConfiguration.load(from: credentials) else {
                continuation.yield(.status(.stopped(reason: "the session has no Cloud API settings; delete it and create it again with 'cloud'")))
                return
            }
            configuration = stored
        } catch {
            continuation.yield(.status(.stopped(reason: "the session's Cloud API settings cannot be read: \(error)")))
            return
        }
        continuation.yield(.status(.connecting))
        let client = GraphClient(configuration: configuration, transport: transport, timeout: timeout)
        let attempt = generation
        do {
            let number = try await client.phoneNumber()
            guard attempt == generation else { return }
            let digits = (number.display_phone_number ?? "").filter(\.isNumber)
            let account = Account(jid: "\(digits)@s.whatsapp.net", phone: digits, pushName: number.verified_name)
            self.client = client
            self.account = account
            continuation.yield(.status(.connected(account)))
        } catch {
            guard attempt == generation else { return }
            switch error.verdict {
            case .retry(let reason):
                continuation.yield(.status(.disconnected(reason: reason)))
            case .fail(let reason):
                continuation.yield(.status(.stopped(reason: reason)))
            }
        }
    }

    public func disconnect() async {
        guard account != nil else { return }
        drop()
        continuation.yield(.status(.disconnected(reason: "disconnected on request")))
    }

    /// A Cloud API number is not a linked device: there is nothing to unlink at Meta. The engine
    /// just ends; the gateway deletes the session and its settings.
    public func logout() async throws {
        drop()
        continuation.finish()
    }

    public func shutdown() async {
        drop()
        continuation.finish()
    }

    public func send(_ message: OutboundMessage) async throws -> SentMessage {
        let client = try connectedClient()
        let to = try Self.recipient(message.chat)
        let body: [String: Any]
        switch message.content {
        case .text(let text):
            body = CloudRequest.text(to: to, body: text, replyTo: message.replyTo)
        case .mediaLink(let kind, let url, let caption, let fileName):
            body = CloudRequest.media(
                to: to, kind: CloudRequest.MediaKind(kind), link: url, caption: caption, fileName: fileName, replyTo: message.replyTo)
        case .media:
            throw EngineError.unsupported("media from a local file; the Cloud API sends media by link")
        case .reaction(let messageID, let emoji):
            body = CloudRequest.reaction(to: to, messageID: messageID, emoji: emoji)
        case .location(let location):
            body = CloudRequest.location(to: to, location, replyTo: message.replyTo)
        case .contacts(let cards):
            body = CloudRequest.contacts(to: to, cards, replyTo: message.replyTo)
        case .poll, .edit, .revoke:
            // Refused when the job is accepted: the Cloud API has no polls, edits or deletions.
            throw EngineError.unsupported("this message type on the Cloud API")
        }
        let json = try CloudRequest.encoded(body)
        // Accepted is accepted: without an id in the answer the message still went out, and sending
        // it again would deliver it twice. Its statuses then name no job.
        let id = try await perform({ try await client.postMessages(json, isRepeatable: false) })
        if id == nil { logger.warning("the Graph API accepted a message without returning its id") }
        return SentMessage(messageID: id ?? "", timestamp: clock.now)
    }

    public func setPresence(_ presence: ChatPresence, in chat: ChatID, answering messageID: String?) async throws {
        // Sending the message ends the indicator; there is no call that clears it earlier.
        guard presence != .paused, let messageID else { return }
        let client = try connectedClient()
        let json = try CloudRequest.encoded(CloudRequest.read(messageID: messageID, typing: true))
        try await perform({ try await client.postMessages(json, isRepeatable: true) })
    }

    /// Marking the newest message read marks every earlier one of the chat read too.
    public func markRead(chat: ChatID, messageIDs: [String]) async throws {
        guard let newest = messageIDs.last else { return }
        let client = try connectedClient()
        let json = try CloudRequest.encoded(CloudRequest.read(messageID: newest))
        try await perform({ try await client.postMessages(json, isRepeatable: true) })
    }

    /// Nothing to ask: the Cloud API keeps no connection that could die quietly (Meta calls the
    /// webhook, every send is its own request), so a configured engine always answers.
    public func probe() async throws {
        _ = try connectedClient()
    }

    // MARK: Private

    private func connectedClient() throws -> GraphClient {
        guard account != nil, let client else { throw EngineError.notConnected }
        return client
    }

    private func drop() {
        client = nil
        account = nil
        generation += 1
    }

    /// Runs a Graph call and turns its failure into the engine contract's errors. A refused token
    /// also stops the session: every further call would fail the same way until it gets a new one.
    @discardableResult
    private func perform<T: Sendable>(_ call: @Sendable () async throws -> T) async throws -> T {
        do {
            return try await call()
        } catch let error as GraphClient.Failure {
            logger.debug("graph call failed", metadata: ["error": "\(error)"])
            switch error.verdict {
            case .retry(let reason):
                throw EngineError.temporary(reason, retryAfter: error.retryAfter, affectsWholeSession: error.limitsWholeNumber)
            case .fail(let reason):
                if error.refusesToken, account != nil {
                    drop()
                    continuation.yield(.status(.stopped(reason: reason)))
                }
                throw EngineError.rejected(reason)
            }
        }
    }

    /// The Cloud API addresses people by phone number; groups and LIDs have no number to send to.
    public static func recipient(_ chat: ChatID) throws -> String {
        let server = chat.rawValue.split(separator: "@").dropFirst().first.map(String.init) ?? ""
        guard server == "s.whatsapp.net" || server == "c.us", !chat.user.isEmpty, chat.user.allSatisfy(\.isNumber) else {
            throw EngineError.invalidRequest("the Cloud API sends to phone numbers only, not to '\(chat.rawValue)'")
        }
        return chat.user
    }
}

extension CloudRequest.MediaKind {
    /// A voice note goes out as audio; WhatsApp shows an OGG/Opus one as a voice message.
    init(_ kind: MediaKind) {
        switch kind {
        case .image: self = .image
        case .video: self = .video
        case .audio, .voice: self = .audio
        case .document: self = .document
        case .sticker: self = .sticker
        }
    }
}
