import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WharfCore
import WhatsAppProtocol

/// Fetches the files of received messages into `DATA_DIR/media-in`: soon after they arrive (the
/// tenant's default) or when first requested; retries passing faults with backoff; tells the
/// tenant (`media.failed`) when a file cannot be had; deletes files past their retention.
///
/// All of its work runs inside ``run()``: downloads are child tasks of one group, fed by a stream
/// of media ids, so nothing is left running after shutdown. A download cut off by shutdown
/// leaves its row pending, and the next start fetches it again.
final class MediaService: Service, Sendable {
    struct Options: Sendable {
        /// Eager downloads at a time (requested ones are not held back by it).
        var concurrency = 2
        /// Waits after failed attempts; the last is repeated until `maximumAttempts`.
        var backoff: [Duration] = [.seconds(30), .seconds(120), .seconds(600), .seconds(1800), .seconds(7200)]
        var maximumAttempts = 6
        var sweepInterval: Duration = .seconds(300)
    }

    private let store: SQLiteGatewayStore
    private let sessions: SessionManager
    private let sink: OutboxEventSink
    private let clock: any WharfClock
    private let directory: URL
    private let options: Options
    private let logger: Logger
    private let requests: AsyncStream<String>
    private let requestInput: AsyncStream<String>.Continuation
    private let inFlight = Mutex<Set<String>>([])
    /// Fired after every attempt, for requests waiting on one.
    private let attempted = Mutex<[String: [WakeSignal]]>([:])

    init(
        store: SQLiteGatewayStore, sessions: SessionManager, sink: OutboxEventSink, clock: any WharfClock, directory: URL,
        options: Options = Options(), logger: Logger
    ) {
        self.store = store
        self.sessions = sessions
        self.sink = sink
        self.clock = clock
        self.directory = directory
        self.options = options
        self.logger = logger
        (requests, requestInput) = AsyncStream.makeStream(of: String.self)
    }

    /// Where a fetched file is kept.
    func path(of id: String) -> URL { directory.appendingPathComponent(id) }

    func run() async throws {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        await withDiscardingTaskGroup { group in
            group.addTask { await self.schedule() }
            for await id in requests.cancelOnGracefulShutdown() {
                guard inFlight.withLock({ $0.insert(id).inserted }) else { continue }
                group.addTask {
                    await self.fetch(id)
                    self.inFlight.withLock { _ = $0.remove(id) }
                    self.finishedAttempt(id)
                }
            }
            group.cancelAll()
        }
    }

    /// Asks for `id` to be fetched now, whatever the tenant chose, and waits until that attempt
    /// (or one under way) ends or `timeout` passes. Returns the row as it then stands.
    func fetchNow(_ id: String, timeout: Duration) async throws -> MediaRecord? {
        let signal = WakeSignal()
        attempted.withLock { $0[id, default: []].append(signal) }
        defer { attempted.withLock { $0[id]?.removeAll { $0 === signal } } }
        requestInput.yield(id)
        await signal.wait(until: clock.now.addingTimeInterval(timeout.timeInterval), clock: clock)
        return try await store.media(id: id)
    }

    private func finishedAttempt(_ id: String) {
        for signal in attempted.withLock({ $0[id] ?? [] }) { signal.fire() }
        // Room for the next eager download.
        sink.mediaArrived.fire()
    }

    /// Feeds due eager downloads into the group and sweeps expired files, waking when new files
    /// are committed, when the next retry falls due, or at the sweep interval.
    private func schedule() async {
        var nextSweep = clock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let now = clock.now
            if now >= nextSweep {
                await sweep(now: now)
                nextSweep = now.addingTimeInterval(options.sweepInterval.timeInterval)
            }
            var wakeAt = nextSweep
            let busy = inFlight.withLock { $0.count }
            if let due = try? await store.dueMedia(now: now, limit: options.concurrency + busy) {
                var room = options.concurrency - busy
                for record in due where room > 0 && !inFlight.withLock({ $0.contains(record.id) }) {
                    requestInput.yield(record.id)
                    room -= 1
                }
                // More are due than may run: a finished download wakes this loop again.
                if !due.isEmpty { wakeAt = min(wakeAt, now.addingTimeInterval(5)) }
            }
            if let next = try? await store.nextMediaAttempt(), next > now { wakeAt = min(wakeAt, next) }
            await sink.mediaArrived.wait(until: wakeAt, clock: clock)
        }
    }

    /// One attempt at one file, then its held event (if any) goes out, with the file or without.
    private func fetch(_ id: String) async {
        guard var record = try? await store.media(id: id) else { return }
        guard record.status == .pending else {
            await releaseHeldEvent(of: record)
            return
        }
        let now = clock.now
        let outcome: Result<MediaReference?, MediaDownloadError>
        do {
            guard let reference = try store.openMediaReference(of: record) else {
                throw MediaDownloadError("the file's reference is gone", isRetryable: false)
            }
            guard let engine = await sessions.engine(for: record.sessionId) else {
                throw MediaDownloadError("the session is not running", isRetryable: true)
            }
            let part = directory.appendingPathComponent(id + ".part")
            defer { try? FileManager.default.removeItem(at: part) }
            let renewed = try await engine.downloadMedia(reference, to: part)
            try? FileManager.default.removeItem(at: path(of: id))
            try FileManager.default.moveItem(at: part, to: path(of: id))
            outcome = .success(renewed)
        } catch let error as MediaDownloadError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(MediaDownloadError("\(error)", isRetryable: true))
        }
        // Cut off by shutdown: not an attempt; the next start fetches it again.
        if Task.isCancelled { return }
        record.attempts += 1
        record.updatedAt = clock.now
        switch outcome {
        case .success(let renewed):
            record.status = .ready
            record.error = nil
            if let renewed, let sealed = try? store.sealMediaReference(renewed, id: id) { record.reference = sealed }
        case .failure(let error) where error.isRetryable && record.attempts < options.maximumAttempts:
            let wait = options.backoff[min(record.attempts - 1, options.backoff.count - 1)]
            record.error = error.description
            record.nextAttemptAt = now.addingTimeInterval(wait.timeInterval)
            logger.info("media not fetched yet", metadata: ["media": "\(id)", "attempt": "\(record.attempts)", "error": "\(error)"])
        case .failure(let error):
            record.status = .failed
            record.error = error.description
            logger.warning("media could not be fetched", metadata: ["media": "\(id)", "error": "\(error)"])
        }
        do {
            try await store.saveMedia(record)
        } catch {
            logger.error("media state not stored", metadata: ["media": "\(id)", "error": "\(error)"])
            return
        }
        await releaseHeldEvent(of: record)
        if record.status == .failed {
            do {
                try await sink.publish(
                    SessionEvent(
                        sessionID: record.sessionId, tenantID: record.tenantId, kind: .mediaFailed(record, reason: record.error ?? ""),
                        at: record.updatedAt, dedupeKey: "media.failed/\(id)"))
            } catch {
                logger.error("media.failed event not stored", metadata: ["media": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// A held event waits for one attempt only: a file that is not in yet goes without it.
    private func releaseHeldEvent(of record: MediaRecord) async {
        guard let held = record.heldEvent else { return }
        do {
            try await sink.release(held, of: record, file: record.status == .ready ? path(of: record.id) : nil)
        } catch {
            logger.error("a held event not delivered", metadata: ["media": "\(record.id)", "error": "\(error)"])
        }
    }

    /// Deletes files (and their keys) past their retention.
    private func sweep(now: Date) async {
        while let expiring = try? await store.expiringMedia(now: now, limit: 200), !expiring.isEmpty {
            for var record in expiring {
                try? FileManager.default.removeItem(at: path(of: record.id))
                record.status = .expired
                record.reference = nil
                record.updatedAt = now
                do {
                    try await store.saveMedia(record)
                } catch {
                    logger.error("expired media not marked", metadata: ["media": "\(record.id)", "error": "\(error)"])
                    return
                }
            }
        }
    }
}
