import GRDB

/// The outbox's schema: webhook endpoints, events, their deliveries and every attempt.
/// A shipped migration is never edited; changes come as new ones.
public enum OutboxMigrations {
    public static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("outbox.v1") { db in
            try db.create(table: "webhook_endpoint") { t in
                t.primaryKey("id", .text)
                t.column("tenant_id", .text).notNull().indexed()
                t.column("position", .integer).notNull().defaults(to: 0)
                t.column("url", .text).notNull()
                t.column("secret", .text).notNull()
                t.column("previous_secret", .text)
                t.column("previous_secret_until", .integer)
                t.column("header_name", .text)
                t.column("header_value", .text)
                t.column("basic_user", .text)
                t.column("basic_password", .text)
                t.column("event_types", .text).notNull().defaults(to: "[]")
                t.column("is_enabled", .boolean).notNull().defaults(to: true)
                t.column("disabled_reason", .text)
                t.column("breaker_state", .text).notNull().defaults(to: "closed")
                t.column("failure_streak", .integer).notNull().defaults(to: 0)
                t.column("failing_since", .integer)
                t.column("next_probe_at", .integer)
                t.column("last_success_at", .integer)
                t.column("last_failure_at", .integer)
                t.column("created_at", .integer).notNull()
                t.column("updated_at", .integer).notNull()
            }
            try db.create(table: "event") { t in
                t.primaryKey("id", .text)
                t.column("tenant_id", .text).notNull()
                t.column("session_id", .text)
                t.column("type", .text).notNull()
                t.column("payload", .blob).notNull()
                t.column("created_at", .integer).notNull()
            }
            try db.create(table: "delivery") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("event_id", .text).notNull().references("event", onDelete: .cascade)
                t.column("endpoint_id", .text).notNull()
                t.column("tenant_id", .text).notNull()
                t.column("type", .text).notNull()
                t.column("status", .text).notNull()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("next_attempt_at", .integer).notNull()
                t.column("lease_until", .integer)
                t.column("last_status", .integer)
                t.column("last_error", .text)
                t.column("label", .text)
                t.column("created_at", .integer).notNull()
                t.column("delivered_at", .integer)
                t.column("updated_at", .integer).notNull()
            }
            try db.execute(
                sql: """
                    CREATE INDEX delivery_due ON delivery(next_attempt_at) WHERE status IN ('pending', 'inflight');
                    CREATE INDEX delivery_by_tenant ON delivery(tenant_id, created_at);
                    CREATE INDEX delivery_by_status ON delivery(status, created_at);
                    CREATE INDEX delivery_by_event ON delivery(event_id);
                    CREATE INDEX delivery_by_endpoint ON delivery(endpoint_id, status);
                    """)
            try db.create(table: "delivery_attempt") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("delivery_id", .integer).notNull().indexed().references("delivery", onDelete: .cascade)
                t.column("attempt", .integer).notNull()
                t.column("started_at", .integer).notNull()
                t.column("duration_ms", .integer).notNull()
                t.column("http_status", .integer)
                t.column("error", .text)
                t.column("response_snippet", .text)
            }
        }
    }
}
