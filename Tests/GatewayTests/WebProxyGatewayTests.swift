import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

/// A native session's proxy, through a real `wharf` and pproxy (an independent HTTP CONNECT and
/// SOCKS5 proxy, both requiring a password): the WebSocket and the media fetches go through it,
/// the password never shows, a wrong one is reported, and the address policy applies to the proxy.
@Suite(.serialized) struct WebProxyGatewayTests {
    let messaging = WebMessagingGatewayTests()

    struct Proxy {
        let peer: JSONPeer
        let socks: Int
        let http: Int
        let password: String

        init() async throws {
            peer = try await JSONPeer("proxy_peer.py")
            socks = try #require(peer.ready["socks"] as? Int)
            http = try #require(peer.ready["http"] as? Int)
            password = try #require(peer.ready["password"] as? String)
        }

        /// `scheme://wharf:PASSWORD@127.0.0.1:port`, the password percent-encoded as URLs need.
        func url(_ scheme: String, password given: String? = nil) -> String {
            let encoded = (given ?? password).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            return "\(scheme)://wharf:\(encoded)@127.0.0.1:\(scheme == "http" ? http : socks)"
        }

        /// The tunnels pproxy opened, as "kind target", and how many connections it refused.
        func log() async throws -> (tunnels: [String], refused: Int) {
            let answer = try await peer.call(["op": "log"])
            let tunnels = (answer["tunnels"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? "?") \($0["target"] ?? "?")" }
            return (tunnels, answer["refused"] as? Int ?? 0)
        }
    }

    @Test func aWebSessionReachesWhatsAppAndItsMediaThroughItsProxyAndNeverShowsThePassword() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let info = try await server.control("GET", "/media/info").json
        let mediaHost = try #require(info["media_host"] as? String)
        let whatsApp = try #require(URL(string: server.url).map { "\($0.host ?? ""):\($0.port ?? 0)" })
        let proxy = try await Proxy()
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }

        // Linked through SOCKS5 with a password.
        let setup = try await messaging.setUp(
            server, receiver: receiver,
            environment: ["OUTBOUND_ALLOW": "127.0.0.1", "WA_CA_FILE": try #require(info["media_ca_file"] as? String)],
            session: ["proxy": proxy.url("socks5")])
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let path = "/v1/sessions/\(setup.session)"
        #expect(try await proxy.log().tunnels.contains("socks5 \(whatsApp)"), "the WebSocket went through the SOCKS5 proxy")

        // The password is in no answer and not in the database in the clear.
        let shown = try await JSONCall.raw(
            "GET", "http://127.0.0.1:\(setup.child.port)\(path)", headers: [("Authorization", "Bearer \(setup.token)")])
        let view = try #require(try JSONSerialization.jsonObject(with: shown.body) as? [String: Any])
        #expect(view["proxy"] as? String == "socks5://wharf@127.0.0.1:\(proxy.socks)")
        let encoded = try #require(proxy.password.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        #expect(
            !String(decoding: shown.body, as: UTF8.self).contains(encoded) && !String(decoding: shown.body, as: UTF8.self).contains(proxy.password))
        for file in ["wharf.sqlite", "wharf.sqlite-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: setup.directory + "/" + file))) ?? Data()
            #expect(bytes.range(of: Data(proxy.password.utf8)) == nil && bytes.range(of: Data(encoded.utf8)) == nil, "\(file) holds no password")
        }

        // A received image is fetched from the media host through the same proxy.
        let bob = try await messaging.contact(server)
        let photo = URL(fileURLWithPath: setup.directory).appendingPathComponent("photo.jpg")
        try Data((0..<30_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: photo)
        let sent = try await bob.call([
            "op": "send_media", "to": "\(WebMessagingGatewayTests.phone)@s.whatsapp.net", "kind": "image", "path": photo.path,
            "mimetype": "image/jpeg",
        ])
        let id = try #require(sent["id"] as? String)
        let delivery = try await waitFor("the image's webhook") {
            receiver.requests.first { ($0.json?["data"] as? [String: Any])?["id"] as? String == id }
        }
        let media = try #require((delivery.json?["data"] as? [String: Any])?["media"] as? [String: Any])
        #expect(media["size"] as? Int == 30_000, "fetched and decrypted: \(media)")
        let tunnels = try await proxy.log().tunnels
        #expect(tunnels.contains("socks5 \(mediaHost)"), "the media fetch went through the proxy: \(tunnels)")

        // Switched to an HTTP CONNECT proxy: the session reconnects through it.
        let switched = try await setup.child.call("PATCH", path, json: ["proxy": proxy.url("http")], token: setup.token)
        #expect(switched.status == 200 && switched.body["proxy"] as? String == "http://wharf@127.0.0.1:\(proxy.http)", "\(switched.body)")
        _ = try await waitFor("a tunnel through the HTTP proxy") { try await proxy.log().tunnels.contains("http \(whatsApp)") ? true : nil }
        _ = try await waitFor("the session connected through the HTTP proxy") {
            try await setup.child.call("GET", path, token: setup.token).body["status"] as? String == "connected" ? true : nil
        }

        // A wrong password: the session does not connect, and says why; it never goes around the proxy.
        let before = try await proxy.log()
        let wrong = try await setup.child.call("PATCH", path, json: ["proxy": proxy.url("socks5", password: "wrong")], token: setup.token)
        #expect(wrong.status == 200)
        let detail = try await waitFor("the proxy's refusal in the session's status") {
            let body = try await setup.child.call("GET", path, token: setup.token).body
            return (body["statusDetail"] as? String).flatMap { $0.contains("refused the username and password") ? $0 : nil }
        }
        #expect(detail.contains("socks5://wharf@127.0.0.1:\(proxy.socks)") && !detail.contains("wrong"), "\(detail)")
        let after = try await proxy.log()
        #expect(after.refused > before.refused && after.tunnels.count == before.tunnels.count)

        // Removed: the session connects directly again.
        let removed = try await setup.child.call("PATCH", path, json: ["proxy": NSNull()], token: setup.token)
        #expect(removed.status == 200 && removed.body["proxy"] == nil, "\(removed.body)")
        _ = try await waitFor("the session connected without a proxy") {
            try await setup.child.call("GET", path, token: setup.token).body["status"] as? String == "connected" ? true : nil
        }
        #expect(try await proxy.log().tunnels.count == after.tunnels.count)

        // What is refused, naming the field: another scheme, no port, a private address not in
        // OUTBOUND_ALLOW, and an engine that has no connection of its own.
        let refusals: [(json: [String: Any], says: String)] = [
            (["proxy": "https://127.0.0.1:8443"], "use http:// (CONNECT) or socks5://"),
            (["proxy": "socks5://127.0.0.1"], "needs a port"),
            (["proxy": "socks5://10.20.30.40:1080"], "OUTBOUND_ALLOW"),
        ]
        for (json, says) in refusals {
            let answer = try await setup.child.call("PATCH", path, json: json, token: setup.token)
            #expect(answer.status == 422 && answer.body["field"] as? String == "proxy", "\(answer.body)")
            #expect((answer.body["detail"] as? String)?.contains(says) == true, "\(answer.body)")
        }
        let sandbox = try await setup.child.call(
            "POST", "/v1/sessions", json: ["engine": "sandbox", "proxy": proxy.url("socks5")], token: setup.token)
        #expect(sandbox.status == 422 && (sandbox.body["detail"] as? String)?.contains("only a web session") == true, "\(sandbox.body)")
    }
}
