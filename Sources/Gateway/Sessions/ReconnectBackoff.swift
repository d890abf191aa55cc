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
        let exponent = min(attempt, 30)
        attempt += 1
        let raw = min(base.timeInterval * Double(1 << exponent), maximum.timeInterval)
        let factor = 1 + Double.random(in: -jitter...jitter, using: &random)
        return .milliseconds(Int64((raw * factor * 1000).rounded()))
    }

    /// Starts over after a successful connection.
    public mutating func reset() { attempt = 0 }
}
