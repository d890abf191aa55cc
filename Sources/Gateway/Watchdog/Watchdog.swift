import Foundation
import Logging
import Outbox
import ServiceLifecycle
import Synchronization
import WharfCore

/// Looks every few seconds for events that went quiet on their way from WhatsApp to a webhook,
/// raises a `session.alert` event (and a console banner) when it finds some, and clears it once
/// they moved.
///
/// What it reads: the session manager's ``SessionTraffic`` (batches still being committed, which
/// needs no database, so a failing store is still noticed) and the outbox's waiting deliveries
/// with each endpoint's breaker. What to make of them is ``WatchdogState``'s.
///
/// It also probes connected sessions that have gone quiet (``LivenessState``), since "connected"
/// on a dead connection is the other way messages go missing; the session manager reconnects
/// those that do not answer.
public final class Watchdog: Service, Sendable {
    private let sessions: SessionManager
    private let traffic: SessionTraffic
    private let outbox: OutboxStore
    private let delivery: DeliveryService
    private let sink: any SessionEventSink
    private let clock: any WharfClock
    private let logger: Logger
    private let state: Mutex<WatchdogState>
    private let liveness: Mutex<LivenessState>
    /// The endpoints in trouble as of the last look.
    private let troubled = Mutex<[EndpointTrouble]>([])

    public init(
        sessions: SessionManager, outbox: OutboxStore, delivery: DeliveryService, sink: any SessionEventSink, clock: any WharfClock,
        limits: WatchdogLimits, logger: Logger
    ) {
        self.sessions = sessions
        traffic = sessions.traffic
        self.outbox = outbox
        self.delivery = delivery
        self.sink = sink
        self.clock = clock
        self.logger = logger
        state = Mutex(WatchdogState(limits: limits))
        liveness = Mutex(LivenessState(quietFor: limits.quietFor))
    }

    public func run() async throws {
        let limits = state.withLock { $0.limits }
        try await cancelOnGracefulShutdown {
            // Probes run beside the looks (one can wait `probeTimeout`) and end with them.
            await withDiscardingTaskGroup { group in
                while true {
                    do { try await self.clock.sleep(for: limits.interval) } catch { return }
                    await self.check()
                    let quiet = await self.sessions.connectedSessions()
                    for session in self.liveness.withLock({ $0.due(quiet, now: self.clock.now) }) {
                        group.addTask {
                            await self.sessions.checkLiveness(of: session.sessionID, quietFor: limits.quietFor, within: limits.probeTimeout)
                            self.liveness.withLock { $0.finished(session.sessionID) }
                        }
                    }
                }
            }
        }
    }

    /// The alerts that hold now, oldest first; only `tenantID`'s when given.
    public func alerts(tenantID: String?) -> [WatchdogAlert] {
        state.withLock { $0.active.values.filter { tenantID == nil || $0.tenantID == tenantID }.sorted(by: WatchdogState.order) }
    }

    /// The endpoints that have failed for a while or are disabled, as of the last look; only
    /// `tenantID`'s when given.
    public func troubledEndpoints(tenantID: String?) -> [EndpointTrouble] {
        troubled.withLock { $0.filter { tenantID == nil || $0.tenantID == tenantID } }
    }

    /// Forgets an endpoint's trouble at once (it was re-enabled), rather than at the next look.
    public func endpointRevived(_ endpointID: String) {
        troubled.withLock { $0.removeAll { $0.endpointID == endpointID } }
    }

    /// One look: observe, decide, announce.
    func check() async {
        let now = clock.now
        let (observation, endpoints) = await observe(now: now)
        troubled.withLock { $0 = endpoints }
        let transitions = state.withLock { $0.observe(observation, now: now) }
        for transition in transitions {
            let (alert, raised) =
                switch transition {
                case .raised(let alert): (alert, true)
                case .cleared(let alert): (alert, false)
                }
            let metadata: Logger.Metadata = [
                "session": "\(alert.sessionID)", "alert": "\(alert.kind.rawValue)", "endpoint": "\(alert.key.endpointID ?? "-")",
            ]
            if raised {
                logger.warning("\(alert.message)", metadata: metadata)
            } else {
                logger.notice("watchdog alert cleared", metadata: metadata)
            }
            do {
                try await sink.publish(
                    SessionEvent(sessionID: alert.sessionID, tenantID: alert.tenantID, kind: .alert(alert, raised: raised), at: now))
            } catch {
                // The banner shows it regardless; the store is likely what is failing.
                logger.error("session.alert event not stored", metadata: metadata.merging(["error": "\(error)"]) { a, _ in a })
            }
        }
    }

    private func observe(now: Date) async -> (WatchdogState.Observation, [EndpointTrouble]) {
        var observation = WatchdogState.Observation()
        var trouble: [EndpointTrouble] = []
        for (sessionID, counts) in traffic.all {
            guard let oldest = counts.oldestUncommittedAt, counts.uncommitted > 0 else { continue }
            observation.uncommitted.append(
                .init(sessionID: sessionID, tenantID: counts.tenantID, count: counts.uncommitted, oldest: oldest))
        }
        do {
            let all = try await outbox.allEndpoints()
            let endpoints = Dictionary(all.map { ($0.id, $0) }) { first, _ in first }
            observation.waiting = try await outbox.waitingDeliveries().compactMap { waiting in
                guard let endpoint = endpoints[waiting.endpointID] else { return nil }
                let healthy =
                    switch delivery.currentBreaker(of: endpoint).state {
                    case .closed: true
                    case .open, .halfOpen, .disabled: false
                    }
                return .init(deliveries: waiting, endpointURL: endpoint.url, endpointHealthy: healthy)
            }
            trouble = EndpointTrouble.find(
                in: all, breaker: delivery.currentBreaker(of:), now: now, after: state.withLock { $0.limits.deliverWithin })
            let errors = try await outbox.lastErrors(endpointIDs: trouble.map(\.endpointID))
            for index in trouble.indices { trouble[index].lastError = errors[trouble[index].endpointID] }
        } catch {
            // Unknown this time: the delivery alerts and endpoint banners stay as they were.
            logger.error("watchdog could not read the waiting deliveries", metadata: ["error": "\(error)"])
            trouble = troubled.withLock { $0 }
        }
        return (observation, trouble)
    }
}
