import Foundation
import GRDB
import WhatsAppProtocol

extension SQLiteGatewayStore {
    /// Seals an engine's media reference for the row of file `id` (bound to it: a sealed value
    /// moved to another row does not open).
    func sealMediaReference(_ reference: MediaReference, id: String) throws -> Data {
        try secretBox.seal(reference.data, context: "media:\(id)")
    }

    func openMediaReference(of record: MediaRecord) throws -> MediaReference? {
        guard let sealed = record.reference else { return nil }
        return MediaReference(data: try secretBox.open(sealed, context: "media:\(record.id)"))
    }

    /// Writes the rows of newly received files inside the transaction that stores their events;
    /// a message WhatsApp delivers again keeps its first row.
    static func insertingMedia(_ records: [MediaRecord]) -> @Sendable (Database) throws -> Void {
        { db in
            for record in records { try record.insert(db, onConflict: .ignore) }
        }
    }

    public func media(id: String) async throws -> MediaRecord? {
        try await writer.read { db in try MediaRecord.fetchOne(db, key: id) }
    }

    /// A tenant's file; `nil` for an unknown id or another tenant's.
    public func media(id: String, tenantID: String) async throws -> MediaRecord? {
        try await media(id: id).flatMap { $0.tenantId == tenantID ? $0 : nil }
    }

    /// Files to fetch now, oldest first, and files whose held event is still to be delivered.
    func dueMedia(now: Date, limit: Int) async throws -> [MediaRecord] {
        try await writer.read { db in
            try MediaRecord.filter(
                (MediaRecord.Columns.status == MediaStatus.pending && MediaRecord.Columns.eager && MediaRecord.Columns.nextAttemptAt <= now)
                    || (MediaRecord.Columns.heldEvent != nil && MediaRecord.Columns.status != MediaStatus.pending)
            ).order(MediaRecord.Columns.nextAttemptAt).limit(limit).fetchAll(db)
        }
    }

    /// When the next eager fetch falls due, if any is waiting.
    func nextMediaAttempt() async throws -> Date? {
        try await writer.read { db in
            try Date.fetchOne(
                db,
                MediaRecord.filter(MediaRecord.Columns.status == MediaStatus.pending && MediaRecord.Columns.eager)
                    .select(min(MediaRecord.Columns.nextAttemptAt)))
        }
    }

    /// Files past their retention that are not marked expired yet.
    func expiringMedia(now: Date, limit: Int) async throws -> [MediaRecord] {
        try await writer.read { db in
            try MediaRecord.filter(MediaRecord.Columns.status != MediaStatus.expired).filter(MediaRecord.Columns.expiresAt <= now)
                .limit(limit).fetchAll(db)
        }
    }

    func saveMedia(_ record: MediaRecord) async throws {
        try await writer.write { db in try record.update(db) }
    }
}
