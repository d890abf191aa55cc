import AsyncHTTPClient
import Foundation
import NIOCore
import PeerSupport
import Synchronization
import TestSupport
import Testing

/// Kills a real `wharf` process with SIGKILL while sandbox events stream in, restarts it, and
/// checks that every event it accepted reached the receiver at least once.
@Suite(.serialized) struct CrashTests {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/wharf").path
    static let adminKey = "crash-test-admin-key-0123456789abcdef"

    /// One child `wharf` process.
    final class Child: Sendable {
        let process: Process
        let port: Int
        /// Where the child's log lines (standard error) go.
        let errorLog: String

        init(dataDirectory: String, environment extra: [String: String] = [:]) async throws {
            let log = dataDirectory + "/stdout-\(UUID().uuidString).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            errorLog = dataDirectory + "/stderr-\(UUID().uuidString).log"
            _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CrashTests.binary)
            process.environment = [
                "DATA_DIR": dataDirectory, "PORT": "0", "HOST": "127.0.0.1", "ADMIN_PASSWORD": "crash-test-password",
                "ADMIN_API_KEY": CrashTests.adminKey, "OUTBOUND_ALLOW": "127.0.0.1", "BCRYPT_COST": "4", "LOG_LEVEL": "error",
                "WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1,1,1,1,1,1",
            ].merging(extra) { $1 }
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorLog))
            try process.run()
            self.process = process
            let port = try await poll(attempts: 2000, every: .milliseconds(10)) {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                return text.split(separator: "\n").first { $0.hasPrefix("Wharf is listening on port ") }
                    .flatMap { Int($0.dropFirst("Wharf is listening on port ".count)) }
            }
            guard let port else {
                process.terminate()
                throw CancellationError()
            }
            self.port = port
        }

        func kill() {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func terminate() {
            process.terminate()
            process.waitUntilExit()
        }

        func call(
            _ method: String, _ path: String, json: [String: Any]? = nil, token: String = CrashTests.adminKey
        ) async throws
            -> (status: Int, body: [String: Any])
        {
            let answer = try await JSONCall.perform(
                method, "http://127.0.0.1:\(port)\(path)", body: json, headers: [("Authorization", "Bearer \(token)")],
                timeout: .seconds(10))
            return (answer.status, answer.json)
        }

        func waitConnected(session: String, token: String) async throws {
            let connected = try await poll(attempts: 1000, every: .milliseconds(10)) {
                try await call("GET", "/v1/sessions/\(session)", token: token).body["status"] as? String == "connected"
            }
            if !connected { Issue.record("session did not reconnect") }
        }
    }

    @Test func killedAndRestartedWharfLosesNoAcceptedEvent() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(Self.binary)")
            return
        }
        let seen = Locked<[String: Int]>([:])
        let receiver = try await TestReceiver.start { _, request in
            if let json = request.json, json["type"] as? String == "message.received",
                let id = (json["data"] as? [String: Any])?["id"] as? String
            {
                seen.withLock { $0[id, default: 0] += 1 }
            }
            return .init()
        }
        defer { Task { await receiver.stop() } }
        let directory = TestWharf.temporaryDirectory()
        var child = try await Child(dataDirectory: directory)
        let children = Locked<[Child]>([child])
        // Whatever happens, no child outlives the test.
        defer { for process in children.withLock({ $0 }) where process.process.isRunning { process.kill() } }
        let tenant = try await child.call(
            "POST", "/v1/tenants",
            json: ["name": "Crash", "username": "crash", "password": "password-crash", "webhookUrl": receiver.url])
        #expect(tenant.status == 201)
        let token = try #require(
            try await child.call("POST", "/v1/login", json: ["username": "crash", "password": "password-crash"]).body["token"] as? String)
        let session = try #require(
            try await child.call("POST", "/v1/sessions", json: ["name": "crash"], token: token).body["id"] as? String)
        try await child.waitConnected(session: session, token: token)

        let accepted = Locked<Set<String>>([])
        var random = SystemRandomNumberGenerator()
        for round in 0..<4 {
            let before = accepted.withLock { $0.count }
            let current = child
            let injectors = (0..<4).map { worker in
                Task { [round] in
                    var sequence = 0
                    while !Task.isCancelled {
                        sequence += 1
                        guard
                            let reply = try? await current.call(
                                "POST", "/v1/sessions/\(session)/sandbox/inbound",
                                json: ["from": "4915112345678", "text": "r\(round) w\(worker) #\(sequence)"], token: token)
                        else { return }
                        if reply.status == 201, let id = reply.body["id"] as? String {
                            _ = accepted.withLock { $0.insert(id) }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...600, using: &random)))
            // On a loaded machine the window may pass with few events in: the kill waits for a handful.
            for _ in 0..<200 where accepted.withLock({ $0.count }) < before + 6 {
                try await Task.sleep(for: .milliseconds(50))
            }
            child.kill()
            for injector in injectors { injector.cancel() }
            for injector in injectors { await injector.value }
            child = try await Child(dataDirectory: directory)
            let started = child
            children.withLock { $0.append(started) }
            try await child.waitConnected(session: session, token: token)
        }
        let expected = accepted.withLock { $0 }
        #expect(expected.count > 20, "too few events were accepted to prove anything")
        try await eventually("every accepted event delivered", timeout: .seconds(60)) {
            let delivered = seen.withLock { Set($0.keys) }
            return expected.isSubset(of: delivered)
        }
        child.terminate()
        let delivered = seen.withLock { $0 }
        let missing = expected.subtracting(delivered.keys)
        #expect(missing.isEmpty, "lost \(missing.count) of \(expected.count) accepted events")
        let duplicates = delivered.values.filter { $0 > 1 }.count
        print("crash test: \(expected.count) accepted, \(delivered.count) delivered, \(duplicates) delivered more than once")
    }
}
