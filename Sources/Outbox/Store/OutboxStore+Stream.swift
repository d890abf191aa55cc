import Foundation
import GRDB

/// Reading the event table in commit order: the history behind `GET /v1/events` and the streams.
extension OutboxStore {
    /// Up to `limit` events committed after `sequence`, oldest first; only `tenantID`'s when given.
    public func events(after sequence: Int64, tenantID: String?, limit: Int) async throws -> [StoredEvent] {
        try await writer.read { db in
            var sql = "SELECT rowid, id, tenant_id, session_id, type, payload FROM event WHERE rowid > ?"
            var arguments: StatementArguments = [sequence]
            if let tenantID {
                sql += " AND tenant_id = ?"
                arguments += [tenantID]
            }
            sql += " ORDER BY rowid LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { row in
                StoredEvent(
                    sequence: row[0], id: row[1], tenantID: row[2], sessionID: row[3], type: row[4], payload: row[5])
            }
        }
    }

    /// Where event `id` stands in commit order; `nil` when it is not stored (never was, another
    /// tenant's, or past the retention).
    public func eventSequence(id: String, tenantID: String?) async throws -> Int64? {
        try await writer.read { db in
            var sql = "SELECT rowid FROM event WHERE id = ?"
            var arguments: StatementArguments = [id]
            if let tenantID {
                sql += " AND tenant_id = ?"
                arguments += [tenantID]
            }
            return try Int64.fetchOne(db, sql: sql, arguments: arguments)
        }
    }

    /// The sequence of the newest event, 0 when there is none: where a stream that starts "now" begins.
    public func newestEventSequence() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT max(rowid) FROM event") ?? 0 }
    }
}

extension OutboxStore {
    /// How many events (only `tenantID`'s when given) were committed after `sequence`, counting no
    /// further than `limit`: how far a stream is behind, at a cost bounded by the limit it is held to.
    public func eventsWaiting(after sequence: Int64, tenantID: String?, upTo limit: Int) async throws -> Int {
        try await writer.read { db in
            var sql = "SELECT count(*) FROM (SELECT 1 FROM event WHERE rowid > ?"
            var arguments: StatementArguments = [sequence]
            if let tenantID {
                sql += " AND tenant_id = ?"
                arguments += [tenantID]
            }
            sql += " LIMIT ?)"
            arguments += [limit]
            return try Int.fetchOne(db, sql: sql, arguments: arguments) ?? 0
        }
    }
}
