import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// A real HTTP receiver on 127.0.0.1 for webhook tests: records every request and answers as the
/// test scripts it to (status, headers, body, an optional delay).
final class TestReceiver: Sendable {
    struct Received: Sendable {
        var headers: HTTPFields
        var body: Data
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
        var header: (String) -> String? {
            { name in self.headers[HTTPField.Name(name)!] }
        }
    }

    struct Reply: Sendable {
        var status: HTTPResponse.Status = .ok
        var headers: HTTPFields = [:]
        var body: String = "ok"
        var delay: Duration = .zero
    }

    typealias Script = @Sendable (_ index: Int, _ request: Received) -> Reply

    let port: Int
    private let received = Mutex<[Received]>([])
    private let server: ServiceGroupBox

    var requests: [Received] { received.withLock { $0 } }
    var url: String { "http://127.0.0.1:\(port)/hook" }

    private init(port: Int, server: ServiceGroupBox) {
        self.port = port
        self.server = server
    }

    /// Starts a receiver (on `port`, or a free one) answering with `script`.
    static func start(port: Int = 0, script: @escaping Script = { _, _ in Reply() }) async throws -> TestReceiver {
        let log = Mutex<[Received]>([])
        let router = Router()
        let box = ReceiverBox()
        router.post("/hook") { request, _ -> Response in
            var request = request
            let buffer = try await request.collectBody(upTo: 16 << 20)
            let item = Received(headers: request.headers, body: Data(buffer.readableBytesView))
            let index = log.withLock { log -> Int in
                log.append(item)
                return log.count - 1
            }
            box.receiver?.received.withLock { $0.append(item) }
            let reply = script(index, item)
            if reply.delay > .zero { try? await Task.sleep(for: reply.delay) }
            return Response(status: reply.status, headers: reply.headers, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
        }
        let server = try await ServiceGroupBox.start(router: router, port: port)
        let receiver = TestReceiver(port: server.port, server: server)
        box.receiver = receiver
        return receiver
    }

    func stop() async { await server.stop() }
}

private final class ReceiverBox: @unchecked Sendable {
    var receiver: TestReceiver?
}
