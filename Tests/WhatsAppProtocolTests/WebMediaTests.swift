import Crypto
import Foundation
import Outbox
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Received media on the native engine: pyaileys (its own media encryption and upload) sends files
/// through the fake server's HTTPS media host (a test CA Wharf trusts through `extraRootsFile`, as
/// `WA_CA_FILE` does), and the engine fetches, checks and decrypts them into files, byte for byte;
/// an expired link is recovered through the media retry, with the fake server as the phone.
@Suite(.serialized) struct WebMediaTests {
    let messaging = WebMessagingTests()
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-webmedia-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// An engine linked to `server` whose media go through Wharf's libcurl client.
    func link(_ server: FakeWhatsApp) async throws -> (WebMessagingTests.Linked, CurlWebhookSender) {
        let info = try await server.control("GET", "/media/info").json
        var options = CurlWebhookSender.Options()
        options.policy = try OutboundPolicy(allowing: ["127.0.0.1"])
        options.extraRootsFile = try #require(info["media_ca_file"] as? String)
        let curl = CurlWebhookSender(options: options)
        let linked = try await messaging.link(server, media: curl)
        return (linked, curl)
    }

    func file(_ name: String, bytes count: Int) throws -> URL {
        let url = directory.appendingPathComponent(name)
        var data = Data(count: count)
        data.withUnsafeMutableBytes { buffer in
            var generator = SystemRandomNumberGenerator()
            for index in buffer.indices { buffer[index] = UInt8.random(in: 0...255, using: &generator) }
        }
        try data.write(to: url)
        return url
    }

    @Test func imagesVoiceNotesAndALargeDocumentArriveByteForByte() async throws {
        let server = try FakeWhatsApp()
        let (wharf, curl) = try await link(server)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        let bob = try messaging.contact(server)
        let chat = "\(WebMessagingTests.phone)@s.whatsapp.net"
        let files: [(kind: String, file: URL, extra: [String: Any])] = [
            ("image", try file("photo.jpg", bytes: 48_213), ["caption": "the harbour", "mimetype": "image/jpeg"]),
            ("voice", try file("note.ogg", bytes: 9_001), ["mimetype": "audio/ogg; codecs=opus", "seconds": 3]),
            ("document", try file("report.pdf", bytes: 20 << 20), ["fileName": "report.pdf", "mimetype": "application/pdf"]),
        ]
        for (kind, source, extra) in files {
            var request: [String: Any] = ["op": "send_media", "to": chat, "kind": kind, "path": source.path]
            request.merge(extra) { $1 }
            let sent = try bob.call(request)
            let id = try #require(sent["id"] as? String)
            let message = try await wharf.recorder.wait("Bob's \(kind)") { $0.messages.first { $0.id == id } }
            #expect(message.kind == kind)
            let media = try #require(message.media)
            #expect(media.kind == kind)
            #expect(media.size == UInt64(try Data(contentsOf: source).count))
            #expect(media.sha256 == sent["fileSha256"] as? String)
            #expect(media.mimeType == extra["mimetype"] as? String)
            if kind == "image" {
                #expect(media.caption == "the harbour")
                #expect(message.text == "the harbour")
            }
            if kind == "document" { #expect(media.fileName == "report.pdf") }
            if kind == "voice" { #expect(media.seconds == 3) }

            let reference = try #require(media.reference)
            let target = directory.appendingPathComponent("received-\(kind)")
            let renewed = try await wharf.engine.downloadMedia(reference, to: target)
            #expect(renewed == nil)
            #expect(try Data(contentsOf: target) == Data(contentsOf: source))
            let mode = try FileManager.default.attributesOfItem(atPath: target.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            // The encrypted download is not left behind.
            #expect(!FileManager.default.fileExists(atPath: target.path + ".enc"))
        }
    }

    @Test func anExpiredLinkIsRecoveredThroughTheMediaRetryAndAnUnknownOneFailsClearly() async throws {
        let server = try FakeWhatsApp()
        let (wharf, curl) = try await link(server)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        let bob = try messaging.contact(server)
        let chat = "\(WebMessagingTests.phone)@s.whatsapp.net"
        let source = try file("old.jpg", bytes: 70_000)
        let sent = try bob.call(["op": "send_media", "to": chat, "kind": "image", "path": source.path])
        let id = try #require(sent["id"] as? String)
        let directPath = try #require(sent["directPath"] as? String)
        let message = try await wharf.recorder.wait("Bob's image") { $0.messages.first { $0.id == id } }
        let reference = try #require(message.media?.reference)

        // WhatsApp has dropped the file; the account's phone still has it (and its key).
        try await server.control(
            "POST", "/media/owner",
            ["message_id": id, "media_key": sent["mediaKey"] as Any, "media_type": sent["mediaType"] as Any, "direct_path": directPath])
        try await server.control("POST", "/media/expire", ["direct_path": directPath, "status": 410])
        let target = directory.appendingPathComponent("recovered")
        let renewed = try #require(try await wharf.engine.downloadMedia(reference, to: target))
        #expect(try Data(contentsOf: target) == Data(contentsOf: source))
        let list = try await retriesList(server, through: curl)
        #expect(list.count == 1)
        #expect(list.first?["requestDecrypted"] as? Bool == true)
        #expect(list.first?["id"] as? String == id)
        // The new reference fetches straight from the new path, with no second retry.
        let again = directory.appendingPathComponent("again")
        #expect(try await wharf.engine.downloadMedia(renewed, to: again) == nil)
        #expect(try Data(contentsOf: again) == Data(contentsOf: source))
        #expect(try await retriesList(server, through: curl).count == 1)

        // A file the phone does not have either: a clear, final failure, and no file.
        let lost = try bob.call(["op": "send_media", "to": chat, "kind": "document", "path": source.path, "fileName": "gone.bin"])
        let lostID = try #require(lost["id"] as? String)
        let lostMessage = try await wharf.recorder.wait("Bob's document") { $0.messages.first { $0.id == lostID } }
        try await server.control("POST", "/media/expire", ["direct_path": lost["directPath"] as Any, "status": 404])
        let nothing = directory.appendingPathComponent("nothing")
        do {
            _ = try await wharf.engine.downloadMedia(try #require(lostMessage.media?.reference), to: nothing)
            Issue.record("a lost file was downloaded")
        } catch let error as MediaDownloadError {
            #expect(!error.isRetryable)
            #expect(error.description.contains("no longer has the file"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: nothing.path))
    }

    func retriesList(_ server: FakeWhatsApp, through curl: CurlWebhookSender) async throws -> [[String: Any]] {
        let answer = await curl.perform(HTTPTransportRequest(method: .get, url: server.controlURL + "/media/retries"))
        return try JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]] ?? []
    }
}
