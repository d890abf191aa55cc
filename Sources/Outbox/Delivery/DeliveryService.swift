import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WharfCore

/// Drains the outbox: claims due deliveries, signs and POSTs them through a ``WebhookSender``,
/// records every attempt, and schedules retries, holding endpoints whose circuit is open.
///
/// At most `perEndpointConcurrency` requests are in flight per endpoint and `maximumInFlight` in
/// all. On graceful shutdown it stops claiming, lets the requests in flight finish, and hands
/// claimed-but-unsent deliveries back to the queue.
public final class DeliveryService: Service, Sendable {
    public struct Options: Sendable {
        public var retryPolicy: RetryPolicy = .standard
        public var breaker = CircuitBreaker.Configuration()
        public var perEndpointConcurrency = 8
        public var maximumInFlight = 256
        public var lease: Duration = .seconds(300)
        /// The longest idle wait before looking for due deliveries again.
        public var pollInterval: Duration = .seconds(1)
        /// How long delivered rows (and their attempt log) are kept.
        public var retention: Duration = .seconds(7 * 86400)
        public var pruneInterval: Duration = .seconds(3600)
        public var userAgent = "Wharf-Webhooks/1.0"
        public init() {}
    }

    /// An endpoint was disabled: by a 410 or after failing for too long.
    public typealias DisabledHandler = @Sendable (_ endpoint: WebhookEndpoint, _ reason: String) async -> Void

    private struct State {
        var endpoints: [String: WebhookEndpoint] = [:]
        var breakers: [String: CircuitBreaker] = [:]
        var inFlight: [String: Int] = [:]
        var backlog: [String: [ClaimedDelivery]] = [:]
        var totalInFlight = 0
        var backlogCount = 0
        var random: SeededRandom
        var lastPrune: Date = .distantPast
        /// When each endpoint's health was last written, so a stream of successes costs one write a second.
        var healthSavedAt: [String: Date] = [:]
    }

    private let store: OutboxStore
    private let sender: any WebhookSender
    private let clock: any WharfClock
    private let options: Options
    private let logger: Logger
    private let onDisabled: DisabledHandler
    private let state: Mutex<State>
    private let signal = WakeSignal()
    public let metrics = DeliveryMetrics()

    public init(
        store: OutboxStore, sender: any WebhookSender, clock: any WharfClock, options: Options = .init(),
        seed: UInt64 = UInt64.random(in: .min ... .max), logger: Logger = Logger(label: "wharf.delivery"),
        onDisabled: @escaping DisabledHandler = { _, _ in }
    ) {
        self.store = store
        self.sender = sender
        self.clock = clock
        self.options = options
        self.logger = logger
        self.onDisabled = onDisabled
        state = Mutex(State(random: SeededRandom(seed: seed)))
    }

    /// Tells the deliverer there may be new work (an event was accepted, a retry requested).
    public func wake() { signal.fire() }

    /// Forgets cached endpoints (after they were created, changed or re-enabled).
    public func endpointsChanged() {
        state.withLock { state in
            state.endpoints = [:]
            state.breakers = [:]
        }
        signal.fire()
    }

    /// The in-memory breaker of an endpoint, for the health view.
    public func breaker(for endpointID: String) -> CircuitBreaker? {
        state.withLock { $0.breakers[endpointID] }
    }

    /// The endpoint's breaker as the deliverer sees it now: its in-memory one, else the stored one
    /// with the deliverer's thresholds.
    public func currentBreaker(of endpoint: WebhookEndpoint) -> CircuitBreaker {
        breaker(for: endpoint.id) ?? endpoint.breaker(configuration: options.breaker)
    }

    public func run() async throws {
        let recovered = try await store.recoverInFlight(now: clock.now)
        if recovered > 0 { logger.info("recovered deliveries left in flight", metadata: ["count": "\(recovered)"]) }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    do {
                        try await pruneIfDue()
                        let claimed = try await claimIfRoom()
                        let started = dispatch(into: &group)
                        if claimed == 0 && started == 0 { try await waitForWork() }
                    } catch is CancellationError {
                        break
                    } catch {
                        logger.error("delivery loop failed; retrying", metadata: ["error": "\(error)"])
                        try? await clock.sleep(for: options.pollInterval)
                    }
                }
            }
            await releaseBacklog()
            sender.shutdown()
        } onGracefulShutdown: {
            self.signal.fire()
        }
    }

    // MARK: Claiming and dispatching

    private func claimIfRoom() async throws -> Int {
        let now = clock.now
        try await loadEndpointsIfNeeded()
        let (room, held) = state.withLock { state in
            (options.maximumInFlight - state.totalInFlight - state.backlogCount, Self.held(state, now: now, options: options).endpoints)
        }
        // Claim in batches: a claim is a write, so topping up one slot at a time would cost a
        // write per delivery. Claim when a good share of the room is free, or when idle.
        let isIdle = state.withLock { $0.totalInFlight + $0.backlogCount == 0 }
        guard room > 0, isIdle || room >= min(64, options.maximumInFlight / 4) else { return 0 }
        let claimed = try await store.claim(now: now, lease: options.lease, limit: room, excluding: held)
        guard !claimed.isEmpty else { return 0 }
        if claimed.contains(where: { id in state.withLock { $0.endpoints[id.endpointID] == nil } }) {
            try await loadEndpoints()
        }
        state.withLock { state in
            for delivery in claimed {
                state.backlog[delivery.endpointID, default: []].append(delivery)
                state.backlogCount += 1
            }
        }
        return claimed.count
    }

    /// Starts sends for endpoints with room; returns how many started.
    private func dispatch(into group: inout DiscardingTaskGroup) -> Int {
        let now = clock.now
        var toSend: [(ClaimedDelivery, WebhookEndpoint)] = []
        var toRelease: [ClaimedDelivery] = []
        state.withLock { state in
            for (endpointID, queue) in state.backlog where !queue.isEmpty {
                var queue = queue
                guard let endpoint = state.endpoints[endpointID] else {
                    toRelease += queue
                    state.backlogCount -= queue.count
                    state.backlog[endpointID] = nil
                    continue
                }
                var breaker = state.breakers[endpointID] ?? endpoint.breaker(configuration: options.breaker)
                while !queue.isEmpty, state.inFlight[endpointID, default: 0] < options.perEndpointConcurrency {
                    let admission = breaker.admission(now: now)
                    if admission == .hold {
                        toRelease += queue
                        state.backlogCount -= queue.count
                        queue.removeAll()
                        break
                    }
                    let delivery = queue.removeFirst()
                    state.backlogCount -= 1
                    state.inFlight[endpointID, default: 0] += 1
                    state.totalInFlight += 1
                    toSend.append((delivery, endpoint))
                }
                state.breakers[endpointID] = breaker
                state.backlog[endpointID] = queue.isEmpty ? nil : queue
            }
        }
        for (delivery, endpoint) in toSend {
            group.addTask { await self.deliver(delivery, to: endpoint) }
        }
        if !toRelease.isEmpty {
            group.addTask {
                for delivery in toRelease { await self.release(delivery) }
            }
        }
        return toSend.count
    }

    /// The endpoints not to claim for now (busy, disabled, or behind an open breaker) and the
    /// earliest time one of those breakers lets a probe through.
    private static func held(_ state: State, now: Date, options: Options) -> (endpoints: Set<String>, nextProbe: Date?) {
        var held: Set<String> = []
        var nextProbe: Date?
        for (id, endpoint) in state.endpoints {
            let busy = state.inFlight[id, default: 0] + state.backlog[id, default: []].count
            if busy >= options.perEndpointConcurrency || !endpoint.isEnabled { held.insert(id) }
            if let breaker = state.breakers[id] {
                switch breaker.state {
                case .disabled, .halfOpen: held.insert(id)
                case .open(_, let probe) where probe > now:
                    held.insert(id)
                    nextProbe = min(nextProbe ?? probe, probe)
                default: break
                }
            }
        }
        return (held, nextProbe)
    }

    /// Sleeps until the next delivery of an endpoint that is not held falls due, a held breaker
    /// lets a probe through, or something wakes the deliverer. Held endpoints' deliveries stay due
    /// in the table; counting them would wake the loop at once, again and again (a busy loop for
    /// as long as a breaker is open).
    private func waitForWork() async throws {
        let now = clock.now
        let (held, nextProbe) = state.withLock { Self.held($0, now: now, options: options) }
        var deadline = now.addingTimeInterval(options.pollInterval.timeInterval)
        if let nextProbe, nextProbe < deadline { deadline = nextProbe }
        if let due = try await store.nextDueDate(excluding: held), due < deadline { deadline = max(due, now) }
        await signal.wait(until: deadline, clock: clock)
        metrics.recordWakeup()
    }

    // MARK: One attempt

    private func deliver(_ delivery: ClaimedDelivery, to endpoint: WebhookEndpoint) async {
        let startedAt = clock.now
        let request = makeRequest(delivery, endpoint: endpoint, now: startedAt)
        let response = await sender.send(request)
        let now = clock.now
        let decision = state.withLock { state in
            options.retryPolicy.decide(attempt: delivery.attempt, outcome: response.outcome, now: now, random: &state.random)
        }
        let success = response.outcome.isSuccess
        var disabledReason: String?
        var mustSaveHealth = !success
        let breaker = state.withLock { state -> CircuitBreaker in
            var breaker = state.breakers[endpoint.id] ?? endpoint.breaker(configuration: options.breaker)
            let transition = breaker.record(success: success, now: now)
            if transition != nil || now.timeIntervalSince(state.healthSavedAt[endpoint.id] ?? .distantPast) >= 1 {
                mustSaveHealth = true
            }
            if mustSaveHealth { state.healthSavedAt[endpoint.id] = now }
            if case .disabled(let since) = transition {
                disabledReason = "failing since \(since.iso8601Text) (72 hours); disabled automatically"
            }
            if case .disableEndpoint(let reason) = decision {
                breaker = CircuitBreaker(state: .disabled, configuration: breaker.configuration)
                disabledReason = reason
            }
            state.breakers[endpoint.id] = breaker
            state.inFlight[endpoint.id, default: 1] -= 1
            state.totalInFlight -= 1
            if let disabledReason {
                state.endpoints[endpoint.id]?.isEnabled = false
                state.endpoints[endpoint.id]?.disabledReason = disabledReason
            }
            return breaker
        }
        let outcome =
            switch decision {
            case .delivered: "delivered"
            case .retry: "retry"
            case .fail, .disableEndpoint: "failed"
            }
        metrics.record(outcome: outcome, duration: response.duration)
        let result = AttemptResult(
            deliveryID: delivery.id, endpointID: endpoint.id, attempt: delivery.attempt, startedAt: startedAt,
            duration: response.duration, httpStatus: response.status, error: response.error,
            responseSnippet: response.body.isEmpty ? nil : response.body, decision: decision)
        do {
            try await store.record(result, now: now)
            if case .delivered = decision { metrics.recordDelivered(sessionID: delivery.sessionID, endpointID: endpoint.id) }
            if mustSaveHealth || disabledReason != nil {
                try await store.saveHealth(
                    endpointID: endpoint.id, breaker: breaker, success: success, now: now, disabledReason: disabledReason)
            }
        } catch {
            logger.error("could not record a delivery attempt", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
        logger.debug(
            "webhook attempt", metadata: ["delivery": "\(delivery.id)", "attempt": "\(delivery.attempt)", "outcome": "\(outcome)"])
        if let disabledReason {
            logger.warning("webhook endpoint disabled", metadata: ["endpoint": "\(endpoint.id)", "reason": "\(disabledReason)"])
            var disabled = endpoint
            disabled.isEnabled = false
            disabled.disabledReason = disabledReason
            await onDisabled(disabled, disabledReason)
        }
        signal.fire()
    }

    /// The POST for one delivery: Standard Webhooks headers, then the endpoint's own auth.
    func makeRequest(_ delivery: ClaimedDelivery, endpoint: WebhookEndpoint, now: Date) -> WebhookRequest {
        let timestamp = Int64(now.timeIntervalSince1970)
        var headers: [(String, String)] = [
            ("Content-Type", "application/json"),
            ("User-Agent", options.userAgent),
            ("webhook-id", delivery.eventID),
            ("webhook-timestamp", String(timestamp)),
            (
                "webhook-signature",
                WebhookSignature.header(
                    id: delivery.eventID, timestamp: timestamp, body: delivery.payload, secrets: endpoint.signingSecrets(now: now))
            ),
        ]
        if let name = endpoint.headerName, let value = endpoint.headerValue, !name.isEmpty {
            headers.append((name, value))
        }
        if let user = endpoint.basicUser, let password = endpoint.basicPassword {
            headers.append(("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()))
        }
        return WebhookRequest(url: endpoint.url, headers: headers, body: delivery.payload)
    }

    // MARK: Housekeeping

    private func loadEndpointsIfNeeded() async throws {
        if state.withLock({ $0.endpoints.isEmpty }) { try await loadEndpoints() }
    }

    private func loadEndpoints() async throws {
        let endpoints = try await store.allEndpoints()
        state.withLock { state in
            for endpoint in endpoints {
                state.endpoints[endpoint.id] = endpoint
                if state.breakers[endpoint.id] == nil { state.breakers[endpoint.id] = endpoint.breaker(configuration: options.breaker) }
            }
        }
    }

    private func pruneIfDue() async throws {
        let now = clock.now
        let isDue = state.withLock { state -> Bool in
            guard now.timeIntervalSince(state.lastPrune) >= options.pruneInterval.timeInterval else { return false }
            state.lastPrune = now
            return true
        }
        guard isDue else { return }
        let pruned = try await store.prune(deliveredBefore: now.addingTimeInterval(-options.retention.timeInterval))
        if pruned > 0 { logger.debug("pruned delivered rows", metadata: ["count": "\(pruned)"]) }
    }

    private func releaseBacklog() async {
        let backlog = state.withLock { state -> [ClaimedDelivery] in
            defer {
                state.backlog = [:]
                state.backlogCount = 0
            }
            return state.backlog.values.flatMap { $0 }
        }
        for delivery in backlog { await release(delivery) }
    }

    /// Hands a held delivery back; if that cannot be written, its lease runs out and it is claimed
    /// again anyway, so the failure is only logged.
    private func release(_ delivery: ClaimedDelivery) async {
        do {
            try await store.release(delivery, now: clock.now)
        } catch {
            logger.error("could not release a held delivery", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
    }
}

extension Date {
    var iso8601Text: String { ISO8601DateFormatter().string(from: self) }
}
