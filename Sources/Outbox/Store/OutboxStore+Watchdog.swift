import Foundation
import GRDB

/// What the watchdog asks the outbox: which sessions' events are still waiting for which endpoint.
extension OutboxStore {
    /// Deliveries of one session's events to one endpoint that are not done yet (pending or in flight).
    public struct WaitingDeliveries: Sendable, Equatable {
        public var sessionID: String
        public var tenantID: String
        public var endpointID: String
        public var count: Int
        /// When the oldest of them was committed.
        public var oldest: Date

        public init(sessionID: String, tenantID: String, endpointID: String, count: Int, oldest: Date) {
            self.sessionID = sessionID
            self.tenantID = tenantID
            self.endpointID = endpointID
            self.count = count
            self.oldest = oldest
        }
    }

    /// Every session and endpoint with deliveries still waiting, from the partial index of due
    /// deliveries (a few rows on a healthy gateway, whatever its history).
    public func waitingDeliveries() async throws -> [WaitingDeliveries] {
        try await writer.read { db in
            let sql = """
                SELECT event.session_id, delivery.tenant_id, delivery.endpoint_id, count(*), min(delivery.created_at)
                FROM delivery JOIN event ON event.id = delivery.event_id
                WHERE delivery.status IN ('pending', 'inflight') AND event.session_id IS NOT NULL
                GROUP BY event.session_id, delivery.tenant_id, delivery.endpoint_id
                """
            return try Row.fetchAll(db.cachedStatement(sql: sql)).map { row in
                WaitingDeliveries(
                    sessionID: row[0], tenantID: row[1], endpointID: row[2], count: row[3],
                    oldest: Date(milliseconds: row[4] as Milliseconds))
            }
        }
    }
}
