import Crypto
import Foundation

/// What Meta's webhook for a Cloud API phone number says, checked and turned into our vocabulary.
///
/// Pure functions: the gateway's route reads the raw body, asks `isAuthentic`, parses, stores the
/// events in the outbox, and only then answers Meta.
public enum CloudWebhook {
    /// Meta's subscription check (`GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`):
    /// the challenge to echo when the token matches, else `nil` (answer 403).
    public static func challenge(mode: String?, token: String?, challenge: String?, expectedToken: String) -> String? {
        guard mode == "subscribe", let token, let challenge, !expectedToken.isEmpty,
            constantTimeEqual(Array(token.utf8), Array(expectedToken.utf8))
        else { return nil }
        return challenge
    }

    /// Checks `X-Hub-Signature-256: sha256=<hex>` against the raw body and the app secret.
    public static func isAuthentic(body: some DataProtocol, signature header: String?, appSecret: String) -> Bool {
        guard let header, header.hasPrefix("sha256="), let mac = [UInt8](hex: header.dropFirst(7)), mac.count == 32,
            !appSecret.isEmpty
        else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Array(body), using: SymmetricKey(data: Array(appSecret.utf8)))
    }

    /// A status update for a message we sent.
    public struct Status: Sendable, Equatable {
        public enum Kind: String, Sendable { case sent, delivered, read, played, failed }
        public var messageID: String
        public var recipient: String
        public var kind: Kind
        public var timestamp: Date
        /// Meta's error codes and texts, for `failed`.
        public var errors: [GraphError]
    }

    /// One phone number's part of a notification (one app's webhook may carry several numbers).
    public struct Change: Sendable, Equatable {
        public var phoneNumberID: String?
        public var messages: [InboundMessage]
        public var statuses: [Status]
    }

    public struct Notification: Sendable, Equatable {
        public var changes: [Change]

        /// The first phone number named.
        public var phoneNumberID: String? { changes.lazy.compactMap(\.phoneNumberID).first }
        public var messages: [InboundMessage] { changes.flatMap(\.messages) }
        public var statuses: [Status] { changes.flatMap(\.statuses) }
    }

    public enum ParseError: Error, Equatable {
        case notJSON
        case notWhatsApp(String)
    }

    /// Every message and status in a notification, in order, by phone number. Message types we do
    /// not model arrive as kind `unsupported` rather than being dropped.
    public static func parse(_ body: Data) throws(ParseError) -> Notification {
        guard let payload = try? JSONDecoder().decode(CloudPayload.self, from: body) else { throw .notJSON }
        guard payload.object == "whatsapp_business_account" else { throw .notWhatsApp(payload.object ?? "no object") }
        var notification = Notification(changes: [])
        for change in (payload.entry ?? []).flatMap({ $0.changes ?? [] }) where change.field == nil || change.field == "messages" {
            guard let value = change.value else { continue }
            let names = Dictionary(
                (value.contacts ?? []).compactMap { contact in
                    contact.wa_id.map { ($0, contact.profile?.name) }
                }, uniquingKeysWith: { first, _ in first })
            var part = Change(phoneNumberID: value.metadata?.phone_number_id, messages: [], statuses: [])
            for message in value.messages ?? [] {
                part.messages.append(message.normalized(name: names[message.from ?? ""] ?? nil))
            }
            for status in value.statuses ?? [] {
                guard let id = status.id, let kind = Status.Kind(rawValue: status.status ?? "") else { continue }
                part.statuses.append(
                    Status(
                        messageID: id, recipient: status.recipient_id ?? "", kind: kind, timestamp: date(status.timestamp),
                        errors: (status.errors ?? []).compactMap(\.graphError)))
            }
            notification.changes.append(part)
        }
        return notification
    }

    static func date(_ seconds: String?) -> Date {
        Date(timeIntervalSince1970: seconds.flatMap(TimeInterval.init) ?? 0)
    }

    /// Compares without stopping at the first difference, so timing says nothing about a secret.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// An error as the Graph API reports it (in responses and in failed statuses).
public struct GraphError: Sendable, Equatable, Codable {
    public var code: Int
    public var title: String?
    public var message: String?
    public var details: String?

    public init(code: Int, title: String? = nil, message: String? = nil, details: String? = nil) {
        self.code = code
        self.title = title
        self.message = message
        self.details = details
    }
}
