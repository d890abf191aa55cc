/// WhatsApp's own names for kinds of media file, which decide the key derivation, the upload path
/// and the `mediatype` attribute of the message's `<enc>`.
///
/// A voice note (`ptt`) and a sticker share the keys of audio and image, but not their path or
/// attribute; a GIF is a video played in a loop.
enum WAMediaType: String, Sendable, CaseIterable, Codable {
    case image
    case video
    case gif
    case audio
    case ptt
    case document
    case sticker

    /// HKDF's info string: `WhatsApp <Image|Video|Audio|Document> Keys`.
    var keyInfo: String {
        switch self {
        case .image, .sticker: "WhatsApp Image Keys"
        case .video, .gif: "WhatsApp Video Keys"
        case .audio, .ptt: "WhatsApp Audio Keys"
        case .document: "WhatsApp Document Keys"
        }
    }

    /// The upload path on a media host (`/mms/<path>/<token>`).
    var uploadPath: String {
        switch self {
        case .image, .sticker: "/mms/image"
        case .video, .gif: "/mms/video"
        case .audio, .ptt: "/mms/audio"
        case .document: "/mms/document"
        }
    }

    /// The `mediatype` attribute on a one-to-one message's `<enc>`.
    var encAttribute: String {
        switch self {
        case .gif: "gif"
        default: rawValue
        }
    }
}
