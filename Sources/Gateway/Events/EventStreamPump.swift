import Foundation
import Outbox
import ServiceLifecycle
import Synchronization
import WharfCore

/// One client's stream of the event table; the caller (Server-Sent Events today) only frames what
/// it is handed.
///
/// The table is the buffer: the pump asks for what follows the last event it sent, sends it, and
/// waits for the next commit, so the history and the live tail are one query and a reconnect from a
/// cursor has no seam. Nothing grows per client, but a client can still fall behind or stop
/// reading, and the pump bounds both (``EventStreamLimits``): such a client is cut off and resumes from its
/// cursor, which costs it nothing it has not read.
struct EventStreamPump: Sendable {
    /// Why a stream ended while the client was still there.
    enum Ending: Sendable, Equatable {
        /// The server is stopping.
        case shutdown
        /// The client fell more than ``EventStreamLimits/maxLag`` behind; `resumeAfter` is the last event
        /// it was sent (its cursor).
        case cutOff(reason: String, resumeAfter: String?)
    }

    /// Rows read per query; a stream also sends at most this many events between two looks at the table.
    static let batchSize = 500
    /// A keepalive this often keeps proxies from closing a quiet stream and finds dead clients.
    static let keepaliveInterval: Duration = .seconds(15)

    let outbox: OutboxStore
    let clock: any WharfClock
    let selection: EventSelection
    let limits: EventStreamLimits

    /// Sends what follows `sequence` until the server stops or the client is cut off.
    ///
    /// - Parameters:
    ///   - write: sends events to the client in order; an empty array is a keepalive. It throws
    ///     when the client has gone, which ends the pump with that error.
    ///   - abort: closes the connection; called from another task when a write has stalled for
    ///     ``EventStreamLimits/stallTimeout``, so that the stalled write fails.
    func run(
        from sequence: Int64, write: ([StoredEvent]) async throws -> Void, abort: @escaping @Sendable () -> Void
    ) async throws -> Ending {
        let progress = WriteProgress()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [clock, limits] in
                await Self.watchForStalls(progress, clock: clock, every: limits.stallTimeout, abort: abort)
            }
            defer { group.cancelAll() }
            return try await pump(from: sequence) { events in
                progress.begin()
                defer { progress.end() }
                try await write(events)
            }
        }
    }

    private enum Wake { case committed, keepalive, shutdown }

    private func pump(from sequence: Int64, write: ([StoredEvent]) async throws -> Void) async throws -> Ending {
        var sequence = sequence
        var lastSent: String?
        var caughtUp = false
        while !Task.isCancelled {
            let seen = outbox.feed.commits
            let batch = try await outbox.events(after: sequence, tenantID: selection.tenantID, limit: Self.batchSize)
            if batch.count == Self.batchSize, caughtUp {
                let waiting = try await outbox.eventsWaiting(after: sequence, tenantID: selection.tenantID, upTo: limits.maxLag + 1)
                if waiting > limits.maxLag {
                    return .cutOff(
                        reason: "slow consumer: more than \(limits.maxLag) events waiting; reconnect from the last event id to resume",
                        resumeAfter: lastSent)
                }
            }
            let chosen = batch.filter(selection.accepts)
            sequence = batch.last?.sequence ?? sequence
            if !chosen.isEmpty {
                try await write(chosen)
                lastSent = chosen.last?.id
            }
            if batch.count == Self.batchSize { continue }
            caughtUp = true
            switch await nextWake(after: seen) {
            case .committed: continue
            case .keepalive: try await write([])
            case .shutdown: return .shutdown
            }
        }
        return .shutdown
    }

    /// Whichever comes first: a commit after `seen`, the keepalive time, or the server's shutdown.
    private func nextWake(after seen: UInt64) async -> Wake {
        await withTaskGroup(of: Wake.self) { [outbox, clock] group in
            group.addTask {
                _ = await outbox.feed.wait(after: seen)
                return .committed
            }
            group.addTask {
                try? await clock.sleep(for: Self.keepaliveInterval)
                return .keepalive
            }
            group.addTask {
                // Returns at the server's graceful shutdown (or throws when cancelled first).
                do { try await gracefulShutdown() } catch { return .committed }
                return .shutdown
            }
            let first = await group.next() ?? .shutdown
            group.cancelAll()
            return first
        }
    }

    /// Calls `abort` when one write has been in progress across two looks `interval` apart.
    private static func watchForStalls(
        _ progress: WriteProgress, clock: any WharfClock, every interval: Duration, abort: @Sendable () -> Void
    ) async {
        var stuckOn: UInt64?
        while true {
            do { try await clock.sleep(for: interval) } catch { return }
            let now = progress.current
            if let write = now, write == stuckOn {
                abort()
                return
            }
            stuckOn = now
        }
    }
}

/// Which write a stream is in, if any: the number of the write begun last while it has not ended.
private final class WriteProgress: Sendable {
    private let state = Mutex<(begun: UInt64, writing: Bool)>((0, false))

    func begin() { state.withLock { $0 = ($0.begun + 1, true) } }
    func end() { state.withLock { $0.writing = false } }
    var current: UInt64? { state.withLock { $0.writing ? $0.begun : nil } }
}
