import Foundation
import WharfCore

/// When to try a webhook delivery again, and when to stop.
///
/// A pure value: given the attempt number and what the receiver answered, it says what happens
/// next. Defaults follow DESIGN §3: 11 attempts, the gaps between them 5 s, 30 s, 2 min, 10 min,
/// 30 min, 1 h, 3 h, 6 h, 12 h and 24 h (about two days in all), each ±20 % so that a recovering
/// receiver is not hit by every retry in the same second.
public struct RetryPolicy: Sendable, Equatable {
    /// The wait after attempt *n* fails, for n = 1…; its count + 1 is the number of attempts.
    public var delays: [Duration]
    /// Relative jitter applied to each delay (0.2 = ±20 %).
    public var jitter: Double
    /// The longest `Retry-After` honoured; longer asks are capped to this.
    public var maximumRetryAfter: Duration

    public static let standard = RetryPolicy(
        delays: [
            .seconds(5), .seconds(30), .seconds(120), .seconds(600), .seconds(1800), .seconds(3600), .seconds(3 * 3600),
            .seconds(6 * 3600), .seconds(12 * 3600), .seconds(24 * 3600),
        ], jitter: 0.2, maximumRetryAfter: .seconds(24 * 3600))

    public init(delays: [Duration], jitter: Double = 0.2, maximumRetryAfter: Duration = .seconds(24 * 3600)) {
        self.delays = delays
        self.jitter = jitter
        self.maximumRetryAfter = maximumRetryAfter
    }

    public var maximumAttempts: Int { delays.count + 1 }

    /// What to do after `attempt` (1-based) ended with `outcome` at `now`.
    public func decide(
        attempt: Int, outcome: AttemptOutcome, now: Date, random: inout some RandomNumberGenerator
    ) -> RetryDecision {
        let classification = outcome.classification
        switch classification {
        case .success:
            return .delivered
        case .gone:
            return .disableEndpoint(reason: "the receiver answered 410 Gone; the endpoint was disabled")
        case .permanent(let reason):
            return .fail(reason: reason)
        case .retryable(let reason, let label):
            guard attempt < maximumAttempts else {
                return .fail(reason: "gave up after \(attempt) attempts; last: \(reason)")
            }
            var delay = delays[min(attempt, delays.count) - 1].timeInterval
            delay *= 1 + Double.random(in: -jitter...jitter, using: &random)
            if case .http(_, let retryAfter?, _) = outcome {
                delay = max(delay, min(retryAfter.timeInterval, maximumRetryAfter.timeInterval))
            }
            return .retry(at: now.addingTimeInterval(delay), reason: reason, label: label)
        }
    }
}

/// What one delivery attempt came to.
public enum AttemptOutcome: Sendable, Equatable {
    /// The receiver answered with this status; `retryAfter` from its header; `body` the start of its answer.
    case http(status: Int, retryAfter: Duration?, body: String)
    /// No answer: connection refused, timeout, TLS failure…
    case transport(String)

    enum Classification: Equatable {
        case success
        case gone
        case permanent(String)
        case retryable(String, label: String?)
    }

    var classification: Classification {
        switch self {
        case .transport(let error):
            return .retryable(error, label: nil)
        case .http(let status, _, let body):
            switch status {
            case 200..<300: return .success
            case 410: return .gone
            case 413: return .permanent("the receiver answered 413 Payload Too Large")
            case 404 where body.contains("is not registered"):
                return .retryable("HTTP 404: n8n says the webhook is not registered", label: "workflow inactive")
            case 300..<400: return .retryable("HTTP \(status): redirects are not followed; update the URL", label: nil)
            default: return .retryable("HTTP \(status)", label: nil)
            }
        }
    }

    /// Whether the receiver accepted the delivery.
    public var isSuccess: Bool { classification == .success }
}

/// The decision of a ``RetryPolicy``.
public enum RetryDecision: Sendable, Equatable {
    case delivered
    case retry(at: Date, reason: String, label: String?)
    case fail(reason: String)
    case disableEndpoint(reason: String)
}
