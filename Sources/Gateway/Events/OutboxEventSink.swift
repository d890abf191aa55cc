import Crypto
import Foundation
import Logging
import Outbox
import Synchronization
import WharfCore
import WhatsAppProtocol

/// Turns session events into envelopes and commits them to the outbox; returns only after the
/// commit, which is what lets the session manager acknowledge to the engine afterwards.
final class OutboxEventSink: SessionEventSink {
    private let outbox: OutboxStore
    private let store: SQLiteGatewayStore
    private let delivery: DeliveryService
    private let hub: SessionEventHub
    private let clock: any WharfClock
    private let logger: Logger
    /// Crash tests: kill the process before this inbound commit (see `WHARF_TEST_KILL_BEFORE_COMMIT`).
    private let killBeforeCommit: Int?
    private let inboundCommits = Atomic<Int>(0)
    /// Signs the URLs of received files; `nil` leaves files to the engine (as before media).
    private let mediaLinks: MediaLinks?
    /// Fired when rows of received files were committed, for the media service to fetch them.
    let mediaArrived = WakeSignal()
    /// Tenant and session names change rarely; a short-lived cache saves two reads per event.
    private let cache = Mutex<[String: (context: Context, expires: Date)]>([:])

    struct Context {
        var tenant: EventEnvelope.Tenant
        var session: EventEnvelope.Session
        var settings: JSONValue
    }

    init(
        outbox: OutboxStore, store: SQLiteGatewayStore, delivery: DeliveryService, hub: SessionEventHub, clock: any WharfClock,
        logger: Logger, killBeforeCommit: Int? = nil, mediaLinks: MediaLinks? = nil
    ) {
        self.mediaLinks = mediaLinks
        self.logger = logger
        self.killBeforeCommit = killBeforeCommit
        self.outbox = outbox
        self.store = store
        self.delivery = delivery
        self.hub = hub
        self.clock = clock
    }

    func publish(_ event: SessionEvent) async throws {
        try await publish([event])
    }

    /// Commits several events in one transaction, then passes on the ones that were new (an event
    /// with a ``SessionEvent/dedupeKey`` stored before is dropped).
    func publish(_ events: [SessionEvent]) async throws {
        try await publish(events, committing: CredentialChanges(), for: nil)
    }

    /// Commits events and the engine state they produced in one transaction (see
    /// ``Acknowledgement/stateChanges``); state with no event to show is committed alone.
    func publish(_ events: [SessionEvent], committing changes: CredentialChanges, for sessionID: String?) async throws {
        var stored: [(SessionEvent, OutboxEvent)] = []
        var files: [MediaRecord] = []
        var held: [SessionEvent] = []
        for var event in events {
            guard let context = try await context(sessionID: event.sessionID) else { continue }
            let settings = MediaSettings(context.settings)
            var file = try keepFile(of: &event, settings: settings)
            let (type, data) = EventEnvelope.describe(event.kind)
            let id = event.dedupeKey.map { Identifier.make(prefix: "evt", digest: SHA256.hash(data: Data($0.utf8))) }
            let envelope = EventEnvelope(
                id: id ?? Identifier.make(prefix: "evt"), type: type, timestamp: event.at, tenant: context.tenant,
                session: context.session, data: data, settings: context.settings)
            let outboxEvent = OutboxEvent(
                id: envelope.id, tenantID: event.tenantID, sessionID: event.sessionID, type: type, payload: try envelope.encoded(),
                createdAt: event.at)
            if var kept = file, settings.inlineMaxBytes > 0, let size = kept.size, size <= settings.inlineMaxBytes {
                // Held in the file's row (committed all the same) until the file is in, to go inline.
                kept.heldEvent = MediaRecord.HeldEvent(
                    id: outboxEvent.id, type: type, payload: outboxEvent.payload, createdAt: event.at, inlineLimit: settings.inlineMaxBytes)
                kept.eager = true
                file = kept
                held.append(event)
            } else {
                stored.append((event, outboxEvent))
            }
            if let file { files.append(file) }
        }
        let isNew: [Bool]
        if let sessionID, !changes.isEmpty {
            if let killBeforeCommit, inboundCommits.wrappingAdd(1, ordering: .relaxed).newValue == killBeforeCommit {
                logger.critical("WHARF_TEST_KILL_BEFORE_COMMIT: killing the process before an inbound commit")
                kill(getpid(), SIGKILL)
            }
            let state = try store.writing(changes, sessionID: sessionID)
            let media = SQLiteGatewayStore.insertingMedia(files)
            isNew = try await outbox.accept(stored.map(\.1)) { db in
                try state(db)
                try media(db)
            }
        } else if !files.isEmpty {
            isNew = try await outbox.accept(stored.map(\.1), alongside: SQLiteGatewayStore.insertingMedia(files))
        } else {
            guard !stored.isEmpty else { return }
            isNew = try await outbox.accept(stored.map(\.1))
        }
        if !files.isEmpty { mediaArrived.fire() }
        for event in held { await noteInbound(event) }
        guard !stored.isEmpty else { return }
        delivery.wake()
        // Stored, so acknowledged from here on: nothing after this may make the caller think otherwise.
        for ((event, _), new) in zip(stored, isNew) where new {
            await noteInbound(event)
            try? await hub.publish(event)
        }
    }

    /// What "mark as read" and the Cloud API's typing indicator point at: the chat's last message in.
    private func noteInbound(_ event: SessionEvent) async {
        guard case .message(let message) = event.kind, !message.isFromMe else { return }
        do {
            try await store.setLastInbound(sessionID: event.sessionID, chatID: message.chat.rawValue, messageID: message.id)
        } catch {
            logger.error("the chat's last inbound message not stored", metadata: ["session": "\(event.sessionID)", "error": "\(error)"])
        }
    }

    /// Delivers a file's held event, with the file inline (`data.media.base64`) when it was fetched
    /// and is within the tenant's limit, else as it was; the row forgets the event in the same
    /// transaction, so it is delivered once.
    func release(_ held: MediaRecord.HeldEvent, of media: MediaRecord, file: URL?) async throws {
        var payload = held.payload
        if let file, media.status == .ready, let size = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int,
            Int64(size) <= held.inlineLimit, let bytes = FileManager.default.contents(atPath: file.path),
            case .object(var envelope) = try JSONDecoder().decode(JSONValue.self, from: held.payload),
            case .object(var data)? = envelope["data"], case .object(var inline)? = data["media"]
        {
            inline["base64"] = .string(bytes.base64EncodedString())
            data["media"] = .object(inline)
            envelope["data"] = .object(data)
            payload = try JSONEncoder.wharf.encode(JSONValue.object(envelope))
        }
        let event = OutboxEvent(
            id: held.id, tenantID: media.tenantId, sessionID: media.sessionId, type: held.type, payload: payload, createdAt: held.createdAt)
        let id = media.id
        _ = try await outbox.accept([event]) { db in
            try db.execute(sql: "UPDATE media SET held_event = NULL WHERE id = ?", arguments: [id])
        }
        delivery.wake()
    }

    /// A received message's file: the row to keep it by (its engine reference sealed), and the
    /// event's `media` pointed at Wharf's own signed URL instead of the engine's reference. The
    /// id derives from the message's, so a message WhatsApp delivers again names the same file.
    private func keepFile(of event: inout SessionEvent, settings: MediaSettings) throws -> MediaRecord? {
        guard let mediaLinks, case .message(var message) = event.kind, var media = message.media, let reference = media.reference else {
            return nil
        }
        let key = "media/" + (event.dedupeKey ?? "\(event.sessionID)/\(message.chat)/\(message.id)")
        let id = Identifier.make(prefix: "med", digest: SHA256.hash(data: Data(key.utf8)))
        let expires = event.at.addingTimeInterval(settings.retention)
        let record = MediaRecord(
            id: id, tenantId: event.tenantID, sessionId: event.sessionID, messageId: message.id, chatId: message.chat.rawValue,
            kind: media.kind ?? message.kind, mimeType: media.mimeType, fileName: media.fileName, size: media.size.map { Int64($0) },
            sha256: media.sha256, reference: try store.sealMediaReference(reference, id: id), status: .pending, error: nil,
            eager: settings.eager, attempts: 0, nextAttemptAt: event.at, createdAt: event.at, updatedAt: event.at, expiresAt: expires)
        media.id = id
        media.url = mediaLinks.url(id, expires: expires)
        media.reference = nil
        message.media = media
        event.kind = .message(message)
        return record
    }

    /// Tells the tenant (through its other endpoints) that an endpoint was disabled: the
    /// operational event the console's banner mirrors.
    static func announceDisabled(
        _ endpoint: WebhookEndpoint, reason: String, outbox: OutboxStore, store: SQLiteGatewayStore, clock: any WharfClock
    ) async throws {
        guard let tenant = try await store.tenant(id: endpoint.tenantId) else { return }
        let now = clock.now
        let envelope = EventEnvelope(
            id: Identifier.make(prefix: "evt"), type: EventType.webhookDisabled.rawValue, timestamp: now,
            tenant: .init(id: tenant.id, name: tenant.name), session: nil,
            data: ["endpoint_id": .string(endpoint.id), "url": .string(endpoint.url), "reason": .string(reason)],
            settings: tenant.settings)
        try await outbox.accept(
            OutboxEvent(
                id: envelope.id, tenantID: tenant.id, sessionID: nil, type: envelope.type, payload: try envelope.encoded(),
                createdAt: now))
    }

    /// Forgets cached names (after a rename or a settings change).
    func invalidate() { cache.withLock { $0.removeAll() } }

    private func context(sessionID: String) async throws -> Context? {
        let now = clock.now
        if let cached = cache.withLock({ $0[sessionID] }), cached.expires > now { return cached.context }
        guard let session = try await store.session(id: sessionID, scope: .everything),
            let tenant = try await store.tenant(id: session.tenantId)
        else { return nil }
        let context = Context(
            tenant: .init(id: tenant.id, name: tenant.name),
            session: .init(id: session.id, name: session.name, engine: session.engine.rawValue),
            settings: tenant.settings)
        cache.withLock { $0[sessionID] = (context, now.addingTimeInterval(5)) }
        return context
    }
}
