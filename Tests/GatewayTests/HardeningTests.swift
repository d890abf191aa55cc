import AsyncHTTPClient
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import NIOCore
import Outbox
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
        _ = FileManager.default.createFile(atPath: directory + "/notes.txt", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
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

    /// What the server sent within `seconds`, up to the end of its headers.
    func head(within seconds: Double) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline, !String(decoding: received, as: UTF8.self).contains("\r\n\r\n") {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
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
            // Meanwhile the server answers others (on a connection of their own: the test client's
            // may itself have sat idle past the one-second timeout on a loaded machine).
            let other = try RawSocket(port: port)
            other.send("GET /health HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n")
            #expect(other.head(within: 15).hasPrefix("HTTP/1.1 200"))
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

/// Password guessing, tried as an attacker would: concurrently, from many addresses, at the owner.
@Suite(.serialized) struct LoginThrottleTests {
    static func behindProxy(_ configuration: inout WharfConfiguration) {
        configuration.trustedProxies = [IPNetwork(parsing: "127.0.0.1/32")!]
    }

    func login(_ app: TestWharf, _ password: String, from address: String? = nil, username: String = "guarded") async throws -> TestWharf.Reply {
        var headers: HTTPFields = [:]
        if let address { headers[HTTPField.Name("X-Forwarded-For")!] = address }
        return try await app.call(.post, "/v1/login", json: ["username": .string(username), "password": .string(password)], headers: headers)
    }

    func statuses(_ replies: [TestWharf.Reply]) -> [Int: Int] {
        replies.reduce(into: [:]) { $0[Int($1.status.code), default: 0] += 1 }
    }

    /// POSTs every body at once, each on a connection of its own (a client with room for all).
    func concurrently(_ app: TestWharf, _ path: String, _ requests: [(body: String, headers: [(String, String)])]) async throws -> [Int] {
        let port = try #require(app.client.port)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let codes = try await withThrowingTaskGroup(of: Int.self) { group in
            for (body, headers) in requests {
                group.addTask {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    for (name, value) in headers { request.headers.add(name: name, value: value) }
                    request.body = .bytes(ByteBuffer(string: body))
                    return Int(try await client.execute(request, timeout: .seconds(60)).status.code)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await client.shutdown()
        return codes
    }

    func counts(_ codes: [Int]) -> [Int: Int] { codes.reduce(into: [:]) { $0[$1, default: 0] += 1 } }

    @Test func concurrentGuessesAreCountedBeforeTheCheckForTenantsAndTheAdministrator() async throws {
        try await TestWharf.run { app in
            _ = try await app.makeTenant("guarded")
            let tenant = counts(
                try await concurrently(
                    app, "/v1/login", (0..<30).map { ("{\"username\":\"guarded\",\"password\":\"wrong-\($0)\"}", []) }))
            #expect((tenant[401] ?? 0) <= 5, "\(tenant)")
            #expect((tenant[429] ?? 0) >= 25, "\(tenant)")
            let adminCounts = counts(try await concurrently(app, "/admin/login", (0..<30).map { ("{\"password\":\"wrong-\($0)\"}", []) }))
            #expect((adminCounts[401] ?? 0) <= 5, "\(adminCounts)")
            #expect((adminCounts[429] ?? 0) >= 25, "\(adminCounts)")
        }
    }

    @Test func aStrangerCannotLockTheOwnerOutFromAKnownPlace() async throws {
        try await TestWharf.run(configure: Self.behindProxy) { app in
            _ = try await app.makeTenant("guarded")
            // The owner has logged in from home before.
            #expect(try await login(app, "password-guarded", from: "198.51.100.7").status == .ok)
            // A stranger burns the account's guesses from elsewhere, and is locked out.
            for index in 0..<5 { #expect(try await login(app, "guess-\(index)", from: "203.0.113.9").status == .unauthorized) }
            #expect(try await login(app, "guess-5", from: "203.0.113.9").status == .tooManyRequests)
            // Another unknown address shares the account's exhausted budget.
            #expect(try await login(app, "guess-6", from: "203.0.113.10").status == .tooManyRequests)
            // The owner still gets in from home.
            #expect(try await login(app, "password-guarded", from: "198.51.100.7").status == .ok)
        }
    }

    @Test func forwardedAddressesAreBelievedOnlyFromTrustedProxies() async throws {
        try await TestWharf.run { app in
            _ = try await app.makeTenant("guarded")
            // Not behind a trusted proxy: a new X-Forwarded-For per guess does not buy new guesses.
            for index in 0..<5 { _ = try await login(app, "guess-\(index)", from: "203.0.113.\(index + 1)") }
            #expect(try await login(app, "guess-5", from: "203.0.113.99").status == .tooManyRequests)
        }
        let middleware = ClientAddressMiddleware(trusted: [IPNetwork(parsing: "10.0.0.0/8")!])
        func request(_ name: String, _ value: String) -> Request {
            var fields = HTTPFields()
            fields[HTTPField.Name(name)!] = value
            return Request(
                head: HTTPRequest(method: .get, scheme: "http", authority: "wharf", path: "/", headerFields: fields),
                body: RequestBody(buffer: ByteBuffer()))
        }
        #expect(middleware.client(in: request("X-Forwarded-For", "192.0.2.1, 198.51.100.4, 10.1.2.3")) == "198.51.100.4")
        #expect(middleware.client(in: request("X-Forwarded-For", "10.9.9.9")) == nil)
        #expect(middleware.client(in: request("X-Forwarded-For", "not-an-address, 10.9.9.9")) == nil)
        #expect(middleware.client(in: request("Forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\"")) == "2001:db8:cafe::17")
        #expect(middleware.client(in: request("Forwarded", "for=192.0.2.43:8080")) == "192.0.2.43")
    }

    @Test func theAdministratorsAccountHasAGlobalCeilingAcrossAddresses() async throws {
        try await TestWharf.run(configure: Self.behindProxy) { app in
            var refused = 0
            var evaluated = 0
            for index in 0..<40 {
                var headers: HTTPFields = [:]
                headers[HTTPField.Name("X-Forwarded-For")!] = "203.0.113.\(index + 1)"
                let reply = try await app.call(.post, "/admin/login", json: ["password": .string("guess-\(index)")], headers: headers)
                if reply.status == .tooManyRequests { refused += 1 } else { evaluated += 1 }
            }
            // Each address has 5 guesses, and the account 5 from all unknown addresses together.
            #expect(evaluated <= 5, "evaluated \(evaluated)")
            #expect(refused >= 35)
        }
    }

    @Test func passwordChecksAreBoundedAndKeysAreNotHeldUp() async throws {
        // bcrypt at cost 9 (about 30 ms a check here): 40 logins at once cannot all be checked in time.
        try await TestWharf.run(configure: {
            Self.behindProxy(&$0)
            $0.bcryptCost = 9
        }) { app in
            let tenant = try await app.makeTenant("busy")
            let key = try #require(try await app.call(.post, "/v1/keys", json: ["name": "n8n"], as: .bearer(tenant.token)).string("key"))
            async let flood = concurrently(
                app, "/v1/login",
                (0..<40).map { ("{\"username\":\"nobody-\($0)\",\"password\":\"bogus\"}", [("X-Forwarded-For", "198.51.100.\($0 + 1)")]) })
            // Meanwhile an API key is answered: it needs no password check.
            #expect(try await app.call(.get, "/v1/me", as: .bearer(key)).status == .ok)
            let codes = counts(try await flood)
            #expect((codes[503] ?? 0) >= 20, "\(codes)")
            #expect((codes[401] ?? 0) >= 2, "\(codes)")
            // After the flood a correct login goes through at once.
            #expect(try await login(app, "password-busy", from: "198.51.100.200", username: "busy").status == .ok)
        }
    }
}

/// Webhook secrets, static header values and Basic-auth passwords are sealed at rest.
@Suite struct WebhookSecretsAtRestTests {
    @Test func endpointSecretsAreSealedInTheDatabaseAndOldPlaintextRowsAreSealedAtStart() async throws {
        let directory = TestWharf.temporaryDirectory()
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let id = try await TestWharf.run(dataDirectory: directory, configure: DeliveryTests.allowLoopback) { app in
            let tenant = try await app.makeTenant("sealed")
            let created = try await app.call(
                .post, "/v1/webhooks",
                json: [
                    "url": .string(receiver.url), "header": ["name": "X-Api-Key", "value": "header-secret-value"],
                    "basicAuth": ["username": "n8n", "password": "basic-secret-password"],
                ], as: .bearer(tenant.token))
            #expect(created.status == .created, "\(created.text)")
            let secret = try #require(created.string("secret"))
            let id = try #require(created.string("id"))
            let fetched = try app.wharf.outbox.writer.read { db in
                try Row.fetchOne(db, sql: "SELECT secret, header_value, basic_password FROM webhook_endpoint WHERE id = ?", arguments: [id])
            }
            let row = try #require(fetched)
            for column in ["secret", "header_value", "basic_password"] {
                let stored: String = row[column]
                #expect(stored.hasPrefix("wharf-sealed:"), "\(column)")
            }
            #expect(!"\(row)".contains(secret) && !"\(row)".contains("header-secret-value") && !"\(row)".contains("basic-secret-password"))
            // Deliveries still carry them.
            #expect(try await app.call(.post, "/v1/webhooks/\(id)/test", as: .bearer(tenant.token)).status == .accepted)
            try await eventually("the test delivery") { !receiver.requests.isEmpty }
            #expect(receiver.requests[0].header("X-Api-Key") == "header-secret-value")
            #expect(
                WebMessagingGatewayTests.isSigned(receiver.requests[0], secret: secret),
                "\(receiver.requests[0].header("webhook-signature") ?? "") \(receiver.requests[0].header("authorization") ?? "")")
            // An earlier version's row, in the clear.
            try await app.wharf.outbox.writer.write { db in
                try db.execute(sql: "UPDATE webhook_endpoint SET header_value = 'plain-old-value' WHERE id = ?", arguments: [id])
            }
            return id
        }
        try await TestWharf.run(dataDirectory: directory, configure: DeliveryTests.allowLoopback) { app in
            let stored = try await app.wharf.outbox.writer.read { db in
                try String.fetchOne(db, sql: "SELECT header_value FROM webhook_endpoint WHERE id = ?", arguments: [id])
            }
            #expect(stored?.hasPrefix("wharf-sealed:") == true)
            #expect(try await app.wharf.outbox.endpoint(id: id, tenantID: nil)?.headerValue == "plain-old-value")
        }
    }
}
