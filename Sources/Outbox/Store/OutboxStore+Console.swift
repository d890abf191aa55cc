import Foundation
import GRDB

/// The retry console: listing, inspecting, retrying, replaying and discarding deliveries.
extension OutboxStore {
    /// A delivery with its payload and every attempt.
    public struct DeliveryDetail: Sendable, Equatable {
        public var delivery: DeliveryRecord
        public var payload: Data
        public var attempts: [DeliveryAttemptRecord]
    }

    /// Deliveries matching `filter`, newest first, `limit` at a time after the delivery `before`.
    public func deliveries(
        matching filter: DeliveryFilter, before cursor: Int64?, limit: Int
    ) async throws
        -> [DeliveryRecord]
    {
        var (conditions, arguments) = filter.sql
        if let cursor {
            conditions += " AND id < ?"
            arguments += [cursor]
        }
        arguments += [limit]
        return try await writer.read { [conditions, arguments] db in
            try DeliveryRecord.fetchAll(
                db, sql: "SELECT * FROM delivery WHERE \(conditions) ORDER BY id DESC LIMIT ?", arguments: arguments)
        }
    }

    /// How many deliveries match `filter` (what a bulk action would touch).
    public func countDeliveries(matching filter: DeliveryFilter) async throws -> Int {
        let (conditions, arguments) = filter.sql
        return try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM delivery WHERE \(conditions)", arguments: arguments) ?? 0
        }
    }

    public func delivery(id: Int64, tenantID: String?) async throws -> DeliveryDetail? {
        try await writer.read { db in
            var sql = "SELECT * FROM delivery WHERE id = ?"
            var arguments: StatementArguments = [id]
            if let tenantID {
                sql += " AND tenant_id = ?"
                arguments += [tenantID]
            }
            guard let delivery = try DeliveryRecord.fetchOne(db, sql: sql, arguments: arguments) else { return nil }
            let payload =
                try Data.fetchOne(db, sql: "SELECT payload FROM event WHERE id = ?", arguments: [delivery.eventId]) ?? Data()
            let attempts = try DeliveryAttemptRecord.fetchAll(
                db, sql: "SELECT * FROM delivery_attempt WHERE delivery_id = ? ORDER BY attempt, id", arguments: [id])
            return DeliveryDetail(delivery: delivery, payload: payload, attempts: attempts)
        }
    }

    /// Makes matching deliveries due now with a fresh attempt budget, keeping their event ids
    /// (so `webhook-id` stays the same and receivers can deduplicate). Deliveries in flight are
    /// left alone.
    ///
    /// - Parameter statuses: which deliveries qualify: failed (retry) or any finished (replay).
    /// - Returns: how many deliveries were queued again.
    @discardableResult
    public func requeue(matching filter: DeliveryFilter, statuses: Set<DeliveryStatus>, now: Date) async throws -> Int {
        try await writer.write { db in try Self.requeue(matching: filter, statuses: statuses, now: now, db: db) }
    }

    static func requeue(matching filter: DeliveryFilter, statuses: Set<DeliveryStatus>, now: Date, db: Database) throws -> Int {
        var (conditions, arguments) = filter.sql
        let allowed = statuses.subtracting([.inflight]).map { "'\($0.rawValue)'" }.joined(separator: ", ")
        guard !allowed.isEmpty else { return 0 }
        conditions += " AND status IN (\(allowed))"
        let nowMS = now.milliseconds
        try db.execute(
            sql: """
                UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL,
                    label = NULL, updated_at = ? WHERE \(conditions)
                """, arguments: [nowMS, nowMS] + arguments)
        return db.changesCount
    }

    /// Retries one delivery now; `false` when it does not exist (for this tenant) or is in flight.
    public func retry(id: Int64, tenantID: String?, now: Date) async throws -> Bool {
        guard try await delivery(id: id, tenantID: tenantID) != nil else { return false }
        return try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL, label = NULL,
                        updated_at = ? WHERE id = ? AND status != 'inflight'
                    """, arguments: [now.milliseconds, now.milliseconds, id])
            return db.changesCount > 0
        }
    }

    /// Gives up on a delivery; `false` when it does not exist (for this tenant).
    public func discard(id: Int64, tenantID: String?, now: Date) async throws -> Bool {
        try await writer.write { db in
            var sql = "UPDATE delivery SET status = 'discarded', lease_until = NULL, updated_at = ? WHERE id = ?"
            var arguments: StatementArguments = [now.milliseconds, id]
            if let tenantID {
                sql += " AND tenant_id = ?"
                arguments += [tenantID]
            }
            try db.execute(sql: sql, arguments: arguments)
            return db.changesCount > 0
        }
    }

    /// Counts by status, and the creation time of the oldest pending delivery, for metrics.
    public func queueSnapshot() async throws -> (counts: [DeliveryStatus: Int], oldestPending: Date?) {
        try await writer.read { db in
            var counts: [DeliveryStatus: Int] = [:]
            for status in DeliveryStatus.allCases { counts[status] = 0 }
            for row in try Row.fetchAll(db, sql: "SELECT status, count(*) AS n FROM delivery GROUP BY status") {
                // A status this version does not know (written by a newer one) is left out.
                if let status = DeliveryStatus.fromDatabaseValue(row["status"]) { counts[status] = try row.decode(Int.self, forColumn: "n") }
            }
            let oldest = try Milliseconds.fetchOne(
                db, sql: "SELECT min(created_at) FROM delivery WHERE status IN ('pending', 'inflight')")
            return (counts, oldest.map(Date.init(milliseconds:)))
        }
    }
}
