import Foundation

/// Who may see a row: an admin sees every tenant's, a tenant only its own.
public enum AccessScope: Sendable, Equatable {
    case everything
    case tenant(String)

    /// The tenant this scope is limited to, if any.
    public var tenantID: String? {
        if case .tenant(let id) = self { return id }
        return nil
    }
}

/// A position in a list ordered by creation time, then id.
public struct PageCursor: Sendable, Equatable {
    public var createdAt: Date
    public var id: String

    public init(createdAt: Date, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    /// The opaque text form handed to clients.
    public var token: String {
        Data("\(createdAt.timeIntervalSince1970)|\(id)".utf8).base64EncodedString()
    }

    public init?(token: String) {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "|", maxSplits: 1)
        guard parts.count == 2, let seconds = TimeInterval(parts[0]), seconds.isFinite else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: seconds), id: String(parts[1]))
    }
}

/// Failures a store reports in terms the API can explain.
public enum StoreError: Error, Equatable {
    case usernameTaken(String)
    case sessionLimitReached(limit: Int)
    case notFound
}

/// Tenants and their logins.
public protocol TenantStore: Sendable {
    func createTenant(_ tenant: TenantRecord, user: TenantUserRecord) async throws
    func tenant(id: String) async throws -> TenantRecord?
    func tenants(after cursor: PageCursor?, limit: Int) async throws -> [TenantRecord]
    func updateTenant(_ tenant: TenantRecord) async throws
    func deleteTenant(id: String) async throws -> Bool
    func user(username: String) async throws -> TenantUserRecord?
    func user(tenantID: String) async throws -> TenantUserRecord?
    func updateUser(_ user: TenantUserRecord) async throws
}

/// Tenants' API keys, by hash.
public protocol APIKeyStore: Sendable {
    func insertKey(_ key: APIKeyRecord) async throws
    func keys(tenantID: String) async throws -> [APIKeyRecord]
    func activeKey(hash: String) async throws -> APIKeyRecord?
    func revokeKey(id: String, tenantID: String, at date: Date) async throws -> Bool
    func touchKey(id: String, at date: Date) async throws
}

/// WhatsApp sessions.
public protocol SessionStore: Sendable {
    /// Inserts a session unless its tenant already has `maxSessions`, atomically.
    func insertSession(_ session: SessionRecord, maxSessions: Int) async throws
    func session(id: String, scope: AccessScope) async throws -> SessionRecord?
    func sessions(scope: AccessScope, after cursor: PageCursor?, limit: Int) async throws -> [SessionRecord]
    func allSessions() async throws -> [SessionRecord]
    func sessionCount(tenantID: String) async throws -> Int
    func updateSession(
        id: String, _ change: @escaping @Sendable (inout SessionRecord) -> Void
    ) async throws
        -> SessionRecord?
    func deleteSession(id: String) async throws -> Bool
    /// The session's status changes, newest first: every change of its status or of the reason
    /// given, recorded by ``insertSession(_:maxSessions:)`` and ``updateSession(id:_:)`` in the
    /// same transaction as the change. The newest ``SessionStatusChange/kept`` are kept.
    func statusHistory(sessionID: String, limit: Int) async throws -> [SessionStatusChange]
}

/// Server-side admin web sessions, stored by a keyed hash of the cookie value.
public protocol WebSessionStore: Sendable {
    /// `tenantID` is `nil` for the administrator's sessions.
    func insertWebSession(idHash: String, tenantID: String?, createdAt: Date, expiresAt: Date) async throws
    /// The live session with this hash: found, and whose it is.
    func webSession(idHash: String, now: Date) async throws -> (tenantID: String?, expiresAt: Date)?
    func deleteWebSession(idHash: String) async throws
    /// Ends every browser session of a tenant (its password changed).
    func deleteWebSessions(tenantID: String) async throws
}

/// Everything the gateway keeps, in one place for wiring.
public typealias GatewayStore = TenantStore & APIKeyStore & SessionStore & WebSessionStore
