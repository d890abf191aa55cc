import Foundation
import Synchronization

/// Counters and a latency histogram of webhook attempts, for `/metrics`.
public final class DeliveryMetrics: Sendable {
    /// Upper bounds of the latency buckets, in seconds.
    public static let bucketBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15]

    public struct Snapshot: Sendable {
        public var outcomes: [String: Int]
        public var bucketCounts: [Int]
        public var latencySum: Double
        public var latencyCount: Int
    }

    private let state = Mutex(Snapshot(outcomes: [:], bucketCounts: Array(repeating: 0, count: bucketBounds.count), latencySum: 0, latencyCount: 0))

    public init() {}

    func record(outcome: String, duration: Duration) {
        let seconds = duration.timeInterval
        state.withLock { state in
            state.outcomes[outcome, default: 0] += 1
            for (index, bound) in Self.bucketBounds.enumerated() where seconds <= bound {
                state.bucketCounts[index] += 1
            }
            state.latencySum += seconds
            state.latencyCount += 1
        }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Where a session's events went: one endpoint's deliveries of one session's events.
    public struct Route: Hashable, Sendable {
        public var sessionID: String
        public var endpointID: String

        public init(sessionID: String, endpointID: String) {
            self.sessionID = sessionID
            self.endpointID = endpointID
        }
    }

    private let deliveredByRoute = Mutex<[Route: Int]>([:])
    private let wakeups = Atomic<Int>(0)

    func recordWakeup() { wakeups.wrappingAdd(1, ordering: .relaxed) }

    /// How often the delivery loop has looked for work: about once per poll interval when idle,
    /// so a figure that races ahead means the loop is spinning.
    public var loopWakeups: Int { wakeups.load(ordering: .relaxed) }

    func recordDelivered(sessionID: String?, endpointID: String) {
        guard let sessionID else { return }
        deliveredByRoute.withLock { $0[Route(sessionID: sessionID, endpointID: endpointID), default: 0] += 1 }
    }

    /// Events delivered since the process started, per session and endpoint (the watchdog's third
    /// count, after received and committed).
    public var delivered: [Route: Int] { deliveredByRoute.withLock { $0 } }
}
