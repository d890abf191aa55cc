import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// bcrypt, off the cooperative thread pool: one hash costs tens of milliseconds by design.
///
/// At most `concurrency` hashes run at once and at most `queueLimit` wait; a check beyond that is
/// refused at once (``LoginError/busy(retryAfter:)``), so a flood of bogus logins cannot queue work
/// without bound and make a correct login wait for seconds. API keys and tokens need no bcrypt
/// and are not affected.
public struct PasswordHasher: Sendable {
    public let cost: UInt8
    private let gate: Gate

    public init(cost: UInt8, concurrency: Int = 2, queueLimit: Int = 8) {
        self.cost = cost
        gate = Gate(capacity: concurrency, queueLimit: queueLimit)
    }

    public func hash(_ password: String) async throws -> String {
        let cost = cost
        return try await gate.run { try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) } }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await gate.run { try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) } }
    }

    /// A counting semaphore with a bounded queue, first come first served.
    final class Gate: Sendable {
        private struct State {
            var running = 0
            var waiting: [CheckedContinuation<Void, Never>] = []
        }

        private let capacity: Int
        private let queueLimit: Int
        private let state = Mutex(State())

        init(capacity: Int, queueLimit: Int) {
            self.capacity = max(1, capacity)
            self.queueLimit = max(0, queueLimit)
        }

        func run<T>(_ work: () async throws -> T) async throws -> T {
            try await enter()
            defer { leave() }
            return try await work()
        }

        private func enter() async throws {
            enum Admission {
                case now
                case queued
                case refused
            }
            let admission = state.withLock { state -> Admission in
                if state.running < capacity {
                    state.running += 1
                    return .now
                }
                return state.waiting.count < queueLimit ? .queued : .refused
            }
            switch admission {
            case .now:
                return
            case .refused:
                throw LoginError.busy(retryAfter: 1)
            case .queued:
                await withCheckedContinuation { continuation in
                    let admitted = state.withLock { state -> Bool in
                        // A place may have come free in between.
                        if state.running < capacity {
                            state.running += 1
                            return true
                        }
                        state.waiting.append(continuation)
                        return false
                    }
                    if admitted { continuation.resume() }
                }
            }
        }

        /// Hands the place to the first waiter, or frees it.
        private func leave() {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiting.isEmpty {
                    state.running -= 1
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
    }
}
