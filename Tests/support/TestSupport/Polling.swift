import Testing
import WharfCore

/// Asks `probe` up to `attempts` times, `interval` apart in real time, until it gives a value.
///
/// - Returns: the first value, or `nil` when every attempt came back empty.
public func poll<T>(attempts: Int, every interval: Duration, _ probe: () async throws -> T?) async throws -> T? {
    for attempt in 0..<attempts {
        if let value = try await probe() { return value }
        if attempt < attempts - 1 { try await Task.sleep(for: interval) }
    }
    return nil
}

/// Asks `condition` up to `attempts` times, `interval` apart in real time, until it holds.
///
/// - Returns: whether it held.
public func poll(attempts: Int, every interval: Duration, until condition: () async throws -> Bool) async throws -> Bool {
    try await poll(attempts: attempts, every: interval) { try await condition() ? true : nil } ?? false
}

/// Waits (bounded, in real time) until `condition` holds; this is about ordering, not speed. A
/// timeout is recorded as the test's failure and ends the test.
public func eventually(
    _ what: String, timeout: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("timed out waiting for: \(what)")
    throw CancellationError()
}

/// Moves virtual time in steps of `step` until `condition` holds, giving the tasks that wait on
/// `clock` a moment of real time after each step. Never holding is recorded as the test's failure.
public func advance(
    _ clock: ManualClock, by step: Duration, until condition: @Sendable () async throws -> Bool
) async throws {
    for _ in 0..<4000 {
        if try await condition() { return }
        clock.advance(by: step)
        try await Task.sleep(for: .milliseconds(3))
    }
    Issue.record("condition never held")
    throw CancellationError()
}

/// Asks `produce` (real time, bounded: the servers are local) until it gives a value, and throws
/// naming `what` if it never does.
public func waitFor<T>(_ what: String, seconds: Double = 30, _ produce: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
    while ContinuousClock.now < deadline {
        if let value = try await produce() { return value }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TimedOut(what: what)
}

/// What ``waitFor(_:seconds:_:)`` throws.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }
}

/// `items.map(transform)` for an asynchronous transform, one item after another (a peer answers
/// one request at a time).
public func sequentially<S: Sequence, T>(_ items: S, _ transform: (S.Element) async throws -> T) async rethrows -> [T] {
    var results: [T] = []
    for item in items { results.append(try await transform(item)) }
    return results
}
