import Foundation

/// A chat identifier in WhatsApp's JID form (`4915112345678@s.whatsapp.net`, `…@g.us`, `…@lid`).
public struct ChatID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public var isGroup: Bool { rawValue.hasSuffix("@g.us") }
    /// The part before `@` (a phone number for person chats).
    public var user: String { String(rawValue.prefix { $0 != "@" }) }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A message that arrived from WhatsApp, flattened to what every engine can say.
public struct InboundMessage: Sendable, Codable, Equatable {
    public var id: String
    public var chat: ChatID
    public var from: String
    public var fromLID: String?
    public var fromName: String?
    public var isFromMe: Bool
    public var kind: String
    public var text: String?
    public var media: MediaInfo?
    public var replyTo: String?
    /// The people the text mentions, as JIDs.
    public var mentions: [String]
    public var timestamp: Date
    /// A shared place (`kind` `location`).
    public var location: Location?
    /// Shared contact cards (`kind` `contact`).
    public var contacts: [ContactCard]?
    /// A poll (`kind` `poll`); votes arrive as ``PollVote``s.
    public var poll: Poll?
    /// Shown once, then gone (WhatsApp's view-once photos, videos and voice notes).
    public var isViewOnce: Bool?
    public var isForwarded: Bool?

    public init(
        id: String, chat: ChatID, from: String, fromLID: String? = nil, fromName: String? = nil,
        isFromMe: Bool = false, kind: String = "text", text: String? = nil, media: MediaInfo? = nil,
        replyTo: String? = nil, mentions: [String] = [], timestamp: Date
    ) {
        self.mentions = mentions
        self.id = id
        self.chat = chat
        self.from = from
        self.fromLID = fromLID
        self.fromName = fromName
        self.isFromMe = isFromMe
        self.kind = kind
        self.text = text
        self.media = media
        self.replyTo = replyTo
        self.timestamp = timestamp
    }
}

/// A place on the map.
public struct Location: Sendable, Codable, Equatable {
    public var latitude: Double
    public var longitude: Double
    public var name: String?
    public var address: String?

    public init(latitude: Double, longitude: Double, name: String? = nil, address: String? = nil) {
        self.latitude = latitude
        self.longitude = longitude
        self.name = name
        self.address = address
    }
}

/// A contact card: the name shown and the vCard (3.0) behind it.
public struct ContactCard: Sendable, Codable, Equatable {
    public var name: String
    public var vcard: String

    public init(name: String, vcard: String) {
        self.name = name
        self.vcard = vcard
    }

    /// A minimal vCard 3.0 for a name and a phone number (digits, international form), with
    /// WhatsApp's `waid` so the app offers to message them.
    public init(name: String, phone: String) {
        let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ";", with: "\\;")
            .replacingOccurrences(of: ",", with: "\\,").replacingOccurrences(of: "\n", with: " ")
        self.init(
            name: name,
            vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:\(escaped)\nTEL;type=CELL;type=VOICE;waid=\(phone):+\(phone)\nEND:VCARD")
    }
}

/// A poll: its question, its options and how many may be chosen.
public struct Poll: Sendable, Codable, Equatable {
    public var name: String
    public var options: [String]
    /// 1 for a single choice; 0 (or the number of options) for any number.
    public var selectableCount: Int

    public init(name: String, options: [String], selectableCount: Int) {
        self.name = name
        self.options = options
        self.selectableCount = selectableCount
    }
}

/// Someone reacted to a message (or took their reaction back: an empty emoji).
public struct MessageReaction: Sendable, Codable, Equatable {
    /// The message reacted to.
    public var id: String
    /// The reaction's own message id.
    public var reactionID: String
    public var origin: MessageOrigin
    public var emoji: String
    public var timestamp: Date

    public init(id: String, reactionID: String, origin: MessageOrigin, emoji: String, timestamp: Date) {
        self.id = id
        self.reactionID = reactionID
        self.origin = origin
        self.emoji = emoji
        self.timestamp = timestamp
    }
}

/// A vote on a poll: the options the voter chose now (empty: the vote was taken back).
public struct PollVote: Sendable, Codable, Equatable {
    /// The poll's message id.
    public var pollID: String
    public var voteID: String
    public var origin: MessageOrigin
    public var options: [String]
    public var timestamp: Date

    public init(pollID: String, voteID: String, origin: MessageOrigin, options: [String], timestamp: Date) {
        self.pollID = pollID
        self.voteID = voteID
        self.origin = origin
        self.options = options
        self.timestamp = timestamp
    }
}

/// Who sent something: the chat it belongs to, the sender's phone (when known) and LID.
public struct MessageOrigin: Sendable, Codable, Equatable {
    public var chat: ChatID
    /// The sender's phone number (digits), or their LID user when no phone number is known.
    public var from: String
    public var fromLID: String?
    public var isFromMe: Bool

    public init(chat: ChatID, from: String, fromLID: String? = nil, isFromMe: Bool = false) {
        self.chat = chat
        self.from = from
        self.fromLID = fromLID
        self.isFromMe = isFromMe
    }
}

/// A message WhatsApp delivered that could not be decrypted, even after asking for it again.
public struct UndecryptableMessage: Sendable, Codable, Equatable {
    public var id: String
    public var origin: MessageOrigin
    public var reason: String
    public var timestamp: Date

    public init(id: String, origin: MessageOrigin, reason: String, timestamp: Date) {
        self.id = id
        self.origin = origin
        self.reason = reason
        self.timestamp = timestamp
    }
}

/// A contact's security code changed: one of their devices has a new identity key.
public struct IdentityChange: Sendable, Codable, Equatable {
    public var origin: MessageOrigin
    /// The device whose key changed (`user:device@server`).
    public var device: String
    public var timestamp: Date

    public init(origin: MessageOrigin, device: String, timestamp: Date) {
        self.origin = origin
        self.device = device
        self.timestamp = timestamp
    }
}

/// A message's text was changed by its sender.
public struct MessageEdit: Sendable, Codable, Equatable {
    /// The id of the message that was edited.
    public var id: String
    public var origin: MessageOrigin
    public var text: String?
    public var timestamp: Date

    public init(id: String, origin: MessageOrigin, text: String?, timestamp: Date) {
        self.id = id
        self.origin = origin
        self.text = text
        self.timestamp = timestamp
    }
}

/// A message was deleted for everyone by its sender.
public struct MessageRevocation: Sendable, Codable, Equatable {
    /// The id of the message that was revoked.
    public var id: String
    public var origin: MessageOrigin
    public var timestamp: Date

    public init(id: String, origin: MessageOrigin, timestamp: Date) {
        self.id = id
        self.origin = origin
        self.timestamp = timestamp
    }
}

/// Media attached to a message.
public struct MediaInfo: Sendable, Codable, Equatable {
    public var mimeType: String
    public var url: String?
    public var caption: String?
    public var fileName: String?
    /// The engine's own handle on the media (a Cloud API media id), for fetching it later.
    public var id: String?
    /// `image`, `video`, `audio`, `voice`, `document` or `sticker`.
    public var kind: String?
    /// The file's size in bytes and its SHA-256 (hex), as the sender declared them.
    public var size: UInt64?
    public var sha256: String?
    public var width: Int?
    public var height: Int?
    /// A video's or audio's length.
    public var seconds: Int?
    /// What the engine needs to fetch the file itself (``Engine/downloadMedia(_:to:)``): keys
    /// included, so it is stored sealed and never shown.
    public var reference: MediaReference?

    public init(
        mimeType: String, url: String? = nil, caption: String? = nil, fileName: String? = nil, id: String? = nil, kind: String? = nil,
        size: UInt64? = nil, sha256: String? = nil, width: Int? = nil, height: Int? = nil, seconds: Int? = nil,
        reference: MediaReference? = nil
    ) {
        self.mimeType = mimeType
        self.url = url
        self.caption = caption
        self.fileName = fileName
        self.id = id
        self.kind = kind
        self.size = size
        self.sha256 = sha256
        self.width = width
        self.height = height
        self.seconds = seconds
        self.reference = reference
    }
}

/// An engine's opaque description of where a received file is and how to decrypt it; the gateway
/// stores it (sealed: it holds the file's key) and hands it back to ``Engine/downloadMedia(_:to:)``.
public struct MediaReference: Sendable, Codable, Equatable {
    public var data: Data
    public init(data: Data) { self.data = data }
}

/// Why an engine could not fetch a received file.
public struct MediaDownloadError: Error, Equatable, CustomStringConvertible {
    /// `false` when trying again cannot help (the phone no longer has the file, the reference is
    /// unreadable); `true` for a passing fault (offline, a timeout).
    public var isRetryable: Bool
    public var description: String

    public init(_ description: String, isRetryable: Bool) {
        self.description = description
        self.isRetryable = isRetryable
    }
}

/// A message to send.
public struct OutboundMessage: Sendable, Codable, Equatable {
    public enum Content: Sendable, Codable, Equatable {
        case text(String)
        /// Media already fetched by the gateway, with its bytes in a local file.
        case media(kind: MediaKind, file: URL, mimeType: String, caption: String?, fileName: String?)
        /// Media the engine passes on by its URL, for WhatsApp to fetch (the Cloud API).
        case mediaLink(kind: MediaKind, url: String, caption: String?, fileName: String?)
        /// A reaction to a message of the chat; an empty emoji takes ours back.
        case reaction(messageID: String, emoji: String)
        case location(Location)
        case contacts([ContactCard])
        case poll(Poll)
        /// New text for a message we sent.
        case edit(messageID: String, text: String)
        /// Deletes a message we sent, for everyone.
        case revoke(messageID: String)
    }

    /// Chosen by the caller and kept across re-sends, so a message interrupted mid-send is not
    /// sent twice under two ids.
    public var clientMessageID: String
    public var chat: ChatID
    public var content: Content
    public var replyTo: String?

    public init(clientMessageID: String, chat: ChatID, content: Content, replyTo: String? = nil) {
        self.clientMessageID = clientMessageID
        self.chat = chat
        self.content = content
        self.replyTo = replyTo
    }
}

/// Kinds of media a message can carry.
public enum MediaKind: String, Sendable, Codable, CaseIterable {
    case image
    case video
    case audio
    case voice
    case document
    case sticker
}

/// What an engine returns for a sent message.
public struct SentMessage: Sendable, Codable, Equatable {
    public var messageID: String
    public var timestamp: Date

    public init(messageID: String, timestamp: Date) {
        self.messageID = messageID
        self.timestamp = timestamp
    }
}

/// A delivery or read receipt for a message we sent.
public struct MessageReceipt: Sendable, Codable, Equatable {
    public enum Level: String, Sendable, Codable { case server, delivered, read, played }
    public var messageID: String
    public var chat: ChatID
    public var level: Level
    public var timestamp: Date

    public init(messageID: String, chat: ChatID, level: Level, timestamp: Date) {
        self.messageID = messageID
        self.chat = chat
        self.level = level
        self.timestamp = timestamp
    }
}

/// A contact's presence in a chat.
public struct PresenceUpdate: Sendable, Codable, Equatable {
    public var chat: ChatID
    public var from: String
    public var presence: String
    public var timestamp: Date

    public init(chat: ChatID, from: String, presence: String, timestamp: Date) {
        self.chat = chat
        self.from = from
        self.presence = presence
        self.timestamp = timestamp
    }
}

/// Errors every engine may throw.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    case notConnected
    case loggedOut
    /// WhatsApp (or the Cloud API) refused the request.
    case rejected(String)
    /// The request cannot be carried out as asked; nothing was sent (the reason says why).
    case invalidRequest(String)
    case unsupported(String)
    /// What the request names does not exist (a group WhatsApp does not know, an unknown invite code).
    case notFound(String)
    /// WhatsApp did not answer a request in time.
    case timedOut(String)
    /// A limit or a passing fault: the same request may succeed later, after `retryAfter` when the
    /// service said so; `affectsWholeSession` when every chat of the session must wait (a limit of
    /// the number, not of one recipient).
    case temporary(String, retryAfter: Duration? = nil, affectsWholeSession: Bool = false)
    /// What the engine stored for this session cannot be read back (a damaged row, another
    /// encryption key): this session cannot run until it is linked again; connecting again will
    /// not help, and nothing else is affected.
    case unreadableState(String)

    public var description: String {
        switch self {
        case .timedOut(let what): "\(what)"
        case .temporary(let reason, _, _): reason
        case .notConnected: "the session is not connected to WhatsApp"
        case .loggedOut: "the session is logged out; link it again"
        case .rejected(let reason): "WhatsApp rejected the request: \(reason)"
        case .invalidRequest(let reason): reason
        case .unsupported(let what): "this engine does not support \(what)"
        case .unreadableState(let what): what
        case .notFound(let what): what
        }
    }
}
