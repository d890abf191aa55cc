import Foundation
import GRDB
import Outbox
import Testing

@testable import Gateway

@Suite struct MigrationTests {
    @Test func freshDatabaseGetsEveryTable() throws {
        let database = try SQLiteDatabase.openInMemory()
        _ = try SQLiteGatewayStore(database, secretBox: .ephemeral())
        let tables = try database.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        for table in ["tenant", "tenant_user", "api_key", "session", "session_credential", "web_session"] {
            #expect(tables.contains(table), "missing \(table)")
        }
    }

    @Test func existingDatabaseKeepsItsRowsAndIsNotMigratedTwice() async throws {
        let path = TestWharf.temporaryDirectory() + "/wharf.sqlite"
        do {
            let store = try SQLiteGatewayStore(try SQLiteDatabase.openPool(at: path), secretBox: .ephemeral())
            let now = Date()
            try await store.createTenant(
                TenantRecord(id: "ten_a", name: "A", maxSessions: 1, settings: "{}", createdAt: now, updatedAt: now),
                user: TenantUserRecord(
                    id: "usr_a", tenantId: "ten_a", username: "alice", passwordHash: "x", createdAt: now,
                    passwordChangedAt: now))
        }
        let pool = try SQLiteDatabase.openPool(at: path)
        let store = try SQLiteGatewayStore(pool, secretBox: .ephemeral())
        #expect(try await store.tenant(id: "ten_a")?.name == "A")
        let applied = try await pool.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(
            applied == [
                "gateway.v1", "gateway.v2.jobs", "gateway.v3.web_sessions", "gateway.v4.cloud", "gateway.v5.media", "gateway.v6.token_version",
                "gateway.v7.job_payload", "gateway.v8.session_status_history",
            ])
    }

    @Test func poolUsesWALAndFullSync() async throws {
        let pool = try SQLiteDatabase.openPool(at: TestWharf.temporaryDirectory() + "/wharf.sqlite")
        let (journal, synchronous, foreignKeys) = try await pool.write { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                try Int.fetchOne(db, sql: "PRAGMA foreign_keys")
            )
        }
        #expect(journal == "wal")
        #expect(synchronous == 2)  // FULL
        #expect(foreignKeys == 1)
    }
}
