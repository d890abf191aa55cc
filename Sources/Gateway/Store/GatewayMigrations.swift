import GRDB

/// The gateway's schema. A shipped migration is never edited; changes come as new ones.
enum GatewayMigrations {
    static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("gateway.v1") { db in
            try db.create(table: "tenant") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull()
                t.column("max_sessions", .integer).notNull().defaults(to: 1)
                t.column("settings", .text).notNull().defaults(to: "{}")
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(table: "tenant_user") { t in
                t.primaryKey("id", .text)
                t.column("tenant_id", .text).notNull().indexed().references("tenant", onDelete: .cascade)
                t.column("username", .text).notNull().unique().collate(.nocase)
                t.column("password_hash", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("password_changed_at", .datetime).notNull()
            }
            try db.create(table: "api_key") { t in
                t.primaryKey("id", .text)
                t.column("tenant_id", .text).notNull().indexed().references("tenant", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("prefix", .text).notNull()
                t.column("key_hash", .text).notNull().unique()
                t.column("created_at", .datetime).notNull()
                t.column("last_used_at", .datetime)
                t.column("revoked_at", .datetime)
            }
            try db.create(table: "session") { t in
                t.primaryKey("id", .text)
                t.column("tenant_id", .text).notNull().indexed().references("tenant", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("engine", .text).notNull()
                t.column("options", .text).notNull().defaults(to: "{}")
                t.column("status", .text).notNull()
                t.column("status_detail", .text)
                t.column("qr", .text)
                t.column("pairing_code", .text)
                t.column("phone", .text)
                t.column("jid", .text)
                t.column("push_name", .text)
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
                t.column("connected_at", .datetime)
                t.column("last_activity_at", .datetime)
            }
            try db.create(table: "session_credential") { t in
                t.column("session_id", .text).notNull().references("session", onDelete: .cascade)
                t.column("key", .text).notNull()
                t.column("value", .blob).notNull()
                t.primaryKey(["session_id", "key"])
            }
            try db.create(table: "admin_web_session") { t in
                t.primaryKey("id_hash", .text)
                t.column("created_at", .datetime).notNull()
                t.column("expires_at", .datetime).notNull()
                t.column("held_event", .blob)
            }
        }
        migrator.registerMigration("gateway.v2.jobs") { db in
            try db.create(table: "job") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("id", .text).notNull().unique()
                t.column("tenant_id", .text).notNull().references("tenant", onDelete: .cascade)
                t.column("session_id", .text).notNull().references("session", onDelete: .cascade)
                t.column("chat_id", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("text", .text)
                t.column("media_url", .text)
                t.column("media_file", .text)
                t.column("mime_type", .text)
                t.column("file_name", .text)
                t.column("reply_to", .text)
                t.column("humanize", .text).notNull().defaults(to: "{}")
                t.column("status", .text).notNull()
                t.column("client_message_id", .text).notNull()
                t.column("wa_message_id", .text)
                t.column("error", .text)
                t.column("idempotency_key", .text)
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
                t.column("sent_at", .datetime)
            }
            try db.execute(
                sql: """
                    CREATE INDEX job_queue ON job(session_id, status, seq);
                    CREATE UNIQUE INDEX job_idempotency ON job(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
                    """)
            try db.create(table: "chat_read_marker") { t in
                t.column("session_id", .text).notNull().references("session", onDelete: .cascade)
                t.column("chat_id", .text).notNull()
                t.column("message_id", .text).notNull()
                t.primaryKey(["session_id", "chat_id"])
            }
        }
        // The consoles: tenants get browser sessions too; a tenant's go with it.
        migrator.registerMigration("gateway.v3.web_sessions") { db in
            try db.create(table: "web_session") { t in
                t.primaryKey("id_hash", .text)
                t.column("tenant_id", .text).indexed().references("tenant", onDelete: .cascade)
                t.column("created_at", .datetime).notNull()
                t.column("expires_at", .datetime).notNull()
                t.column("held_event", .blob)
            }
            try db.execute(
                sql: """
                    INSERT INTO web_session (id_hash, tenant_id, created_at, expires_at)
                        SELECT id_hash, NULL, created_at, expires_at FROM admin_web_session;
                    DROP TABLE admin_web_session;
                    """)
        }
        // The Cloud API: typing needs the chat's last inbound message even after it was marked
        // read, and status webhooks name our messages by WhatsApp's id.
        migrator.registerMigration("gateway.v4.cloud") { db in
            try db.alter(table: "chat_read_marker") { t in
                t.add(column: "is_read", .boolean).notNull().defaults(to: false)
            }
            try db.execute(sql: "CREATE INDEX job_wa_message ON job(session_id, wa_message_id) WHERE wa_message_id IS NOT NULL")
        }
        // Received files: one row per file, written with its message's event.
        migrator.registerMigration("gateway.v5.media") { db in
            try db.create(table: "media") { t in
                t.primaryKey("id", .text)
                t.column("tenant_id", .text).notNull().indexed().references("tenant", onDelete: .cascade)
                t.column("session_id", .text).notNull()
                t.column("message_id", .text).notNull()
                t.column("chat_id", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("mime_type", .text).notNull()
                t.column("file_name", .text)
                t.column("size", .integer)
                t.column("sha256", .text)
                t.column("reference", .blob)
                t.column("status", .text).notNull()
                t.column("error", .text)
                t.column("eager", .boolean).notNull()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("next_attempt_at", .datetime).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
                t.column("expires_at", .datetime).notNull()
                t.column("held_event", .blob)
            }
            try db.execute(sql: "CREATE INDEX media_due ON media(next_attempt_at) WHERE status = 'pending' AND eager")
            try db.execute(sql: "CREATE INDEX media_expiry ON media(expires_at) WHERE status <> 'expired'")
        }
        // Login tokens carry the user's token version, so a new password or "revoke all" voids them.
        migrator.registerMigration("gateway.v6.token_version") { db in
            try db.alter(table: "tenant_user") { t in
                t.add(column: "token_version", .integer).notNull().defaults(to: 0)
            }
        }
        // Rich messages (reactions, places, contact cards, polls, edits, revokes) keep what they
        // send as JSON beside the columns text and media use.
        migrator.registerMigration("gateway.v7.job_payload") { db in
            try db.alter(table: "job") { t in t.add(column: "payload", .text) }
        }
        // Each session's status changes with their reasons, for the console's history.
        migrator.registerMigration("gateway.v8.session_status_history") { db in
            try db.create(table: "session_status_change") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("session_id", .text).notNull().references("session", onDelete: .cascade)
                t.column("status", .text).notNull()
                t.column("detail", .text)
                t.column("at", .datetime).notNull()
            }
            try db.create(index: "session_status_change_by_session", on: "session_status_change", columns: ["session_id", "id"])
        }
    }
}
