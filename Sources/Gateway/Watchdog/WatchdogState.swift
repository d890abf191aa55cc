import Foundation
import Outbox

/// Decides which alerts hold from what the watchdog saw, and which were raised or cleared since
/// the last look. No I/O: ``Watchdog`` gathers the observation and publishes the transitions.
struct WatchdogState: Sendable {
    /// One session's inbound batches still being committed.
    struct Uncommitted: Sendable {
        var sessionID: String
        var tenantID: String
        var count: Int
        var oldest: Date
    }

    /// One session's deliveries still waiting for one endpoint, and how that endpoint looks.
    struct Waiting: Sendable {
        var deliveries: OutboxStore.WaitingDeliveries
        var endpointURL: String
        /// Enabled with its breaker closed: Wharf believes deliveries to it should be going out.
        var endpointHealthy: Bool
    }

    struct Observation: Sendable {
        var uncommitted: [Uncommitted] = []
        /// `nil` when the outbox could not be read: the delivery alerts stay as they were.
        var waiting: [Waiting]? = nil
    }

    enum Transition: Sendable, Equatable {
        case raised(WatchdogAlert)
        case cleared(WatchdogAlert)
    }

    let limits: WatchdogLimits
    /// The alerts that hold, as of the last observation (refreshed counts included).
    private(set) var active: [WatchdogAlert.Key: WatchdogAlert] = [:]

    init(limits: WatchdogLimits) { self.limits = limits }

    /// Takes a new observation at `now`; returns the alerts raised and cleared by it, raised
    /// ones first, each once per episode.
    mutating func observe(_ observation: Observation, now: Date) -> [Transition] {
        var holding: [WatchdogAlert.Key: WatchdogAlert] = [:]
        let commitCutoff = now.addingTimeInterval(-limits.commitWithin.timeInterval)
        for batch in observation.uncommitted where batch.count > 0 && batch.oldest <= commitCutoff {
            let key = WatchdogAlert.Key(kind: .uncommitted, sessionID: batch.sessionID, endpointID: nil)
            holding[key] = WatchdogAlert(key: key, tenantID: batch.tenantID, waiting: batch.count, since: batch.oldest, endpointURL: nil)
        }
        let deliveryCutoff = now.addingTimeInterval(-limits.deliverWithin.timeInterval)
        if observation.waiting == nil {
            for (key, alert) in active where key.kind == .undelivered { holding[key] = alert }
        }
        for route in observation.waiting ?? [] where route.endpointHealthy {
            let waiting = route.deliveries
            guard waiting.count > 0, waiting.oldest <= deliveryCutoff else { continue }
            let key = WatchdogAlert.Key(kind: .undelivered, sessionID: waiting.sessionID, endpointID: waiting.endpointID)
            holding[key] = WatchdogAlert(
                key: key, tenantID: waiting.tenantID, waiting: waiting.count, since: waiting.oldest, endpointURL: route.endpointURL)
        }
        let raised = holding.filter { active[$0.key] == nil }.values.sorted(by: Self.order).map(Transition.raised)
        let cleared = active.filter { holding[$0.key] == nil }.values.sorted(by: Self.order).map(Transition.cleared)
        active = holding
        return raised + cleared
    }

    /// Oldest first, so that events and banners read in the order things went wrong.
    static func order(_ a: WatchdogAlert, _ b: WatchdogAlert) -> Bool {
        (a.since, a.sessionID, a.key.endpointID ?? "") < (b.since, b.sessionID, b.key.endpointID ?? "")
    }
}
