import Foundation
import Synchronization
import WhatsAppProtocol

/// Something that happened in a session, tagged with its owner, as the gateway passes it on.
public struct SessionEvent: Sendable {
    public enum Kind: Sendable {
        case status(SessionState, detail: String?)
        case qr(String)
        case pairingCode(String)
        case message(InboundMessage)
        case receipt(MessageReceipt)
        case undecryptable(UndecryptableMessage)
        case identityChanged(IdentityChange)
        case edited(MessageEdit)
        case revoked(MessageRevocation)
        case group(GroupUpdate)
        case reaction(MessageReaction)
        case pollVote(PollVote)
        case call(CallEvent)
        case presence(PresenceUpdate)
        /// A queued job was sent; `messageID` is WhatsApp's id for it.
        case messageSent(JobRecord, messageID: String)
        case messageFailed(JobRecord, reason: String)
        /// WhatsApp reported later that a message it had accepted could not be delivered (a Cloud
        /// API status); `job` is ours when Wharf sent it.
        case deliveryFailed(messageID: String, chat: ChatID, reason: String, code: Int?, job: JobRecord?)
        /// A received file could not be fetched, even after asking the phone for it again.
        case mediaFailed(MediaRecord, reason: String)
        /// The watchdog found the session's events stuck (`raised`), or moving again.
        case alert(WatchdogAlert, raised: Bool)
    }

    public var sessionID: String
    public var tenantID: String
    public var kind: Kind
    public var at: Date
    /// Names the event for deduplication: an event whose key was stored before is not stored
    /// again (the Cloud API delivers its webhooks at least once).
    public var dedupeKey: String? = nil
}

/// Where the session manager hands events. It must return only once the event is stored as
/// durably as it is going to be: the manager acknowledges inbound messages to the engine after.
public protocol SessionEventSink: Sendable {
    func publish(_ event: SessionEvent) async throws
    /// Stores the events of one stanza with the engine state they produced, in one transaction.
    func publish(_ events: [SessionEvent], committing changes: CredentialChanges, for sessionID: String?) async throws
}

extension SessionEventSink {
    /// For sinks that keep no engine state (in-process subscribers): the events one by one.
    public func publish(_ events: [SessionEvent], committing changes: CredentialChanges, for sessionID: String?) async throws {
        for event in events { try await publish(event) }
    }
}

/// Fans session events out to in-process subscribers (live consoles, tests).
public final class SessionEventHub: SessionEventSink {
    private struct Subscriber {
        let sessionID: String?
        let continuation: AsyncStream<SessionEvent>.Continuation
    }

    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextID = Atomic<UInt64>(0)

    public init() {}

    public func publish(_ event: SessionEvent) async throws {
        let targets = subscribers.withLock { $0.values.filter { $0.sessionID == nil || $0.sessionID == event.sessionID } }
        for target in targets { target.continuation.yield(event) }
    }

    /// A stream of events of one session (or all, with `nil`), from now on.
    public func subscribe(sessionID: String?) -> AsyncStream<SessionEvent> {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: SessionEvent.self)
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = Subscriber(sessionID: sessionID, continuation: continuation) }
        return stream
    }
}
