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
