import Foundation
import Synchronization
import WharfCore

/// Slows down password guessing: after `maxFailures` failed logins for one key (an IP address, a
/// username) within `window`, that key is locked until the window has passed.
public final class LoginLimiter: Sendable {
    private struct Entry {
        var failures: [Date]
        var lockedUntil: Date?
    }

    private let maxFailures: Int
    private let window: TimeInterval
    private let clock: any WharfClock
    private let entries = Mutex<[String: Entry]>([:])

    public init(maxFailures: Int, window: Duration, clock: any WharfClock) {
        self.maxFailures = maxFailures
        self.window = window.timeInterval
        self.clock = clock
    }

    /// Seconds until `keys` may try again, or `nil` when none is locked.
    public func retryAfter(_ keys: [String]) -> Int? {
        let now = clock.now
        return entries.withLock { entries in
            keys.compactMap { key -> Int? in
                guard let until = entries[key]?.lockedUntil, until > now else { return nil }
                return Int(until.timeIntervalSince(now).rounded(.up))
            }.max()
        }
    }

    /// Records a failed attempt for every key.
    public func recordFailure(_ keys: [String]) {
        let now = clock.now
        entries.withLock { entries in
            for key in keys {
                var entry = entries[key] ?? Entry(failures: [], lockedUntil: nil)
                entry.failures = entry.failures.filter { now.timeIntervalSince($0) < window } + [now]
                if entry.failures.count >= maxFailures {
                    entry.lockedUntil = now.addingTimeInterval(window)
                    entry.failures = []
                }
                entries[key] = entry
            }
            if entries.count > 10_000 {
                entries = entries.filter { ($0.value.lockedUntil ?? .distantPast) > now || !$0.value.failures.isEmpty }
            }
        }
    }

    /// Clears the keys after a successful login.
    public func recordSuccess(_ keys: [String]) {
        entries.withLock { entries in
            for key in keys { entries[key] = nil }
        }
    }
}
