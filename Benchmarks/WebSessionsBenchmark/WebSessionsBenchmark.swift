import Foundation
import Logging
import PeerSupport
import WhatsAppProtocol
import WharfCore

/// Memory per native-engine session: N engines connect to the fake WhatsApp server (Tests/peers), wait
/// at the QR stage, then are all linked and sit idle. Prints resident memory per session; asserts nothing.
@main
struct WebSessionsBenchmark {
    actor Credentials: CredentialsStore {
        var values: [String: Data] = [:]
        func value(forKey key: String) async throws -> Data? { values[key] }
        func setValue(_ value: Data?, forKey key: String) async throws { values[key] = value }
        func removeAll() async throws { values = [:] }
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
        let server = try FakeWhatsApp()
        let configuration = server.configuration
        var logger = Logger(label: "wharf.web")
        logger.logLevel = .warning

        // Warm up: one session through the whole path, so the baseline includes NIO's threads and caches.
        do {
            let engine = WebEngine(configuration: configuration, credentials: Credentials(), clock: SystemClock(), logger: logger)
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
        for _ in 0..<count {
            let engine = WebEngine(configuration: configuration, credentials: Credentials(), clock: SystemClock(), logger: logger)
            let watch = Watch()
            Task { for await event in engine.events { if case .status(let s) = event { await watch.see(s) } } }
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
                group.addTask {
                    let qr = await watch.qr!
                    let phone = String(4_915_000_000_000 + index)
                    let answer = try await server.control("POST", "/scan", ["qr": qr, "phone": phone])
                    guard answer.status == 200 else { throw PeerProcess.PeerFailure(description: "scan: \(answer.json)") }
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

        print("sessions: \(count) native-engine sessions against the local fake WhatsApp server")
        print("baseline RSS after one warm-up session: \(baseline / 1024) MiB")
        print(String(format: "waiting at the QR stage: %d MiB = %.0f KiB per session (all QR codes after %.1f s)",
                     (atQR - baseline) / 1024, Double(atQR - baseline) / Double(count), qrSeconds))
        print(String(format: "linked and idle: %d MiB = %.0f KiB per session (linked in %.1f s)",
                     (linked - baseline) / 1024, Double(linked - baseline) / Double(count), linkSeconds))
        for engine in engines { await engine.shutdown() }
    }
}
