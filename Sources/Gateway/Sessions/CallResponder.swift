import Foundation
import Logging
import ServiceLifecycle
import WharfCore
import WhatsAppProtocol

/// Declines calls for tenants that asked (``CallSettings``): it watches the stored events, and for
/// each ringing call of such a tenant's session rejects it through the engine and queues the
/// tenant's message to the caller as an ordinary job (humanized, retried, with its
/// `message.sent`). The event itself is delivered like any other, so a workflow still hears of it.
final class CallResponder: Service {
    private let store: SQLiteGatewayStore
    private let sessions: SessionManager
    private let hub: SessionEventHub
    private let dispatcher: Dispatcher
    private let clock: any WharfClock
    private let logger: Logger

    init(
        store: SQLiteGatewayStore, sessions: SessionManager, hub: SessionEventHub, dispatcher: Dispatcher, clock: any WharfClock,
        logger: Logger
    ) {
        self.store = store
        self.sessions = sessions
        self.hub = hub
        self.dispatcher = dispatcher
        self.clock = clock
        self.logger = logger
    }

    func run() async throws {
        for await event in hub.subscribe(sessionID: nil).cancelOnGracefulShutdown() {
            guard case .call(let call) = event.kind, call.kind == .received else { continue }
            await answer(call, session: event.sessionID, tenant: event.tenantID)
        }
    }

    private func answer(_ call: CallEvent, session: String, tenant: String) async {
        do {
            guard let record = try await store.tenant(id: tenant) else { return }
            let settings = CallSettings(record.settings)
            guard settings.reject, let engine = await sessions.engine(for: session) else { return }
            try await engine.rejectCall(call)
            guard let message = settings.message, !call.isGroup, let chat = ChatAddress.normalize(call.from) else { return }
            let now = clock.now
            let job = JobRecord(
                id: Identifier.make(prefix: "job"), tenantId: tenant, sessionId: session, chatId: chat.rawValue, kind: .text, text: message,
                status: .queued, clientMessageId: JobRecord.newClientMessageID(),
                idempotencyKey: "call-reply/\(session)/\(call.callID)", attempts: 0, createdAt: now, updatedAt: now)
            _ = try await store.enqueue(job, now: now)
            dispatcher.wake(sessionID: session)
        } catch {
            logger.warning("a call was not declined", metadata: ["session": "\(session)", "call": "\(call.callID)", "error": "\(error)"])
        }
    }
}
