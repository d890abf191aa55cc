import Foundation
import GRDB
import Outbox
import WhatsAppProtocol

/// The gateway's store on SQLite.
public struct SQLiteGatewayStore: Sendable {
    let writer: any DatabaseWriter
    /// Group commit for the hot paths (jobs), so concurrent sends share fsyncs.
    let batcher: WriteBatcher
    /// Seals engine credentials before they are written.
    let secretBox: SecretBox

    /// Wraps `writer` and brings its schema up to date.
    ///
    /// - Parameter secretBox: the key engine credentials are encrypted with.
    public init(_ writer: any DatabaseWriter, batcher: WriteBatcher? = nil, secretBox: SecretBox) throws {
        self.writer = writer
        self.batcher = batcher ?? WriteBatcher(writer: writer)
        self.secretBox = secretBox
        var migrator = DatabaseMigrator()
        GatewayMigrations.register(in: &migrator)
        try migrator.migrate(writer)
    }

    /// Deletes a tenant's rows everywhere the gateway keeps them (sessions cascade).
    public func deleteTenantCascade(id: String, outbox: OutboxStore) async throws -> Bool {
        try await outbox.deleteTenant(id)
        return try await deleteTenant(id: id)
    }

    /// The engine credentials store of one session.
    public func credentials(sessionID: String) -> any CredentialsStore {
        SQLiteCredentialsStore(writer: writer, sessionID: sessionID, box: secretBox)
    }

    /// A session's credential writes, sealed, to run in a transaction of the caller's.
    func writing(_ changes: CredentialChanges, sessionID: String) throws -> @Sendable (Database) throws -> Void {
        try SQLiteCredentialsStore(writer: writer, sessionID: sessionID, box: secretBox).writing(changes)
    }

    /// Encrypts credentials that an earlier version stored in the clear; returns how many.
    @discardableResult
    public func sealLegacyCredentials() async throws -> Int {
        let box = secretBox
        return try await writer.write { db in
            var count = 0
            // Sealed rows stay in the database: only the ones without the mark are read.
            for row in try Row.fetchAll(
                db, sql: "SELECT session_id, key, value FROM session_credential WHERE substr(value, 1, ?) <> ?",
                arguments: [SecretBox.magic.count, Data(SecretBox.magic)])
            {
                let value = try row.decode(Data.self, forColumn: "value")
                let sessionID = try row.decode(String.self, forColumn: "session_id")
                let key = try row.decode(String.self, forColumn: "key")
                try db.execute(
                    sql: "UPDATE session_credential SET value = ? WHERE session_id = ? AND key = ?",
                    arguments: [try box.seal(value, context: SQLiteCredentialsStore.context(sessionID, key)), sessionID, key])
                count += 1
            }
            return count
        }
    }
}

extension SQLiteGatewayStore: TenantStore {
    public func createTenant(_ tenant: TenantRecord, user: TenantUserRecord) async throws {
        do {
            try await writer.write { db in
                try tenant.insert(db)
                try user.insert(db)
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StoreError.usernameTaken(user.username)
        }
    }

    public func tenant(id: String) async throws -> TenantRecord? {
        try await writer.read { db in try TenantRecord.fetchOne(db, key: id) }
    }

    public func tenants(after cursor: PageCursor?, limit: Int) async throws -> [TenantRecord] {
        try await writer.read { db in
            try TenantRecord.filter(after: cursor).order(TenantRecord.Columns.createdAt, TenantRecord.Columns.id)
                .limit(limit).fetchAll(db)
        }
    }

    public func updateTenant(_ tenant: TenantRecord) async throws {
        try await writer.write { db in try tenant.update(db) }
    }

    public func deleteTenant(id: String) async throws -> Bool {
        try await writer.write { db in try TenantRecord.deleteOne(db, key: id) }
    }

    public func user(username: String) async throws -> TenantUserRecord? {
        try await writer.read { db in
            try TenantUserRecord.filter(TenantUserRecord.Columns.username == username).fetchOne(db)
        }
    }

    public func user(tenantID: String) async throws -> TenantUserRecord? {
        try await writer.read { db in
            try TenantUserRecord.filter(TenantUserRecord.Columns.tenantID == tenantID).fetchOne(db)
        }
    }

    public func updateUser(_ user: TenantUserRecord) async throws {
        do {
            try await writer.write { db in try user.update(db) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StoreError.usernameTaken(user.username)
        }
    }
}

extension SQLiteGatewayStore: APIKeyStore {
    public func insertKey(_ key: APIKeyRecord) async throws {
        try await writer.write { db in try key.insert(db) }
    }

    public func keys(tenantID: String) async throws -> [APIKeyRecord] {
        try await writer.read { db in
            try APIKeyRecord.filter(APIKeyRecord.Columns.tenantID == tenantID)
                .filter(APIKeyRecord.Columns.revokedAt == nil)
                .order(APIKeyRecord.Columns.createdAt).fetchAll(db)
        }
    }

    public func activeKey(hash: String) async throws -> APIKeyRecord? {
        try await writer.read { db in
            try APIKeyRecord.filter(APIKeyRecord.Columns.keyHash == hash)
                .filter(APIKeyRecord.Columns.revokedAt == nil).fetchOne(db)
        }
    }

    public func revokeKey(id: String, tenantID: String, at date: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE api_key SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
                arguments: [date, id, tenantID])
            return db.changesCount > 0
        }
    }

    public func touchKey(id: String, at date: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE api_key SET last_used_at = ? WHERE id = ?", arguments: [date, id])
        }
    }
}

extension SQLiteGatewayStore: SessionStore {
    public func insertSession(_ session: SessionRecord, maxSessions: Int) async throws {
        try await insertSession(session, maxSessions: maxSessions, credentials: [:])
    }

    /// Inserts a session and its first engine credentials (a Cloud API session's settings) in one
    /// transaction, so there is never a session whose engine cannot find them.
    public func insertSession(_ session: SessionRecord, maxSessions: Int, credentials: [String: Data]) async throws {
        let sealed = try credentials.map { key, value in
            (key, try secretBox.seal(value, context: SQLiteCredentialsStore.context(session.id, key)))
        }
        try await writer.write { db in
            let count = try SessionRecord.filter(SessionRecord.Columns.tenantID == session.tenantId).fetchCount(db)
            guard count < maxSessions else { throw StoreError.sessionLimitReached(limit: maxSessions) }
            try session.insert(db)
            try Self.appendStatus(of: session, db)
            for (key, value) in sealed {
                try db.execute(
                    sql: "INSERT INTO session_credential (session_id, key, value) VALUES (?, ?, ?)", arguments: [session.id, key, value])
            }
        }
    }

    /// The Cloud API session of a tenant that speaks for `phoneNumberID`, if any.
    public func cloudSession(tenantID: String, phoneNumberID: String) async throws -> SessionRecord? {
        try await writer.read { db in
            try SessionRecord.filter(SessionRecord.Columns.tenantID == tenantID)
                .filter(sql: "engine = 'cloud' AND json_extract(options, '$.phoneNumberId') = ?", arguments: [phoneNumberID])
                .fetchOne(db)
        }
    }

    public func session(id: String, scope: AccessScope) async throws -> SessionRecord? {
        try await writer.read { db in
            var request = SessionRecord.filter(key: id)
            if let tenantID = scope.tenantID { request = request.filter(SessionRecord.Columns.tenantID == tenantID) }
            return try request.fetchOne(db)
        }
    }

    public func sessions(scope: AccessScope, after cursor: PageCursor?, limit: Int) async throws -> [SessionRecord] {
        try await writer.read { db in
            var request = SessionRecord.filter(after: cursor)
            if let tenantID = scope.tenantID { request = request.filter(SessionRecord.Columns.tenantID == tenantID) }
            return try request.order(SessionRecord.Columns.createdAt, SessionRecord.Columns.id).limit(limit).fetchAll(db)
        }
    }

    public func allSessions() async throws -> [SessionRecord] {
        try await writer.read { db in try SessionRecord.order(SessionRecord.Columns.createdAt).fetchAll(db) }
    }

    public func sessionCount(tenantID: String) async throws -> Int {
        try await writer.read { db in
            try SessionRecord.filter(SessionRecord.Columns.tenantID == tenantID).fetchCount(db)
        }
    }

    public func updateSession(
        id: String, _ change: @escaping @Sendable (inout SessionRecord) -> Void
    ) async throws
        -> SessionRecord?
    {
        try await writer.write { db in
            guard var session = try SessionRecord.fetchOne(db, key: id) else { return nil }
            let before = (session.status, session.statusDetail)
            change(&session)
            try session.update(db)
            if before != (session.status, session.statusDetail) { try Self.appendStatus(of: session, db) }
            return session
        }
    }

    public func deleteSession(id: String) async throws -> Bool {
        try await writer.write { db in try SessionRecord.deleteOne(db, key: id) }
    }

    public func statusHistory(sessionID: String, limit: Int) async throws -> [SessionStatusChange] {
        try await writer.read { db in
            try SessionStatusChange.fetchAll(
                db, sql: "SELECT status, detail, at FROM session_status_change WHERE session_id = ? ORDER BY id DESC LIMIT ?",
                arguments: [sessionID, limit])
        }
    }

    /// Adds the session's current status to its history and drops what is past the newest kept.
    private static func appendStatus(of session: SessionRecord, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO session_status_change (session_id, status, detail, at) VALUES (?, ?, ?, ?)",
            arguments: [session.id, session.status, session.statusDetail, session.updatedAt])
        try db.execute(
            sql: """
                DELETE FROM session_status_change WHERE session_id = ? AND id <= (
                    SELECT id FROM session_status_change WHERE session_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                """,
            arguments: [session.id, session.id, SessionStatusChange.kept])
    }
}

extension SQLiteGatewayStore: WebSessionStore {
    public func insertWebSession(idHash: String, tenantID: String?, createdAt: Date, expiresAt: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM web_session WHERE expires_at < ?", arguments: [createdAt])
            try db.execute(
                sql: "INSERT INTO web_session (id_hash, tenant_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [idHash, tenantID, createdAt, expiresAt])
        }
    }

    public func webSession(idHash: String, now: Date) async throws -> (tenantID: String?, expiresAt: Date)? {
        try await writer.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT tenant_id, expires_at FROM web_session WHERE id_hash = ? AND expires_at > ?",
                    arguments: [idHash, now])
            else { return nil }
            return (try row.decode(String?.self, forColumn: "tenant_id"), try row.decode(Date.self, forColumn: "expires_at"))
        }
    }

    public func deleteWebSession(idHash: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM web_session WHERE id_hash = ?", arguments: [idHash])
        }
    }

    public func deleteWebSessions(tenantID: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM web_session WHERE tenant_id = ?", arguments: [tenantID])
        }
    }
}

extension TableRecord {
    /// Rows strictly after `cursor` in (created_at, id) order.
    static func filter(after cursor: PageCursor?) -> QueryInterfaceRequest<Self> {
        guard let cursor else { return all() }
        return filter(
            sql: "(created_at > ?) OR (created_at = ? AND id > ?)",
            arguments: [cursor.createdAt, cursor.createdAt, cursor.id])
    }
}

/// One session's engine credentials as key/value rows, each sealed by the store's ``SecretBox``
/// and bound to its session and key.
struct SQLiteCredentialsStore: CredentialsStore {
    let writer: any DatabaseWriter
    let sessionID: String
    let box: SecretBox

    static func context(_ sessionID: String, _ key: String) -> String { "session_credential/\(sessionID)/\(key)" }

    func value(forKey key: String) async throws -> Data? {
        let stored = try await writer.read { db in
            try Data.fetchOne(
                db, sql: "SELECT value FROM session_credential WHERE session_id = ? AND key = ?",
                arguments: [sessionID, key])
        }
        return try stored.map { try box.open($0, context: Self.context(sessionID, key)) }
    }

    func setValue(_ value: Data?, forKey key: String) async throws {
        var changes = CredentialChanges()
        changes.set(value, forKey: key)
        try await apply(changes)
    }

    func apply(_ changes: CredentialChanges) async throws {
        let write = try writing(changes)
        try await writer.write { db in try write(db) }
    }

    /// The writes of `changes`, sealed now, to run inside a transaction someone else opens (the
    /// outbox's, so that they commit with events).
    func writing(_ changes: CredentialChanges) throws -> @Sendable (Database) throws -> Void {
        let sessionID = sessionID
        let sealed = try changes.writes.map { key, value in
            (key, try value.map { try box.seal($0, context: Self.context(sessionID, key)) })
        }
        return { db in
            for (key, value) in sealed {
                if let value {
                    try db.cachedStatement(
                        sql: """
                            INSERT INTO session_credential (session_id, key, value) VALUES (?, ?, ?)
                            ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value
                            """
                    ).execute(arguments: [sessionID, key, value])
                } else {
                    try db.cachedStatement(sql: "DELETE FROM session_credential WHERE session_id = ? AND key = ?")
                        .execute(arguments: [sessionID, key])
                }
            }
        }
    }

    func removeAll() async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM session_credential WHERE session_id = ?", arguments: [sessionID])
        }
    }
}
