import Foundation

/// What an engine can do, which the gateway checks requests against instead of comparing engine
/// names: a rule that depends on the engine is a capability here, so a new engine (or a new
/// ability of an old one) changes one value, not every controller.
public struct EngineCapabilities: Sendable, Equatable {
    /// Kinds of chat a message can be sent to.
    public enum ChatKind: String, Sendable, CaseIterable {
        /// A person, by phone number (`…@s.whatsapp.net`).
        case person
        /// A person by their hidden-user id (`…@lid`).
        case lid
        /// A group (`…@g.us`).
        case group
    }

    /// How the engine takes media to send.
    public enum MediaSource: Sendable, Equatable {
        /// The gateway downloads the file (through its address policy) and hands over the bytes.
        case file
        /// The engine passes the URL on and WhatsApp fetches it (the Cloud API).
        case link
    }

    /// How a session of this engine is linked to its WhatsApp account.
    public enum Linking: Sendable, Equatable {
        /// A linked device of the user's phone: QR code or phone code, and logging out unlinks it.
        case linkedDevice(phoneCode: Bool)
        /// Configured with credentials (the Cloud API): there is no device to unlink.
        case configured
    }

    /// The longest text message, in characters.
    public var textLimit: Int
    /// The chats messages can be addressed to.
    public var chatKinds: Set<ChatKind>
    public var mediaSource: MediaSource
    /// The message types the engine can send.
    public var messageTypes: Set<MessageType>
    /// How "typing…" behaves.
    public var typing: TypingIndicator
    public var linking: Linking
    /// Whether messages can be injected and sessions "scanned" through the simulation routes.
    public var isSimulated: Bool
    /// Whether a voice note must already be Ogg Opus (checked when the job is accepted).
    public var voiceNotesMustBeOggOpus: Bool
    /// Whether numbers can be looked up and presence followed (``Engine/lookUpContacts(_:withPicture:)``).
    public var hasContactLookups: Bool

    public init(
        textLimit: Int, chatKinds: Set<ChatKind>, mediaSource: MediaSource, messageTypes: Set<MessageType>,
        typing: TypingIndicator = TypingIndicator(), linking: Linking, isSimulated: Bool = false, voiceNotesMustBeOggOpus: Bool = false,
        hasContactLookups: Bool = false
    ) {
        self.hasContactLookups = hasContactLookups
        self.voiceNotesMustBeOggOpus = voiceNotesMustBeOggOpus
        self.textLimit = textLimit
        self.chatKinds = chatKinds
        self.mediaSource = mediaSource
        self.messageTypes = messageTypes
        self.typing = typing
        self.linking = linking
        self.isSimulated = isSimulated
    }

    /// Whether a message of `type` can be sent to `chat`.
    public func canSend(_ type: MessageType, to chat: ChatID) -> Bool {
        messageTypes.contains(type) && chatKinds.contains(ChatKind(chat))
    }

    /// Whether logging out means unlinking a device (and so makes sense).
    public var isLinkedDevice: Bool {
        if case .linkedDevice = linking { return true }
        return false
    }

    /// Whether the engine links by a code typed on the phone.
    public var linksByPhoneCode: Bool {
        if case .linkedDevice(let phoneCode) = linking { return phoneCode }
        return false
    }
}

extension EngineCapabilities.ChatKind {
    /// The kind of a chat id.
    public init(_ chat: ChatID) {
        if chat.isGroup {
            self = .group
        } else if chat.rawValue.hasSuffix("@lid") {
            self = .lid
        } else {
            self = .person
        }
    }
}

/// The types of message Wharf sends; each engine says which it supports.
public enum MessageType: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case text
    case image
    case video
    case audio
    case voice
    case document
    case sticker
    case reaction
    case location
    case contact
    case poll
    case edit
    case revoke

    /// Text and the media kinds.
    public static let basic: Set<MessageType> = [.text, .image, .video, .audio, .voice, .document]
    /// Reactions, places, contact cards, polls, edits and revokes.
    public static let rich: Set<MessageType> = [.reaction, .location, .contact, .poll, .edit, .revoke]

    /// Whether this type is sent without "typing…" first (it is not typed).
    public var isTyped: Bool { ![.reaction, .edit, .revoke].contains(self) }

    public var description: String { rawValue }

    /// The media kind of a media type; `nil` for text.
    public var mediaKind: MediaKind? { MediaKind(rawValue: rawValue) }

    /// Whether this type carries a file.
    public var isMedia: Bool { mediaKind != nil }

    public init(_ kind: MediaKind) {
        switch kind {
        case .image: self = .image
        case .video: self = .video
        case .audio: self = .audio
        case .voice: self = .voice
        case .document: self = .document
        case .sticker: self = .sticker
        }
    }
}

extension EngineKind {
    /// What engines of this kind can do, known without starting one (requests are checked when
    /// they are accepted, while the session may be offline).
    public var capabilities: EngineCapabilities {
        switch self {
        case .sandbox: SandboxEngine.capabilities
        case .web: WebEngine.capabilities
        case .cloud: CloudEngine.capabilities
        }
    }
}
