import Foundation
import Testing
import WharfCore

@testable import Outbox

@Suite struct RetryPolicyTests {
    let now = Date(timeIntervalSince1970: 1_764_064_800)

    @Test func elevenAttemptsOverAboutTwoDays() {
        let policy = RetryPolicy.standard
        #expect(policy.maximumAttempts == 11)
        let total = policy.delays.reduce(0) { $0 + $1.timeInterval }
        #expect(total > 46 * 3600 && total < 48 * 3600)
    }

    @Test func delaysFollowTheScheduleWithinJitter() {
        var random = SeededRandom(seed: 3)
        let policy = RetryPolicy.standard
        for attempt in 1..<policy.maximumAttempts {
            let decision = policy.decide(attempt: attempt, outcome: .http(status: 500, retryAfter: nil, body: ""), now: now, random: &random)
            guard case .retry(let at, let reason, nil) = decision else {
                Issue.record("attempt \(attempt): \(decision)")
                continue
            }
            let expected = policy.delays[attempt - 1].timeInterval
            let delay = at.timeIntervalSince(now)
            #expect(delay >= expected * 0.8 - 0.01 && delay <= expected * 1.2 + 0.01, "attempt \(attempt)")
            #expect(reason == "HTTP 500")
        }
        let last = policy.decide(
            attempt: policy.maximumAttempts, outcome: .transport("connection refused"), now: now, random: &random)
        #expect(last == .fail(reason: "gave up after 11 attempts; last: connection refused"))
    }

    @Test func jitterActuallyVaries() {
        var random = SeededRandom(seed: 9)
        let delays = (0..<20).map { _ in
            guard
                case .retry(let at, _, _) = RetryPolicy.standard.decide(
                    attempt: 3, outcome: .transport("x"), now: now, random: &random)
            else { return 0.0 }
            return at.timeIntervalSince(now)
        }
        #expect(Set(delays).count > 10)
    }

    @Test func specialStatuses() {
        var random = SeededRandom(seed: 1)
        let policy = RetryPolicy.standard
        #expect(policy.decide(attempt: 1, outcome: .http(status: 204, retryAfter: nil, body: ""), now: now, random: &random) == .delivered)
        #expect(
            policy.decide(attempt: 1, outcome: .http(status: 410, retryAfter: nil, body: ""), now: now, random: &random)
                == .disableEndpoint(reason: "the receiver answered 410 Gone; the endpoint was disabled"))
        #expect(
            policy.decide(attempt: 1, outcome: .http(status: 413, retryAfter: nil, body: ""), now: now, random: &random)
                == .fail(reason: "the receiver answered 413 Payload Too Large"))
        let n8n = #"{"code":404,"message":"The requested webhook \"POST abc/wa\" is not registered.","hint":"…"}"#
        guard
            case .retry(_, _, let label) = policy.decide(
                attempt: 1, outcome: .http(status: 404, retryAfter: nil, body: n8n), now: now, random: &random)
        else {
            Issue.record("n8n 404 should be retried")
            return
        }
        #expect(label == "workflow inactive")
        guard
            case .retry(_, let reason, _) = policy.decide(
                attempt: 1, outcome: .http(status: 302, retryAfter: nil, body: ""), now: now, random: &random)
        else {
            Issue.record("redirects are failures to retry")
            return
        }
        #expect(reason.contains("redirects are not followed"))
    }

    @Test func retryAfterIsHonouredAndCapped() {
        var random = SeededRandom(seed: 2)
        let policy = RetryPolicy.standard
        guard
            case .retry(let at, _, _) = policy.decide(
                attempt: 1, outcome: .http(status: 503, retryAfter: .seconds(120), body: ""), now: now, random: &random)
        else { return }
        #expect(at.timeIntervalSince(now) == 120)
        guard
            case .retry(let capped, _, _) = policy.decide(
                attempt: 1, outcome: .http(status: 429, retryAfter: .seconds(10 * 86400), body: ""), now: now, random: &random)
        else { return }
        #expect(capped.timeIntervalSince(now) == 86400)
        #expect(WebhookResponse.parseRetryAfter("30", now: now) == .seconds(30))
        #expect(WebhookResponse.parseRetryAfter("Tue, 25 Nov 2025 10:01:40 GMT", now: now) == .seconds(100))
        #expect(WebhookResponse.parseRetryAfter("soon", now: now) == nil)
    }
}

@Suite struct CircuitBreakerTests {
    let start = Date(timeIntervalSince1970: 1_764_064_800)

    @Test func opensAfterFiveFailuresHoldsProbesAndCloses() {
        var breaker = CircuitBreaker()
        for index in 0..<4 {
            #expect(breaker.admission(now: start) == .deliver)
            #expect(breaker.record(success: false, now: start.addingTimeInterval(Double(index))) == nil)
        }
        #expect(breaker.record(success: false, now: start.addingTimeInterval(4)) == .opened)
        #expect(breaker.isOpen)
        #expect(breaker.admission(now: start.addingTimeInterval(30)) == .hold)
        #expect(breaker.admission(now: start.addingTimeInterval(64)) == .probe)
        #expect(breaker.admission(now: start.addingTimeInterval(64)) == .hold)  // one probe at a time
        #expect(breaker.record(success: false, now: start.addingTimeInterval(65)) == nil)  // still open
        #expect(breaker.admission(now: start.addingTimeInterval(100)) == .hold)
        #expect(breaker.admission(now: start.addingTimeInterval(125)) == .probe)
        #expect(breaker.record(success: true, now: start.addingTimeInterval(126)) == .closed)
        #expect(breaker.admission(now: start.addingTimeInterval(126)) == .deliver)
    }

    @Test func aSuccessResetsTheStreak() {
        var breaker = CircuitBreaker()
        for _ in 0..<4 { breaker.record(success: false, now: start) }
        breaker.record(success: true, now: start)
        for _ in 0..<4 { breaker.record(success: false, now: start) }
        #expect(!breaker.isOpen)
    }

    @Test func disablesAfterSeventyTwoHoursOfFailure() {
        var breaker = CircuitBreaker()
        for _ in 0..<5 { breaker.record(success: false, now: start) }
        var now = start
        var transition: CircuitBreaker.Transition?
        while transition == nil || transition == .opened {
            now = now.addingTimeInterval(3600)
            if breaker.admission(now: now) == .probe { transition = breaker.record(success: false, now: now) }
            if now.timeIntervalSince(start) > 80 * 3600 { break }
        }
        #expect(transition == .disabled(failingSince: start))
        #expect(now.timeIntervalSince(start) == 72 * 3600)
        #expect(breaker.admission(now: now.addingTimeInterval(3600)) == .hold)
        breaker.reset()
        #expect(breaker.admission(now: now) == .deliver)
    }
}

@Suite struct WebhookSignatureTests {
    /// The example values published with the Standard Webhooks specification.
    @Test func matchesThePublishedExample() throws {
        let secret = try #require(WebhookSecret(encoded: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let signature = WebhookSignature.sign(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8),
            secret: secret)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func rotationSignsWithBothSecrets() throws {
        let old = WebhookSecret.generate()
        let new = WebhookSecret.generate()
        let header = WebhookSignature.header(id: "evt_1", timestamp: 1, body: Data("{}".utf8), secrets: [new, old])
        let parts = header.split(separator: " ").map(String.init)
        #expect(parts.count == 2)
        #expect(parts[0] == WebhookSignature.sign(id: "evt_1", timestamp: 1, body: Data("{}".utf8), secret: new))
        #expect(parts[1] == WebhookSignature.sign(id: "evt_1", timestamp: 1, body: Data("{}".utf8), secret: old))
        #expect(new.encoded.hasPrefix("whsec_"))
        #expect(new.bytes.count == 32)
        #expect("\(new)" == "whsec_…")
    }
}
