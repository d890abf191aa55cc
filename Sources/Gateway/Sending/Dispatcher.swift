import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WhatsAppProtocol
import WharfCore

/// Drains each session's job queue like a person would: one message at a time per session (one
/// phone, one pair of thumbs), oldest first within a chat, chats taking turns; read, type, pause,
/// send, then leave the chat alone for a moment; never more than the per-minute cap.
///
/// Jobs are rows, so a restart resumes the queue; a job caught mid-send is sent again with the
/// same client message id. All waiting goes through the injected clock.
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

    private struct QueueState {
        var signal = WakeSignal()
        var task: Task<Void, Never>?
        var bucket: TokenBucket?
        var chatReadyAt: [String: Date] = [:]
        /// Every chat waits until then (a limit of the whole number).
        var heldUntil: Date?
    }

    private struct State {
        var sessions: [String: QueueState] = [:]
        var waiters: [String: [WakeSignal]] = [:]
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
    }

    public func run() async throws {
        let events = hub.subscribe(sessionID: nil)
        for sessionID in try await store.sessionsWithQueuedJobs() { wake(sessionID: sessionID) }
        await withGracefulShutdownHandler {
            // A session that connects may have jobs waiting.
            for await event in events.cancelOnGracefulShutdown() {
                if case .status(.connected, _) = event.kind { wake(sessionID: event.sessionID) }
            }
        } onGracefulShutdown: {}
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.isStopping = true
            return state.sessions.values.compactMap(\.task)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Tells a session's queue there is work (a job was enqueued, the session connected).
    public func wake(sessionID: String) {
        let signal = state.withLock { state -> WakeSignal? in
            guard !state.isStopping else { return nil }
            if state.sessions[sessionID] == nil { state.sessions[sessionID] = QueueState() }
            if state.sessions[sessionID]?.task == nil {
                state.sessions[sessionID]?.task = Task { await self.drain(sessionID: sessionID) }
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

        guard let job = try await store.job(seq: head.seq) else { return .now }
        let policy = HumanizePolicy.resolve(settings: settings, overrides: job.humanize)
        try await send(job, policy: policy, engine: engine)
        return .now
    }

    private func send(_ job: JobRecord, policy: HumanizePolicy, engine: any Engine) async throws {
        let now = clock.now
        var sending = job
        sending.attempts += 1
        if policy.enabled {
            // Worth a write only when sending takes a while: the job shows as "sending" while the
            // session types. A crash at any point re-sends with the same client message id.
            guard let updated = try await store.updateJob(id: job.id, { job in
                job.status = JobStatus.sending
                job.attempts += 1
                job.updatedAt = now
            }) else { return }
            sending = updated
        }
        let chat = ChatID(job.chatId)
        do {
            if policy.enabled { try await humanize(sending, policy: policy, engine: engine) }
            let sent = try await engine.send(
                OutboundMessage(
                    clientMessageID: sending.clientMessageId, chat: chat, content: try content(of: sending, for: engine.capabilities),
                    replyTo: sending.replyTo))
            let sentAt = clock.now
            var done = sending
            done.status = JobStatus.sent
            done.waMessageId = sent.messageID
            done.sentAt = sentAt
            done.updatedAt = sentAt
            done.error = nil
            let attempts = sending.attempts
            // The job's new state and its message.sent event share one group commit.
            async let stored = store.updateJob(id: job.id) { job in
                job.status = JobStatus.sent
                job.waMessageId = sent.messageID
                job.sentAt = sentAt
                job.updatedAt = sentAt
                job.attempts = attempts
                job.error = nil
            }
            async let published: Void = sink.publish(
                SessionEvent(sessionID: job.sessionId, tenantID: job.tenantId, kind: .messageSent(done, messageID: sent.messageID), at: sentAt))
            _ = try await stored
            try await published
            removeMedia(of: done)
            if policy.enabled {
                state.withLock { $0.sessions[job.sessionId]?.chatReadyAt[job.chatId] = sentAt.addingTimeInterval(Double(policy.gapMs) / 1000) }
            }
            finished(job.id)
        } catch let error as EngineError where error == .notConnected {
            // Back in the queue; it waits for the session to come back, and a lost connection costs
            // it no attempt.
            let attempts = job.attempts
            try await store.updateJob(id: job.id) { job in
                job.status = JobStatus.queued
                job.attempts = attempts
            }
        } catch EngineError.temporary(let reason, let retryAfter, let wholeSession) where sending.attempts < options.maximumAttempts {
            try await retryLater(sending, reason: reason, after: retryAfter, wholeSession: wholeSession)
        } catch EngineError.temporary(let reason, _, _) {
            try await fail(sending, reason: "\(reason); gave up after \(sending.attempts) attempts")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            try await fail(sending, reason: "\(error)")
        }
    }

    /// Reads, shows "typing…" for a time that grows with the text, pauses. None of these steps may
    /// cost the message itself: a read receipt or an indicator WhatsApp refuses is skipped.
    private func humanize(_ job: JobRecord, policy: HumanizePolicy, engine: any Engine) async throws {
        let chat = ChatID(job.chatId)
        let marker = try await store.readMarker(sessionID: job.sessionId, chatID: job.chatId, markingRead: policy.markRead)
        if policy.markRead, let marker, marker.isUnread {
            try await step("mark read", job) { try await engine.markRead(chat: chat, messageIDs: [marker.messageID]) }
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
        let attempts = job.attempts
        try await store.updateJob(id: job.id) { stored in
            stored.status = JobStatus.queued
            stored.waMessageId = nil
            stored.attempts = attempts
            stored.error = reason
            stored.updatedAt = now
        }
        state.withLock { state in
            let backoff = ReconnectBackoff.delay(
                attempt: attempts - 1, base: options.firstRetryDelay, maximum: options.maximumRetryDelay, jitter: 0.2, using: &state.random)
            let until = now.addingTimeInterval(max(backoff.timeInterval, retryAfter?.timeInterval ?? 0))
            if state.sessions[job.sessionId] == nil { state.sessions[job.sessionId] = QueueState() }
            if wholeSession {
                state.sessions[job.sessionId]?.heldUntil = until
            } else {
                state.sessions[job.sessionId]?.chatReadyAt[job.chatId] = until
            }
        }
        logger.info("send deferred", metadata: ["job": "\(job.id)", "attempt": "\(attempts)", "reason": "\(reason)"])
    }

    /// A job WhatsApp accepted and then reported as not sent for a passing reason (a Cloud API
    /// status with a rate-limit code): queued again with backoff, unless it has used its attempts.
    ///
    /// - Returns: whether the job goes again; `false` means the caller should fail it.
    public func retry(_ job: JobRecord, reason: String) async throws -> Bool {
        guard job.attempts < options.maximumAttempts else { return false }
        try await retryLater(job, reason: reason, after: nil, wholeSession: false)
        wake(sessionID: job.sessionId)
        return true
    }

    /// Fails jobs that waited longer than allowed for a disconnected session; says when the next will.
    private func expireHeld(session: SessionRecord, now: Date) async throws -> Next {
        let limit = options.holdWhileDisconnected.timeInterval
        var nextExpiry: Date?
        for job in try await store.jobs(sessionID: session.id, before: nil, limit: 10_000)
        where job.status == JobStatus.queued || job.status == JobStatus.sending {
            let expiry = job.createdAt.addingTimeInterval(limit)
            if expiry <= now {
                try await fail(job, reason: "the session was not connected for \(Int(limit)) seconds (status: \(session.status))")
            } else {
                nextExpiry = min(nextExpiry ?? expiry, expiry)
            }
        }
        return nextExpiry.map(Next.at) ?? .whenWoken
    }

    private func fail(_ job: JobRecord, reason: String) async throws {
        let now = clock.now
        let attempts = job.attempts
        guard let failed = try await store.updateJob(id: job.id, { job in
            job.status = JobStatus.failed
            job.attempts = max(job.attempts, attempts)
            job.error = reason
            job.updatedAt = now
        }) else { return }
        removeMedia(of: failed)
        try? await sink.publish(
            SessionEvent(sessionID: job.sessionId, tenantID: job.tenantId, kind: .messageFailed(failed, reason: reason), at: now))
        finished(job.id)
    }

    private func finished(_ jobID: String) {
        let waiters = state.withLock { $0.waiters.removeValue(forKey: jobID) ?? [] }
        for waiter in waiters { waiter.fire() }
    }

    private func content(of job: JobRecord, for capabilities: EngineCapabilities) throws -> OutboundMessage.Content {
        guard let kind = job.kind.mediaKind else { return .text(job.text ?? "") }
        if capabilities.mediaSource == .link, let url = job.mediaUrl {
            return .mediaLink(kind: kind, url: url, caption: job.text, fileName: job.fileName)
        }
        guard let file = job.mediaFile else {
            throw EngineError.rejected("the job's media is missing")
        }
        return .media(
            kind: kind, file: URL(fileURLWithPath: file), mimeType: job.mimeType ?? "application/octet-stream", caption: job.text,
            fileName: job.fileName)
    }

    private func removeMedia(of job: JobRecord) {
        if let file = job.mediaFile { try? FileManager.default.removeItem(atPath: file) }
    }
}

extension JSONValue {
    /// Parses JSON text; `nil` when it is not JSON.
    init?(json text: String) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return nil }
        self = value
    }
}
