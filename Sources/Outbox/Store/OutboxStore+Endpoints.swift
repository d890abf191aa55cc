import Foundation
import GRDB

extension OutboxStore {
    /// A tenant's endpoints, the seed's single webhook first.
    public func endpoints(tenantID: String) async throws -> [WebhookEndpoint] {
        try await writer.read { db in
            try WebhookEndpoint.filter(WebhookEndpoint.Columns.tenantID == tenantID)
                .order(WebhookEndpoint.Columns.position, WebhookEndpoint.Columns.createdAt).fetchAll(db)
        }.map(opened)
    }

    /// Every endpoint, for the admin's health view and the deliverer.
    public func allEndpoints() async throws -> [WebhookEndpoint] {
        try await writer.read { db in
            try WebhookEndpoint.order(WebhookEndpoint.Columns.tenantID, WebhookEndpoint.Columns.position).fetchAll(db)
        }.map(opened)
    }

    /// One endpoint, if it exists and (when `tenantID` is given) belongs to that tenant.
    public func endpoint(id: String, tenantID: String?) async throws -> WebhookEndpoint? {
        try await writer.read { db in
            var request = WebhookEndpoint.filter(key: id)
            if let tenantID { request = request.filter(WebhookEndpoint.Columns.tenantID == tenantID) }
            return try request.fetchOne(db)
        }.map(opened)
    }

    public func insertEndpoint(_ endpoint: WebhookEndpoint) async throws {
        let sealed = try self.sealed(endpoint)
        try await writer.write { db in
            var endpoint = sealed
            endpoint.position =
                try Int.fetchOne(
                    db, sql: "SELECT coalesce(max(position) + 1, 0) FROM webhook_endpoint WHERE tenant_id = ?",
                    arguments: [endpoint.tenantId]) ?? 0
            try endpoint.insert(db)
        }
    }

    public func updateEndpoint(_ endpoint: WebhookEndpoint) async throws {
        let sealed = try self.sealed(endpoint)
        try await writer.write { db in try sealed.update(db) }
    }

    /// Seals the secret fields of endpoints stored in the clear (by an earlier version); returns
    /// how many endpoints it sealed.
    @discardableResult
    public func sealPlaintextEndpointFields() async throws -> Int {
        guard sealer != nil else { return 0 }
        let stored = try await writer.read { db in try WebhookEndpoint.fetchAll(db) }
        var count = 0
        for endpoint in stored where Self.secretFields(of: endpoint).contains(where: { !$0.hasPrefix(sealedFieldPrefix) }) {
            let sealed = try self.sealed(endpoint)
            try await writer.write { db in try sealed.update(db) }
            count += 1
        }
        return count
    }

    /// The fields sealed at rest, where they are set.
    private static func secretFields(of endpoint: WebhookEndpoint) -> [String] {
        [endpoint.secret, endpoint.previousSecret, endpoint.headerValue, endpoint.basicPassword].compactMap { $0 }
    }

    private func context(_ endpoint: WebhookEndpoint, _ field: String) -> String { "webhook:\(endpoint.id):\(field)" }

    /// The endpoint as stored: its secrets sealed (a sealed one is kept as it is).
    func sealed(_ endpoint: WebhookEndpoint) throws -> WebhookEndpoint {
        guard let sealer else { return endpoint }
        func seal(_ value: String?, _ field: String) throws -> String? {
            guard let value, !value.hasPrefix(sealedFieldPrefix) else { return value }
            return try sealer.seal(value, context: context(endpoint, field))
        }
        var stored = endpoint
        stored.secret = try seal(endpoint.secret, "secret") ?? endpoint.secret
        stored.previousSecret = try seal(endpoint.previousSecret, "previous_secret")
        stored.headerValue = try seal(endpoint.headerValue, "header_value")
        stored.basicPassword = try seal(endpoint.basicPassword, "basic_password")
        return stored
    }

    /// The endpoint as used: its secrets opened (a field still in the clear, before the start-up
    /// pass sealed it, is read as it is).
    func opened(_ stored: WebhookEndpoint) throws -> WebhookEndpoint {
        guard let sealer else { return stored }
        func open(_ value: String?, _ field: String) throws -> String? {
            guard let value, value.hasPrefix(sealedFieldPrefix) else { return value }
            return try sealer.open(value, context: context(stored, field))
        }
        var endpoint = stored
        endpoint.secret = try open(stored.secret, "secret") ?? stored.secret
        endpoint.previousSecret = try open(stored.previousSecret, "previous_secret")
        endpoint.headerValue = try open(stored.headerValue, "header_value")
        endpoint.basicPassword = try open(stored.basicPassword, "basic_password")
        return endpoint
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
        try await writer.write { db in try Self.enable(id: id, now: now, db: db) }
    }

    static func enable(id: String, now: Date, db: Database) throws {
        try db.execute(
            sql: """
                UPDATE webhook_endpoint SET is_enabled = 1, disabled_reason = NULL, breaker_state = ?,
                    failure_streak = 0, failing_since = NULL, next_probe_at = NULL, updated_at = ? WHERE id = ?
                """, arguments: [BreakerState.closed, now.milliseconds, id])
    }
}

extension OutboxStore {
    /// What ``reviveEndpoint(id:now:)`` queued.
    public struct Revival: Sendable, Equatable, Encodable {
        /// Failed deliveries queued again, and waiting ones made due now.
        public var requeued: Int
        /// Events stored while the endpoint was disabled, which had no delivery to it.
        public var added: Int
    }

    /// Re-enables an endpoint and queues what it missed: every event of its tenant since it last
    /// delivered (or since it was created) that its filter takes and that did not reach it. Its
    /// failed deliveries go again with their event ids (receivers deduplicate on `webhook-id`);
    /// events stored while it was disabled get a delivery now. Discarded ones stay discarded (a
    /// person chose that), `webhook.test` events stay with the endpoint they tested.
    public func reviveEndpoint(id: String, now: Date) async throws -> Revival? {
        let nowMS = now.milliseconds
        return try await writer.write { db in
            guard let endpoint = try WebhookEndpoint.fetchOne(db, key: id) else { return nil }
            let sinceDate = endpoint.lastSuccessAt ?? endpoint.createdAt
            let since = sinceDate.milliseconds
            try Self.enable(id: id, now: now, db: db)
            var requeued = try Self.requeue(
                matching: DeliveryFilter(endpointID: id, from: sinceDate), statuses: [.failed], now: now, db: db)
            // Held by the breaker with a backoff that may run for hours: due now.
            try db.execute(
                sql: "UPDATE delivery SET next_attempt_at = ?, updated_at = ? WHERE endpoint_id = ? AND status = 'pending' AND next_attempt_at > ?",
                arguments: [nowMS, nowMS, id, nowMS])
            requeued += db.changesCount
            let missed = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, type FROM event WHERE tenant_id = ? AND created_at >= ? AND type != 'webhook.test'
                        AND NOT EXISTS (SELECT 1 FROM delivery WHERE delivery.event_id = event.id AND delivery.endpoint_id = ?)
                    ORDER BY rowid
                    """, arguments: [endpoint.tenantId, since, id])
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO delivery (event_id, endpoint_id, tenant_id, type, status, next_attempt_at, created_at, updated_at)
                    VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)
                    """)
            var added = 0
            for row in missed {
                let type: String = row["type"]
                guard endpoint.accepts(type: type) else { continue }
                try insert.execute(arguments: [row["id"] as String, id, endpoint.tenantId, type, nowMS, nowMS, nowMS])
                added += 1
            }
            return Revival(requeued: requeued, added: added)
        }
    }

    /// The latest error of each endpoint in `ids` that has one: what its banner says went wrong.
    public func lastErrors(endpointIDs ids: [String]) async throws -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        return try await writer.read { db in
            var errors: [String: String] = [:]
            for id in ids {
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT last_error, last_status FROM delivery
                        WHERE endpoint_id = ? AND status IN ('pending', 'inflight', 'failed') AND (last_error IS NOT NULL OR last_status >= 300)
                        ORDER BY updated_at DESC LIMIT 1
                        """, arguments: [id])
                guard let row else { continue }
                if let error: String = row["last_error"] {
                    errors[id] = error
                } else if let status: Int = row["last_status"] {
                    errors[id] = "HTTP \(status)"
                }
            }
            return errors
        }
    }
}
