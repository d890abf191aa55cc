import Dispatch
import Foundation

/// Runs blocking work (waiting for a child process, reading its pipe) on a thread of its own and
/// waits for it without holding a thread of Swift's cooperative pool.
///
/// The pool has one thread per core, two on the machines the tests run on. A test that blocks one
/// of them in `waitUntilExit()` or a pipe read stalls every in-process server of the tests running
/// beside it, which then time out for no fault of theirs. A serial queue of its own runs on an
/// overcommitting thread outside the pool. No `#expect` belongs inside `work`: it runs outside the
/// test's task, so return what to check and check it after.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue(label: "wharf.test.blocking").async { continuation.resume(with: Result { try work() }) }
    }
}

/// The same for work that cannot fail.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue(label: "wharf.test.blocking").async { continuation.resume(returning: work()) }
    }
}

/// Waits for a process to exit on a thread outside the pool, without anyone waiting for that:
/// what a `deinit` that must not block does.
public func reapInBackground(_ wait: @escaping @Sendable () -> Void) {
    DispatchQueue(label: "wharf.test.reap").async(execute: wait)
}

/// `count` random bytes from the kernel in one read. Drawing a large test file byte by byte from
/// a generator takes tens of seconds in a debug build, on a thread of the cooperative pool.
public func randomData(_ count: Int) -> Data {
    guard count > 0, let source = FileHandle(forReadingAtPath: "/dev/urandom") else { return Data() }
    defer { try? source.close() }
    return source.readData(ofLength: count)
}
