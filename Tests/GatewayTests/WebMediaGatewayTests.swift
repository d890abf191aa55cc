import Foundation
import Hummingbird
import PeerSupport
import TestSupport
import Testing
import WharfCore

/// Received files through the whole gateway: pyaileys sends them through the fake server's HTTPS
/// media host; a real `wharf` (trusting the host's test CA by `WA_CA_FILE`) fetches and decrypts
/// them and the webhook's signed URLs serve them byte for byte, in ranges too, to nobody else.
@Suite(.serialized) struct WebMediaGatewayTests {
    let messaging = WebMessagingGatewayTests()

    func file(_ directory: String, _ name: String, bytes count: Int) throws -> URL {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
        try randomData(count).write(to: url)
        return url
    }

    /// The `message.received` webhook of message `id`.
    func delivered(_ receiver: TestReceiver, id: String) async throws -> [String: Any] {
        let delivery = try await waitFor("the webhook of \(id)") {
            receiver.requests.first { ($0.json?["data"] as? [String: Any])?["id"] as? String == id }
        }
        return try #require(delivery.json?["data"] as? [String: Any])
    }

    @Test func receivedFilesAreServedBySignedURLsWithRangesAndToTheirTenantOnly() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let info = try await server.control("GET", "/media/info").json
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await messaging.setUp(
            server, receiver: receiver,
            environment: ["OUTBOUND_ALLOW": "127.0.0.1", "WA_CA_FILE": try #require(info["media_ca_file"] as? String)])
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let bob = try await messaging.contact(server)
        let chat = "\(WebMessagingGatewayTests.phone)@s.whatsapp.net"
        let base = "http://127.0.0.1:\(setup.child.port)"

        let sources: [(kind: String, url: URL, extra: [String: Any])] = [
            ("image", try file(setup.directory, "photo.jpg", bytes: 61_000), ["caption": "our stand", "mimetype": "image/jpeg"]),
            ("voice", try file(setup.directory, "note.ogg", bytes: 12_345), ["mimetype": "audio/ogg; codecs=opus", "seconds": 4]),
            ("document", try file(setup.directory, "big.pdf", bytes: 20 << 20), ["fileName": "big.pdf", "mimetype": "application/pdf"]),
        ]
        var links: [String] = []
        for (kind, source, extra) in sources {
            var request: [String: Any] = ["op": "send_media", "to": chat, "kind": kind, "path": source.path]
            request.merge(extra) { $1 }
            let sent = try await bob.call(request)
            let data = try await delivered(receiver, id: try #require(sent["id"] as? String))
            #expect(data["type"] as? String == kind)
            let media = try #require(data["media"] as? [String: Any])
            let expected = try Data(contentsOf: source)
            #expect(media["kind"] as? String == kind)
            #expect(media["size"] as? Int == expected.count)
            #expect(media["sha256"] as? String == sent["fileSha256"] as? String)
            #expect(media["mime_type"] as? String == extra["mimetype"] as? String)
            #expect(media["reference"] == nil)
            // No key or WhatsApp path leaks into the event.
            #expect(!String(describing: media).contains(sent["directPath"] as? String ?? "?"))
            let link = try #require(media["url"] as? String)
            let id = try #require(media["id"] as? String)
            #expect(link.contains("/v1/media/\(id)?expires="))
            let signed = base + link[link.range(of: "/v1/media/")!.lowerBound...]
            links.append(signed)

            // The link alone fetches it, byte for byte.
            let whole = try await JSONCall.raw("GET", signed)
            #expect(whole.status == 200)
            #expect(whole.body == expected, "\(kind) served byte for byte")
            #expect(whole.headers["content-type"] == extra["mimetype"] as? String)
            #expect(whole.headers["accept-ranges"] == "bytes")
            // A range.
            let part = try await JSONCall.raw("GET", signed, headers: [("Range", "bytes=100-1099")])
            #expect(part.status == 206)
            #expect(part.body == expected[100...1099])
            #expect(part.headers["content-range"] == "bytes 100-1099/\(expected.count)")
            let tail = try await JSONCall.raw("GET", signed, headers: [("Range", "bytes=-10")])
            #expect(tail.body == expected.suffix(10))
            let beyond = try await JSONCall.raw("GET", signed, headers: [("Range", "bytes=\(expected.count + 5)-")])
            #expect(beyond.status == 416)

            // The tenant's own credentials fetch it too.
            let owned = try await JSONCall.raw("GET", base + "/v1/media/\(id)", headers: [("Authorization", "Bearer \(setup.token)")])
            #expect(owned.status == 200)
            #expect(owned.body == expected)
        }

        // Refused: no credentials, a tampered signature, the signature of another file, and
        // another tenant's credentials (as if the id did not exist).
        let first = links[0]
        let id = String(first.split(separator: "/").last!.split(separator: "?").first!)
        #expect(try await JSONCall.raw("GET", base + "/v1/media/\(id)").status == 401)
        var tampered = first
        tampered.replaceSubrange(tampered.index(before: tampered.endIndex)..., with: first.last == "0" ? "1" : "0")
        #expect(try await JSONCall.raw("GET", tampered).status == 403)
        let otherQuery = links[1].split(separator: "?").last!
        #expect(try await JSONCall.raw("GET", base + "/v1/media/\(id)?\(otherQuery)").status == 403)
        let stretched = first.replacingOccurrences(of: "expires=", with: "expires=9")
        #expect(try await JSONCall.raw("GET", stretched).status == 403)
        let other: [String: Any] = ["name": "Other", "username": "other", "password": "password-other", "maxSessions": 1]
        #expect(try await setup.child.call("POST", "/v1/tenants", json: other).status == 201)
        let otherToken = try #require(
            try await setup.child.call("POST", "/v1/login", json: ["username": "other", "password": "password-other"]).body["token"]
                as? String)
        let foreign = try await JSONCall.raw("GET", base + "/v1/media/\(id)", headers: [("Authorization", "Bearer \(otherToken)")])
        #expect(foreign.status == 404)
        #expect(try await JSONCall.raw("GET", base + "/v1/media/med_unknown", headers: [("Authorization", "Bearer \(otherToken)")]).status == 404)

        // Files are private to Wharf's user on disk.
        let stored = setup.directory + "/media-in/" + id
        let mode = try FileManager.default.attributesOfItem(atPath: stored)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aLazyTenantsFileIsFetchedOnFirstRequestAndALostOneIsReported() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let info = try await server.control("GET", "/media/info").json
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await messaging.setUp(
            server, receiver: receiver, settings: ["media": ["download": "lazy"]],
            environment: ["OUTBOUND_ALLOW": "127.0.0.1", "WA_CA_FILE": try #require(info["media_ca_file"] as? String)])
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let bob = try await messaging.contact(server)
        let chat = "\(WebMessagingGatewayTests.phone)@s.whatsapp.net"
        let base = "http://127.0.0.1:\(setup.child.port)"

        let source = try file(setup.directory, "later.jpg", bytes: 33_333)
        let sent = try await bob.call(["op": "send_media", "to": chat, "kind": "image", "path": source.path])
        let data = try await delivered(receiver, id: try #require(sent["id"] as? String))
        let link = try #require((data["media"] as? [String: Any])?["url"] as? String)
        // Nothing was fetched from WhatsApp yet.
        #expect(try await downloads(server, sent["directPath"] as? String) == 0)
        let fetched = try await JSONCall.raw("GET", base + link[link.range(of: "/v1/media/")!.lowerBound...])
        #expect(fetched.status == 200)
        #expect(fetched.body == (try Data(contentsOf: source)))
        #expect(try await downloads(server, sent["directPath"] as? String) == 1)

        // A file WhatsApp dropped and the phone no longer has: media.failed, and the link says so.
        let lostSource = try file(setup.directory, "lost.pdf", bytes: 4_000)
        let lost = try await bob.call(["op": "send_media", "to": chat, "kind": "document", "path": lostSource.path, "fileName": "lost.pdf"])
        try await server.control("POST", "/media/expire", ["direct_path": lost["directPath"] as Any, "status": 404])
        let lostData = try await delivered(receiver, id: try #require(lost["id"] as? String))
        let lostMedia = try #require(lostData["media"] as? [String: Any])
        let lostLink = try #require(lostMedia["url"] as? String)
        let refused = try await JSONCall.raw("GET", base + lostLink[lostLink.range(of: "/v1/media/")!.lowerBound...])
        #expect(refused.status == 502)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("no longer has the file"))
        let failure = try await waitFor("the media.failed webhook") {
            receiver.requests.first { $0.json?["type"] as? String == "media.failed" }
        }
        let failed = try #require(failure.json?["data"] as? [String: Any])
        #expect(failed["media_id"] as? String == lostMedia["id"] as? String)
        #expect(failed["message_id"] as? String == lost["id"] as? String)
        #expect((failed["reason"] as? String)?.contains("no longer has the file") == true)
    }

    /// How often the fake media host served the file at `directPath`.
    func downloads(_ server: FakeWhatsApp, _ directPath: String?) async throws -> Int {
        let answer = try await JSONCall.raw("GET", server.controlURL + "/media/uploads")
        let uploads = try JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]] ?? []
        return uploads.first { $0["direct_path"] as? String == directPath }?["downloads"] as? Int ?? -1
    }

    @Test func smallFilesGoInlineForATenantThatAsksAndLargerOnesByLink() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let info = try await server.control("GET", "/media/info").json
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await messaging.setUp(
            server, receiver: receiver, settings: ["media": ["inlineMaxBytes": 50_000]],
            environment: ["OUTBOUND_ALLOW": "127.0.0.1", "WA_CA_FILE": try #require(info["media_ca_file"] as? String)])
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let bob = try await messaging.contact(server)
        let chat = "\(WebMessagingGatewayTests.phone)@s.whatsapp.net"

        let small = try file(setup.directory, "small.jpg", bytes: 30_000)
        let sent = try await bob.call(["op": "send_media", "to": chat, "kind": "image", "path": small.path])
        let smallID = try #require(sent["id"] as? String)
        let inline = try #require(try await delivered(receiver, id: smallID)["media"] as? [String: Any])
        #expect(inline["base64"] as? String == (try Data(contentsOf: small)).base64EncodedString())
        let large = try file(setup.directory, "large.pdf", bytes: 80_000)
        let sentLarge = try await bob.call(["op": "send_media", "to": chat, "kind": "document", "path": large.path, "fileName": "large.pdf"])
        let largeID = try #require(sentLarge["id"] as? String)
        let linked = try #require(try await delivered(receiver, id: largeID)["media"] as? [String: Any])
        #expect(linked["base64"] == nil)
        #expect(linked["url"] as? String != nil)

    }

    /// The tenant sends through the API, by URL and by upload; pyaileys downloads every file.
    @Test func theTenantSendsFilesByURLAndByUploadAndTheContactGetsThemByteForByte() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let info = try await server.control("GET", "/media/info").json
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await messaging.setUp(
            server, receiver: receiver, humanize: ["typingMs": 50, "pauseMs": 10, "gapMs": 0, "markRead": false],
            environment: ["OUTBOUND_ALLOW": "127.0.0.1", "WA_CA_FILE": try #require(info["media_ca_file"] as? String)])
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let bob = try await messaging.contact(server)
        let folder = URL(fileURLWithPath: setup.directory).appendingPathComponent("served")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let files = try await FileServer.start(folder)
        defer { Task { await files.stop() } }
        let photo = try await MediaFixtures.make(.jpeg, in: folder, name: "photo")
        let voice = try await MediaFixtures.make(.opus, in: folder, name: "voice")
        let video = try await MediaFixtures.make(.mp4, in: folder, name: "clip")
        let mp3 = try await MediaFixtures.make(.mp3, in: folder, name: "song")
        let document = try file(folder.path, "terms.pdf", bytes: 2 << 20)
        let base = "http://127.0.0.1:\(setup.child.port)"
        let send = "\(base)/v1/sessions/\(setup.session)/messages"
        let auth = ("Authorization", "Bearer \(setup.token)")
        let chat = "+\(WebMessagingGatewayTests.contactPhone)"

        func sent(_ answer: (status: Int, headers: [String: String], body: Data)) async throws -> [String: Any] {
            #expect(answer.status == 202, "\(String(decoding: answer.body, as: UTF8.self))")
            let job = try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])
            let id = try #require(job["jobId"] as? String)
            let done = try await waitFor("job \(id)") { () -> [String: Any]? in
                let body = try await setup.child.call("GET", "/v1/jobs/\(id)", token: setup.token).body
                return ["sent", "failed"].contains(body["status"] as? String ?? "") ? body : nil
            }
            #expect(done["status"] as? String == "sent", "\(done)")
            let messageID = try #require(done["messageId"] as? String)
            let answer = try await bob.call(["op": "wait", "for": "message", "match": ["id": messageID]])
            return try #require((answer["items"] as? [[String: Any]])?.first)
        }
        func json(_ body: [String: Any]) throws -> Data { try JSONSerialization.data(withJSONObject: body) }

        var cases: [(item: [String: Any], source: URL)] = []
        // By URL, as the seed sent media: an image and a voice note.
        cases.append(
            (
                try await sent(
                    try await JSONCall.raw(
                        "POST", send, headers: [auth, ("Content-Type", "application/json")],
                        body: try json(["chatId": chat, "type": "image", "mediaUrl": files.url("photo.jpg"), "caption": "today"]))),
                photo
            ))
        cases.append(
            (
                try await sent(
                    try await JSONCall.raw(
                        "POST", send, headers: [auth, ("Content-Type", "application/json")],
                        body: try json(["chatId": chat, "type": "voice", "mediaUrl": files.url("voice.ogg")]))),
                voice
            ))
        // By upload: a document and a video, as multipart/form-data.
        for (source, type, mime) in [(document, "document", "application/pdf"), (video, "video", "video/mp4")] {
            let form = JSONCall.form(
                ["chatId": chat, "type": type, "caption": "see attached"], file: (source.lastPathComponent, mime, try Data(contentsOf: source)))
            cases.append(
                (try await sent(try await JSONCall.raw("POST", send, headers: [auth, ("Content-Type", form.contentType)], body: form.body)), source))
        }
        for (index, (item, source)) in cases.enumerated() {
            let out = folder.appendingPathComponent("bob-\(index)")
            let download = try await bob.call(["op": "download", "id": try #require(item["id"] as? String), "path": out.path])
            #expect(download["macChecked"] as? Bool == true)
            #expect(try Data(contentsOf: out) == Data(contentsOf: source), "\(source.lastPathComponent) byte for byte")
        }
        let media = cases.map { $0.item["media"] as? [String: Any] ?? [:] }
        #expect(media[0]["caption"] as? String == "today")
        #expect(media[1]["ptt"] as? Bool == true)
        #expect(media[2]["fileName"] as? String == "terms.pdf")
        #expect(media[3]["seconds"] as? Int == 2)

        // An MP3 is no voice note: refused when the job is created, by URL and by upload alike.
        let byURL = try await JSONCall.raw(
            "POST", send, headers: [auth, ("Content-Type", "application/json")],
            body: try json(["chatId": chat, "type": "voice", "mediaUrl": files.url("song.mp3")]))
        #expect(byURL.status == 422)
        #expect(String(decoding: byURL.body, as: UTF8.self).contains("Ogg Opus"))
        let form = JSONCall.form(["chatId": chat, "type": "voice"], file: ("song.mp3", "audio/mpeg", try Data(contentsOf: mp3)))
        let byUpload = try await JSONCall.raw("POST", send, headers: [auth, ("Content-Type", form.contentType)], body: form.body)
        #expect(byUpload.status == 422)
        // An upload past the kind's limit is 413, and nothing is left on disk.
        let big = JSONCall.form(["chatId": chat, "type": "image"], file: ("big.jpg", "image/jpeg", Data(count: 6 << 20)))
        let tooBig = try await JSONCall.raw("POST", send, headers: [auth, ("Content-Type", big.contentType)], body: big.body)
        #expect(tooBig.status == 413)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: setup.directory + "/media")) ?? []
        #expect(left.isEmpty, "\(left)")
    }
}

/// Serves a folder's files on 127.0.0.1, with a content type by extension, as a tenant's file host would.
final class FileServer: Sendable {
    let port: Int
    private let group: ServiceGroupBox

    private init(port: Int, group: ServiceGroupBox) {
        self.port = port
        self.group = group
    }

    static func start(_ folder: URL) async throws -> FileServer {
        let router = Router()
        let types = ["jpg": "image/jpeg", "ogg": "audio/ogg", "mp4": "video/mp4", "mp3": "audio/mpeg", "pdf": "application/pdf"]
        router.get("/files/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            let path = folder.appendingPathComponent(name).path
            let body = try await FileIO().loadFile(path: path, context: context)
            let type = types[(name as NSString).pathExtension] ?? "application/octet-stream"
            return Response(status: .ok, headers: [.contentType: type], body: body)
        }
        let box = try await ServiceGroupBox.start(router: router)
        return FileServer(port: box.port, group: box)
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port)/files/\(name)" }
    func stop() async { await group.stop() }
}
