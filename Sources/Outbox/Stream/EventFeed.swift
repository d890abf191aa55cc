import Synchronization

/// Tells readers of the event table that events were committed: the one signal behind every live
/// stream. It carries no events (the table does), only a count of commits, so that a reader that
/// was busy when a commit happened still learns of it when it next waits.
public final class EventFeed: Sendable {
    private struct State {
        var commits: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<UInt64, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// How many commits there have been; pass it to ``wait(after:)``.
    public var commits: UInt64 { state.withLock { $0.commits } }

    /// Called after a transaction that stored events has committed.
    public func committed() {
        let waiters = state.withLock { state -> [CheckedContinuation<UInt64, Never>] in
            state.commits += 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        let commits = self.commits
        for waiter in waiters { waiter.resume(returning: commits) }
    }

    /// Returns once there have been more than `seen` commits (at once if there already were), or
    /// when the task is cancelled; the result is the new count.
    public func wait(after seen: UInt64) async -> UInt64 {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UInt64, Never>) in
                let now = state.withLock { state -> UInt64? in
                    if state.commits > seen || Task.isCancelled { return state.commits }
                    state.waiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state in state.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: self.commits)
        }
    }
}
