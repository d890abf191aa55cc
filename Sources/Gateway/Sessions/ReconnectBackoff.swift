import WharfCore

/// How long to wait before reconnecting a dropped session: doubling from `base` up to `maximum`,
/// with ±`jitter` so that a server restart does not bring every session back in the same second.
///
/// A pure value: it holds the attempt count and a seeded generator, nothing else.
public struct ReconnectBackoff: Sendable {
    public var base: Duration = .seconds(1)
    public var maximum: Duration = .seconds(60)
    public var jitter: Double = 0.2
    public private(set) var attempt = 0
    private var random: SeededRandom

    public init(seed: UInt64 = UInt64.random(in: .min ... .max)) {
        random = SeededRandom(seed: seed)
    }

    /// The wait before the next attempt; each call counts one attempt.
    public mutating func nextDelay() -> Duration {
        defer { attempt += 1 }
        return Self.delay(attempt: attempt, base: base, maximum: maximum, jitter: jitter, using: &random)
    }

    /// `base` doubled `attempt` times (0 for the first wait), at most `maximum`, times 1 ± `jitter`:
    /// the rule, for callers that keep the attempt count elsewhere (a send job keeps it in its row).
    public static func delay(
        attempt: Int, base: Duration, maximum: Duration, jitter: Double, using random: inout some RandomNumberGenerator
    ) -> Duration {
        let raw = min(base.timeInterval * Double(1 << min(max(attempt, 0), 30)), maximum.timeInterval)
        let factor = 1 + Double.random(in: -jitter...jitter, using: &random)
        return .milliseconds(Int64((raw * factor * 1000).rounded()))
    }

    /// Starts over after a successful connection.
    public mutating func reset() { attempt = 0 }
}
