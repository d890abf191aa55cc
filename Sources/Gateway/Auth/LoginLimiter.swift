import Foundation
import Synchronization
import WharfCore

/// Throttles password guessing the way OWASP ASVS (V2.2) asks and Keycloak and GitLab do.
///
/// - **Counted before the check.** An attempt takes one of its keys' guesses (atomically, under
///   one lock) before bcrypt runs, so concurrent guesses are counted like sequential ones: no more
///   than `maxFailures` passwords are ever evaluated per key and window. A success gives it back.
/// - **Per account, without locking its owner out.** Guesses from addresses the account has never
///   logged in from share the account's budget (and their address's); an address the account
///   logged in from before has a budget of its own for that account. A stranger can exhaust the
///   first, never the second, so the owner still gets in from a known place.
/// - **A bounded lock.** A key out of guesses is refused for `window` (15 minutes by default).
/// - **A global ceiling.** The account's budget for unknown addresses is one for all of them: the
///   administrator's account, which anyone may try, gets `maxFailures` guesses per window from the
///   whole world, however many addresses the guesses come from.
public final class LoginLimiter: Sendable {
    private struct Entry {
        var attempts: [Date] = []
        var lockedUntil: Date?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Addresses each account logged in from, most recent last.
        var known: [String: [String]] = [:]
    }

    /// A guess taken before the password check; ``succeeded(_:)`` gives it back.
    public struct Attempt: Sendable {
        let account: String
        let address: String
        let keys: [String]
    }

    private let maxFailures: Int
    private let window: TimeInterval
    private let clock: any WharfClock
    private let state = Mutex(State())
    static let knownAddressesPerAccount = 16

    public init(maxFailures: Int, window: Duration, clock: any WharfClock) {
        self.maxFailures = maxFailures
        self.window = window.timeInterval
        self.clock = clock
    }

    /// Takes a guess for `account` from `address`, or says how many seconds to wait.
    public func begin(account: String, address: String) -> Result<Attempt, LoginError> {
        let now = clock.now
        let account = account.lowercased()
        return state.withLock { state in
            let keys =
                state.known[account]?.contains(address) == true
                ? ["known:\(account)@\(address)"] : ["account:\(account)", "address:\(address)"]
            var wait: TimeInterval = 0
            for key in keys {
                var entry = state.entries[key] ?? Entry()
                entry.attempts.removeAll { now.timeIntervalSince($0) >= window }
                if let until = entry.lockedUntil, until > now {
                    wait = max(wait, until.timeIntervalSince(now))
                } else if entry.attempts.count >= maxFailures {
                    entry.lockedUntil = (entry.attempts.first ?? now).addingTimeInterval(window)
                    wait = max(wait, entry.lockedUntil!.timeIntervalSince(now))
                }
                state.entries[key] = entry
            }
            guard wait == 0 else { return .failure(.tooManyAttempts(retryAfter: max(1, Int(wait.rounded(.up))))) }
            for key in keys { state.entries[key, default: Entry()].attempts.append(now) }
            if state.entries.count > 50_000 {
                state.entries = state.entries.filter { ($0.value.lockedUntil ?? .distantPast) > now || !$0.value.attempts.isEmpty }
            }
            return .success(Attempt(account: account, address: address, keys: keys))
        }
    }

    /// The password was right: the guess is given back, the account's own keys are cleared, and
    /// the address becomes one the account is known to log in from.
    public func succeeded(_ attempt: Attempt) {
        state.withLock { state in
            for key in attempt.keys {
                if key.hasPrefix("address:") {
                    _ = state.entries[key]?.attempts.popLast()
                } else {
                    state.entries[key] = nil
                }
            }
            var known = state.known[attempt.account] ?? []
            known.removeAll { $0 == attempt.address }
            known.append(attempt.address)
            if known.count > Self.knownAddressesPerAccount { known.removeFirst() }
            state.known[attempt.account] = known
        }
    }
}
