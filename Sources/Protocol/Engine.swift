import Foundation

/// What every WhatsApp engine does, whatever wire it speaks.
///
/// The gateway holds one engine per session and knows nothing of how it reaches WhatsApp. Engines
/// report everything that happens through ``events``; what WhatsApp delivers comes with an
/// ``Acknowledgement`` that the gateway calls only after the events, and the engine state they
/// produced, are durably stored together, so an engine that dies before the acknowledgement lets
/// WhatsApp redeliver instead of losing the message or leaving it undecryptable.
public protocol Engine: AnyObject, Sendable {
    /// Which engine this is (`sandbox`, `web`, `cloud`).
    var kind: EngineKind { get }

    /// What every engine of this type can do; ``EngineKind/capabilities`` gives it by kind.
    static var capabilities: EngineCapabilities { get }

    /// Everything the engine observes, in order. The stream finishes when the engine is shut down
    /// for good (after ``shutdown()`` or ``logout()``).
    var events: AsyncStream<EngineEvent> { get }

    /// Starts connecting. Progress (QR codes, pairing codes, connected, disconnected) arrives as
    /// events; the call returns once the attempt has started or failed.
    func connect() async throws

    /// Drops the connection but keeps the credentials, so a later ``connect()`` resumes the session.
    func disconnect() async

    /// Unlinks the device and forgets the credentials.
    func logout() async throws

    /// Stops the engine for good and finishes ``events``.
    func shutdown() async

    /// Sends a message. `message.clientMessageID` makes a re-send after a crash idempotent.
    func send(_ message: OutboundMessage) async throws -> SentMessage

    /// Shows or clears "typing…" / "recording…" in a chat.
    ///
    /// - Parameter messageID: the inbound message the indicator answers. Engines whose indicator
    ///   must hang on one (see ``EngineCapabilities/typing``) show nothing without it; others ignore it.
    func setPresence(_ presence: ChatPresence, in chat: ChatID, answering messageID: String?) async throws

    /// Marks messages in a chat as read.
    func markRead(chat: ChatID, messageIDs: [String]) async throws

    /// Asks WhatsApp for an answer over the live connection and returns once it comes: the
    /// gateway's liveness probe of a session that has gone quiet, since a connection can die
    /// without closing ("connected" on the console, nothing arriving). It does not give up by
    /// itself: the caller bounds the wait and reconnects when no answer comes.
    ///
    /// - Throws: ``EngineError/notConnected`` when there is no connection to ask over.
    func probe() async throws

    /// Fetches a received message's file into `file`, decrypted and checked, streamed to disk.
    /// Returns the reference to keep from now on when fetching it took a new one (WhatsApp's link
    /// had expired and the phone uploaded the file again), else `nil`.
    ///
    /// - Throws: ``MediaDownloadError``.
    func downloadMedia(_ reference: MediaReference, to file: URL) async throws -> MediaReference?

    // MARK: Groups (engines whose ``EngineCapabilities/chatKinds`` include groups)

    /// Every group the account is in.
    func groups() async throws -> [GroupInfo]
    func groupInfo(_ group: ChatID) async throws -> GroupInfo
    /// Makes a group with the account as its owner and `participants` (people's chats) as members.
    func createGroup(subject: String, participants: [ChatID]) async throws -> GroupInfo
    func updateGroup(_ group: ChatID, _ setting: GroupSetting) async throws
    /// Adds, removes, promotes or demotes members; each gets its own result.
    func changeParticipants(
        _ group: ChatID, _ action: GroupParticipantAction, _ participants: [ChatID]
    ) async throws
        -> [GroupParticipantResult]
    /// The group's invite code (the link is `https://chat.whatsapp.com/` + code); `revoke` makes a new one.
    func inviteCode(of group: ChatID, revoke: Bool) async throws -> String
    func joinGroup(inviteCode: String) async throws -> ChatID
    func leaveGroup(_ group: ChatID) async throws

    /// Declines a ringing call (the caller sees it rejected).
    func rejectCall(_ call: CallEvent) async throws

    // MARK: Contacts and presence

    /// Whether each number is on WhatsApp, with its ids and the name seen; `withPicture` also
    /// fetches profile picture links (one request per number).
    func lookUpContacts(_ phones: [String], withPicture: Bool) async throws -> [ContactInfo]
    /// Asks WhatsApp for a contact's online and typing updates (`presence.update` events).
    func subscribePresence(_ chat: ChatID) async throws
    /// Shows the account as online (available) or not to its contacts.
    func setAvailability(_ available: Bool) async throws
}

extension Engine {
    /// Engines whose messages carry no file of their own to fetch.
    public func downloadMedia(_ reference: MediaReference, to file: URL) async throws -> MediaReference? {
        throw MediaDownloadError("this engine does not download media", isRetryable: false)
    }

    public func groups() async throws -> [GroupInfo] { throw EngineError.unsupported("groups") }
    public func groupInfo(_ group: ChatID) async throws -> GroupInfo { throw EngineError.unsupported("groups") }
    public func createGroup(subject: String, participants: [ChatID]) async throws -> GroupInfo { throw EngineError.unsupported("groups") }
    public func updateGroup(_ group: ChatID, _ setting: GroupSetting) async throws { throw EngineError.unsupported("groups") }
    public func changeParticipants(
        _ group: ChatID, _ action: GroupParticipantAction, _ participants: [ChatID]
    ) async throws
        -> [GroupParticipantResult]
    { throw EngineError.unsupported("groups") }
    public func inviteCode(of group: ChatID, revoke: Bool) async throws -> String { throw EngineError.unsupported("groups") }
    public func joinGroup(inviteCode: String) async throws -> ChatID { throw EngineError.unsupported("groups") }
    public func leaveGroup(_ group: ChatID) async throws { throw EngineError.unsupported("groups") }
    public func rejectCall(_ call: CallEvent) async throws { throw EngineError.unsupported("calls") }
    public func lookUpContacts(_ phones: [String], withPicture: Bool) async throws -> [ContactInfo] {
        throw EngineError.unsupported("contact look-ups")
    }
    public func subscribePresence(_ chat: ChatID) async throws { throw EngineError.unsupported("presence subscriptions") }
    public func setAvailability(_ available: Bool) async throws { throw EngineError.unsupported("presence") }

    /// What this engine can do (its type's ``Engine/capabilities``).
    public nonisolated var capabilities: EngineCapabilities { Self.capabilities }
}

/// How "typing…" works on an engine.
///
/// On WhatsApp Web a presence stays until it is changed. The Cloud API shows the indicator only
/// as an answer to an inbound message and hides it after 25 seconds, so longer typing has to
/// send it again, and a message nobody wrote in about gets no indicator at all.
public struct TypingIndicator: Sendable, Equatable {
    /// Whether the indicator must name an inbound message of the chat.
    public var needsInboundMessage: Bool
    /// How often to send the indicator again while typing goes on; `nil` when once is enough.
    public var resendInterval: Duration?

    public init(needsInboundMessage: Bool = false, resendInterval: Duration? = nil) {
        self.needsInboundMessage = needsInboundMessage
        self.resendInterval = resendInterval
    }
}

/// The engines Wharf knows.
public enum EngineKind: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case sandbox
    case web
    case cloud

    public var description: String { rawValue }
}

/// A chat presence a sender can show.
public enum ChatPresence: String, Sendable, Codable {
    case composing
    case recording
    case paused
}

/// Something an engine observed.
public enum EngineEvent: Sendable {
    case status(SessionStatus)
    /// What one stanza from WhatsApp meant (often one message, sometimes nothing a tenant sees),
    /// to be stored in one transaction with ``Acknowledgement/stateChanges``.
    case inbound([InboundEvent], Acknowledgement)
    /// A receipt that needs no acknowledgement after storing.
    case receipt(MessageReceipt)
    case presence(PresenceUpdate)
}

/// An event that arrived from WhatsApp.
public enum InboundEvent: Sendable, Equatable {
    case message(InboundMessage)
    case receipt(MessageReceipt)
    /// A message that could not be decrypted even after asking the sender to send it again.
    case undecryptable(UndecryptableMessage)
    /// A contact's device has a new identity key (a reinstall, a new phone).
    case identityChanged(IdentityChange)
    case edited(MessageEdit)
    case revoked(MessageRevocation)
    /// A group this account is in changed, or it joined or left one.
    case group(GroupUpdate)
    case reaction(MessageReaction)
    case pollVote(PollVote)
    case call(CallEvent)
}

/// Where a session's link to WhatsApp stands.
public enum SessionStatus: Sendable, Equatable {
    case connecting
    /// Waiting for the phone to scan this QR string.
    case qr(String)
    /// Waiting for the user to type this pairing code on the phone.
    case pairingCode(String)
    case connected(Account)
    case disconnected(reason: String)
    /// The link is gone for good (logged out on the phone, device removed); a new pairing is needed.
    case loggedOut(reason: String)
    /// The engine stopped and must not be reconnected by itself (another client took the device's
    /// connection over); the link is intact, and a restart resumes it.
    case stopped(reason: String)
}

/// The WhatsApp account a session is linked to.
public struct Account: Sendable, Equatable, Codable {
    public var jid: String
    public var phone: String
    public var pushName: String?

    public init(jid: String, phone: String, pushName: String? = nil) {
        self.jid = jid
        self.phone = phone
        self.pushName = pushName
    }
}

/// What the gateway does once it has stored inbound events: call the acknowledgement (the engine
/// then tells WhatsApp), or report that storing failed (the engine then lets WhatsApp deliver
/// again, and must not act as if the state changes were kept).
public struct Acknowledgement: Sendable {
    /// Engine state the events produced (an advanced Signal ratchet, a used prekey), to be written
    /// in the same transaction as the events: one without the other loses or duplicates a message.
    public let stateChanges: CredentialChanges
    private let committed: @Sendable () async -> Void
    private let failed: @Sendable (any Error) async -> Void

    public init(
        stateChanges: CredentialChanges = CredentialChanges(), onFailure: @escaping @Sendable (any Error) async -> Void = { _ in },
        _ committed: @escaping @Sendable () async -> Void
    ) {
        self.stateChanges = stateChanges
        self.committed = committed
        failed = onFailure
    }

    /// An acknowledgement that does nothing, for events that need none.
    public static let none = Acknowledgement {}

    /// The events and state changes are stored.
    public func callAsFunction() async { await committed() }

    /// They could not be stored; nothing was kept.
    public func storingFailed(_ error: any Error) async { await failed(error) }
}
