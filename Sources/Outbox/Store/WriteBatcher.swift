import Foundation
import GRDB
import Synchronization

/// Group commit: many writers' small transactions share one SQLite transaction, and so one fsync.
///
/// Each caller's work runs in its own savepoint inside the shared transaction, so one failing
/// piece of work fails alone. A caller is resumed only after the shared transaction has committed
/// (with `synchronous=FULL`, after it is on disk), so "my write returned" still means "my write is
/// durable". While one batch commits, the next one gathers.
public final class WriteBatcher: Sendable {
    private struct Work {
        let run: @Sendable (Database) throws -> Void
        let resume: @Sendable (Result<Void, any Error>) -> Void
    }

    private struct State {
        var pending: [Work] = []
        var isFlushing = false
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    private let maximumBatch: Int

    public init(writer: any DatabaseWriter, maximumBatch: Int = 4096) {
        self.writer = writer
        self.maximumBatch = maximumBatch
    }

    /// Runs `work` inside a shared write transaction and returns its result once that has committed.
    public func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let output = Mutex<T?>(nil)
            let item = Work(
                run: { db in
                    let value = try work(db)
                    output.withLock { $0 = value }
                },
                resume: { result in
                    switch result {
                    case .success: continuation.resume(returning: output.withLock { $0! })
                    case .failure(let error): continuation.resume(throwing: error)
                    }
                })
            let startsFlush = state.withLock { state -> Bool in
                state.pending.append(item)
                if state.isFlushing { return false }
                state.isFlushing = true
                return true
            }
            if startsFlush {
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while true {
            let batch = state.withLock { state -> [Work] in
                let batch = Array(state.pending.prefix(maximumBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.isFlushing = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                // Fast path: the whole batch in one transaction, no savepoints.
                try await writer.write { db in
                    for work in batch { try work.run(db) }
                }
                for work in batch { work.resume(.success(())) }
                continue
            } catch {
                // Some piece failed and the batch rolled back: redo it with a savepoint per piece,
                // so that only the failing piece fails.
            }
            let results = Mutex<[Result<Void, any Error>]>([])
            do {
                try await writer.write { db in
                    var outcomes: [Result<Void, any Error>] = []
                    outcomes.reserveCapacity(batch.count)
                    for work in batch {
                        do {
                            try db.inSavepoint {
                                try work.run(db)
                                return .commit
                            }
                            outcomes.append(.success(()))
                        } catch {
                            outcomes.append(.failure(error))
                        }
                    }
                    results.withLock { $0 = outcomes }
                }
                let outcomes = results.withLock { $0 }
                for (work, outcome) in zip(batch, outcomes) { work.resume(outcome) }
            } catch {
                for work in batch { work.resume(.failure(error)) }
            }
        }
    }
}
