import Foundation
import GRDB

extension OutboxStore {
    /// A tenant's endpoints, the seed's single webhook first.
    public func endpoints(tenantID: String) async throws -> [WebhookEndpoint] {
        try await writer.read { db in
            try WebhookEndpoint.filter(WebhookEndpoint.Columns.tenantID == tenantID)
                .order(WebhookEndpoint.Columns.position, WebhookEndpoint.Columns.createdAt).fetchAll(db)
        }
    }

    /// Every endpoint, for the admin's health view and the deliverer.
    public func allEndpoints() async throws -> [WebhookEndpoint] {
        try await writer.read { db in
            try WebhookEndpoint.order(WebhookEndpoint.Columns.tenantID, WebhookEndpoint.Columns.position).fetchAll(db)
        }
    }

    /// One endpoint, if it exists and (when `tenantID` is given) belongs to that tenant.
    public func endpoint(id: String, tenantID: String?) async throws -> WebhookEndpoint? {
        try await writer.read { db in
            var request = WebhookEndpoint.filter(key: id)
            if let tenantID { request = request.filter(WebhookEndpoint.Columns.tenantID == tenantID) }
            return try request.fetchOne(db)
        }
    }

    public func insertEndpoint(_ endpoint: WebhookEndpoint) async throws {
        try await writer.write { db in
            var endpoint = endpoint
            endpoint.position =
                try Int.fetchOne(
                    db, sql: "SELECT coalesce(max(position) + 1, 0) FROM webhook_endpoint WHERE tenant_id = ?",
                    arguments: [endpoint.tenantId]) ?? 0
            try endpoint.insert(db)
        }
    }

    public func updateEndpoint(_ endpoint: WebhookEndpoint) async throws {
        try await writer.write { db in try endpoint.update(db) }
    }

    /// Deletes an endpoint and its deliveries.
    public func deleteEndpoint(id: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM delivery WHERE endpoint_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM webhook_endpoint WHERE id = ?", arguments: [id])
        }
    }

    /// Deletes everything a tenant had in the outbox.
    public func deleteTenant(_ tenantID: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM delivery WHERE tenant_id = ?", arguments: [tenantID])
            try db.execute(sql: "DELETE FROM event WHERE tenant_id = ?", arguments: [tenantID])
            try db.execute(sql: "DELETE FROM webhook_endpoint WHERE tenant_id = ?", arguments: [tenantID])
        }
    }

    /// Stores a breaker's state and the endpoint's health after an attempt.
    public func saveHealth(
        endpointID: String, breaker: CircuitBreaker, success: Bool?, now: Date, disabledReason: String? = nil
    ) async throws {
        let nowMS = now.milliseconds
        let state = breaker.state.stored
        let (streak, since, probe, enabled): (Int, Milliseconds?, Milliseconds?, Bool) =
            switch breaker.state {
            case .closed(let failures, let since): (failures, since?.milliseconds, nil, true)
            case .open(let since, let probe): (0, since.milliseconds, probe.milliseconds, true)
            case .halfOpen(let since): (0, since.milliseconds, nil, true)
            case .disabled: (0, nil, nil, false)
            }
        try await batcher.write { db in
            try db.execute(
                sql: """
                    UPDATE webhook_endpoint SET breaker_state = ?, failure_streak = ?, failing_since = ?, next_probe_at = ?,
                        is_enabled = is_enabled AND ?, disabled_reason = coalesce(?, disabled_reason),
                        last_success_at = CASE WHEN ? = 1 THEN ? ELSE last_success_at END,
                        last_failure_at = CASE WHEN ? = 0 THEN ? ELSE last_failure_at END,
                        updated_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    state, streak, since, probe, enabled, disabledReason, success == true ? 1 : -1, nowMS,
                    success == false ? 0 : -1, nowMS, nowMS, endpointID,
                ])
        }
    }

    /// Re-enables an endpoint with a closed breaker, so its held deliveries flow again.
    public func enableEndpoint(id: String, now: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE webhook_endpoint SET is_enabled = 1, disabled_reason = NULL, breaker_state = ?,
                        failure_streak = 0, failing_since = NULL, next_probe_at = NULL, updated_at = ? WHERE id = ?
                    """, arguments: [BreakerState.closed, now.milliseconds, id])
        }
    }
}
