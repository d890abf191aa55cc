import Foundation
import Testing
import WharfCore

@testable import Gateway

@Suite struct HumanizePolicyTests {
    @Test func typingGrowsWithLengthWithinJitterAndIsClamped() {
        var policy = HumanizePolicy()
        policy.charsPerSecond = 10
        policy.typingMinMs = 1000
        policy.typingMaxMs = 5000
        policy.jitter = 0.25
        var random = SeededRandom(seed: 5)
        for _ in 0..<200 {
            let medium = policy.typingDuration(characters: 30, random: &random).timeInterval
            #expect(medium >= 2.25 && medium <= 3.75)
            #expect(policy.typingDuration(characters: 2, random: &random) == .milliseconds(1000))
            #expect(policy.typingDuration(characters: 500, random: &random) == .milliseconds(5000))
        }
        policy.typingMs = 1234
        #expect(policy.typingDuration(characters: 500, random: &random) == .milliseconds(1234))
    }

    @Test func settingsAndOverridesMerge() {
        let settings: JSONValue = ["charsPerSecond": 20, "gapMs": 100, "maxPerMinute": 5]
        let merged = HumanizePolicy.resolve(settings: settings, overrides: ["typingMs": 900])
        #expect(merged.charsPerSecond == 20 && merged.gapMs == 100 && merged.maxPerMinute == 5 && merged.typingMs == 900)
        #expect(HumanizePolicy.resolve(settings: settings, overrides: false).enabled == false)
        #expect(HumanizePolicy.resolve(settings: nil, overrides: nil) == HumanizePolicy())
        #expect(HumanizePolicy.resolve(settings: ["typingMinMs": 9000, "typingMaxMs": 10], overrides: nil).typingMaxMs == 9000)
    }

    @Test func quietHoursAcrossMidnight() throws {
        var policy = HumanizePolicy()
        policy.quietHours = .init(start: "22:00", end: "07:00", timeZone: "UTC")
        let formatter = ISO8601DateFormatter()
        let late = try #require(formatter.date(from: "2026-11-25T23:30:00Z"))
        #expect(policy.quietUntil(late) == formatter.date(from: "2026-11-26T07:00:00Z"))
        let early = try #require(formatter.date(from: "2026-11-26T06:59:00Z"))
        #expect(policy.quietUntil(early) == formatter.date(from: "2026-11-26T07:00:00Z"))
        #expect(policy.quietUntil(try #require(formatter.date(from: "2026-11-26T12:00:00Z"))) == nil)
    }

    @Test func tokenBucketCapsPerMinute() {
        let start = Date(timeIntervalSince1970: 0)
        var bucket = TokenBucket(perMinute: 2, now: start)
        #expect(bucket.take(now: start) == nil)
        #expect(bucket.take(now: start) == nil)
        #expect(bucket.take(now: start) == .seconds(30))
        #expect(bucket.take(now: start.addingTimeInterval(29)) != nil)
        #expect(bucket.take(now: start.addingTimeInterval(30)) == nil)
    }

    @Test(arguments: [
        ("+49 151 1234-5678", "4915112345678@s.whatsapp.net"), ("4915112345678", "4915112345678@s.whatsapp.net"),
        ("4915112345678@c.us", "4915112345678@s.whatsapp.net"), ("4915112345678@s.whatsapp.net", "4915112345678@s.whatsapp.net"),
        ("120363041234567890@g.us", "120363041234567890@g.us"), ("4915112345678-1600000000@g.us", "4915112345678-1600000000@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),
    ])
    func chatIDsNormalize(input: String, expected: String) {
        #expect(ChatAddress.normalize(input)?.rawValue == expected)
    }

    @Test(arguments: ["hello", "123", "0151123456", "49151@x.com", "abc@g.us", "@c.us", "+49 151 12345678 ext 5", "12@lid x"])
    func garbageChatIDsAreRefused(input: String) {
        #expect(ChatAddress.normalize(input) == nil)
    }

    @Test func settingsCannotStallAQueue() {
        let policy = HumanizePolicy.resolve(
            settings: ["typingMinMs": 100_000_000_000_000, "pauseMs": 1e14, "gapMs": 1e14], overrides: nil)
        #expect(policy.typingMinMs == 60_000 && policy.typingMaxMs == 60_000)
        #expect(policy.pauseMs == 60_000)
        #expect(policy.gapMs == 3_600_000)
    }
}
