import Foundation
import WhatsAppProtocol

/// What a reaction, place, contact card, poll, edit or revoke job sends, stored as JSON in the
/// job's `payload` column.
public struct JobPayload: Codable, Sendable, Equatable {
    /// The message a reaction, edit or revoke is about.
    public var messageId: String?
    public var emoji: String?
    public var location: Location?
    public var contacts: [ContactCard]?
    public var poll: Poll?

    public init(messageId: String? = nil, emoji: String? = nil, location: Location? = nil, contacts: [ContactCard]? = nil, poll: Poll? = nil) {
        self.messageId = messageId
        self.emoji = emoji
        self.location = location
        self.contacts = contacts
        self.poll = poll
    }
}
