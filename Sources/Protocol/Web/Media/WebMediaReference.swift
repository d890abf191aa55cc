import Foundation
import WharfCore

/// Where a received file is and how to decrypt it, as the web engine keeps it inside a
/// ``MediaReference``: the message's media fields, and what a media retry receipt must name.
struct WebMediaReference: Codable, Sendable, Equatable {
    var type: WAMediaType
    var directPath: String
    /// The message's full URL; only good for the upload it names (a re-upload has none).
    var url: String?
    var mediaKey: Data
    var fileSHA256: Data?
    var fileEncSHA256: Data?
    var fileLength: UInt64?
    /// The message, for a media retry: its id, chat, whether we sent it, and its sender in a group.
    var messageID: String
    var chat: String
    var fromMe: Bool
    var participant: String?

    var reference: MediaReference { MediaReference(data: (try? JSONEncoder().encode(self)) ?? Data()) }

    init(
        type: WAMediaType, directPath: String, url: String?, mediaKey: Data, fileSHA256: Data?, fileEncSHA256: Data?, fileLength: UInt64?,
        messageID: String, chat: String, fromMe: Bool, participant: String?
    ) {
        self.type = type
        self.directPath = directPath
        self.url = url
        self.mediaKey = mediaKey
        self.fileSHA256 = fileSHA256
        self.fileEncSHA256 = fileEncSHA256
        self.fileLength = fileLength
        self.messageID = messageID
        self.chat = chat
        self.fromMe = fromMe
        self.participant = participant
    }

    init(_ reference: MediaReference) throws(MediaDownloadError) {
        guard let decoded = try? JSONDecoder().decode(Self.self, from: reference.data) else {
            throw MediaDownloadError("the media reference is not one of this engine's", isRetryable: false)
        }
        self = decoded
    }
}

/// The parts of one received media message, whatever its protobuf type.
struct ReceivedMedia {
    /// `image`, `video`, `audio`, `voice`, `document` or `sticker` (the event's `type`).
    var kind: String
    var type: WAMediaType
    var mimeType: String
    var caption: String?
    var fileName: String?
    var width: Int?
    var height: Int?
    var seconds: Int?
    var url: String
    var directPath: String
    var mediaKey: Data
    var fileSHA256: Data
    var fileEncSHA256: Data
    var fileLength: UInt64
    var context: WAContextInfo

    /// The media part of `message`, if it has one.
    init?(_ message: WAMessage) {
        func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }
        func positive(_ value: UInt32) -> Int? { value == 0 ? nil : Int(value) }
        if message.hasImageMessage {
            let m = message.imageMessage
            self.init(
                kind: "image", type: .image, mimeType: m.mimetype, caption: nonEmpty(m.caption), width: positive(m.width),
                height: positive(m.height), url: m.url, directPath: m.directPath, mediaKey: m.mediaKey, fileSHA256: m.fileSha256,
                fileEncSHA256: m.fileEncSha256, fileLength: m.fileLength, context: m.contextInfo)
        } else if message.hasVideoMessage || message.hasPtvMessage {
            let m = message.hasVideoMessage ? message.videoMessage : message.ptvMessage
            self.init(
                kind: "video", type: m.gifPlayback ? .gif : .video, mimeType: m.mimetype, caption: nonEmpty(m.caption),
                width: positive(m.width), height: positive(m.height), seconds: positive(m.seconds), url: m.url, directPath: m.directPath,
                mediaKey: m.mediaKey, fileSHA256: m.fileSha256, fileEncSHA256: m.fileEncSha256, fileLength: m.fileLength, context: m.contextInfo)
        } else if message.hasAudioMessage {
            let m = message.audioMessage
            self.init(
                kind: m.ptt ? "voice" : "audio", type: m.ptt ? .ptt : .audio, mimeType: m.mimetype, seconds: positive(m.seconds), url: m.url,
                directPath: m.directPath, mediaKey: m.mediaKey, fileSHA256: m.fileSha256, fileEncSHA256: m.fileEncSha256,
                fileLength: m.fileLength, context: m.contextInfo)
        } else if message.hasDocumentMessage {
            let m = message.documentMessage
            self.init(
                kind: "document", type: .document, mimeType: m.mimetype, caption: nonEmpty(m.caption),
                fileName: nonEmpty(m.fileName) ?? nonEmpty(m.title), url: m.url, directPath: m.directPath, mediaKey: m.mediaKey,
                fileSHA256: m.fileSha256, fileEncSHA256: m.fileEncSha256, fileLength: m.fileLength, context: m.contextInfo)
        } else if message.hasStickerMessage {
            let m = message.stickerMessage
            self.init(
                kind: "sticker", type: .sticker, mimeType: m.mimetype.isEmpty ? "image/webp" : m.mimetype, width: positive(m.width),
                height: positive(m.height), url: m.url, directPath: m.directPath, mediaKey: m.mediaKey, fileSHA256: m.fileSha256,
                fileEncSHA256: m.fileEncSha256, fileLength: m.fileLength, context: m.contextInfo)
        } else {
            return nil
        }
    }

    private init(
        kind: String, type: WAMediaType, mimeType: String, caption: String? = nil, fileName: String? = nil, width: Int? = nil,
        height: Int? = nil, seconds: Int? = nil, url: String, directPath: String, mediaKey: Data, fileSHA256: Data, fileEncSHA256: Data,
        fileLength: UInt64, context: WAContextInfo
    ) {
        self.kind = kind
        self.type = type
        self.mimeType = mimeType
        self.caption = caption
        self.fileName = fileName
        self.width = width
        self.height = height
        self.seconds = seconds
        self.url = url
        self.directPath = directPath
        self.mediaKey = mediaKey
        self.fileSHA256 = fileSHA256
        self.fileEncSHA256 = fileEncSHA256
        self.fileLength = fileLength
        self.context = context
    }

    /// The event's `media`, with the reference the gateway fetches the file by; `nil` reference
    /// when the message names no file to fetch (no key or no path), which the event then says.
    func info(messageID: String, origin: MessageOrigin, participant: String?) -> MediaInfo {
        var reference: MediaReference?
        if mediaKey.count == 32, !directPath.isEmpty || !url.isEmpty {
            reference =
                WebMediaReference(
                    type: type, directPath: directPath, url: url.isEmpty ? nil : url, mediaKey: mediaKey,
                    fileSHA256: fileSHA256.isEmpty ? nil : fileSHA256, fileEncSHA256: fileEncSHA256.isEmpty ? nil : fileEncSHA256,
                    fileLength: fileLength == 0 ? nil : fileLength, messageID: messageID, chat: origin.chat.rawValue, fromMe: origin.isFromMe,
                    participant: participant
                ).reference
        }
        return MediaInfo(
            mimeType: mimeType, caption: caption, fileName: fileName, kind: kind, size: fileLength == 0 ? nil : fileLength,
            sha256: fileSHA256.isEmpty ? nil : Array(fileSHA256).hex, width: width, height: height, seconds: seconds, reference: reference)
    }
}
