/// When the watchdog speaks up (`WATCHDOG_*`).
public struct WatchdogLimits: Sendable, Equatable {
    /// `WATCHDOG_COMMIT_SECONDS`: how long a received message may wait to be committed. A commit
    /// takes milliseconds; seconds mean the store is failing or stuck.
    public var commitWithin: Duration = .seconds(10)
    /// `WATCHDOG_DELIVERY_SECONDS`: how long a committed event may wait for an endpoint that looks
    /// healthy. Retries after failures are the breaker's business; this catches silence.
    public var deliverWithin: Duration = .seconds(300)
    /// `LIVENESS_QUIET_SECONDS`: how long a connected session may go without any event before it
    /// is probed (``SessionManager/checkLiveness(of:quietFor:within:)``); zero turns probing off.
    /// A quiet account is normal, so a probe that is answered is all that happens.
    public var quietFor: Duration = .seconds(120)
    /// `LIVENESS_PROBE_SECONDS`: how long a probe waits for its answer before the session is
    /// reconnected.
    public var probeTimeout: Duration = .seconds(20)
    /// How often the watchdog looks.
    public var interval: Duration = .seconds(5)

    public init() {}
}
