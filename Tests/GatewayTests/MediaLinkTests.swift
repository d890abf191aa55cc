import Foundation
import TestSupport
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

/// Received files are deleted when the tenant's retention ends, on the injected clock.
@Suite struct MediaRetentionTests {
    @Test func aFilePastItsRetentionIsDeletedAndItsURLSaysSo() async throws {
        let directory = TestWharf.temporaryDirectory()
        try await TestWharf.run(dataDirectory: directory) { app in
            let tenant = try await app.makeTenant("keeper")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let now = app.clock.now
            let record = MediaRecord(
                id: "med_kept", tenantId: tenant.id, sessionId: session, messageId: "3EB0KEPT", chatId: "4915100000001@s.whatsapp.net",
                kind: "document", mimeType: "application/pdf", fileName: "kept.pdf", size: 5, sha256: nil, reference: nil, status: .ready,
                error: nil, eager: true, attempts: 1, nextAttemptAt: now, createdAt: now, updatedAt: now,
                expiresAt: now.addingTimeInterval(86400))
            try await app.wharf.store.writer.write { db in try SQLiteGatewayStore.insertingMedia([record])(db) }
            let file = directory + "/media-in/med_kept"
            try FileManager.default.createDirectory(atPath: directory + "/media-in", withIntermediateDirectories: true)
            try Data("%PDF-".utf8).write(to: URL(fileURLWithPath: file))

            let fresh = try await app.call(.get, "/v1/media/med_kept", as: .bearer(tenant.token))
            #expect(fresh.status == .ok)
            #expect(fresh.text == "%PDF-")
            #expect(fresh.headers[.contentDisposition] == "inline; filename=\"kept.pdf\"")
            // A day and a sweep later the file and its key are gone.
            try await advance(app.clock, by: .seconds(600)) { !FileManager.default.fileExists(atPath: file) }
            // (A day later the tenant's token has expired too: it logs in again.)
            let login = try await app.call(.post, "/v1/login", json: ["username": "keeper", "password": "password-keeper"])
            let gone = try await app.call(.get, "/v1/media/med_kept", as: .bearer(try #require(login.string("token"))))
            #expect(gone.status == .gone)
            #expect(gone.string("detail")?.contains("retention") == true)
            #expect(try await app.wharf.store.media(id: "med_kept")?.status == .expired)
        }
    }
}

/// Only the send routes stream multipart bodies; every other route reads its body within the limit.
@Suite struct MultipartLimitTests {
    @Test func aMultipartBodyElsewhereIsHeldToTheLimitAndTheFormsFieldsAreBounded() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("former")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let big = String(repeating: "x", count: 100_000)
            let elsewhere = try await app.call(
                .post, "/v1/webhooks", raw: "--b\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\n\(big)\r\n--b--\r\n",
                as: .bearer(tenant.token), headers: [.contentType: "multipart/form-data; boundary=b"])
            #expect(elsewhere.status == .contentTooLarge)
            let fields = try await app.call(
                .post, "/v1/sessions/\(session)/messages",
                raw: "--b\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n\(big)\r\n--b--\r\n", as: .bearer(tenant.token),
                headers: [.contentType: "multipart/form-data; boundary=b"])
            #expect(fields.status == .badRequest)
            #expect(fields.string("detail")?.contains("fields") == true)
            let noFile = try await app.call(
                .post, "/v1/sessions/\(session)/messages",
                raw: "--b\r\nContent-Disposition: form-data; name=\"chatId\"\r\n\r\n4915100000001\r\n--b--\r\n", as: .bearer(tenant.token),
                headers: [.contentType: "multipart/form-data; boundary=b"])
            #expect(noFile.status == .badRequest, "\(noFile.text)")
        }
    }
}
