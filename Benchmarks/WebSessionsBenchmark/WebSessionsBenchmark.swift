import Crypto
import Foundation
import GRDB
import Logging
import PeerSupport
import WharfCore
import WhatsAppProtocol

/// Memory per native-engine session: N engines connect to the fake WhatsApp server (Tests/peers), wait
/// at the QR stage, are all linked and sit idle, then each sets Signal sessions up with five contacts
/// and sits idle again. Prints resident memory per session; asserts nothing.
///
/// The engines keep their state in SQLite on disk, as in Wharf (not sealed here), so what is measured
/// is what a session holds in memory.
@main
struct WebSessionsBenchmark {
    /// One engine's credentials: rows of a shared SQLite database.
    struct Credentials: CredentialsStore {
        let database: DatabasePool
        let owner: Int

        func value(forKey key: String) async throws -> Data? {
            try await database.read { db in
                try Data.fetchOne(db, sql: "SELECT value FROM kv WHERE owner = ? AND key = ?", arguments: [owner, key])
            }
        }

        func setValue(_ value: Data?, forKey key: String) async throws {
            var changes = CredentialChanges()
            changes.set(value, forKey: key)
            try await apply(changes)
        }

        func apply(_ changes: CredentialChanges) async throws {
            try await database.write { db in
                for (key, value) in changes.writes {
                    if let value {
                        try db.execute(sql: "INSERT OR REPLACE INTO kv (owner, key, value) VALUES (?, ?, ?)", arguments: [owner, key, value])
                    } else {
                        try db.execute(sql: "DELETE FROM kv WHERE owner = ? AND key = ?", arguments: [owner, key])
                    }
                }
            }
        }

        func removeAll() async throws {
            try await database.write { db in try db.execute(sql: "DELETE FROM kv WHERE owner = ?", arguments: [owner]) }
        }
    }

    /// A contact known to the fake server by its keys only (it never connects).
    static func registerContact(_ phone: String, on server: FakeWhatsApp) async throws {
        let identity = Curve25519.KeyAgreement.PrivateKey()
        let signed = Curve25519.KeyAgreement.PrivateKey()
        let signedPublic = [0x05] + Array(signed.publicKey.rawRepresentation)
        let signature = try XEdDSA.sign(signedPublic, privateKey: identity)
        let preKeys = (1...10).map { id in ["id": id, "public": Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation).hex] }
        let keys: [String: Any] = [
            "registrationId": Int.random(in: 1...16380), "identity": Array(identity.publicKey.rawRepresentation).hex,
            "signedPreKey": ["id": 1, "public": signedPublic.hex, "signature": signature.hex], "preKeys": preKeys,
        ]
        let answer = try await server.control("POST", "/accounts", ["phone": phone, "device": 0, "keys": keys])
        guard answer.status == 200 else { throw PeerProcess.PeerFailure(description: "contact: \(answer.json)") }
    }

    /// Watches one engine's statuses: the last QR string, and whether it is connected.
    actor Watch {
        var qr: String?
        var connected = false
        func see(_ status: SessionStatus) {
            switch status {
            case .qr(let code): qr = code
            case .connected: connected = true
            default: break
            }
        }
    }

    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    static func waitUntil(_ what: String, timeout: Double = 300, _ done: @Sendable () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !(await done()) {
            guard Date() < deadline else { throw PeerProcess.PeerFailure(description: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func main() async throws {
        let arguments = CommandLine.arguments
        let count = arguments.firstIndex(of: "--sessions").flatMap { Int(arguments[$0 + 1]) } ?? 1000
        let server = try await FakeWhatsApp()
        let configuration = server.configuration
        var logger = Logger(label: "wharf.web")
        logger.logLevel = .warning
        let directory = NSTemporaryDirectory() + "wharf-web-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var options = Configuration()
        options.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let database = try DatabasePool(path: directory + "/state.sqlite", configuration: options)
        try await database.write { db in
            try db.execute(sql: "CREATE TABLE kv (owner INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (owner, key))")
        }

        // Warm up: one session through the whole path, so the baseline includes NIO's threads and caches.
        do {
            let engine = WebEngine(
                configuration: configuration, credentials: Credentials(database: database, owner: -1), clock: SystemClock(), logger: logger)
            let watch = Watch()
            Task { for await event in engine.events { if case .status(let s) = event { await watch.see(s) } } }
            try await engine.connect()
            try await waitUntil("the warm-up QR") { await watch.qr != nil }
            await engine.shutdown()
        }
        try await Task.sleep(for: .seconds(1))
        let baseline = residentKiB()

        var engines: [WebEngine] = []
        var watches: [Watch] = []
        let started = Date()
        for index in 0..<count {
            let engine = WebEngine(
                configuration: configuration, credentials: Credentials(database: database, owner: index), clock: SystemClock(), logger: logger)
            let watch = Watch()
            // Plays the gateway: inbound events are acknowledged (their state is written first).
            let store = Credentials(database: database, owner: index)
            Task {
                for await event in engine.events {
                    switch event {
                    case .status(let status): await watch.see(status)
                    case .inbound(_, let ack):
                        try? await store.apply(ack.stateChanges)
                        await ack()
                    default: break
                    }
                }
            }
            try await engine.connect()
            engines.append(engine)
            watches.append(watch)
        }
        let all = watches
        try await waitUntil("every session's QR code") {
            for watch in all where await watch.qr == nil { return false }
            return true
        }
        let qrSeconds = Date().timeIntervalSince(started)
        try await Task.sleep(for: .seconds(2))
        let atQR = residentKiB()

        let linking = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, watch) in watches.enumerated() {
                if index >= 16 { try await group.next() }
                let engine = engines[index]
                group.addTask {
                    let phone = String(4_915_000_000_000 + index)
                    // Linking 1,000 devices (each uploading its prekeys) takes longer than a session
                    // shows QR codes: a code may have rotated, or the attempt ended and a new one
                    // must start. Either way, scan the newest code.
                    for attempt in 1...10 {
                        let qr = await watch.qr!
                        let answer = try await server.control("POST", "/scan", ["qr": qr, "phone": phone])
                        if answer.status == 200 { return }
                        if attempt == 10 { throw PeerProcess.PeerFailure(description: "scan: \(answer.json)") }
                        if await watch.qr == qr {
                            try await engine.connect()
                            try await waitUntil("a new QR code") { await watch.qr != qr }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await waitUntil("every session to connect") {
            for watch in all where !(await watch.connected) { return false }
            return true
        }
        let linkSeconds = Date().timeIntervalSince(linking)
        try await Task.sleep(for: .seconds(2))
        let linked = residentKiB()

        // Five contacts; every session writes to each, which sets five Signal sessions up.
        let contacts = (1...5).map { String(4_917_000_000_000 + $0) }
        for contact in contacts { try await registerContact(contact, on: server) }
        let chatting = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, engine) in engines.enumerated() {
                if index >= 16 { try await group.next() }
                group.addTask {
                    for (number, contact) in contacts.enumerated() {
                        _ = try await engine.send(
                            OutboundMessage(
                                clientMessageID: "3EB0BENCH\(index)X\(number)", chat: ChatID("\(contact)@s.whatsapp.net"),
                                content: .text("hello from session \(index)")))
                    }
                }
            }
            try await group.waitForAll()
        }
        let chatSeconds = Date().timeIntervalSince(chatting)
        try await Task.sleep(for: .seconds(2))
        let chatted = residentKiB()

        print("sessions: \(count) native-engine sessions against the local fake WhatsApp server")
        print("baseline RSS after one warm-up session: \(baseline / 1024) MiB")
        print(
            String(
                format: "waiting at the QR stage: %d MiB = %.0f KiB per session (all QR codes after %.1f s)",
                (atQR - baseline) / 1024, Double(atQR - baseline) / Double(count), qrSeconds))
        print(
            String(
                format: "linked and idle: %d MiB = %.0f KiB per session (linked in %.1f s, 812 prekeys each)",
                (linked - baseline) / 1024, Double(linked - baseline) / Double(count), linkSeconds))
        print(
            String(
                format: "idle with Signal sessions to 5 contacts each: %d MiB = %.0f KiB per session (%d messages in %.1f s)",
                (chatted - baseline) / 1024, Double(chatted - baseline) / Double(count), count * contacts.count, chatSeconds))
        for engine in engines { await engine.shutdown() }
    }
}
