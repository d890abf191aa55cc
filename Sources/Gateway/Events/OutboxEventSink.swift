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
    /// Tenant and session names change rarely; a short-lived cache saves two reads per event.
    private let cache = Mutex<[String: (context: Context, expires: Date)]>([:])

    struct Context {
        var tenant: EventEnvelope.Tenant
        var session: EventEnvelope.Session
        var settings: JSONValue
    }

    init(
        outbox: OutboxStore, store: SQLiteGatewayStore, delivery: DeliveryService, hub: SessionEventHub, clock: any WharfClock,
        logger: Logger, killBeforeCommit: Int? = nil
    ) {
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
        for event in events {
            guard let context = try await context(sessionID: event.sessionID) else { continue }
            let (type, data) = EventEnvelope.describe(event.kind)
            let id = event.dedupeKey.map { Identifier.make(prefix: "evt", digest: SHA256.hash(data: Data($0.utf8))) }
            let envelope = EventEnvelope(
                id: id ?? Identifier.make(prefix: "evt"), type: type, timestamp: event.at, tenant: context.tenant,
                session: context.session, data: data, settings: context.settings)
            stored.append(
                (
                    event,
                    OutboxEvent(
                        id: envelope.id, tenantID: event.tenantID, sessionID: event.sessionID, type: type,
                        payload: try envelope.encoded(), createdAt: event.at)
                ))
        }
        let isNew: [Bool]
        if let sessionID, !changes.isEmpty {
            if let killBeforeCommit, inboundCommits.wrappingAdd(1, ordering: .relaxed).newValue == killBeforeCommit {
                logger.critical("WHARF_TEST_KILL_BEFORE_COMMIT: killing the process before an inbound commit")
                kill(getpid(), SIGKILL)
            }
            isNew = try await outbox.accept(stored.map(\.1), alongside: try store.writing(changes, sessionID: sessionID))
        } else {
            guard !stored.isEmpty else { return }
            isNew = try await outbox.accept(stored.map(\.1))
        }
        guard !stored.isEmpty else { return }
        delivery.wake()
        // Stored, so acknowledged from here on: nothing after this may make the caller think otherwise.
        for ((event, _), new) in zip(stored, isNew) where new {
            // What "mark as read" and the Cloud API's typing indicator point at.
            if case .message(let message) = event.kind, !message.isFromMe {
                do {
                    try await store.setLastInbound(sessionID: event.sessionID, chatID: message.chat.rawValue, messageID: message.id)
                } catch {
                    logger.error("the chat's last inbound message not stored", metadata: ["session": "\(event.sessionID)", "error": "\(error)"])
                }
            }
            try? await hub.publish(event)
        }
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
