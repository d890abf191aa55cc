/// When the watchdog speaks up (`WATCHDOG_*`).
public struct WatchdogLimits: Sendable, Equatable {
    /// `WATCHDOG_COMMIT_SECONDS`: how long a received message may wait to be committed. A commit
    /// takes milliseconds; seconds mean the store is failing or stuck.
    public var commitWithin: Duration = .seconds(10)
    /// `WATCHDOG_DELIVERY_SECONDS`: how long a committed event may wait for an endpoint that looks
    /// healthy. Retries after failures are the breaker's business; this catches silence.
    public var deliverWithin: Duration = .seconds(300)
    /// How often the watchdog looks.
    public var interval: Duration = .seconds(5)

    public init() {}
}
