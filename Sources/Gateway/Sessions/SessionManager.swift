import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WharfCore
import WhatsAppProtocol

/// Runs one engine per stored session: starts them all on boot, passes their events on,
/// reconnects dropped ones with backoff, and stops them on shutdown.
///
/// It is the one writer of a session's status. Each engine is driven by a child task of ``run()``
/// (connect, then its events, reconnecting after a drop), so when `run()` returns on shutdown no
/// engine and no reconnect timer is left behind.
public actor SessionManager: Service {
    /// One engine and the task that drives it; replaced as a whole on restart.
    private final class Runner: Sendable {
        let sessionID: String
        let tenantID: String
        let engine: any Engine
        /// Fired when the runner is replaced or stopped, which ends a backoff wait early.
        let retirement = WakeSignal()
        private let retired = Atomic<Bool>(false)
        let backoff = Mutex(ReconnectBackoff())
        /// Since when the engine has been connected (`nil` when it is not), when it last said
        /// anything, and why it last dropped (which the next `connected` status names).
        let liveness: Mutex<(connectedAt: Date?, lastHeard: Date, dropReason: String?)>

        init(sessionID: String, tenantID: String, engine: any Engine, startedAt: Date, reason: String?) {
            self.sessionID = sessionID
            self.tenantID = tenantID
            self.engine = engine
            liveness = Mutex((nil, startedAt, reason))
        }

        func heard(at time: Date) { liveness.withLock { $0.lastHeard = max($0.lastHeard, time) } }

        var isRetired: Bool { retired.load(ordering: .acquiring) }

        func retire() {
            retired.store(true, ordering: .releasing)
            retirement.fire()
        }
    }

    private let store: any SessionStore
    private let credentials: @Sendable (String) -> any CredentialsStore
    private let factory: EngineFactory
    private let sink: any SessionEventSink
    private let clock: any WharfClock
    private let logger: Logger
    /// What each session's engine handed over and what of it was committed (the watchdog's counts).
    public let traffic: SessionTraffic
    private var runners: [String: Runner] = [:]
    private var isStopping = false
    /// Runners to drive; `run()` gives each a child task.
    private let started: AsyncStream<Runner>
    private let starting: AsyncStream<Runner>.Continuation

    public init(
        store: any SessionStore, credentials: @escaping @Sendable (String) -> any CredentialsStore,
        factory: EngineFactory, sink: any SessionEventSink, clock: any WharfClock, logger: Logger,
        traffic: SessionTraffic = SessionTraffic()
    ) {
        self.traffic = traffic
        self.store = store
        self.credentials = credentials
        self.factory = factory
        self.sink = sink
        self.clock = clock
        self.logger = logger
        (started, starting) = AsyncStream.makeStream(of: Runner.self)
    }

    public func run() async throws {
        let now = clock.now
        for session in try await store.allSessions() where Self.shouldRunOnBoot(session) {
            // What the last process recorded (perhaps "connected" before a crash) is stale now.
            await update(session.id, "mark starting") { record in
                record.status = .starting
                record.statusDetail = nil
                record.updatedAt = now
            }
            await start(session)
        }
        await withDiscardingTaskGroup { group in
            for await runner in started.cancelOnGracefulShutdown() {
                group.addTask { await self.drive(runner) }
            }
            // Every engine's event stream finishes once it is shut down, which ends its task.
            await stopAll()
        }
    }

    static func shouldRunOnBoot(_ session: SessionRecord) -> Bool {
        session.status != .loggedOut && session.status != .stopped
    }

    /// The running engine of a session.
    public func engine(for sessionID: String) -> (any Engine)? { runners[sessionID]?.engine }

    /// Starts (or restarts) the engine of `session`; `reason`, when given, is why (the next
    /// `connected` status says it reconnected after that).
    public func start(_ session: SessionRecord, reason: String? = nil) async {
        if let old = runners.removeValue(forKey: session.id) { await stop(old) }
        guard !isStopping else { return }
        let engine: any Engine
        do {
            engine = try factory.makeEngine(for: session, credentials: credentials(session.id))
        } catch {
            logger.error("cannot start session", metadata: ["session": "\(session.id)", "error": "\(error)"])
            return
        }
        let runner = Runner(sessionID: session.id, tenantID: session.tenantId, engine: engine, startedAt: clock.now, reason: reason)
        runners[session.id] = runner
        starting.yield(runner)
    }

    /// Restarts a session from its stored record; `reason` as for ``start(_:reason:)``.
    public func restart(sessionID: String, reason: String? = nil) async throws {
        guard let session = try await store.session(id: sessionID, scope: .everything) else { return }
        await start(session, reason: reason)
    }

    // MARK: Liveness

    /// A session whose engine says it is connected, and since when nothing has been heard from it.
    public struct ConnectedSession: Sendable, Equatable {
        public var sessionID: String
        public var tenantID: String
        /// The latest of: when it connected, its last event, its last answered probe.
        public var quietSince: Date
    }

    /// Every session connected now.
    public func connectedSessions() -> [ConnectedSession] {
        runners.values.compactMap { runner in
            let (connectedAt, lastHeard, _) = runner.liveness.withLock { $0 }
            guard let connectedAt, !runner.isRetired else { return nil }
            return ConnectedSession(sessionID: runner.sessionID, tenantID: runner.tenantID, quietSince: max(connectedAt, lastHeard))
        }
    }

    /// Probes a quiet connected session (``Engine/probe()``) and, when no answer comes within
    /// `timeout`, records why and reconnects it from its stored credentials.
    ///
    /// - Returns: whether it answered.
    @discardableResult
    public func checkLiveness(of sessionID: String, quietFor: Duration, within timeout: Duration) async -> Bool {
        guard let runner = runners[sessionID], !runner.isRetired else { return true }
        let failure = await Self.probe(runner.engine, within: timeout, clock: clock)
        guard let failure else {
            runner.heard(at: clock.now)
            return true
        }
        // Replaced or stopped meanwhile: whatever runs now was not the one probed.
        guard runners[sessionID] === runner, !runner.isRetired else { return false }
        let reason =
            "no traffic for \(quietFor.components.seconds) s and no answer to a liveness probe within \(timeout.components.seconds) s (\(failure)); reconnecting"
        logger.warning("session silent, reconnecting", metadata: ["session": "\(sessionID)", "reason": "\(failure)"])
        await record(.disconnected, detail: reason, runner: runner)
        do {
            try await restart(sessionID: sessionID, reason: "a failed liveness probe")
        } catch {
            logger.error("silent session not restarted", metadata: ["session": "\(sessionID)", "error": "\(error)"])
        }
        return false
    }

    /// `nil` when the engine answered within `timeout`, else what went wrong.
    private nonisolated static func probe(_ engine: any Engine, within timeout: Duration, clock: any WharfClock) async -> String? {
        await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await engine.probe()
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            group.addTask {
                do { try await clock.sleep(for: timeout) } catch { return "cancelled" }
                return "timed out"
            }
            let first = await group.next() ?? "cancelled"
            group.cancelAll()
            return first
        }
    }

    /// Unlinks the session's device and stops its engine; the caller deletes the row. Returns
    /// whether WhatsApp was told (the local keys are gone either way).
    @discardableResult
    public func logout(sessionID: String) async -> Bool {
        guard let runner = runners.removeValue(forKey: sessionID) else { return false }
        runner.retire()
        var told = true
        do {
            try await runner.engine.logout()
        } catch {
            told = false
            logger.warning("logout failed", metadata: ["session": "\(sessionID)", "error": "\(error)"])
        }
        await runner.engine.shutdown()
        return told
    }

    /// Unlinks the device but keeps the session, which `restart` links again (a new QR code).
    /// Returns `false` when the session is not running, so there is nothing to unlink.
    public func unlink(sessionID: String) async -> Bool {
        guard let runner = runners[sessionID] else { return false }
        let told = await logout(sessionID: sessionID)
        let detail =
            told
            ? "logged out through the API"
            : "logged out here only: WhatsApp could not be told, so remove the device on the phone too"
        await record(.loggedOut, detail: detail, runner: runner, evenIfRetired: true)
        return true
    }

    /// Stops every engine, keeping credentials, for shutdown.
    public func stopAll() async {
        isStopping = true
        let all = runners
        runners = [:]
        for runner in all.values { await stop(runner) }
    }

    private func stop(_ runner: Runner) async {
        runner.retire()
        await runner.engine.disconnect()
        await runner.engine.shutdown()
    }

    // MARK: Driving one engine

    private nonisolated func drive(_ runner: Runner) async {
        // A session that cannot run keeps the status that says why; what its engine said before
        // giving up ("connecting") must not overwrite it.
        guard await connect(runner) else { return }
        for await event in runner.engine.events {
            // A replaced engine's last words are not the session's any more.
            if runner.isRetired { break }
            runner.heard(at: clock.now)
            await handle(event, runner: runner)
        }
    }

    /// Connects, and after a failure waits out the backoff and tries again, until it works or the
    /// runner is retired.
    ///
    /// - Returns: `false` when the session cannot run (its stored state is unreadable).
    @discardableResult
    private nonisolated func connect(_ runner: Runner) async -> Bool {
        while !runner.isRetired {
            do {
                try await runner.engine.connect()
                return true
            } catch EngineError.unreadableState(let reason) {
                // Damaged state of this one session: it stops (with the reason) and the others go on.
                logger.error("session state unreadable", metadata: ["session": "\(runner.sessionID)", "error": "\(reason)"])
                await record(.stopped, detail: reason, runner: runner)
                return false
            } catch {
                logger.warning("connect failed", metadata: ["session": "\(runner.sessionID)", "error": "\(error)"])
                await record(.disconnected, detail: "\(error)", runner: runner)
                guard await waitBeforeReconnecting(runner) else { return true }
            }
        }
        return true
    }

    /// Waits out the backoff; `false` when the runner was retired meanwhile.
    private nonisolated func waitBeforeReconnecting(_ runner: Runner) async -> Bool {
        guard !runner.isRetired else { return false }
        let delay = runner.backoff.withLock { $0.nextDelay() }
        logger.info("reconnecting", metadata: ["session": "\(runner.sessionID)", "in_ms": "\(delay.milliseconds)"])
        await runner.retirement.wait(until: clock.now.addingTimeInterval(delay.timeInterval), clock: clock)
        return !runner.isRetired
    }

    private nonisolated func handle(_ event: EngineEvent, runner: Runner) async {
        switch event {
        case .status(let status):
            await handleStatus(status, runner: runner)
        case .inbound(let items, let ack):
            let now = clock.now
            let events = items.map { item in
                SessionEvent(
                    sessionID: runner.sessionID, tenantID: runner.tenantID, kind: Self.kind(of: item), at: now,
                    dedupeKey: Self.dedupeKey(of: item))
            }
            let batch = traffic.received(items.count, session: runner.sessionID, tenant: runner.tenantID, at: now)
            do {
                try await sink.publish(events, committing: ack.stateChanges, for: runner.sessionID)
                traffic.committed(batch)
                await ack()
            } catch {
                // Not acknowledged: the engine (and WhatsApp) will deliver it again.
                traffic.notStored(batch)
                logger.error("inbound events not stored", metadata: ["session": "\(runner.sessionID)", "error": "\(error)"])
                await ack.storingFailed(error)
            }
        case .receipt(let receipt):
            let batch = traffic.received(1, session: runner.sessionID, tenant: runner.tenantID, at: clock.now)
            if await publish(.receipt(receipt), runner: runner) { traffic.committed(batch) } else { traffic.notStored(batch) }
        case .presence(let presence):
            await publish(.presence(presence), runner: runner)
        }
    }

    static func kind(of item: InboundEvent) -> SessionEvent.Kind {
        switch item {
        case .message(let message): .message(message)
        case .receipt(let receipt): .receipt(receipt)
        case .undecryptable(let message): .undecryptable(message)
        case .identityChanged(let change): .identityChanged(change)
        case .edited(let edit): .edited(edit)
        case .revoked(let revocation): .revoked(revocation)
        case .group(let update): .group(update)
        case .reaction(let reaction): .reaction(reaction)
        case .pollVote(let vote): .pollVote(vote)
        case .call(let call): .call(call)
        }
    }

    /// What makes an inbound event the same one if WhatsApp delivers it again: its id is derived
    /// from this, so the outbox keeps it once.
    static func dedupeKey(of item: InboundEvent) -> String? {
        switch item {
        case .message(let message): "message/\(message.chat)/\(message.from)/\(message.id)"
        case .receipt(let receipt): "receipt/\(receipt.chat)/\(receipt.messageID)/\(receipt.level.rawValue)"
        case .undecryptable(let message): "undecryptable/\(message.origin.chat)/\(message.origin.from)/\(message.id)"
        case .identityChanged: nil
        case .edited(let edit): "edited/\(edit.origin.chat)/\(edit.id)/\(edit.timestamp.timeIntervalSince1970)"
        case .revoked(let revocation): "revoked/\(revocation.origin.chat)/\(revocation.id)"
        case .group: nil
        case .reaction(let reaction): "reaction/\(reaction.origin.chat)/\(reaction.reactionID)"
        case .pollVote(let vote): "vote/\(vote.origin.chat)/\(vote.voteID)"
        case .call(let call): "call/\(call.callID)/\(call.kind.rawValue)"
        }
    }

    private nonisolated func handleStatus(_ status: SessionStatus, runner: Runner) async {
        let now = clock.now
        switch status {
        case .connecting:
            await record(.starting, detail: nil, runner: runner)
        case .qr(let code):
            await update(runner.sessionID, "store the QR code") { session in
                session.status = .scanQR
                session.qr = code
                session.updatedAt = now
            }
            await publish(.qr(code), runner: runner)
        case .pairingCode(let code):
            await update(runner.sessionID, "store the pairing code") { session in
                session.status = .pairingCode
                session.pairingCode = code
                session.updatedAt = now
            }
            await publish(.pairingCode(code), runner: runner)
        case .connected(let account):
            runner.backoff.withLock { $0.reset() }
            let dropped = runner.liveness.withLock { liveness -> String? in
                liveness.connectedAt = now
                defer { liveness.dropReason = nil }
                return liveness.dropReason
            }
            await update(runner.sessionID, "store the account") { session in
                session.phone = account.phone
                session.jid = account.jid
                session.pushName = account.pushName
                session.connectedAt = now
                session.lastActivityAt = now
            }
            await record(.connected, detail: dropped.map { "reconnected after \($0)" }, runner: runner)
        case .disconnected(let reason):
            await record(.disconnected, detail: reason, runner: runner)
            if await waitBeforeReconnecting(runner), !(await connect(runner)) { runner.retire() }
        case .loggedOut(let reason):
            await record(.loggedOut, detail: reason, runner: runner)
        case .stopped(let reason):
            await record(.stopped, detail: reason, runner: runner)
        }
    }

    /// Stores a session's new state and announces it (`session.status`).
    private nonisolated func record(_ state: SessionState, detail: String?, runner: Runner, evenIfRetired: Bool = false) async {
        guard evenIfRetired || !runner.isRetired else { return }
        let now = clock.now
        runner.liveness.withLock { liveness in
            if state != .connected { liveness.connectedAt = nil }
            if state == .disconnected { liveness.dropReason = detail }
        }
        await update(runner.sessionID, "store the status") { session in
            session.status = state
            session.statusDetail = detail
            session.updatedAt = now
            if state != .scanQR { session.qr = nil }
            if state != .pairingCode { session.pairingCode = nil }
        }
        await publish(.status(state, detail: detail), runner: runner)
    }

    /// Applies `change` to the session row; a failure is logged (the session goes on).
    private nonisolated func update(
        _ sessionID: String, _ what: String, _ change: @escaping @Sendable (inout SessionRecord) -> Void
    ) async {
        do {
            _ = try await store.updateSession(id: sessionID, change)
        } catch {
            logger.error("session not updated", metadata: ["session": "\(sessionID)", "step": "\(what)", "error": "\(error)"])
        }
    }

    /// Commits an event of the session to the outbox; a failure is logged (status events and
    /// receipts are not redelivered by WhatsApp, so there is nothing more to do).
    @discardableResult
    private nonisolated func publish(_ kind: SessionEvent.Kind, runner: Runner) async -> Bool {
        do {
            try await sink.publish(SessionEvent(sessionID: runner.sessionID, tenantID: runner.tenantID, kind: kind, at: clock.now))
            return true
        } catch {
            logger.error("session event not stored", metadata: ["session": "\(runner.sessionID)", "error": "\(error)"])
            return false
        }
    }
}
