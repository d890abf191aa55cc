import Foundation
import GRDB

/// Where a received file stands.
public enum MediaStatus: String, Codable, Sendable, DatabaseValueConvertible, CustomStringConvertible {
    /// Not fetched yet (eagerly soon, or on first request).
    case pending
    /// On disk under `DATA_DIR/media-in`, checked and decrypted.
    case ready
    /// Could not be fetched, even after a media retry; `error` says why.
    case failed
    /// Past its retention: the file is deleted.
    case expired

    public var description: String { rawValue }
}

/// A file a received message carries, as Wharf keeps it: what the sender declared, the engine's
/// reference to fetch it by (sealed: it holds the file's key), and where the copy stands.
public struct MediaRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "media"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: String
    public var tenantId: String
    public var sessionId: String
    public var messageId: String
    public var chatId: String
    public var kind: String
    public var mimeType: String
    public var fileName: String?
    /// Declared by the sender.
    public var size: Int64?
    public var sha256: String?
    /// ``WhatsAppProtocol/MediaReference`` data, sealed with `ENCRYPTION_KEY`; cleared once expired.
    public var reference: Data?
    public var status: MediaStatus
    public var error: String?
    /// Fetched by the media service soon after it arrives, rather than on the first request.
    public var eager: Bool
    public var attempts: Int
    public var nextAttemptAt: Date
    public var createdAt: Date
    public var updatedAt: Date
    public var expiresAt: Date
    /// The message's event, held back until the file is fetched so that it can carry the file
    /// inline (a tenant's `settings.media.inlineMaxBytes`); `nil` once delivered.
    public var heldEvent: HeldEvent?

    /// An event kept in the file's row until the file is fetched.
    public struct HeldEvent: Codable, Sendable, Equatable, DatabaseValueConvertible {
        public var id: String
        public var type: String
        public var payload: Data
        public var createdAt: Date
        /// The largest file put inline, in bytes.
        public var inlineLimit: Int64

        public var databaseValue: DatabaseValue { ((try? JSONEncoder().encode(self)) ?? Data()).databaseValue }

        public static func fromDatabaseValue(_ value: DatabaseValue) -> HeldEvent? {
            Data.fromDatabaseValue(value).flatMap { try? JSONDecoder().decode(HeldEvent.self, from: $0) }
        }
    }

    public enum Columns {
        public static let status = Column("status")
        public static let eager = Column("eager")
        public static let nextAttemptAt = Column("next_attempt_at")
        public static let expiresAt = Column("expires_at")
        public static let heldEvent = Column("held_event")
    }
}
