import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing
import WharfCore

/// A running Wharf on a real loopback socket, with a fresh data directory and a manual clock.
struct TestWharf {
    static let adminPassword = "correct horse battery"
    static let adminKey = "wharf-admin-key-for-tests-0123456789"

    let client: any TestClientProtocol
    let wharf: Wharf
    let clock: ManualClock

    static func configuration(dataDirectory: String) -> WharfConfiguration {
        var configuration = WharfConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.dataDirectory = dataDirectory
        configuration.adminPassword = adminPassword
        configuration.adminAPIKey = adminKey
        configuration.bcryptCost = 4
        configuration.logLevel = .critical
        configuration.maxBodyBytes = 64 * 1024
        return configuration
    }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "wharf-test-" + Identifier.token(byteCount: 8)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs `test` against a live Wharf; `dataDirectory` lets two runs share a database.
    static func run<T: Sendable>(
        dataDirectory: String = temporaryDirectory(), clock: ManualClock = ManualClock(),
        configure: (inout WharfConfiguration) -> Void = { _ in },
        _ test: @Sendable (TestWharf) async throws -> T
    ) async throws -> T {
        var configuration = configuration(dataDirectory: dataDirectory)
        configure(&configuration)
        let wharf = try await Wharf.make(configuration: configuration, clock: clock)
        return try await wharf.application.test(.live) { client in
            try await test(TestWharf(client: client, wharf: wharf, clock: clock))
        }
    }

    struct Reply {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: JSONValue
        var text: String

        subscript(key: String) -> JSONValue? { body[key] }
        func string(_ key: String) -> String? { body[key]?.stringValue }
    }

    enum Credential {
        case none
        case bearer(String)
        case admin
    }

    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ path: String, json: JSONValue? = nil, raw: String? = nil,
        as credential: Credential = .none, headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        switch credential {
        case .none: break
        case .bearer(let token): headers[.authorization] = "Bearer \(token)"
        case .admin: headers[.authorization] = "Bearer \(Self.adminKey)"
        }
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(bytes: try JSONEncoder().encode(json))
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        } else if let raw {
            body = ByteBuffer(string: raw)
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        }
        let response = try await client.execute(uri: path, method: method, headers: headers, body: body)
        let text = String(buffer: response.body)
        let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
        return Reply(status: response.status, headers: response.headers, body: value, text: text)
    }

    /// Creates a tenant through the admin API and logs it in.
    func makeTenant(
        _ username: String, maxSessions: Int = 3, settings: JSONValue = .object([:])
    ) async throws -> (id: String, token: String) {
        let created = try await call(
            .post, "/v1/tenants",
            json: .object([
                "name": .string("Tenant \(username)"), "username": .string(username),
                "password": .string("password-\(username)"), "maxSessions": .number(Double(maxSessions)),
                "settings": settings,
            ]), as: .admin)
        #expect(created.status == .created, "\(created.text)")
        let login = try await call(
            .post, "/v1/login",
            json: .object(["username": .string(username), "password": .string("password-\(username)")]))
        #expect(login.status == .ok, "\(login.text)")
        return (created.string("id") ?? "", login.string("token") ?? "")
    }

    /// Creates a sandbox session and waits until it is connected.
    func makeConnectedSession(token: String, name: String = "main") async throws -> String {
        let created = try await call(
            .post, "/v1/sessions", json: .object(["name": .string(name), "engine": .string("sandbox")]),
            as: .bearer(token))
        #expect(created.status == .created, "\(created.text)")
        let id = created.string("id") ?? ""
        try await waitForStatus(id, "connected", token: token)
        return id
    }

    /// Polls a session until it reaches `status` (bounded: this is about ordering, not speed).
    func waitForStatus(_ sessionID: String, _ status: String, token: String) async throws {
        let reached = try await poll(attempts: 500, every: .milliseconds(10)) {
            try await call(.get, "/v1/sessions/\(sessionID)", as: .bearer(token)).string("status") == status
        }
        if !reached { Issue.record("session \(sessionID) never reached \(status)") }
    }
}

extension JSONValue {
    var intValue: Int? {
        if case .number(let value) = self { return Int(value) }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}
