import Foundation
import Metrics
import Outbox
import Prometheus
import Synchronization

/// Wharf's metrics, recorded through swift-metrics into one Prometheus registry per Wharf, and
/// written out by swift-prometheus at `/metrics`.
///
/// Counters and the latency histogram grow as attempts happen; the gauges (the outbox's queue, the
/// breakers, the sessions) are read from the stores when Prometheus scrapes, by ``collect(_:)``.
/// The names are the ones `/metrics` has always had.
final class WharfMetrics: Sendable {
    static let deliveries = "wharf_deliveries"
    static let oldestPendingAge = "wharf_oldest_pending_delivery_age_seconds"
    static let attempts = "wharf_delivery_attempts_total"
    static let attemptDuration = "wharf_delivery_attempt_duration_seconds"
    static let breakerState = "wharf_endpoint_breaker_state"
    static let sessions = "wharf_sessions"
    /// The watchdog's counts per session, since the process started (``SessionTraffic``).
    static let received = "wharf_session_events_received_total"
    static let committed = "wharf_session_events_committed_total"
    static let delivered = "wharf_session_events_delivered_total"
    /// How often the deliverer's loop looked for work (``DeliveryMetrics/loopWakeups``).
    static let loopWakeups = "wharf_delivery_loop_wakeups_total"
    /// The outcomes of an attempt, as the deliverer names them.
    static let outcomes = ["delivered", "retry", "failed"]

    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// Webhook attempt latency, one observation per attempt (see ``MeteredWebhookSender``).
    let attemptDuration: Metrics.Timer
    private let attemptCounters: [String: Metrics.Counter]
    private let deliveryGauges: [DeliveryStatus: Metrics.Gauge]
    private let sessionGauges: [SessionState: Metrics.Gauge]
    private let oldestPendingGauge: Metrics.Gauge
    private let state = Mutex(State())

    private struct State {
        /// The outcome counts of ``DeliveryMetrics`` already added to the counters.
        var countedOutcomes: [String: Int] = [:]
        /// One gauge per endpoint that exists; a deleted endpoint's gauge is destroyed.
        var breakerGauges: [String: Metrics.Gauge] = [:]
        /// Labelled counters kept from totals, with the total each already shows.
        var totals: [TotalKey: (counter: Metrics.Counter, counted: Int)] = [:]
    }

    /// One labelled counter: its name and its dimensions, flattened.
    private struct TotalKey: Hashable {
        var label: String
        var dimensions: [String]
    }

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[Self.attemptDuration] = DeliveryMetrics.bucketBounds.map { .milliseconds($0 * 1000) }
        self.factory = factory
        attemptDuration = Metrics.Timer(label: Self.attemptDuration, factory: factory)
        attemptCounters = Dictionary(
            uniqueKeysWithValues: Self.outcomes.map { ($0, Metrics.Counter(label: Self.attempts, dimensions: [("outcome", $0)], factory: factory)) })
        deliveryGauges = Dictionary(
            uniqueKeysWithValues: DeliveryStatus.allCases.map {
                ($0, Metrics.Gauge(label: Self.deliveries, dimensions: [("status", $0.rawValue)], factory: factory))
            })
        sessionGauges = Dictionary(
            uniqueKeysWithValues: SessionState.allCases.map {
                ($0, Metrics.Gauge(label: Self.sessions, dimensions: [("status", $0.rawValue)], factory: factory))
            })
        oldestPendingGauge = Metrics.Gauge(label: Self.oldestPendingAge, factory: factory)
    }

    /// Reads the gauges' values from the stores and brings the attempt counters up to date.
    func collect(_ services: GatewayServices) async throws {
        let (counts, oldest) = try await services.outbox.queueSnapshot()
        for (status, gauge) in deliveryGauges { gauge.record(counts[status] ?? 0) }
        oldestPendingGauge.record(oldest.map { max(0, services.clock.now.timeIntervalSince($0)) } ?? 0)

        var sessionCounts: [SessionState: Int] = [:]
        for session in try await services.store.allSessions() { sessionCounts[session.status, default: 0] += 1 }
        for (status, gauge) in sessionGauges { gauge.record(sessionCounts[status] ?? 0) }

        var breakers: [(endpoint: WebhookEndpoint, value: Int)] = []
        for endpoint in try await services.outbox.allEndpoints() {
            let value =
                switch services.delivery.currentBreaker(of: endpoint).state {
                case .closed: 0
                case .open: 1
                case .halfOpen: 2
                case .disabled: 3
                }
            breakers.append((endpoint, value))
        }
        let outcomes = services.delivery.metrics.snapshot.outcomes
        let factory = factory
        let (increments, gone) = state.withLock { state -> ([String: Int], [Metrics.Gauge]) in
            var increments: [String: Int] = [:]
            for outcome in Self.outcomes {
                let total = outcomes[outcome] ?? 0
                increments[outcome] = total - (state.countedOutcomes[outcome] ?? 0)
                state.countedOutcomes[outcome] = total
            }
            var current: [String: Metrics.Gauge] = [:]
            for (endpoint, value) in breakers {
                let gauge =
                    state.breakerGauges[endpoint.id]
                    ?? Metrics.Gauge(
                        label: Self.breakerState, dimensions: [("endpoint", endpoint.id), ("tenant", endpoint.tenantId)],
                        factory: factory)
                gauge.record(value)
                current[endpoint.id] = gauge
            }
            let gone = state.breakerGauges.filter { current[$0.key] == nil }.map(\.value)
            state.breakerGauges = current
            return (increments, gone)
        }
        for (outcome, amount) in increments where amount > 0 { attemptCounters[outcome]?.increment(by: amount) }
        for gauge in gone { gauge.destroy() }

        var totals: [(String, [(String, String)], Int)] = []
        for (session, counts) in services.sessions.traffic.all {
            totals.append((Self.received, [("session", session)], counts.received))
            totals.append((Self.committed, [("session", session)], counts.committed))
        }
        let endpoints = Set(breakers.map(\.endpoint.id))
        for (route, count) in services.delivery.metrics.delivered where endpoints.contains(route.endpointID) {
            totals.append((Self.delivered, [("session", route.sessionID), ("endpoint", route.endpointID)], count))
        }
        totals.append((Self.loopWakeups, [], services.delivery.metrics.loopWakeups))
        advance(totals)
    }

    /// Brings each labelled counter up to its total (the sources count since the process started,
    /// as a Prometheus counter does); a counter no longer in `totals` (a deleted endpoint's) is
    /// destroyed, as the endpoint's breaker gauge is.
    private func advance(_ totals: [(label: String, dimensions: [(String, String)], total: Int)]) {
        let factory = factory
        let (increments, gone) = state.withLock { state -> ([(Metrics.Counter, Int)], [Metrics.Counter]) in
            var current: [TotalKey: (counter: Metrics.Counter, counted: Int)] = [:]
            let increments = totals.compactMap { label, dimensions, total -> (Metrics.Counter, Int)? in
                let key = TotalKey(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
                let known = state.totals[key] ?? (Metrics.Counter(label: label, dimensions: dimensions, factory: factory), 0)
                current[key] = (known.counter, max(known.counted, total))
                return total > known.counted ? (known.counter, total - known.counted) : nil
            }
            let gone = state.totals.filter { current[$0.key] == nil }.map(\.value.counter)
            state.totals = current
            return (increments, gone)
        }
        for (counter, amount) in increments { counter.increment(by: amount) }
        for counter in gone { counter.destroy() }
    }

    /// The Prometheus text exposition of everything recorded.
    func exposition() -> String { registry.emitToString() }
}
