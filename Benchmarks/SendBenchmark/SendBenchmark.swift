import Foundation
import Gateway
import Logging
import ServiceLifecycle
import WharfCore

/// Send-pipeline figures: jobs per second through enqueue, and through the dispatcher to the
/// sandbox engine with humanizing off. Prints figures; asserts nothing.
@main
struct SendBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments
        let count = arguments.firstIndex(of: "--jobs").flatMap { Int(arguments[$0 + 1]) } ?? 5000
        let sessionCount = arguments.firstIndex(of: "--sessions").flatMap { Int(arguments[$0 + 1]) } ?? 20
        let directory = NSTemporaryDirectory() + "wharf-send-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = WharfConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.dataDirectory = directory
        configuration.adminPassword = "benchmark-password"
        configuration.bcryptCost = 4
        configuration.logLevel = .error
        let wharf = try await Wharf.make(configuration: configuration)
        let group = ServiceGroup(configuration: .init(services: [wharf.application], logger: Logger(label: "bench")))
        let running = Task { try await group.run() }

        let now = Date()
        let tenant = TenantRecord(
            id: "ten_bench", name: "Bench", maxSessions: sessionCount,
            settings: ["humanize": ["enabled": false, "maxPerMinute": 10_000_000]], createdAt: now, updatedAt: now)
        try await wharf.store.createTenant(
            tenant,
            user: TenantUserRecord(id: "usr_bench", tenantId: tenant.id, username: "bench", passwordHash: "x", createdAt: now, passwordChangedAt: now)
        )
        var sessionIDs: [String] = []
        for index in 0..<sessionCount {
            let session = SessionRecord(
                id: "ses_bench_\(index)", tenantId: tenant.id, name: "bench \(index)", engine: .sandbox,
                status: .starting, createdAt: now, updatedAt: now)
            try await wharf.store.insertSession(session, maxSessions: sessionCount)
            await wharf.sessions.start(session)
            sessionIDs.append(session.id)
        }
        while try await wharf.store.allSessions().contains(where: { $0.status != .connected }) {
            try await Task.sleep(for: .milliseconds(10))
        }

        let start = ContinuousClock.now
        let sessions = sessionIDs
        let tenantID = tenant.id
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<64 {
                tasks.addTask {
                    var index = worker
                    while index < count {
                        let session = sessions[index % sessions.count]
                        let job = JobRecord(
                            id: "job_\(index)", tenantId: tenantID, sessionId: session,
                            chatId: "49151000\(String(format: "%05d", index % 500))@s.whatsapp.net", kind: .text, text: "Benchmark \(index)",
                            humanize: false, status: .queued, clientMessageId: "3EB0BENCH\(index)", attempts: 0, createdAt: now,
                            updatedAt: now)
                        _ = try await wharf.store.enqueue(job, now: now)
                        wharf.dispatcher.wake(sessionID: session)
                        index += 64
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let enqueued = ContinuousClock.now - start
        while try await sentCount(wharf) < count { try await Task.sleep(for: .milliseconds(20)) }
        let drained = ContinuousClock.now - start
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(count) jobs over \(sessionCount) sandbox sessions, humanizing off")
        print(String(format: "enqueue: %.0f jobs/s (%.2f s)", Double(count) / enqueued.timeInterval, enqueued.timeInterval))
        print(
            String(
                format: "through the dispatcher (enqueue to sent): %.0f jobs/s (%.2f s)", Double(count) / drained.timeInterval, drained.timeInterval))
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    static func sentCount(_ wharf: Wharf) async throws -> Int {
        try await wharf.store.jobCount(status: .sent)
    }
}
