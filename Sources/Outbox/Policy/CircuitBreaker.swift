import Foundation
import WharfCore

/// The per-endpoint circuit breaker: after `failureThreshold` consecutive failures it opens and the
/// endpoint's deliveries are held (their attempts untouched); every `probeInterval` one delivery is
/// let through as a probe; a success closes it; failing for `disableAfter` disables the endpoint.
///
/// A state machine without I/O, in the swift-nio manner: the deliverer asks ``admission(now:)``
/// before sending and reports each result with ``record(success:now:)``.
public struct CircuitBreaker: Sendable, Equatable {
    public struct Configuration: Sendable, Equatable {
        public var failureThreshold: Int = 5
        public var probeInterval: Duration = .seconds(60)
        public var disableAfter: Duration = .seconds(72 * 3600)
        public init() {}
    }

    public enum State: Sendable, Equatable {
        case closed(failures: Int, failingSince: Date?)
        case open(failingSince: Date, nextProbe: Date)
        /// A probe is in flight; nothing else goes.
        case halfOpen(failingSince: Date)
        case disabled
    }

    /// What the deliverer may do with the endpoint now.
    public enum Admission: Sendable, Equatable {
        case deliver
        case hold
        /// Send exactly one delivery, as a probe.
        case probe
    }

    /// A change worth recording or telling someone about.
    public enum Transition: Sendable, Equatable {
        case opened
        case closed
        case disabled(failingSince: Date)
    }

    public private(set) var state: State
    public let configuration: Configuration

    public init(state: State = .closed(failures: 0, failingSince: nil), configuration: Configuration = .init()) {
        self.state = state
        self.configuration = configuration
    }

    public mutating func admission(now: Date) -> Admission {
        switch state {
        case .closed: return .deliver
        case .disabled, .halfOpen: return .hold
        case .open(let since, let nextProbe):
            guard now >= nextProbe else { return .hold }
            state = .halfOpen(failingSince: since)
            return .probe
        }
    }

    @discardableResult
    public mutating func record(success: Bool, now: Date) -> Transition? {
        switch (state, success) {
        case (.disabled, _):
            return nil
        case (.closed, true):
            state = .closed(failures: 0, failingSince: nil)
            return nil
        case (.halfOpen, true), (.open, true):
            state = .closed(failures: 0, failingSince: nil)
            return .closed
        case (.closed(let failures, let since), false):
            let failingSince = since ?? now
            if failures + 1 >= configuration.failureThreshold {
                return open(failingSince: failingSince, now: now)
            }
            state = .closed(failures: failures + 1, failingSince: failingSince)
            return nil
        case (.halfOpen(let since), false), (.open(let since, _), false):
            return open(failingSince: since, now: now)
        }
    }

    /// Whether the endpoint's deliveries are being held back.
    public var isOpen: Bool {
        switch state {
        case .open, .halfOpen: true
        default: false
        }
    }

    /// A person re-enabled the endpoint: start afresh.
    public mutating func reset() { state = .closed(failures: 0, failingSince: nil) }

    private mutating func open(failingSince: Date, now: Date) -> Transition? {
        if now.timeIntervalSince(failingSince) >= configuration.disableAfter.timeInterval {
            state = .disabled
            return .disabled(failingSince: failingSince)
        }
        let wasOpen = isOpen
        state = .open(failingSince: failingSince, nextProbe: now.addingTimeInterval(configuration.probeInterval.timeInterval))
        return wasOpen ? nil : .opened
    }
}
