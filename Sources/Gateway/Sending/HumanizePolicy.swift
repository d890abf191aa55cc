import Foundation
import WharfCore

/// How a session sends "like a person": read, type for a while, pause, send, wait before the next
/// message to the same chat, and no more than so many messages a minute.
///
/// A pure value: tenant settings (`settings.humanize`) give the defaults, a request may override
/// them, and ``typingDuration(characters:random:)`` turns a text length into a typing time.
public struct HumanizePolicy: Sendable, Equatable, Codable {
    /// `false` sends at once: no read receipt, no presence, no gap (the rate cap still applies).
    public var enabled = true
    public var markRead = true
    /// Typing speed; 12 characters a second is a brisk typist on a phone.
    public var charsPerSecond: Double = 12
    public var typingMinMs = 800
    public var typingMaxMs = 8000
    /// Relative jitter on the typing time (0.25 = ±25 %).
    public var jitter: Double = 0.25
    /// A fixed typing time for this message, overriding the computed one (still clamped to 60 s).
    public var typingMs: Int?
    /// The "paused" moment between typing and the message appearing.
    public var pauseMs = 400
    /// The least time between two messages to the same chat.
    public var gapMs = 1500
    /// The per-session cap.
    public var maxPerMinute = 30
    /// Hours during which jobs wait, as `"22:00"`…`"07:00"` in `timeZone`.
    public var quietHours: QuietHours?

    public struct QuietHours: Sendable, Equatable, Codable {
        public var start: String
        public var end: String
        public var timeZone: String?
    }

    public init() {}

    /// The longest typing time or pause a setting may ask for (a fixed `typingMs` too).
    static let longestTypingMs = 60_000
    /// The longest gap between two messages to one chat a setting may ask for.
    static let longestGapMs = 3_600_000

    /// Tenant defaults overlaid with a request's overrides (both JSON objects; unknown members ignored).
    static func resolve(settings: JSONValue?, overrides: JSONValue?) -> HumanizePolicy {
        var merged: [String: JSONValue] = [:]
        for source in [settings, overrides] {
            switch source {
            case .bool(let enabled)?: merged["enabled"] = .bool(enabled)
            case .object(let members)?: merged.merge(members) { $1 }
            default: break
            }
        }
        guard let data = try? JSONEncoder().encode(JSONValue.object(merged)),
            let policy = try? JSONDecoder().decode(HumanizePolicy.self, from: data)
        else { return HumanizePolicy() }
        return policy
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = HumanizePolicy()
        enabled = (try? container.decodeIfPresent(Bool.self, forKey: .enabled)) ?? defaults.enabled
        markRead = (try? container.decodeIfPresent(Bool.self, forKey: .markRead)) ?? defaults.markRead
        charsPerSecond = max(1, (try? container.decodeIfPresent(Double.self, forKey: .charsPerSecond)) ?? defaults.charsPerSecond)
        // Bounded so that a mistyped value cannot stall a session's queue for days.
        typingMinMs = min(max(0, (try? container.decodeIfPresent(Int.self, forKey: .typingMinMs)) ?? defaults.typingMinMs), Self.longestTypingMs)
        typingMaxMs = min(
            max(typingMinMs, (try? container.decodeIfPresent(Int.self, forKey: .typingMaxMs)) ?? defaults.typingMaxMs), Self.longestTypingMs)
        jitter = min(0.9, max(0, (try? container.decodeIfPresent(Double.self, forKey: .jitter)) ?? defaults.jitter))
        typingMs = (try? container.decodeIfPresent(Int.self, forKey: .typingMs)).flatMap { $0 }
        pauseMs = min(max(0, (try? container.decodeIfPresent(Int.self, forKey: .pauseMs)) ?? defaults.pauseMs), Self.longestTypingMs)
        gapMs = min(max(0, (try? container.decodeIfPresent(Int.self, forKey: .gapMs)) ?? defaults.gapMs), Self.longestGapMs)
        maxPerMinute = max(1, (try? container.decodeIfPresent(Int.self, forKey: .maxPerMinute)) ?? defaults.maxPerMinute)
        quietHours = (try? container.decodeIfPresent(QuietHours.self, forKey: .quietHours)).flatMap { $0 }
    }

    /// How long to show "typing…" for a text of `characters`: length over speed, with jitter,
    /// clamped to [`typingMinMs`, `typingMaxMs`]; a fixed `typingMs` wins.
    public func typingDuration(characters: Int, random: inout some RandomNumberGenerator) -> Duration {
        if let typingMs { return .milliseconds(min(max(typingMs, 0), Self.longestTypingMs)) }
        let base = Double(characters) / charsPerSecond * 1000
        let jittered = base * (1 + Double.random(in: -jitter...jitter, using: &random))
        let clamped = min(max(jittered, Double(typingMinMs)), Double(typingMaxMs))
        return .milliseconds(Int64(clamped.rounded()))
    }

    /// When the quiet hours that contain `date` end, or `nil` when `date` is outside them.
    public func quietUntil(_ date: Date) -> Date? {
        guard let quietHours, let start = Self.minutes(quietHours.start), let end = Self.minutes(quietHours.end), start != end
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = quietHours.timeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        let now = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let inside = start < end ? (now >= start && now < end) : (now >= start || now < end)
        guard inside else { return nil }
        var wait = end - now
        if wait <= 0 { wait += 24 * 60 }
        let startOfMinute = calendar.date(bySetting: .second, value: 0, of: date) ?? date
        return startOfMinute.addingTimeInterval(TimeInterval(wait * 60))
    }

    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]), (0..<24).contains(hours),
            (0..<60).contains(minutes)
        else { return nil }
        return hours * 60 + minutes
    }
}

/// A token bucket: `capacity` tokens, refilled evenly over a minute. Pure; time is passed in.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    private var tokens: Double
    private var updated: Date

    public init(perMinute: Int, now: Date) {
        capacity = Double(max(1, perMinute))
        tokens = capacity
        updated = now
    }

    private mutating func refill(now: Date) {
        let elapsed = max(0, now.timeIntervalSince(updated))
        tokens = min(capacity, tokens + elapsed * capacity / 60)
        updated = now
    }

    /// Takes a token if there is one; otherwise says how long until there will be.
    public mutating func take(now: Date) -> Duration? {
        refill(now: now)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return .milliseconds(Int64(((1 - tokens) * 60 / capacity * 1000).rounded(.up)))
    }
}
