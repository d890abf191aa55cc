import Foundation

/// What WhatsApp says of a phone number, and what this session has seen of it.
public struct ContactInfo: Sendable, Codable, Equatable {
    /// The number asked about (digits).
    public var phone: String
    public var isOnWhatsApp: Bool
    /// Its chat id when it is on WhatsApp (`…@s.whatsapp.net`), and its LID when known.
    public var jid: String?
    public var lid: String?
    /// The name it wrote under in messages this session received.
    public var pushName: String?
    /// A link to its profile picture, when it has one this account may see.
    public var pictureURL: String?

    public init(
        phone: String, isOnWhatsApp: Bool, jid: String? = nil, lid: String? = nil, pushName: String? = nil, pictureURL: String? = nil
    ) {
        self.phone = phone
        self.isOnWhatsApp = isOnWhatsApp
        self.jid = jid
        self.lid = lid
        self.pushName = pushName
        self.pictureURL = pictureURL
    }
}
