import Foundation
import Testing
import WharfCore

@testable import Gateway

/// Signed media links, ranges and media settings, as values.
@Suite struct MediaLinkTests {
    let links = MediaLinks(encryptionKey: Array(repeating: 7, count: 32)) { "https://wharf.example" }

    func query(_ url: String) -> (expires: String?, sig: String?) {
        let items = URLComponents(string: url)?.queryItems ?? []
        return (items.first { $0.name == "expires" }?.value, items.first { $0.name == "sig" }?.value)
    }

    @Test func aLinkIsValidUntilItExpiresAndOnlyForItsFile() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let url = links.url("med_a", expires: now.addingTimeInterval(3600))
        #expect(url.hasPrefix("https://wharf.example/v1/media/med_a?expires=1800003600&sig="))
        let (expires, sig) = query(url)
        #expect(links.verify("med_a", expires: expires, signature: sig, now: now) == .valid)
        #expect(links.verify("med_a", expires: expires, signature: sig, now: now.addingTimeInterval(3600)) == .expired)
        #expect(links.verify("med_b", expires: expires, signature: sig, now: now) == .invalid)
        #expect(links.verify("med_a", expires: "1800007200", signature: sig, now: now) == .invalid)
        #expect(links.verify("med_a", expires: expires, signature: String(sig!.dropLast()) + "0", now: now) != .valid)
        #expect(links.verify("med_a", expires: nil, signature: sig, now: now) == .invalid)
        #expect(links.verify("med_a", expires: expires, signature: "zz", now: now) == .invalid)
        // Another key (another installation) signs differently.
        let other = MediaLinks(encryptionKey: Array(repeating: 8, count: 32)) { "https://wharf.example" }
        #expect(other.verify("med_a", expires: expires, signature: sig, now: now) == .invalid)
    }

    @Test func rangesFollowRFC9110() {
        #expect(MediaController.byteRange("bytes=0-99", size: 1000) == 0...99)
        #expect(MediaController.byteRange("bytes=900-", size: 1000) == 900...999)
        #expect(MediaController.byteRange("bytes=-100", size: 1000) == 900...999)
        #expect(MediaController.byteRange("bytes=-5000", size: 1000) == 0...999)
        #expect(MediaController.byteRange("bytes=990-2000", size: 1000) == 990...999)
        #expect(MediaController.byteRange("bytes=10-20, 30-40", size: 1000) == 10...20)
        #expect(MediaController.byteRange("bytes=1000-", size: 1000) == nil)
        #expect(MediaController.byteRange("bytes=20-10", size: 1000) == nil)
        #expect(MediaController.byteRange("items=0-1", size: 1000) == nil)
        #expect(MediaController.byteRange("bytes=0-1", size: 0) == nil)
    }

    @Test func mediaSettingsReadTheTenantsChoicesWithinBounds() {
        #expect(MediaSettings(.object([:])) == MediaSettings())
        let lazy = MediaSettings(["media": ["download": "lazy", "retentionDays": 2, "inlineMaxBytes": 5000]])
        #expect(!lazy.eager)
        #expect(lazy.retention == 2 * 86400)
        #expect(lazy.inlineMaxBytes == 5000)
        let huge = MediaSettings(["media": ["retentionDays": 100_000, "inlineMaxBytes": 1e12]])
        #expect(huge.retention == Double(MediaSettings.maximumRetentionDays) * 86400)
        #expect(huge.inlineMaxBytes == MediaSettings.maximumInlineBytes)
    }
}
