import Foundation
import GRDB

/// The outbox on SQLite: accepting events, claiming and completing deliveries, and the console's
/// queries and bulk actions.
public struct OutboxStore: Sendable {
    public let writer: any DatabaseWriter
    let batcher: WriteBatcher
    /// Seals endpoints' secrets at rest; `nil` stores them as they are.
    let sealer: (any FieldSealer)?
    /// Signalled after every commit that stored events: what live event streams wait on.
    public let feed = EventFeed()

    /// Wraps `writer` and brings the outbox schema up to date.
    ///
    /// - Parameter batcher: the group committer to share with other stores on the same database, so
    ///   that all of them share fsyncs; a new one by default.
    public init(_ writer: any DatabaseWriter, batcher: WriteBatcher? = nil, sealer: (any FieldSealer)? = nil) throws {
        self.sealer = sealer
        self.writer = writer
        self.batcher = batcher ?? WriteBatcher(writer: writer)
        var migrator = DatabaseMigrator()
        OutboxMigrations.register(in: &migrator)
        try migrator.migrate(writer)
    }

    // MARK: Accepting

    /// Stores an event and one pending delivery per enabled endpoint of its tenant that wants its
    /// type, in one transaction shared with other concurrent writes (group commit).
    ///
    /// - Returns: the number of deliveries created, once they are durable.
    @discardableResult
    public func accept(_ event: OutboxEvent) async throws -> Int {
        defer { feed.committed() }
        return try await batcher.write { db in try Self.insert(event, db: db) ?? 0 }
    }

    /// Stores several events in one transaction (all or none). An event whose id is already
    /// stored is skipped, which is how a redelivered upstream event (whose id was derived from
    /// upstream's) is kept once.
    ///
    /// - Returns: for each event, whether it was new.
    public func accept(_ events: [OutboxEvent]) async throws -> [Bool] {
        defer { feed.committed() }
        return try await batcher.write { db in try events.map { try Self.insert($0, db: db) != nil } }
    }

    /// Stores events together with other rows `alongside` writes, in one transaction: the engine
    /// state a message produced commits with the message's event, or neither does.
    ///
    /// - Returns: for each event, whether it was new.
    public func accept(_ events: [OutboxEvent], alongside write: @escaping @Sendable (Database) throws -> Void) async throws -> [Bool] {
        defer { feed.committed() }
        return try await batcher.write { db in
            try write(db)
            return try events.map { try Self.insert($0, db: db) != nil }
        }
    }

    /// - Returns: the number of deliveries created, or `nil` when the event id was stored before.
    static func insert(_ event: OutboxEvent, db: Database) throws -> Int? {
        let now = event.createdAt.milliseconds
        try db.cachedStatement(
            sql: "INSERT INTO event (id, tenant_id, session_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
        ).execute(arguments: [event.id, event.tenantID, event.sessionID, event.type, event.payload, now])
        guard db.changesCount > 0 else { return nil }
        let endpoints = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, event_types FROM webhook_endpoint WHERE tenant_id = ? AND is_enabled"),
            arguments: [event.tenantID])
        var count = 0
        let insertDelivery = try db.cachedStatement(
            sql: """
                INSERT INTO delivery (event_id, endpoint_id, tenant_id, type, status, next_attempt_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)
                """)
        for row in endpoints {
            // Most endpoints take every type; their "[]" needs no parsing. A filter that does not
            // read lets the event through: a delivery too many beats a lost one.
            let types: DatabaseValue = row["event_types"]
            if types != "[]".databaseValue, let filter = EventFilter.fromDatabaseValue(types), !filter.accepts(event.type) {
                continue
            }
            let endpointID = try row.decode(String.self, forColumn: "id")
            try insertDelivery.execute(arguments: [event.id, endpointID, event.tenantID, event.type, now, now, now])
            count += 1
        }
        return count
    }

    /// Stores an event for exactly one endpoint, whatever its filter (the "send test event" action).
    public func accept(_ event: OutboxEvent, onlyTo endpointID: String) async throws {
        defer { feed.committed() }
        try await batcher.write { db in
            let now = event.createdAt.milliseconds
            try db.execute(
                sql: "INSERT INTO event (id, tenant_id, session_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [event.id, event.tenantID, event.sessionID, event.type, event.payload, now])
            try db.execute(
                sql: """
                    INSERT INTO delivery (event_id, endpoint_id, tenant_id, type, status, next_attempt_at, created_at, updated_at)
                    VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)
                    """, arguments: [event.id, endpointID, event.tenantID, event.type, now, now, now])
        }
    }

    // MARK: Delivering

    /// Claims up to `limit` due deliveries (pending and due, or in flight with an expired lease),
    /// leasing them until `now + lease`, skipping endpoints in `held`.
    public func claim(
        now: Date, lease: Duration, limit: Int, excluding held: Set<String>
    ) async throws
        -> [ClaimedDelivery]
    {
        let nowMS = now.milliseconds
        let leaseUntil = now.addingTimeInterval(lease.timeInterval).milliseconds
        let heldJSON = String(decoding: try JSONEncoder().encode(Array(held)), as: UTF8.self)
        return try await batcher.write { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE delivery SET status = 'inflight', lease_until = ?, attempts = attempts + 1, updated_at = ?
                        WHERE id IN (
                            SELECT d.id FROM delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id
                            WHERE d.status IN ('pending', 'inflight') AND d.next_attempt_at <= ?
                              AND (d.status = 'pending' OR d.lease_until <= ?)
                              AND e.is_enabled
                              AND d.endpoint_id NOT IN (SELECT value FROM json_each(?))
                            ORDER BY d.next_attempt_at, d.id LIMIT ?)
                        RETURNING id, event_id, endpoint_id, type, attempts
                        """),
                arguments: [leaseUntil, nowMS, nowMS, nowMS, heldJSON, limit])
            guard !rows.isEmpty else { return [] }
            var events: [String: (payload: Data, sessionID: String?)] = [:]
            let eventIDs = Set(try rows.map { try $0.decode(String.self, forColumn: "event_id") })
            for row in try Row.fetchAll(
                db, sql: "SELECT id, payload, session_id FROM event WHERE id IN (SELECT value FROM json_each(?))",
                arguments: [String(decoding: try JSONEncoder().encode(Array(eventIDs)), as: UTF8.self)])
            {
                events[try row.decode(String.self, forColumn: "id")] = (
                    try row.decode(Data.self, forColumn: "payload"), try row.decode(String?.self, forColumn: "session_id")
                )
            }
            return try rows.map { row in
                let eventID = try row.decode(String.self, forColumn: "event_id")
                return ClaimedDelivery(
                    id: try row.decode(forColumn: "id"), eventID: eventID, endpointID: try row.decode(forColumn: "endpoint_id"),
                    type: try row.decode(forColumn: "type"), attempt: try row.decode(forColumn: "attempts"),
                    payload: events[eventID]?.payload ?? Data(), sessionID: events[eventID]?.sessionID)
            }
        }
    }

    /// Records attempt results (group-committed): the attempt log, the delivery's new status.
    public func record(_ result: AttemptResult, now: Date) async throws {
        try await batcher.write { db in try Self.record(result, now: now, db: db) }
    }

    static func record(_ result: AttemptResult, now: Date, db: Database) throws {
        let nowMS = now.milliseconds
        try db.cachedStatement(
            sql: """
                INSERT INTO delivery_attempt (delivery_id, attempt, started_at, duration_ms, http_status, error, response_snippet)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            result.deliveryID, result.attempt, result.startedAt.milliseconds, result.duration.milliseconds,
            result.httpStatus, result.error, result.responseSnippet,
        ])
        switch result.decision {
        case .delivered:
            try db.cachedStatement(
                sql: """
                    UPDATE delivery SET status = 'delivered', delivered_at = ?, lease_until = NULL, last_status = ?,
                        last_error = NULL, label = NULL, updated_at = ? WHERE id = ?
                    """
            ).execute(arguments: [nowMS, result.httpStatus, nowMS, result.deliveryID])
        case .retry(let at, let reason, let label):
            try db.cachedStatement(
                sql: """
                    UPDATE delivery SET status = 'pending', next_attempt_at = ?, lease_until = NULL, last_status = ?,
                        last_error = ?, label = ?, updated_at = ? WHERE id = ?
                    """
            ).execute(arguments: [at.milliseconds, result.httpStatus, reason, label, nowMS, result.deliveryID])
        case .fail(let reason), .disableEndpoint(let reason):
            try db.cachedStatement(
                sql: """
                    UPDATE delivery SET status = 'failed', lease_until = NULL, last_status = ?, last_error = ?,
                        updated_at = ? WHERE id = ?
                    """
            ).execute(arguments: [result.httpStatus, reason, nowMS, result.deliveryID])
        }
    }

    /// Puts a held delivery (its endpoint's breaker is open) back without spending its attempt.
    public func release(_ delivery: ClaimedDelivery, now: Date) async throws {
        try await batcher.write { db in
            try db.execute(
                sql: """
                    UPDATE delivery SET status = 'pending', lease_until = NULL, attempts = attempts - 1, updated_at = ?
                    WHERE id = ? AND status = 'inflight'
                    """, arguments: [now.milliseconds, delivery.id])
        }
    }

    /// After a crash, nothing is in flight: hand every leased delivery back at once.
    @discardableResult
    public func recoverInFlight(now: Date) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE delivery SET status = 'pending', lease_until = NULL, updated_at = ? WHERE status = 'inflight'",
                arguments: [now.milliseconds])
            return db.changesCount
        }
    }

    /// When the earliest pending delivery on an enabled endpoint, other than `excluded`, falls due.
    public func nextDueDate(excluding excluded: Set<String>) async throws -> Date? {
        let placeholders = Array(repeating: "?", count: excluded.count).joined(separator: ",")
        return try await writer.read { db in
            try Milliseconds.fetchOne(
                db,
                sql: """
                    SELECT min(d.next_attempt_at) FROM delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id
                    WHERE d.status = 'pending' AND e.is_enabled AND d.endpoint_id NOT IN (\(placeholders))
                    """, arguments: StatementArguments(Array(excluded))
            ).map(Date.init(milliseconds:))
        }
    }

    /// Deletes delivered deliveries (and their attempts) older than `cutoff`, then events no
    /// delivery refers to any more.
    @discardableResult
    public func prune(deliveredBefore cutoff: Date) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM delivery WHERE status IN ('delivered', 'discarded') AND updated_at < ?",
                arguments: [cutoff.milliseconds])
            let count = db.changesCount
            try db.execute(
                sql: "DELETE FROM event WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM delivery WHERE event_id = event.id)",
                arguments: [cutoff.milliseconds])
            return count
        }
    }
}
