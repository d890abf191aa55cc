import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing
import WharfCore

@testable import Gateway

#if canImport(Glibc)
import Glibc
#endif

/// Input limits that an attacker would probe: lengths counted in bytes as well as characters.
@Suite struct HardeningTests {
    /// One letter carrying thousands of combining marks is one character, but many bytes.
    static func heavy(_ marks: Int) -> String { "a" + String(repeating: "\u{0301}", count: marks) }

    @Test func lengthsAreLimitedInUTF8BytesAsWellAsCharacters() async throws {
        #expect(Self.heavy(3000).count == 1)
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("lengths")
            let named = try await app.call(
                .post, "/v1/sessions", json: ["name": .string(Self.heavy(300)), "engine": "sandbox"], as: .bearer(tenant.token))
            #expect(named.status == .unprocessableContent, "\(named.text)")
            #expect(named.string("field") == "name")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let captioned = try await app.call(
                .post, "/v1/sessions/\(session)/messages",
                json: ["chatId": "4915100000001", "type": "image", "mediaUrl": "https://example.com/a.png", "caption": .string(Self.heavy(3000))],
                as: .bearer(tenant.token))
            #expect(captioned.status == .unprocessableContent, "\(captioned.text)")
            #expect(captioned.string("field") == "caption")
            // A normal name of 100 characters still fits.
            let long = try await app.call(
                .post, "/v1/sessions", json: ["name": .string(String(repeating: "é", count: 100)), "engine": "sandbox"],
                as: .bearer(tenant.token))
            #expect(long.status == .created, "\(long.text)")
        }
        #expect(Validation.fits(String(repeating: "😀", count: 1024), characters: 1024))
        #expect(!Validation.fits(Self.heavy(5000), characters: 1024))
    }
}

/// DATA_DIR holds webhook secrets and message state: private to Wharf's user, whatever the umask.
@Suite(.serialized) struct DataDirectoryModeTests {
    func mode(_ path: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int }

    @Test func theFolderIs0700AndEveryFileIn0600EvenFromAnOlderVersionUnderUmask022() async throws {
        let directory = TestWharf.temporaryDirectory()
        // What an earlier version left under the usual umask: a readable folder and files.
        _ = umask(0o022)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
        FileManager.default.createFile(atPath: directory + "/notes.txt", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        try FileManager.default.createDirectory(
            atPath: directory + "/media", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try await TestWharf.run(dataDirectory: directory) { app in
            _ = try await app.makeTenant("private")
            // While the database is open, its WAL and shared-memory files exist too.
            #expect(mode(directory) == 0o700)
            #expect(mode(directory + "/media") == 0o700)
            for file in ["wharf.sqlite", "wharf.sqlite-wal", "wharf.sqlite-shm", "secrets.json", "notes.txt"] {
                #expect(mode(directory + "/" + file) == 0o600, "\(file)")
            }
        }
    }
}

/// What one tenant may pile up is capped.
@Suite struct TenantCapTests {
    @Test func webhooksKeysAndURLLengthsAreCapped() async throws {
        try await TestWharf.run(configure: {
            $0.maxWebhooksPerTenant = 2
            $0.maxAPIKeysPerTenant = 2
            $0.maxWebhookURLLength = 100
        }) { app in
            let tenant = try await app.makeTenant("piler")
            for index in 0..<2 {
                let made = try await app.call(
                    .post, "/v1/webhooks", json: ["url": .string("https://example.com/hook/\(index)")], as: .bearer(tenant.token))
                #expect(made.status == .created, "\(made.text)")
            }
            let third = try await app.call(.post, "/v1/webhooks", json: ["url": "https://example.com/hook/2"], as: .bearer(tenant.token))
            #expect(third.status == .conflict)
            #expect(third.string("detail")?.contains("MAX_WEBHOOKS_PER_TENANT") == true)
            let other = try await app.makeTenant("other")
            let long = "https://example.com/" + String(repeating: "a", count: 100)
            let tooLong = try await app.call(.post, "/v1/webhooks", json: ["url": .string(long)], as: .bearer(other.token))
            #expect(tooLong.status == .unprocessableContent)
            #expect(tooLong.string("detail")?.contains("MAX_WEBHOOK_URL_LENGTH") == true)

            var ids: [String] = []
            for _ in 0..<2 {
                let key = try await app.call(.post, "/v1/keys", json: ["name": "n8n"], as: .bearer(tenant.token))
                #expect(key.status == .created)
                ids.append(key.string("id") ?? "")
            }
            #expect(try await app.call(.post, "/v1/keys", json: ["name": "n8n"], as: .bearer(tenant.token)).status == .conflict)
            // A revoked key frees its place.
            #expect(try await app.call(.delete, "/v1/keys/\(ids[0])", as: .bearer(tenant.token)).status == .noContent)
            #expect(try await app.call(.post, "/v1/keys", json: ["name": "n8n"], as: .bearer(tenant.token)).status == .created)
        }
    }
}

/// Login tokens end with the password that made them, and on the tenant's word.
@Suite struct TokenRevocationTests {
    @Test func aNewPasswordAndRevokeAllVoidEarlierTokensButNotAPIKeys() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("revoker")
            let key = try #require(
                try await app.call(.post, "/v1/keys", json: ["name": "n8n"], as: .bearer(tenant.token)).string("key"))
            #expect(try await app.call(.get, "/v1/me", as: .bearer(tenant.token)).status == .ok)

            // The administrator sets a new password: the old token is refused, a new login works.
            let reset = try await app.call(.post, "/v1/tenants/\(tenant.id)/password", json: ["password": "a-new-password"], as: .admin)
            #expect(reset.status == .noContent, "\(reset.text)")
            let old = try await app.call(.get, "/v1/me", as: .bearer(tenant.token))
            #expect(old.status == .unauthorized)
            #expect(old.string("detail")?.contains("revoked") == true)
            let login = try await app.call(.post, "/v1/login", json: ["username": "revoker", "password": "a-new-password"])
            let fresh = try #require(login.string("token"))
            #expect(try await app.call(.get, "/v1/me", as: .bearer(fresh)).status == .ok)

            // The tenant revokes all its tokens: this one goes too; its API key stays.
            #expect(try await app.call(.post, "/v1/me/tokens/revoke", as: .bearer(fresh)).status == .noContent)
            #expect(try await app.call(.get, "/v1/me", as: .bearer(fresh)).status == .unauthorized)
            #expect(try await app.call(.get, "/v1/me", as: .bearer(key)).status == .ok)
            let again = try await app.call(.post, "/v1/login", json: ["username": "revoker", "password": "a-new-password"])
            #expect(try await app.call(.get, "/v1/me", as: .bearer(try #require(again.string("token")))).status == .ok)
        }
    }
}

/// A body without a Content-Length is held to the same limit as one with.
@Suite struct ChunkedBodyTests {
    @Test func aChunkedBodyOverTheLimitIs413() async throws {
        try await TestWharf.run { app in
            let port = try #require(app.client.port)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/login")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            let (chunks, input) = AsyncStream.makeStream(of: ByteBuffer.self)
            input.yield(ByteBuffer(string: "{\"username\": \"" + String(repeating: "x", count: 40_000)))
            input.yield(ByteBuffer(string: String(repeating: "y", count: 40_000) + "\"}"))
            input.finish()
            request.body = .stream(chunks, length: .unknown)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status.code == 413)
            let body = try await response.body.collect(upTo: 1 << 16)
            #expect(String(buffer: body).contains("MAX_BODY_BYTES"))
        }
    }
}

/// A TCP connection driven by hand, for clients that misbehave.
final class RawSocket {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CancellationError() }
    }

    deinit { close(descriptor) }

    func send(_ text: String) {
        _ = text.withCString { Glibc.send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Whether the server closed the connection within `seconds` (what it sent before is skipped).
    func isClosed(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return true }
        }
        return false
    }
}

/// Slow and idle clients are cut off, and never stop the server from answering others.
@Suite(.serialized) struct ConnectionTimeoutTests {
    static func configure(_ configuration: inout WharfConfiguration) {
        configuration.httpIdleTimeout = .seconds(1)
        configuration.httpBodyTimeout = .seconds(1)
        configuration.maxConnections = 8
    }

    @Test func halfSentHeadersAndStalledBodiesAreClosedAndOthersAreStillAnswered() async throws {
        try await TestWharf.run(configure: Self.configure) { app in
            let port = try #require(app.client.port)
            let header = try RawSocket(port: port)
            header.send("GET /health HTTP/1.1\r\nHost: wharf\r\n")
            let body = try RawSocket(port: port)
            body.send("POST /v1/login HTTP/1.1\r\nHost: wharf\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
            let idle = try RawSocket(port: port)
            // Meanwhile the server answers others.
            #expect(try await app.call(.get, "/health").status == .ok)
            #expect(header.isClosed(within: 15), "a half-sent header is cut off")
            #expect(body.isClosed(within: 15), "a stalled body is cut off")
            #expect(idle.isClosed(within: 15), "an idle connection is cut off")
        }
    }

    @Test func connectionsBeyondTheCapAreClosedAtOnceAndTheServerStaysReachable() async throws {
        try await TestWharf.run(configure: { $0.maxConnections = 8 }) { app in
            let port = try #require(app.client.port)
            var held: [RawSocket] = []
            var refused = 0
            for _ in 0..<12 {
                let socket = try RawSocket(port: port)
                if socket.isClosed(within: 0.3) { refused += 1 } else { held.append(socket) }
            }
            #expect(held.count <= 8)
            #expect(refused >= 4)
            held.removeAll()
            try await eventually("the server answers again") { try await app.call(.get, "/health").status == .ok }
        }
    }
}
