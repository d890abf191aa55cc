import Foundation
import GRDB
import WharfCore
import WhatsAppProtocol

/// A queued outbound message: what to send, to whom, how humanly, and where it stands.
public struct JobRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    /// Enqueue order; per-chat FIFO follows it.
    public var seq: Int64?
    public var id: String
    public var tenantId: String
    public var sessionId: String
    public var chatId: String
    public var kind: MessageType
    public var text: String?
    public var mediaUrl: String?
    /// The downloaded media, under `DATA_DIR/media`; removed once the job is finished.
    public var mediaFile: String?
    public var mimeType: String?
    public var fileName: String?
    public var replyTo: String?
    /// What a rich message sends (``JobPayload``); `nil` for text and media.
    public var payload: JobPayload?
    /// Per-request humanizing overrides: `true`/`false`, or an object of settings.
    public var humanize: JSONValue
    public var status: JobStatus
    /// Kept across re-sends so WhatsApp sees one message, not two.
    public var clientMessageId: String
    public var waMessageId: String?
    public var error: String?
    public var idempotencyKey: String?
    public var attempts: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var sentAt: Date?

    public init(
        seq: Int64? = nil, id: String, tenantId: String, sessionId: String, chatId: String, kind: MessageType, text: String? = nil,
        mediaUrl: String? = nil, mediaFile: String? = nil, mimeType: String? = nil, fileName: String? = nil, replyTo: String? = nil,
        humanize: JSONValue = .object([:]), status: JobStatus, clientMessageId: String, waMessageId: String? = nil, error: String? = nil,
        idempotencyKey: String? = nil, attempts: Int, createdAt: Date, updatedAt: Date, sentAt: Date? = nil
    ) {
        self.seq = seq
        self.id = id
        self.tenantId = tenantId
        self.sessionId = sessionId
        self.chatId = chatId
        self.kind = kind
        self.text = text
        self.mediaUrl = mediaUrl
        self.mediaFile = mediaFile
        self.mimeType = mimeType
        self.fileName = fileName
        self.replyTo = replyTo
        self.humanize = humanize
        self.status = status
        self.clientMessageId = clientMessageId
        self.waMessageId = waMessageId
        self.error = error
        self.idempotencyKey = idempotencyKey
        self.attempts = attempts
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.sentAt = sentAt
    }

    /// A new client message id in WhatsApp Web's form (`3EB0` and 18 hex-like characters), kept
    /// across re-sends of the job.
    public static func newClientMessageID() -> String {
        "3EB0" + Identifier.token(byteCount: 9).uppercased().filter { $0.isLetter || $0.isNumber }
    }

    public enum Columns {
        public static let seq = Column("seq")
        public static let id = Column("id")
        public static let tenantID = Column("tenant_id")
        public static let sessionID = Column("session_id")
        public static let status = Column("status")
        public static let idempotencyKey = Column("idempotency_key")
    }
}

/// Where a job stands.
public enum JobStatus: String, Sendable, Codable, CaseIterable, DatabaseValueConvertible, CustomStringConvertible {
    case queued
    case sending
    case sent
    case failed
    case cancelled

    public var isFinished: Bool { self == .sent || self == .failed || self == .cancelled }

    public var description: String { rawValue }
}
