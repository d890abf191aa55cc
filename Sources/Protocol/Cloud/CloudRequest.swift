import Foundation

/// The JSON bodies the Cloud API's `POST /<version>/<phone-number-id>/messages` takes. Values only;
/// the engine sends them.
public enum CloudRequest {
    /// Media a message may carry by link (Meta fetches the URL itself).
    public enum MediaKind: String, Sendable {
        case image, video, audio, document, sticker
    }

    public static func text(to: String, body: String, replyTo: String? = nil) -> [String: Any] {
        message(to: to, type: "text", ["text": ["preview_url": false, "body": body]], replyTo: replyTo)
    }

    /// A caption is not allowed on audio; a file name only on documents.
    public static func media(
        to: String, kind: MediaKind, link: String, caption: String? = nil, fileName: String? = nil, replyTo: String? = nil
    ) -> [String: Any] {
        var media: [String: Any] = ["link": link]
        if let caption, kind != .audio, kind != .sticker { media["caption"] = caption }
        if let fileName, kind == .document { media["filename"] = fileName }
        return message(to: to, type: kind.rawValue, [kind.rawValue: media], replyTo: replyTo)
    }

    /// A reaction to `messageID` in the chat with `to`; an empty emoji takes ours back.
    public static func reaction(to: String, messageID: String, emoji: String) -> [String: Any] {
        message(to: to, type: "reaction", ["reaction": ["message_id": messageID, "emoji": emoji]], replyTo: nil)
    }

    public static func location(to: String, _ location: Location, replyTo: String? = nil) -> [String: Any] {
        var place: [String: Any] = ["latitude": location.latitude, "longitude": location.longitude]
        if let name = location.name, !name.isEmpty { place["name"] = name }
        if let address = location.address, !address.isEmpty { place["address"] = address }
        return message(to: to, type: "location", ["location": place], replyTo: replyTo)
    }

    /// Contact cards as the Cloud API takes them: structured, not vCards. The name becomes the
    /// formatted and first name, and each `TEL` of the card a phone (with its `waid`, which lets
    /// the recipient message that number).
    public static func contacts(to: String, _ cards: [ContactCard], replyTo: String? = nil) -> [String: Any] {
        let contacts: [[String: Any]] = cards.map { card in
            var contact: [String: Any] = ["name": ["formatted_name": card.name, "first_name": card.name]]
            let phones: [[String: Any]] = Self.telephones(inVCard: card.vcard).map { phone in
                var entry: [String: Any] = ["phone": phone.number, "type": "CELL"]
                if let waid = phone.waid { entry["wa_id"] = waid }
                return entry
            }
            if !phones.isEmpty { contact["phones"] = phones }
            return contact
        }
        return message(to: to, type: "contacts", ["contacts": contacts], replyTo: replyTo)
    }

    /// The `TEL` lines of a vCard: the number, and WhatsApp's `waid` parameter when present.
    static func telephones(inVCard vcard: String) -> [(number: String, waid: String?)] {
        vcard.split(whereSeparator: \.isNewline).compactMap { line in
            guard line.uppercased().hasPrefix("TEL"), let colon = line.firstIndex(of: ":") else { return nil }
            let number = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !number.isEmpty else { return nil }
            let waid = line[..<colon].split(separator: ";").first { $0.lowercased().hasPrefix("waid=") }.map { String($0.dropFirst(5)) }
            return (number, waid)
        }
    }

    /// Marks `messageID` (and everything before it in the chat) read; with `typing`, also shows
    /// "typing…" until we answer or 25 seconds pass.
    public static func read(messageID: String, typing: Bool = false) -> [String: Any] {
        var body: [String: Any] = ["messaging_product": "whatsapp", "status": "read", "message_id": messageID]
        if typing { body["typing_indicator"] = ["type": "text"] }
        return body
    }

    /// How long one typing indicator lasts; longer typing sends it again.
    public static let typingLifetime: Duration = .seconds(25)

    /// The bytes of a body, keys sorted so that equal bodies are equal bytes.
    public static func encoded(_ body: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    public static func path(version: String, phoneNumberID: String) -> String {
        "/\(version)/\(phoneNumberID)/messages"
    }

    private static func message(to: String, type: String, _ content: [String: Any], replyTo: String?) -> [String: Any] {
        var body: [String: Any] = ["messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": type]
        body.merge(content) { $1 }
        if let replyTo { body["context"] = ["message_id": replyTo] }
        return body
    }
}
