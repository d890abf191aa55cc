import Hummingbird
import Logging
import ServiceLifecycle

/// A Hummingbird router served on a real loopback socket for a test, stopped by the test.
final class ServiceGroupBox: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    /// Runs `router` on 127.0.0.1 (`port` 0 picks a free one) until ``stop()``.
    static func start(router: Router<BasicRequestContext>, port: Int = 0) async throws -> ServiceGroupBox {
        var logger = Logger(label: "media")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        return ServiceGroupBox(port: await iterator.next() ?? 0, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
