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

    /// An engine linked to `server` whose media go through Wharf's libcurl client (allowed to
    /// reach the loopback media host unless `strict`).
    func link(_ server: FakeWhatsApp, strict: Bool = false) async throws -> (WebMessagingTests.Linked, CurlWebhookSender) {
        let info = try await server.control("GET", "/media/info").json
        var options = CurlWebhookSender.Options()
        options.policy = strict ? .strict : try OutboundPolicy(allowing: ["127.0.0.1"])
        options.extraRootsFile = try #require(info["media_ca_file"] as? String)
        let curl = CurlWebhookSender(options: options)
        let linked = try await messaging.link(server, media: curl)
        return (linked, curl)
    }

    func file(_ name: String, bytes count: Int) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try randomData(count).write(to: url)
        return url
    }

    @Test func imagesVoiceNotesAndALargeDocumentArriveByteForByte() async throws {
        let server = try await FakeWhatsApp()
        let (wharf, curl) = try await link(server)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        let bob = try await messaging.contact(server)
        let chat = "\(WebMessagingTests.phone)@s.whatsapp.net"
        let files: [(kind: String, file: URL, extra: [String: Any])] = [
            ("image", try file("photo.jpg", bytes: 48_213), ["caption": "the harbour", "mimetype": "image/jpeg"]),
            ("voice", try file("note.ogg", bytes: 9_001), ["mimetype": "audio/ogg; codecs=opus", "seconds": 3]),
            ("document", try file("report.pdf", bytes: 20 << 20), ["fileName": "report.pdf", "mimetype": "application/pdf"]),
        ]
        for (kind, source, extra) in files {
            var request: [String: Any] = ["op": "send_media", "to": chat, "kind": kind, "path": source.path]
            request.merge(extra) { $1 }
            let sent = try await bob.call(request)
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
        let server = try await FakeWhatsApp()
        let (wharf, curl) = try await link(server)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        let bob = try await messaging.contact(server)
        let chat = "\(WebMessagingTests.phone)@s.whatsapp.net"
        let source = try file("old.jpg", bytes: 70_000)
        let sent = try await bob.call(["op": "send_media", "to": chat, "kind": "image", "path": source.path])
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
        let lost = try await bob.call(["op": "send_media", "to": chat, "kind": "document", "path": source.path, "fileName": "gone.bin"])
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

    @Test func aFileThatDoesNotMatchItsMessageIsFetchedAgainAfterAMediaRetry() async throws {
        let server = try await FakeWhatsApp()
        let (wharf, curl) = try await link(server)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        let bob = try await messaging.contact(server)
        let source = try file("damaged.pdf", bytes: 200_000)
        let sent = try await bob.call(
            ["op": "send_media", "to": "\(WebMessagingTests.phone)@s.whatsapp.net", "kind": "document", "path": source.path, "fileName": "d.pdf"])
        let id = try #require(sent["id"] as? String)
        let directPath = try #require(sent["directPath"] as? String)
        let message = try await wharf.recorder.wait("Bob's document") { $0.messages.first { $0.id == id } }
        try await server.control(
            "POST", "/media/owner",
            ["message_id": id, "media_key": sent["mediaKey"] as Any, "media_type": sent["mediaType"] as Any, "direct_path": directPath])
        // The CDN serves wrong bytes under the right path: the hash check catches it.
        try await server.control("POST", "/media/corrupt", ["direct_path": directPath])
        let target = directory.appendingPathComponent("checked")
        #expect(try await wharf.engine.downloadMedia(try #require(message.media?.reference), to: target) != nil)
        #expect(try Data(contentsOf: target) == Data(contentsOf: source))
        #expect(try await retriesList(server, through: curl).count == 1)
    }

    func retriesList(_ server: FakeWhatsApp, through curl: CurlWebhookSender) async throws -> [[String: Any]] {
        let answer = await curl.perform(HTTPTransportRequest(method: .get, url: server.controlURL + "/media/retries"))
        return try JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]] ?? []
    }
}

/// Sent media on the native engine: Wharf measures, encrypts and uploads each kind through the
/// fake media host, and pyaileys downloads and decrypts them (its MAC check on), byte for byte.
@Suite(.serialized) struct WebMediaSendingTests {
    let receiving = WebMediaTests()

    @Test func imageVideoVoiceNoteDocumentAndStickerReachTheContactByteForByte() async throws {
        let server = try await FakeWhatsApp()
        let (wharf, curl) = try await receiving.link(server)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        let bob = try await receiving.messaging.contact(server)
        let directory = receiving.directory
        let cases: [(kind: MediaKind, file: URL, mime: String, caption: String?, name: String?)] = await [
            (.image, try MediaFixtures.make(.jpeg, in: directory), "image/jpeg", "our stall", nil),
            (.video, try MediaFixtures.make(.mp4, in: directory), "video/mp4", "a tour", nil),
            (.voice, try MediaFixtures.make(.opus, in: directory), "audio/ogg", nil, nil),
            (.document, try receiving.file("price-list.pdf", bytes: 3 << 20), "application/pdf", "prices", "price-list.pdf"),
            (.sticker, try MediaFixtures.make(.png, in: directory), "image/png", nil, nil),
        ]
        for (index, item) in cases.enumerated() {
            let id = "3EB0MEDIA000\(index)"
            _ = try await wharf.engine.send(
                OutboundMessage(
                    clientMessageID: id, chat: ChatID("\(WebMessagingTests.contactPhone)@s.whatsapp.net"),
                    content: .media(kind: item.kind, file: item.file, mimeType: item.mime, caption: item.caption, fileName: item.name)))
            let answer = try await bob.call(["op": "wait", "for": "message", "match": ["id": id]])
            let received = try #require((answer["items"] as? [[String: Any]])?.first)
            #expect((received["attrs"] as? [String: Any])?["type"] as? String == "media", "\(item.kind): a media stanza")
            let media = try #require(received["media"] as? [String: Any], "\(item.kind): \(received)")
            let out = directory.appendingPathComponent("bob-\(index)")
            let download = try await bob.call(["op": "download", "id": id, "path": out.path])
            #expect(download["macChecked"] as? Bool == true)
            #expect(download["sha256"] as? String == media["fileSha256"] as? String)
            if item.kind != .sticker {
                #expect(try Data(contentsOf: out) == Data(contentsOf: item.file), "\(item.kind) byte for byte")
            }
            #expect(media["caption"] as? String == item.caption)
            switch item.kind {
            case .image:
                #expect(media["width"] as? Int == 640)
                #expect(media["height"] as? Int == 480)
                let message = received["message"] as? [String: Any]
                #expect((message?["imageMessage"] as? [String: Any])?["jpegThumbnail"] != nil, "a thumbnail")
            case .video:
                #expect(media["seconds"] as? Int == 2)
                #expect(media["width"] as? Int == 320)
            case .voice:
                #expect(media["ptt"] as? Bool == true)
                #expect(media["mimetype"] as? String == "audio/ogg; codecs=opus")
                #expect(media["seconds"] as? Int == 3)
            case .document:
                #expect(media["fileName"] as? String == "price-list.pdf")
                #expect(media["mimetype"] as? String == "application/pdf")
            case .sticker:
                #expect(media["mimetype"] as? String == "image/webp")
                let bytes = try Data(contentsOf: out)
                #expect(bytes.prefix(4) == Data("RIFF".utf8), "a WebP")
            default:
                break
            }
        }
    }

    @Test func aVoiceNoteThatIsNotOggOpusIsRefusedClearly() async throws {
        let server = try await FakeWhatsApp()
        let (wharf, curl) = try await receiving.link(server)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        _ = try await receiving.messaging.contact(server)
        do {
            _ = try await wharf.engine.send(
                OutboundMessage(
                    clientMessageID: "3EB0VOICEMP3", chat: ChatID("\(WebMessagingTests.contactPhone)@s.whatsapp.net"),
                    content: .media(
                        kind: .voice, file: try MediaFixtures.make(.mp3, in: receiving.directory), mimeType: "audio/mpeg", caption: nil,
                        fileName: nil)))
            Issue.record("an MP3 went out as a voice note")
        } catch let error as EngineError {
            guard case .invalidRequest(let why) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(why.contains("Ogg Opus"))
        }
        // Nothing was uploaded.
        let uploads = await curl.perform(HTTPTransportRequest(method: .get, url: server.controlURL + "/media/uploads"))
        #expect((try JSONSerialization.jsonObject(with: uploads.body) as? [Any])?.isEmpty == true)
    }
}

/// The outbound-address policy holds for media hosts as for webhooks: a private address is reached
/// only when allow-listed, both ways.
@Suite(.serialized) struct WebMediaPolicyTests {
    let receiving = WebMediaTests()

    @Test func aMediaHostOnAPrivateAddressIsRefusedForDownloadsAndUploads() async throws {
        let server = try await FakeWhatsApp()
        let (wharf, curl) = try await receiving.link(server, strict: true)
        defer {
            Task {
                await wharf.engine.shutdown()
                curl.shutdown()
            }
        }
        let bob = try await receiving.messaging.contact(server)
        let source = try receiving.file("private.jpg", bytes: 5_000)
        let sent = try await bob.call(["op": "send_media", "to": "\(WebMessagingTests.phone)@s.whatsapp.net", "kind": "image", "path": source.path])
        let id = try #require(sent["id"] as? String)
        let message = try await wharf.recorder.wait("Bob's image") { $0.messages.first { $0.id == id } }
        do {
            _ = try await wharf.engine.downloadMedia(try #require(message.media?.reference), to: receiving.directory.appendingPathComponent("no"))
            Issue.record("a private address was reached")
        } catch let error as MediaDownloadError {
            #expect(error.description.contains("OUTBOUND_ALLOW"), "\(error)")
        }
        do {
            _ = try await wharf.engine.send(
                OutboundMessage(
                    clientMessageID: "3EB0PRIVATE1", chat: ChatID("\(WebMessagingTests.contactPhone)@s.whatsapp.net"),
                    content: .media(kind: .document, file: source, mimeType: "application/pdf", caption: nil, fileName: "x.pdf")))
            Issue.record("a file was uploaded to a private address")
        } catch let error as EngineError {
            #expect(error.description.contains("OUTBOUND_ALLOW"), "\(error)")
        }
        // Only Bob's own upload reached the host.
        let uploads = try await JSONCall.raw("GET", server.controlURL + "/media/uploads")
        #expect((try JSONSerialization.jsonObject(with: uploads.body) as? [Any])?.count == 1)
    }
}
