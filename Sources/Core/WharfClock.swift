import Foundation

/// A source of wall-clock time that can also sleep.
///
/// Every piece of Wharf that waits (retry backoff, typing delays, reconnects, login lockouts) asks
/// this protocol instead of `Date()` or `Task.sleep`, so tests drive time by hand with
/// ``ManualClock`` and never depend on how fast the machine is.
public protocol WharfClock: Sendable {
    /// The current time.
    var now: Date { get }
    /// Suspends until `deadline` has passed on this clock, or throws `CancellationError`.
    func sleep(until deadline: Date) async throws
}

extension WharfClock {
    /// Suspends for `duration` on this clock.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now.addingTimeInterval(duration.timeInterval))
    }
}

/// The real clock: `Date()` and `Task.sleep`.
public struct SystemClock: WharfClock {
    public init() {}

    public var now: Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let interval = deadline.timeIntervalSinceNow
        if interval > 0 {
            try await Task.sleep(for: .seconds(interval))
        } else {
            try Task.checkCancellation()
        }
    }
}

extension Duration {
    /// The duration in seconds as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// Milliseconds, rounded toward zero.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
