import Foundation
import Synchronization
import Logging
import ServiceLifecycle
import WhatsAppProtocol
import WharfCore

/// Runs one engine per stored session: starts them all on boot, passes their events on,
/// reconnects dropped ones with backoff, and stops them on shutdown.
public actor SessionManager: Service {
    private final class Runner: Sendable {
        let engine: any Engine
        let tenantID: String
        let task: Mutex<Task<Void, Never>?> = Mutex(nil)
        init(engine: any Engine, tenantID: String) {
            self.engine = engine
            self.tenantID = tenantID
        }
    }

    private let store: any SessionStore
    private let credentials: @Sendable (String) -> any CredentialsStore
    private let factory: EngineFactory
    private let sink: any SessionEventSink
    private let clock: any WharfClock
    private let logger: Logger
    private var runners: [String: Runner] = [:]
    private var backoffs: [String: ReconnectBackoff] = [:]

    public init(
        store: any SessionStore, credentials: @escaping @Sendable (String) -> any CredentialsStore,
        factory: EngineFactory, sink: any SessionEventSink, clock: any WharfClock, logger: Logger
    ) {
        self.store = store
        self.credentials = credentials
        self.factory = factory
        self.sink = sink
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        let now = clock.now
        for session in try await store.allSessions() where Self.shouldRunOnBoot(session) {
            // What the last process recorded (perhaps "connected" before a crash) is stale now.
            _ = try? await store.updateSession(id: session.id) { record in
                record.status = SessionState.starting
                record.statusDetail = nil
                record.updatedAt = now
            }
            start(session)
        }
        try? await gracefulShutdown()
        await stopAll()
    }

    static func shouldRunOnBoot(_ session: SessionRecord) -> Bool {
        session.status != SessionState.loggedOut && session.status != SessionState.stopped
    }

    /// The running engine of a session.
    public func engine(for sessionID: String) -> (any Engine)? { runners[sessionID]?.engine }

    /// Starts (or restarts) the engine of `session`.
    public func start(_ session: SessionRecord) {
        if let old = runners.removeValue(forKey: session.id) { retire(old) }
        let engine: any Engine
        do {
            engine = try factory.makeEngine(for: session, credentials: credentials(session.id))
        } catch {
            logger.error("cannot start session", metadata: ["session": "\(session.id)", "error": "\(error)"])
            return
        }
        let runner = Runner(engine: engine, tenantID: session.tenantId)
        runners[session.id] = runner
        backoffs[session.id] = ReconnectBackoff()
        let sessionID = session.id
        runner.task.withLock {
            $0 = Task { await self.drive(sessionID: sessionID, runner: runner) }
        }
    }

    /// Restarts a session from its stored record.
    public func restart(sessionID: String) async throws {
        guard let session = try await store.session(id: sessionID, scope: .everything) else { return }
        if let old = runners.removeValue(forKey: sessionID) {
            await old.engine.shutdown()
            retire(old)
        }
        start(session)
    }

    /// Unlinks the session's device and stops its engine; the caller deletes the row. Returns
    /// whether WhatsApp was told (the local keys are gone either way).
    @discardableResult
    public func logout(sessionID: String) async -> Bool {
        guard let runner = runners.removeValue(forKey: sessionID) else { return false }
        backoffs[sessionID] = nil
        var told = true
        do {
            try await runner.engine.logout()
        } catch {
            told = false
            logger.warning("logout failed", metadata: ["session": "\(sessionID)", "error": "\(error)"])
        }
        await runner.engine.shutdown()
        retire(runner)
        return told
    }

    /// Unlinks the device but keeps the session, which `restart` links again (a new QR code).
    /// Returns `false` when the session is not running, so there is nothing to unlink.
    public func unlink(sessionID: String) async -> Bool {
        guard let runner = runners[sessionID] else { return false }
        let told = await logout(sessionID: sessionID)
        let detail = told
            ? "logged out through the API"
            : "logged out here only: WhatsApp could not be told, so remove the device on the phone too"
        await record(.loggedOut, detail: detail, sessionID: sessionID, runner: runner)
        return true
    }

    /// Stops every engine, keeping credentials, for shutdown.
    public func stopAll() async {
        let all = runners
        runners = [:]
        for (_, runner) in all {
            await runner.engine.disconnect()
            await runner.engine.shutdown()
            retire(runner)
        }
        for (_, runner) in all {
            await runner.task.withLock { $0 }?.value
        }
    }

    private func retire(_ runner: Runner) {
        runner.task.withLock { $0?.cancel() }
    }

    // MARK: Driving one engine

    private nonisolated func drive(sessionID: String, runner: Runner) async {
        await connect(sessionID: sessionID, runner: runner)
        for await event in runner.engine.events {
            if Task.isCancelled { break }
            await handle(event, sessionID: sessionID, runner: runner)
        }
    }

    private nonisolated func connect(sessionID: String, runner: Runner) async {
        do {
            try await runner.engine.connect()
        } catch {
            logger.warning("connect failed", metadata: ["session": "\(sessionID)", "error": "\(error)"])
            await record(.disconnected, detail: "\(error)", sessionID: sessionID, runner: runner)
            await scheduleReconnect(sessionID: sessionID, runner: runner)
        }
    }

    private nonisolated func handle(_ event: EngineEvent, sessionID: String, runner: Runner) async {
        switch event {
        case .status(let status):
            await handleStatus(status, sessionID: sessionID, runner: runner)
        case .message(let message, let ack):
            do {
                try await sink.publish(
                    SessionEvent(sessionID: sessionID, tenantID: runner.tenantID, kind: .message(message), at: clock.now))
                await ack()
            } catch {
                // Not acknowledged: the engine (and WhatsApp) will deliver it again.
                logger.error("inbound message not stored", metadata: ["session": "\(sessionID)", "error": "\(error)"])
            }
        case .receipt(let receipt):
            try? await sink.publish(
                SessionEvent(sessionID: sessionID, tenantID: runner.tenantID, kind: .receipt(receipt), at: clock.now))
        case .presence(let presence):
            try? await sink.publish(
                SessionEvent(sessionID: sessionID, tenantID: runner.tenantID, kind: .presence(presence), at: clock.now))
        }
    }

    private nonisolated func handleStatus(_ status: SessionStatus, sessionID: String, runner: Runner) async {
        let now = clock.now
        switch status {
        case .connecting:
            await record(.starting, detail: nil, sessionID: sessionID, runner: runner)
        case .qr(let code):
            _ = try? await store.updateSession(id: sessionID) { session in
                session.status = SessionState.scanQR
                session.qr = code
                session.updatedAt = now
            }
            try? await sink.publish(SessionEvent(sessionID: sessionID, tenantID: runner.tenantID, kind: .qr(code), at: now))
        case .pairingCode(let code):
            _ = try? await store.updateSession(id: sessionID) { session in
                session.status = SessionState.pairingCode
                session.pairingCode = code
                session.updatedAt = now
            }
            try? await sink.publish(
                SessionEvent(sessionID: sessionID, tenantID: runner.tenantID, kind: .pairingCode(code), at: now))
        case .connected(let account):
            await resetBackoff(sessionID: sessionID)
            _ = try? await store.updateSession(id: sessionID) { session in
                session.phone = account.phone
                session.jid = account.jid
                session.pushName = account.pushName
                session.connectedAt = now
                session.lastActivityAt = now
            }
            await record(.connected, detail: nil, sessionID: sessionID, runner: runner)
        case .disconnected(let reason):
            await record(.disconnected, detail: reason, sessionID: sessionID, runner: runner)
            await scheduleReconnect(sessionID: sessionID, runner: runner)
        case .loggedOut(let reason):
            await record(.loggedOut, detail: reason, sessionID: sessionID, runner: runner)
        case .stopped(let reason):
            await record(.stopped, detail: reason, sessionID: sessionID, runner: runner)
        }
    }

    private nonisolated func record(_ state: SessionState, detail: String?, sessionID: String, runner: Runner) async {
        let now = clock.now
        _ = try? await store.updateSession(id: sessionID) { session in
            session.status = state
            session.statusDetail = detail
            session.updatedAt = now
            if state != .scanQR { session.qr = nil }
            if state != .pairingCode { session.pairingCode = nil }
        }
        try? await sink.publish(
            SessionEvent(sessionID: sessionID, tenantID: runner.tenantID, kind: .status(state, detail: detail), at: now))
    }

    private func resetBackoff(sessionID: String) {
        backoffs[sessionID]?.reset()
    }

    private func nextDelay(sessionID: String) -> Duration? {
        guard runners[sessionID] != nil else { return nil }
        return backoffs[sessionID]?.nextDelay()
    }

    /// Waits out the backoff, then connects again, unless the session was stopped meanwhile.
    private nonisolated func scheduleReconnect(sessionID: String, runner: Runner) async {
        guard let delay = await nextDelay(sessionID: sessionID) else { return }
        logger.info("reconnecting", metadata: ["session": "\(sessionID)", "in_ms": "\(delay.milliseconds)"])
        Task {
            do {
                try await clock.sleep(for: delay)
            } catch {
                return
            }
            guard await self.isCurrent(runner, sessionID: sessionID) else { return }
            await self.connect(sessionID: sessionID, runner: runner)
        }
    }

    private func isCurrent(_ runner: Runner, sessionID: String) -> Bool {
        runners[sessionID] === runner
    }
}
