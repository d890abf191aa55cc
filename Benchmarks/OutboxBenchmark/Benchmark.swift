import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Outbox
import ServiceLifecycle
import Synchronization
import WharfCore

/// Outbox figures: durable ingest rate; delivery rate and acceptance→receipt latency at full speed
/// and at a fixed 1,000 events/s; and the loopback ceiling that `wrk` reaches against the same
/// receiver. Prints figures; asserts nothing.
@main
struct OutboxBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments
        let events = Int(value(of: "--events", in: arguments) ?? "") ?? 20_000
        let directory = NSTemporaryDirectory() + "wharf-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB")

        // 1. Durable ingest: every accept returns after its (group) commit with synchronous=FULL.
        let ingestStore = try OutboxStore(try SQLiteDatabase.openPool(at: directory + "/ingest.sqlite"))
        try await ingestStore.insertEndpoint(
            WebhookEndpoint(id: "whk_1", tenantId: "ten_1", url: "http://127.0.0.1:9/hook", secret: .generate(), now: Date()))
        let ingestSeconds = try await timed {
            try await accept(events, into: ingestStore, concurrency: 256)
        }
        print(
            String(
                format: "ingest: %d events in %.2f s = %.0f events/s (durable, group commit)", events, ingestSeconds, Double(events) / ingestSeconds))

        // 2. Delivery through libcurl to a local receiver.
        let receiver = try await Receiver.start()
        defer { Task { await receiver.stop() } }
        let store = try OutboxStore(try SQLiteDatabase.openPool(at: directory + "/deliver.sqlite"))
        try await store.insertEndpoint(
            WebhookEndpoint(id: "whk_1", tenantId: "ten_1", url: "http://127.0.0.1:\(receiver.port)/hook", secret: .generate(), now: Date()))
        var senderOptions = CurlWebhookSender.Options()
        senderOptions.policy = try OutboundPolicy(allowing: ["127.0.0.1"])
        var options = DeliveryService.Options()
        options.perEndpointConcurrency = Int(value(of: "--concurrency", in: arguments) ?? "") ?? 64
        options.maximumInFlight = 1024
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let service = DeliveryService(
            store: store, sender: CurlWebhookSender(options: senderOptions), clock: SystemClock(), options: options, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let running = Task { try await group.run() }

        let accepted = Locked<[String: ContinuousClock.Instant]>([:])
        let fullSpeed = try await timed {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for worker in 0..<256 {
                    tasks.addTask {
                        var index = worker
                        while index < events {
                            let id = "evt_full_\(index)"
                            accepted.withLock { $0[id] = .now }
                            try await store.accept(event(id))
                            service.wake()
                            index += 256
                        }
                    }
                }
                try await tasks.waitForAll()
            }
            await receiver.waitFor(count: events)
        }
        let fullLatencies = receiver.latencies(since: accepted.withLock { $0 }, prefix: "evt_full_")
        print(
            String(
                format: "deliver (full speed): %d in %.2f s = %.0f deliveries/s; acceptance→receipt p50 %.1f ms, p99 %.1f ms",
                events, fullSpeed, Double(events) / fullSpeed, percentile(fullLatencies, 0.5), percentile(fullLatencies, 0.99)))

        // 3. A fixed 1,000 events/s for 10 s.
        let paced = 10_000
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<paced {
                let due = start.advanced(by: .microseconds(index * 1000))
                if due > .now { try await Task.sleep(until: due, clock: .continuous) }
                tasks.addTask {
                    let id = "evt_paced_\(index)"
                    accepted.withLock { $0[id] = .now }
                    try await store.accept(event(id))
                    service.wake()
                }
            }
            try await tasks.waitForAll()
        }
        await receiver.waitFor(count: events + paced)
        let pacedLatencies = receiver.latencies(since: accepted.withLock { $0 }, prefix: "evt_paced_")
        print(
            String(
                format: "deliver (1,000 events/s for 10 s): acceptance→receipt p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                percentile(pacedLatencies, 0.5), percentile(pacedLatencies, 0.99), pacedLatencies.max() ?? 0))

        // 4. The loopback ceiling: wrk against the same receiver, same body size.
        if let ceiling = try wrk(port: receiver.port, directory: directory) {
            print(String(format: "loopback ceiling (wrk, 2 threads, 64 connections): %.0f requests/s", ceiling))
            print(String(format: "delivery / ceiling: %.2f", (Double(events) / fullSpeed) / ceiling))
        } else {
            print("loopback ceiling: wrk not found (apt-get install wrk)")
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    static func event(_ id: String) -> OutboxEvent {
        let payload =
            #"{"id":"\#(id)","type":"message.received","data":{"chat_id":"4915112345678@s.whatsapp.net","text":"Hello from the benchmark"}}"#
        return OutboxEvent(id: id, tenantID: "ten_1", sessionID: "ses_1", type: "message.received", payload: Data(payload.utf8), createdAt: Date())
    }

    static func accept(_ count: Int, into store: OutboxStore, concurrency: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<concurrency {
                tasks.addTask {
                    var index = worker
                    while index < count {
                        try await store.accept(event("evt_ingest_\(index)"))
                        index += concurrency
                    }
                }
            }
            try await tasks.waitForAll()
        }
    }

    static func timed(_ work: @Sendable () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await work()
        return (ContinuousClock.now - start).timeInterval
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    static func value(of flag: String, in arguments: [String]) -> String? {
        guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
        return arguments[index + 1]
    }

    static func wrk(port: Int, directory: String) throws -> Double? {
        guard let path = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: FileManager.default.isExecutableFile) else { return nil }
        let script = directory + "/post.lua"
        let body = String(decoding: event("evt_wrk").payload, as: UTF8.self).replacingOccurrences(of: "\"", with: "\\\"")
        try """
        wrk.method = "POST"
        wrk.body = "\(body)"
        wrk.headers["Content-Type"] = "application/json"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-t2", "-c64", "-d5s", "-s", script, "http://127.0.0.1:\(port)/wrk"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }) else { return nil }
        return Double(line.dropFirst("Requests/sec:".count).trimmingCharacters(in: .whitespaces))
    }
}

/// The local receiver: records when each event id arrived.
final class Receiver: Sendable {
    let port: Int
    private let arrivals: Locked<[String: ContinuousClock.Instant]>
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, arrivals: Locked<[String: ContinuousClock.Instant]>, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.arrivals = arrivals
        self.group = group
        self.task = task
    }

    static func start() async throws -> Receiver {
        let arrivals = Locked<[String: ContinuousClock.Instant]>([:])
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            if let id = request.headers[HTTPField.Name("webhook-id")!] {
                let now = ContinuousClock.now
                arrivals.withLock { $0[id] = now }
            }
            return .noContent
        }
        router.post("/wrk") { _, _ -> HTTPResponse.Status in .noContent }
        var logger = Logger(label: "receiver")
        logger.logLevel = .error
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        return Receiver(port: await iterator.next() ?? 0, arrivals: arrivals, group: group, task: task)
    }

    func waitFor(count: Int) async {
        while arrivals.withLock({ $0.count }) < count { try? await Task.sleep(for: .milliseconds(5)) }
    }

    func latencies(since accepted: [String: ContinuousClock.Instant], prefix: String) -> [Double] {
        arrivals.withLock { arrivals in
            accepted.compactMap { id, start in
                guard id.hasPrefix(prefix), let end = arrivals[id] else { return nil }
                return (end - start).timeInterval * 1000
            }
        }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}
