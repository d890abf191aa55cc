import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WharfCore
import WhatsAppProtocol

/// Drains each session's job queue like a person would: one message at a time per session (one
/// phone, one pair of thumbs), oldest first within a chat, chats taking turns; read, type, pause,
/// send, then leave the chat alone for a moment; never more than the per-minute cap.
///
/// Jobs are rows, so a restart resumes the queue; a job caught mid-send is sent again with the
/// same client message id. All waiting goes through the injected clock.
///
/// The dispatcher is the one owner of a job's life after it is queued: sent, failed, retried,
/// cancelled and expired are its transitions and no one else writes them. Its per-session work
/// runs as child tasks of ``run()``; on graceful shutdown a message already handed to the engine
/// is finished and recorded, and one that was still being "typed" is handed back to the queue.
public final class Dispatcher: Service, Sendable {
    public struct Options: Sendable {
        /// How long a job waits for its session to (re)connect before it fails.
        public var holdWhileDisconnected: Duration = .seconds(24 * 3600)
        /// Sending attempts a job gets when WhatsApp answers with a limit or a passing fault.
        public var maximumAttempts = 8
        /// The wait after the first such answer; it doubles with each attempt up to `maximumRetryDelay`.
        public var firstRetryDelay: Duration = .seconds(5)
        public var maximumRetryDelay: Duration = .seconds(600)
        public init() {}
    }

    /// What became of a request to cancel a job.
    public enum Cancellation: Sendable, Equatable {
        case cancelled(JobRecord)
        /// The job is past queued (or being sent right now, `job.status` still says queued).
        case tooLate(JobRecord, isSending: Bool)
    }

    /// What the dispatcher made of WhatsApp's later report that a message was not delivered.
    public enum Undelivered: Sendable, Equatable {
        /// A passing reason: the job is queued again and nobody is told it failed.
        case retrying
        /// The job (when Wharf sent the message) is failed with the reason.
        case failed(JobRecord?)
    }

    private struct QueueState {
        var signal = WakeSignal()
        var hasDrainer = false
        var bucket: TokenBucket?
        var chatReadyAt: [String: Date] = [:]
        /// Every chat waits until then (a limit of the whole number).
        var heldUntil: Date?
        /// The job being humanized or sent now; a cancel must not race it.
        var inFlight: String?
    }

    private struct State {
        var sessions: [String: QueueState] = [:]
        var waiters: [String: [WakeSignal]] = [:]
        /// Jobs a cancel is writing right now; the queue leaves them alone until it has.
        var cancelling: Set<String> = []
        var random: SeededRandom
        var isStopping = false
    }

    private let store: SQLiteGatewayStore
    private let sessions: SessionManager
    private let sink: any SessionEventSink
    private let hub: SessionEventHub
    private let clock: any WharfClock
    private let options: Options
    private let logger: Logger
    private let state: Mutex<State>
    /// Sessions that need a drainer task; `run()` starts one per session.
    private let drainers: AsyncStream<String>
    private let drainerRequests: AsyncStream<String>.Continuation

    public init(
        store: SQLiteGatewayStore, sessions: SessionManager, sink: any SessionEventSink, hub: SessionEventHub,
        clock: any WharfClock, options: Options = .init(), seed: UInt64 = UInt64.random(in: .min ... .max),
        logger: Logger = Logger(label: "wharf.dispatcher")
    ) {
        self.store = store
        self.sessions = sessions
        self.sink = sink
        self.hub = hub
        self.clock = clock
        self.options = options
        self.logger = logger
        state = Mutex(State(random: SeededRandom(seed: seed)))
        (drainers, drainerRequests) = AsyncStream.makeStream(of: String.self)
    }

    public func run() async throws {
        let events = hub.subscribe(sessionID: nil)
        for sessionID in try await store.sessionsWithQueuedJobs() { wake(sessionID: sessionID) }
        await withDiscardingTaskGroup { group in
            group.addTask {
                // A session that connects may have jobs waiting.
                for await event in events.cancelOnGracefulShutdown() {
                    if case .status(.connected, _) = event.kind { self.wake(sessionID: event.sessionID) }
                }
            }
            for await sessionID in drainers.cancelOnGracefulShutdown() {
                group.addTask { await self.drain(sessionID: sessionID) }
            }
            state.withLock { $0.isStopping = true }
            // Drainers stop at their next step; a send under way finishes first (see `finishing`).
            group.cancelAll()
        }
    }

    /// Tells a session's queue there is work (a job was enqueued, the session connected).
    public func wake(sessionID: String) {
        let signal = state.withLock { state -> WakeSignal? in
            guard !state.isStopping else { return nil }
            if state.sessions[sessionID] == nil { state.sessions[sessionID] = QueueState() }
            if state.sessions[sessionID]?.hasDrainer == false {
                state.sessions[sessionID]?.hasDrainer = true
                drainerRequests.yield(sessionID)
            }
            return state.sessions[sessionID]?.signal
        }
        signal?.fire()
    }

    /// Waits until the job is finished or `timeout` has passed on the clock.
    public func waitUntilFinished(jobID: String, timeout: Duration) async throws -> JobRecord? {
        let deadline = clock.now.addingTimeInterval(timeout.timeInterval)
        let signal = WakeSignal()
        state.withLock { $0.waiters[jobID, default: []].append(signal) }
        defer {
            state.withLock { state in
                state.waiters[jobID]?.removeAll { $0 === signal }
                if state.waiters[jobID]?.isEmpty == true { state.waiters[jobID] = nil }
            }
        }
        if let job = try await store.job(id: jobID, scope: .everything), job.status.isFinished {
            return job
        }
        await signal.wait(until: deadline, clock: clock)
        return try await store.job(id: jobID, scope: .everything)
    }

    /// Cancels a job that has not started sending; `nil` when there is no such job in `scope`.
    public func cancel(jobID: String, scope: AccessScope) async throws -> Cancellation? {
        guard let job = try await store.job(id: jobID, scope: scope) else { return nil }
        let isSending = state.withLock { state -> Bool in
            if state.sessions[job.sessionId]?.inFlight == jobID { return true }
            state.cancelling.insert(jobID)
            return false
        }
        guard !isSending else { return .tooLate(job, isSending: true) }
        defer { _ = state.withLock { $0.cancelling.remove(jobID) } }
        let now = clock.now
        guard
            let stored = try await store.updateJob(
                id: jobID,
                { job in
                    guard job.status == .queued else { return }
                    job.status = .cancelled
                    job.updatedAt = now
                })
        else { return nil }
        guard stored.status == .cancelled else { return .tooLate(stored, isSending: false) }
        removeMedia(of: stored)
        finished(jobID)
        return .cancelled(stored)
    }

    /// WhatsApp accepted a message and reported later that it could not be delivered (a Cloud
    /// API `failed` status): for a passing reason the job is queued again with backoff (unless
    /// it has used its attempts), otherwise it is failed with the reason.
    public func recordUndelivered(
        sessionID: String, messageID: String, reason: String, isRetryable: Bool
    ) async throws
        -> Undelivered
    {
        guard let job = try await store.job(sessionID: sessionID, waMessageID: messageID) else { return .failed(nil) }
        if isRetryable, job.status == .sent, job.attempts < options.maximumAttempts {
            try await retryLater(job, reason: reason, after: nil, wholeSession: false)
            wake(sessionID: job.sessionId)
            return .retrying
        }
        guard job.status != .failed else { return .failed(job) }
        let now = clock.now
        let failed = try await store.updateJob(id: job.id) { job in
            job.status = .failed
            job.error = reason
            job.updatedAt = now
        }
        return .failed(failed)
    }

    // MARK: One session's queue

    private func drain(sessionID: String) async {
        guard let signal = state.withLock({ $0.sessions[sessionID]?.signal }) else { return }
        while !Task.isCancelled {
            do {
                let wakeAt = try await step(sessionID: sessionID)
                if wakeAt == .now { continue }
                await signal.wait(until: wakeAt.date, clock: clock)
            } catch is CancellationError {
                return
            } catch {
                logger.error("dispatcher step failed", metadata: ["session": "\(sessionID)", "error": "\(error)"])
                await signal.wait(until: clock.now.addingTimeInterval(1), clock: clock)
            }
        }
    }

    private enum Next: Equatable {
        case now
        case at(Date)
        case whenWoken

        var date: Date? {
            if case .at(let date) = self { return date }
            return nil
        }
    }

    /// Sends the next due job of a session, or says when to look again.
    private func step(sessionID: String) async throws -> Next {
        let heads = try await store.queueHeads(sessionID: sessionID)
        guard !heads.isEmpty else { return .whenWoken }
        let now = clock.now
        guard let session = try await store.session(id: sessionID, scope: .everything) else {
            for head in heads {
                if let job = try await store.job(seq: head.seq) { try await fail(job, reason: "the session was deleted") }
            }
            return .now
        }
        let engine = await sessions.engine(for: sessionID)
        guard session.status == SessionState.connected, let engine else {
            return try await expireHeld(session: session, now: now)
        }
        let settings = try await store.tenant(id: session.tenantId)?.settings["humanize"]
        let defaults = HumanizePolicy.resolve(settings: settings, overrides: nil)
        if let until = defaults.quietUntil(now) { return .at(until) }

        if let held = state.withLock({ $0.sessions[sessionID]?.heldUntil }), held > now { return .at(held) }
        let readyAt = state.withLock { $0.sessions[sessionID]?.chatReadyAt ?? [:] }
        guard let head = heads.first(where: { (readyAt[$0.chatID] ?? .distantPast) <= now }) else {
            return .at(heads.compactMap { readyAt[$0.chatID] }.min() ?? now)
        }
        let wait = state.withLock { state -> Duration? in
            var bucket = state.sessions[sessionID]?.bucket ?? TokenBucket(perMinute: defaults.maxPerMinute, now: now)
            let wait = bucket.take(now: now)
            state.sessions[sessionID]?.bucket = bucket
            return wait
        }
        if let wait { return .at(now.addingTimeInterval(wait.timeInterval)) }

        // Claimed before it is read, so that a cancel either sees it in flight or is seen here.
        let isCancelling = state.withLock { state -> Bool in
            guard !state.cancelling.contains(head.id) else { return true }
            state.sessions[sessionID]?.inFlight = head.id
            return false
        }
        if isCancelling { return .at(now.addingTimeInterval(0.05)) }
        defer { state.withLock { $0.sessions[sessionID]?.inFlight = nil } }
        guard let job = try await store.job(seq: head.seq), !job.status.isFinished else { return .now }
        let policy = HumanizePolicy.resolve(settings: settings, overrides: job.humanize)
        try await send(job, policy: policy, engine: engine)
        return .now
    }

    private func send(_ job: JobRecord, policy: HumanizePolicy, engine: any Engine) async throws {
        let now = clock.now
        var sending = job
        sending.attempts += 1
        sending.updatedAt = now
        if policy.enabled {
            // Worth a write only when sending takes a while: the job shows as "sending" while the
            // session types. A crash at any point re-sends with the same client message id.
            sending.status = .sending
            try await store.saveJob(sending)
            do {
                try await humanize(sending, policy: policy, engine: engine)
            } catch is CancellationError {
                // Shutting down while "typing": nothing went to WhatsApp, so the job goes back (the
                // attempt counts: the contact saw it typed).
                let attempt = sending
                try await finishing { try await self.store.saveJob(attempt.requeued()) }
                throw CancellationError()
            }
        }
        let attempt = sending
        let chat = ChatID(job.chatId)
        let message = OutboundMessage(
            clientMessageID: sending.clientMessageId, chat: chat, content: try content(of: sending, for: engine.capabilities),
            replyTo: sending.replyTo)
        // Once the message is handed over, its outcome is recorded even during shutdown.
        try await finishing {
            do {
                let sent = try await engine.send(message)
                try await self.sent(attempt, as: sent, gap: policy.enabled ? policy.gapMs : nil)
            } catch let error as EngineError where error == .notConnected {
                // Back in the queue; it waits for the session to come back, and a lost connection
                // costs it no attempt.
                try await self.store.saveJob(job.requeued())
            } catch EngineError.temporary(let reason, let retryAfter, let wholeSession)
                where attempt.attempts < self.options.maximumAttempts
            {
                try await self.retryLater(attempt, reason: reason, after: retryAfter, wholeSession: wholeSession)
            } catch EngineError.temporary(let reason, _, _) {
                try await self.fail(attempt, reason: "\(reason); gave up after \(attempt.attempts) attempts")
            } catch {
                try await self.fail(attempt, reason: "\(error)")
            }
        }
    }

    /// Records a sent job and its `message.sent` event (they share one group commit), then lets the
    /// chat rest for `gap` milliseconds.
    private func sent(_ job: JobRecord, as sent: SentMessage, gap: Int?) async throws {
        let sentAt = clock.now
        var record = job
        record.status = .sent
        record.waMessageId = sent.messageID
        record.sentAt = sentAt
        record.updatedAt = sentAt
        record.error = nil
        let done = record
        async let stored: Void = store.saveJob(done)
        async let published: Void = sink.publish(
            SessionEvent(
                sessionID: done.sessionId, tenantID: done.tenantId, kind: .messageSent(done, messageID: sent.messageID), at: sentAt))
        try await stored
        try await published
        removeMedia(of: done)
        if let gap {
            state.withLock { $0.sessions[done.sessionId]?.chatReadyAt[done.chatId] = sentAt.addingTimeInterval(Double(gap) / 1000) }
        }
        finished(done.id)
    }

    /// Runs `work` to its end even when the calling task is cancelled (graceful shutdown): what
    /// WhatsApp was told must be written down. The task is awaited here, so nothing outlives the
    /// dispatcher's `run()`.
    private func finishing(_ work: @escaping @Sendable () async throws -> Void) async throws {
        try await Task { try await work() }.value
    }

    /// Reads, shows "typing…" for a time that grows with the text, pauses. None of these steps may
    /// cost the message itself: a read receipt or an indicator WhatsApp refuses is skipped.
    private func humanize(_ job: JobRecord, policy: HumanizePolicy, engine: any Engine) async throws {
        let chat = ChatID(job.chatId)
        let marker = try await store.readMarker(sessionID: job.sessionId, chatID: job.chatId, markingRead: policy.markRead)
        if policy.markRead, let marker, marker.isUnread {
            try await step("mark read", job) { try await engine.markRead(chat: chat, messageIDs: [marker.messageID]) }
        }
        guard job.kind.isTyped else {
            // A reaction, an edit or a revoke is a tap, not typing: only the pause before it.
            try await clock.sleep(for: .milliseconds(policy.pauseMs))
            return
        }
        let typing = state.withLock { policy.typingDuration(characters: (job.text ?? "").count, random: &$0.random) }
        let indicator = engine.capabilities.typing
        // On the Cloud API the indicator is a read receipt too: without permission to mark read,
        // or without a message to answer, the typing time passes with no indicator.
        let anchor = policy.markRead ? marker?.messageID : nil
        if indicator.needsInboundMessage && anchor == nil {
            try await clock.sleep(for: typing)
        } else {
            let presence: ChatPresence = job.kind == .voice ? .recording : .composing
            var remaining = typing
            repeat {
                try await step("typing", job) { try await engine.setPresence(presence, in: chat, answering: anchor) }
                let slice = indicator.resendInterval.map { min($0, remaining) } ?? remaining
                try await clock.sleep(for: slice)
                remaining -= slice
            } while remaining > .zero
            try await step("paused", job) { try await engine.setPresence(.paused, in: chat, answering: anchor) }
        }
        try await clock.sleep(for: .milliseconds(policy.pauseMs))
    }

    /// Runs one humanizing step; only a lost connection (or cancellation) stops the send.
    private func step(_ name: String, _ job: JobRecord, _ action: () async throws -> Void) async throws {
        do {
            try await action()
        } catch let error as EngineError where error == .notConnected {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.debug("humanizing step skipped", metadata: ["job": "\(job.id)", "step": "\(name)", "error": "\(error)"])
        }
    }

    /// Puts a job back after a limit or a passing fault, and keeps its chat (or, for a limit of the
    /// whole number, every chat) waiting: 5 s after the first such answer, doubling, ±20 %, and no
    /// less than the service's `Retry-After`.
    private func retryLater(_ job: JobRecord, reason: String, after retryAfter: Duration?, wholeSession: Bool) async throws {
        let now = clock.now
        var retried = job.requeued()
        retried.waMessageId = nil
        retried.error = reason
        retried.updatedAt = now
        try await store.saveJob(retried)
        state.withLock { state in
            let backoff = ReconnectBackoff.delay(
                attempt: job.attempts - 1, base: options.firstRetryDelay, maximum: options.maximumRetryDelay, jitter: 0.2,
                using: &state.random)
            let until = now.addingTimeInterval(max(backoff.timeInterval, retryAfter?.timeInterval ?? 0))
            if state.sessions[job.sessionId] == nil { state.sessions[job.sessionId] = QueueState() }
            if wholeSession {
                state.sessions[job.sessionId]?.heldUntil = until
            } else {
                state.sessions[job.sessionId]?.chatReadyAt[job.chatId] = until
            }
        }
        logger.info("send deferred", metadata: ["job": "\(job.id)", "attempt": "\(job.attempts)", "reason": "\(reason)"])
    }

    /// Fails the jobs that waited longer than allowed for a disconnected session (one UPDATE);
    /// says when the next one will.
    private func expireHeld(session: SessionRecord, now: Date) async throws -> Next {
        let limit = options.holdWhileDisconnected.timeInterval
        let reason = "the session was not connected for \(Int(limit)) seconds (status: \(session.status))"
        let expired = try await store.failJobs(
            sessionID: session.id, createdBefore: now.addingTimeInterval(-limit), reason: reason, now: now)
        for job in expired { await announceFailure(of: job, reason: reason, at: now) }
        let oldest = try await store.oldestUnfinishedJob(sessionID: session.id)
        return oldest.map { .at($0.addingTimeInterval(limit)) } ?? .whenWoken
    }

    private func fail(_ job: JobRecord, reason: String) async throws {
        let now = clock.now
        var failed = job
        failed.status = .failed
        failed.error = reason
        failed.updatedAt = now
        try await store.saveJob(failed)
        await announceFailure(of: failed, reason: reason, at: now)
    }

    /// The failed job's `message.failed` event, its media removed, its waiters told.
    private func announceFailure(of job: JobRecord, reason: String, at now: Date) async {
        removeMedia(of: job)
        do {
            try await sink.publish(
                SessionEvent(sessionID: job.sessionId, tenantID: job.tenantId, kind: .messageFailed(job, reason: reason), at: now))
        } catch {
            logger.error("message.failed event not stored", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
        finished(job.id)
    }

    private func finished(_ jobID: String) {
        let waiters = state.withLock { $0.waiters.removeValue(forKey: jobID) ?? [] }
        for waiter in waiters { waiter.fire() }
    }

    private func content(of job: JobRecord, for capabilities: EngineCapabilities) throws -> OutboundMessage.Content {
        if MessageType.rich.contains(job.kind) { return try richContent(of: job) }
        guard let kind = job.kind.mediaKind else { return .text(job.text ?? "") }
        if capabilities.mediaSource == .link, let url = job.mediaUrl {
            return .mediaLink(kind: kind, url: url, caption: job.text, fileName: job.fileName)
        }
        guard let file = job.mediaFile else {
            throw EngineError.invalidRequest("the job's downloaded media file is missing (DATA_DIR/media)")
        }
        return .media(
            kind: kind, file: URL(fileURLWithPath: file), mimeType: job.mimeType ?? "application/octet-stream", caption: job.text,
            fileName: job.fileName)
    }

    private func richContent(of job: JobRecord) throws -> OutboundMessage.Content {
        let payload = job.payload ?? JobPayload()
        func target() throws -> String {
            guard let id = payload.messageId else { throw EngineError.invalidRequest("the job names no message") }
            return id
        }
        switch job.kind {
        case .reaction: return .reaction(messageID: try target(), emoji: payload.emoji ?? "")
        case .edit: return .edit(messageID: try target(), text: job.text ?? "")
        case .revoke: return .revoke(messageID: try target())
        case .location:
            guard let place = payload.location else { throw EngineError.invalidRequest("the job has no location") }
            return .location(place)
        case .contact: return .contacts(payload.contacts ?? [])
        case .poll:
            guard let poll = payload.poll else { throw EngineError.invalidRequest("the job has no poll") }
            return .poll(poll)
        default: throw EngineError.invalidRequest("'\(job.kind)' is not a rich message type")
        }
    }

    private func removeMedia(of job: JobRecord) {
        guard let file = job.mediaFile, FileManager.default.fileExists(atPath: file) else { return }
        do {
            try FileManager.default.removeItem(atPath: file)
        } catch {
            logger.warning("media of a finished job not removed", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }
}

extension JobRecord {
    /// The job back in the queue, as it was before this attempt.
    fileprivate func requeued() -> JobRecord {
        var job = self
        job.status = .queued
        return job
    }
}
