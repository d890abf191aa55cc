import Foundation

/// Something the watchdog found wrong with a session's events: the "it arrived on the phone but
/// no webhook fired" cases, made visible before a customer notices.
public struct WatchdogAlert: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// WhatsApp handed the engine messages that the outbox has not committed: the store is
        /// failing or a commit is stuck, and nothing was acknowledged (WhatsApp will send them again).
        case uncommitted
        /// Committed events have waited too long for an endpoint that looks healthy (enabled, its
        /// breaker closed): a receiver that takes requests and never answers, or a stuck deliverer.
        case undelivered
    }

    /// What makes two alerts the same one: an alert is raised once and cleared once.
    public struct Key: Hashable, Sendable {
        public var kind: Kind
        public var sessionID: String
        /// The endpoint the events wait for (`undelivered` only).
        public var endpointID: String?
    }

    public var key: Key
    public var tenantID: String
    /// How many messages or deliveries are waiting.
    public var waiting: Int
    /// When the oldest of them arrived or was committed.
    public var since: Date
    /// The endpoint's URL (`undelivered` only).
    public var endpointURL: String?

    public var kind: Kind { key.kind }
    public var sessionID: String { key.sessionID }

    /// One sentence for the banner, the log and the event.
    public var message: String {
        switch kind {
        case .uncommitted:
            "\(waiting) received message\(waiting == 1 ? "" : "s") not stored yet: the database is failing or slow; WhatsApp will send them again"
        case .undelivered:
            "\(waiting) event\(waiting == 1 ? "" : "s") not delivered to \(endpointURL ?? key.endpointID ?? "an endpoint") in time, though it looks healthy: does it take requests and never answer?"
        }
    }
}
