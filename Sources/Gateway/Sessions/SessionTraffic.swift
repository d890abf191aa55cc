import Foundation
import Synchronization

/// What each session's engine handed over from WhatsApp (messages, receipts and the other inbound
/// events) and how much of it the outbox committed, since the process started: the watchdog's
/// first two counts; the deliverer keeps the third (``DeliveryMetrics/delivered``).
///
/// "It arrived on the phone but no webhook fired" becomes visible as a gap: received but not
/// committed (the store is failing, the batch is stuck) or committed but not delivered (the
/// endpoint or the queue is). A batch whose commit failed is counted apart: it was not
/// acknowledged, so WhatsApp delivers it again and it is received a second time.
public final class SessionTraffic: Sendable {
    public struct Counts: Sendable, Equatable {
        public var tenantID = ""
        public var received = 0
        public var committed = 0
        /// Received, but the commit failed (and WhatsApp will deliver it again).
        public var notStored = 0
        public var lastReceivedAt: Date?
        /// When the oldest batch still being committed arrived; `nil` when none is.
        public var oldestUncommittedAt: Date?

        /// Received and neither committed nor failed: the batches being committed now.
        public var uncommitted: Int { received - committed - notStored }
    }

    /// One handed-over batch, until it is committed or its commit fails.
    struct Batch: Sendable {
        let sessionID: String
        let number: UInt64
        let count: Int
    }

    private struct Entry {
        var counts = Counts()
        var inFlight: [UInt64: Date] = [:]
    }

    private let state = Mutex<(next: UInt64, sessions: [String: Entry])>((0, [:]))

    public init() {}

    func received(_ count: Int, session sessionID: String, tenant tenantID: String, at time: Date) -> Batch {
        state.withLock { state in
            state.next += 1
            var entry = state.sessions[sessionID] ?? Entry()
            entry.counts.tenantID = tenantID
            entry.counts.received += count
            entry.counts.lastReceivedAt = time
            entry.inFlight[state.next] = time
            entry.counts.oldestUncommittedAt = entry.inFlight.values.min()
            state.sessions[sessionID] = entry
            return Batch(sessionID: sessionID, number: state.next, count: count)
        }
    }

    func committed(_ batch: Batch) { finish(batch) { $0.committed += batch.count } }

    func notStored(_ batch: Batch) { finish(batch) { $0.notStored += batch.count } }

    private func finish(_ batch: Batch, _ count: (inout Counts) -> Void) {
        state.withLock { state in
            guard var entry = state.sessions[batch.sessionID] else { return }
            count(&entry.counts)
            entry.inFlight[batch.number] = nil
            entry.counts.oldestUncommittedAt = entry.inFlight.values.min()
            state.sessions[batch.sessionID] = entry
        }
    }

    public func counts(session sessionID: String) -> Counts { state.withLock { $0.sessions[sessionID]?.counts ?? Counts() } }

    public var all: [String: Counts] { state.withLock { $0.sessions.mapValues(\.counts) } }
}
