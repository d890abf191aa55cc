import Foundation
import GRDB

extension SQLiteGatewayStore {
    /// Inserts `job`, unless the tenant used its idempotency key in the last 24 hours: then the
    /// earlier job is returned instead. One transaction, so concurrent duplicates get one job.
    ///
    /// - Returns: the stored job and whether it is new.
    public func enqueue(_ job: JobRecord, now: Date) async throws -> (job: JobRecord, isNew: Bool) {
        try await batcher.write { db in
            if let key = job.idempotencyKey {
                try db.execute(
                    sql: "UPDATE job SET idempotency_key = NULL WHERE tenant_id = ? AND idempotency_key = ? AND created_at < ?",
                    arguments: [job.tenantId, key, now.addingTimeInterval(-86400)])
                if let existing = try Self.job(idempotencyKey: key, tenantID: job.tenantId, now: now, db: db) {
                    return (existing, false)
                }
            }
            var job = job
            try job.insert(db)
            job.seq = db.lastInsertedRowID
            return (job, true)
        }
    }

    /// The tenant's job with this idempotency key from the last 24 hours, if any: checked before
    /// a media download so that a repeated request downloads nothing.
    public func job(idempotencyKey key: String, tenantID: String, now: Date) async throws -> JobRecord? {
        try await writer.read { db in try Self.job(idempotencyKey: key, tenantID: tenantID, now: now, db: db) }
    }

    private static func job(idempotencyKey key: String, tenantID: String, now: Date, db: Database) throws -> JobRecord? {
        try JobRecord.filter(JobRecord.Columns.tenantID == tenantID).filter(JobRecord.Columns.idempotencyKey == key)
            .filter(sql: "created_at >= ?", arguments: [now.addingTimeInterval(-86400)]).fetchOne(db)
    }

    public func job(id: String, scope: AccessScope) async throws -> JobRecord? {
        try await writer.read { db in
            var request = JobRecord.filter(JobRecord.Columns.id == id)
            if let tenantID = scope.tenantID { request = request.filter(JobRecord.Columns.tenantID == tenantID) }
            return try request.fetchOne(db)
        }
    }

    /// A session's jobs, newest first, `limit` at a time before `seq`.
    public func jobs(sessionID: String, before seq: Int64?, limit: Int) async throws -> [JobRecord] {
        try await writer.read { db in
            var request = JobRecord.filter(JobRecord.Columns.sessionID == sessionID)
            if let seq { request = request.filter(JobRecord.Columns.seq < seq) }
            return try request.order(JobRecord.Columns.seq.desc).limit(limit).fetchAll(db)
        }
    }

    /// The oldest unfinished job of each chat of a session (the heads of the per-chat queues), in
    /// queue order: cheap to read on every step of the dispatcher.
    public func queueHeads(sessionID: String) async throws -> [QueueHead] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, id, chat_id FROM job WHERE seq IN (
                        SELECT min(seq) FROM job WHERE session_id = ? AND status IN (?, ?) GROUP BY chat_id)
                    ORDER BY seq
                    """, arguments: [sessionID, JobStatus.queued, JobStatus.sending]
            ).map { row in
                QueueHead(
                    seq: try row.decode(forColumn: "seq"), id: try row.decode(forColumn: "id"),
                    chatID: try row.decode(forColumn: "chat_id"))
            }
        }
    }

    /// A job by its queue position.
    public func job(seq: Int64) async throws -> JobRecord? {
        try await writer.read { db in try JobRecord.filter(JobRecord.Columns.seq == seq).fetchOne(db) }
    }

    /// Sessions that have unfinished jobs.
    public func sessionsWithQueuedJobs() async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(
                db, sql: "SELECT DISTINCT session_id FROM job WHERE status IN (?, ?)", arguments: [JobStatus.queued, JobStatus.sending])
        }
    }

    /// Applies `change` to a job and stores it; `nil` if the job is gone.
    @discardableResult
    public func updateJob(id: String, _ change: @escaping @Sendable (inout JobRecord) -> Void) async throws -> JobRecord? {
        try await batcher.write { db in
            guard var job = try JobRecord.filter(JobRecord.Columns.id == id).fetchOne(db) else { return nil }
            change(&job)
            try job.update(db)
            return job
        }
    }

    /// Stores a job as the dispatcher changed it (the dispatcher is the only writer of a queued
    /// job); a job deleted meanwhile (its session went) stays deleted.
    public func saveJob(_ job: JobRecord) async throws {
        try await batcher.write { db in
            do {
                try job.update(db)
            } catch RecordError.recordNotFound {
                return
            }
        }
    }

    /// Fails a session's unfinished jobs created before `cutoff`, in one statement.
    ///
    /// - Returns: the failed jobs.
    public func failJobs(sessionID: String, createdBefore cutoff: Date, reason: String, now: Date) async throws -> [JobRecord] {
        try await batcher.write { db in
            try JobRecord.fetchAll(
                db,
                sql: """
                    UPDATE job SET status = ?, error = ?, updated_at = ?
                    WHERE session_id = ? AND status IN (?, ?) AND created_at <= ? RETURNING *
                    """,
                arguments: [JobStatus.failed, reason, now, sessionID, JobStatus.queued, JobStatus.sending, cutoff])
        }
    }

    /// When the oldest unfinished job of a session was created.
    public func oldestUnfinishedJob(sessionID: String) async throws -> Date? {
        try await writer.read { db in
            try Date.fetchOne(
                db, sql: "SELECT min(created_at) FROM job WHERE session_id = ? AND status IN (?, ?)",
                arguments: [sessionID, JobStatus.queued, JobStatus.sending])
        }
    }

    /// Remembers the newest inbound message of a chat, which "mark as read" and the Cloud API's
    /// typing indicator point at.
    public func setLastInbound(sessionID: String, chatID: String, messageID: String) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO chat_read_marker (session_id, chat_id, message_id, is_read) VALUES (?, ?, ?, 0)
                    ON CONFLICT (session_id, chat_id) DO UPDATE SET message_id = excluded.message_id, is_read = 0
                    """, arguments: [sessionID, chatID, messageID])
        }
    }

    /// The newest inbound message of a chat and whether it still waits to be marked read; with
    /// `markingRead`, it counts as read from now on (it is read once).
    public func readMarker(sessionID: String, chatID: String, markingRead: Bool) async throws -> ReadMarker? {
        try await batcher.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT message_id, is_read FROM chat_read_marker WHERE session_id = ? AND chat_id = ?",
                    arguments: [sessionID, chatID])
            else { return nil }
            if markingRead {
                try db.execute(
                    sql: "UPDATE chat_read_marker SET is_read = 1 WHERE session_id = ? AND chat_id = ?", arguments: [sessionID, chatID])
            }
            return ReadMarker(messageID: try row.decode(forColumn: "message_id"), isUnread: !(try row.decode(Bool.self, forColumn: "is_read")))
        }
    }

    /// A session's job that WhatsApp knows by `messageID`.
    public func job(sessionID: String, waMessageID messageID: String) async throws -> JobRecord? {
        try await writer.read { db in
            try JobRecord.filter(JobRecord.Columns.sessionID == sessionID).filter(sql: "wa_message_id = ?", arguments: [messageID])
                .fetchOne(db)
        }
    }
}

/// The oldest unfinished job of one chat.
public struct QueueHead: Sendable, Equatable {
    public var seq: Int64
    public var id: String
    public var chatID: String
}

/// A chat's newest inbound message, as the dispatcher sees it.
public struct ReadMarker: Sendable, Equatable {
    public var messageID: String
    public var isUnread: Bool
}

extension SQLiteGatewayStore {
    /// How many jobs are in `status`.
    public func jobCount(status: JobStatus) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM job WHERE status = ?", arguments: [status.rawValue]) ?? 0
        }
    }
}
