import Foundation
import Testing

@testable import WharfCore

@Suite struct ManualClockTests {
    @Test func sleepersWakeInDeadlineOrderOnlyWhenTimeMoves() async throws {
        let clock = ManualClock()
        let order = OrderLog()
        let late = Task {
            try await clock.sleep(for: .seconds(10))
            await order.append("late")
        }
        let early = Task {
            try await clock.sleep(for: .seconds(5))
            await order.append("early")
        }
        #expect(await clock.waitForSleepers(count: 2))
        clock.advance(by: .seconds(4))
        #expect(clock.sleeperCount == 2)
        clock.advance(by: .seconds(1))
        try await early.value
        #expect(await order.entries == ["early"])
        clock.advance(by: .seconds(5))
        try await late.value
        #expect(await order.entries == ["early", "late"])
    }

    @Test func cancellingASleeperThrows() async {
        let clock = ManualClock()
        let task = Task { try await clock.sleep(for: .seconds(60)) }
        #expect(await clock.waitForSleepers(count: 1))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func pastDeadlinesReturnAtOnce() async throws {
        let clock = ManualClock()
        try await clock.sleep(until: clock.now.addingTimeInterval(-1))
    }
}

actor OrderLog {
    var entries: [String] = []
    func append(_ entry: String) { entries.append(entry) }
}

@Suite struct IdentifierTests {
    @Test func identifiersArePrefixedAndDistinct() {
        let ids = (0..<1000).map { _ in Identifier.make(prefix: "ses") }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.hasPrefix("ses_") && $0.count == 24 })
    }

    @Test func tokensAreURLSafe() {
        let token = Identifier.token(byteCount: 32)
        #expect(token.count == 43)
        #expect(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test func seededRandomIsReproducible() {
        var a = SeededRandom(seed: 1)
        var b = SeededRandom(seed: 1)
        var c = SeededRandom(seed: 2)
        let first = (0..<4).map { _ in a.next() }
        #expect(first == (0..<4).map { _ in b.next() })
        #expect(first != (0..<4).map { _ in c.next() })
    }

    @Test func jsonValueRoundTrips() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", true, nil], "b": ["c": "d"]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
        #expect(String(decoding: try JSONEncoder().encode(JSONValue.number(3)), as: UTF8.self) == "3")
    }
}
