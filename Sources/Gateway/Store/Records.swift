import Foundation
import GRDB
import WharfCore
import WhatsAppProtocol

/// A tenant: an organisation with its own sessions, webhook, limit and settings.
public struct TenantRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tenant"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: String
    public var name: String
    public var maxSessions: Int
    /// A free-form JSON object (the seed's "AI prompt", humanizing defaults), stored as JSON.
    public var settings: JSONValue
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, name: String, maxSessions: Int, settings: JSONValue, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.maxSessions = maxSessions
        self.settings = settings
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public enum Columns {
        public static let id = Column("id")
        public static let name = Column("name")
        public static let createdAt = Column("created_at")
    }
}

/// A login of a tenant.
public struct TenantUserRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tenant_user"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: String
    public var tenantId: String
    public var username: String
    public var passwordHash: String
    public var createdAt: Date
    public var passwordChangedAt: Date
    /// Carried by every login token; raising it (a new password, "revoke all") voids the tokens
    /// issued before.
    public var tokenVersion: Int

    public init(
        id: String, tenantId: String, username: String, passwordHash: String, createdAt: Date, passwordChangedAt: Date, tokenVersion: Int = 0
    ) {
        self.tokenVersion = tokenVersion
        self.id = id
        self.tenantId = tenantId
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.passwordChangedAt = passwordChangedAt
    }

    public enum Columns {
        public static let tenantID = Column("tenant_id")
        public static let username = Column("username")
    }
}

/// An API key of a tenant; only its SHA-256 is stored.
public struct APIKeyRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "api_key"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: String
    public var tenantId: String
    public var name: String
    /// The first characters of the key, shown so people can tell keys apart.
    public var prefix: String
    public var keyHash: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public enum Columns {
        public static let tenantID = Column("tenant_id")
        public static let keyHash = Column("key_hash")
        public static let revokedAt = Column("revoked_at")
        public static let createdAt = Column("created_at")
    }
}

/// A linked (or linking) WhatsApp account of a tenant.
public struct SessionRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "session"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: String
    public var tenantId: String
    public var name: String
    public var engine: EngineKind
    public var options: SessionOptions
    public var status: SessionState
    public var statusDetail: String?
    public var qr: String?
    public var pairingCode: String?
    public var phone: String?
    public var jid: String?
    public var pushName: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var connectedAt: Date?
    public var lastActivityAt: Date?

    public init(
        id: String, tenantId: String, name: String, engine: EngineKind, options: SessionOptions = SessionOptions(), status: SessionState,
        statusDetail: String? = nil, qr: String? = nil, pairingCode: String? = nil, phone: String? = nil, jid: String? = nil, pushName: String? = nil,
        createdAt: Date, updatedAt: Date, connectedAt: Date? = nil, lastActivityAt: Date? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.engine = engine
        self.options = options
        self.status = status
        self.statusDetail = statusDetail
        self.qr = qr
        self.pairingCode = pairingCode
        self.phone = phone
        self.jid = jid
        self.pushName = pushName
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.connectedAt = connectedAt
        self.lastActivityAt = lastActivityAt
    }

    public enum Columns {
        public static let id = Column("id")
        public static let tenantID = Column("tenant_id")
        public static let status = Column("status")
        public static let createdAt = Column("created_at")
    }
}

/// One entry of a session's status history: what it became, why, and when.
public struct SessionStatusChange: Codable, Sendable, Equatable, FetchableRecord {
    /// How many changes a session keeps; older ones are dropped as new ones come.
    public static let kept = 100

    public var status: SessionState
    public var detail: String?
    public var at: Date

    public init(status: SessionState, detail: String?, at: Date) {
        self.status = status
        self.detail = detail
        self.at = at
    }
}

/// Session states as stored and shown.
public enum SessionState: String, Sendable, Codable, CaseIterable, DatabaseValueConvertible, CustomStringConvertible {
    case starting
    case scanQR = "scan_qr"
    case pairingCode = "pairing_code"
    case connected
    case disconnected
    case loggedOut = "logged_out"
    case stopped

    /// The stored name (`scan_qr`), which messages quote.
    public var description: String { rawValue }
}

/// A session's engine options, stored as one JSON object: the members that apply to its engine
/// (`qr`, `echo` for the sandbox; the Cloud API's settings that are not secret), and nothing for
/// the web engine.
public struct SessionOptions: Codable, Sendable, Equatable {
    /// Sandbox: link through a QR step.
    public var qr: Bool?
    /// Sandbox: run the echo contact.
    public var echo: Bool?
    public var phoneNumberId: String?
    public var graphBaseUrl: String?
    public var graphVersion: String?
    /// Web: the proxy the session connects through, without its password (``SessionProxy``).
    public var proxy: String?
    /// Web: the proxy's whole URL, sealed with the store's key.
    public var sealedProxy: Data?

    public init() {}

    public init(sandbox: SandboxOptions) {
        qr = sandbox.requiresQRScan
        echo = sandbox.isEchoEnabled
    }

    /// The sandbox's options (defaults for members that are not set).
    public var sandbox: SandboxOptions {
        SandboxOptions(requiresQRScan: qr ?? false, isEchoEnabled: echo ?? false)
    }
}

extension EngineKind: DatabaseValueConvertible {}
extension MessageType: DatabaseValueConvertible {}
