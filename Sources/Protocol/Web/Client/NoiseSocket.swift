import Foundation
import WharfCore

/// The sending half of an established connection: encrypts nodes in order and frames them, and
/// matches `<iq>` requests with their answers.
///
/// An actor because the read loop, the keepalive and API calls all send, and the transport's
/// counter-based nonces must go out in exactly the order they were used.
actor NoiseSocket {
    private var sender: CipherState
    private var writer: FrameWriter
    private let outbound: WebSocket.Writer
    private let encoder = BinaryEncoder()
    private var pending: [String: (answer: CheckedContinuation<BinaryNode, any Error>, timeout: Task<Void, Never>)] = [:]
    private var counter = 0
    private let idPrefix = String(UInt16.random(in: .min ... .max), radix: 16)
    private var closed = false
    /// Sends in progress and waiting: sealing and writing one frame is one step, because the actor
    /// is free again while the write awaits and the nonces must reach the wire in order.
    private var sending = false
    private var waitingToSend: [CheckedContinuation<Void, Never>] = []

    /// `writer` is the one the handshake used, so the connection header is not sent twice.
    init(sender: CipherState, outbound: WebSocket.Writer, writer: FrameWriter) {
        self.sender = sender
        self.writer = writer
        self.outbound = outbound
    }

    func send(_ node: BinaryNode) async throws {
        while sending { await withCheckedContinuation { waitingToSend.append($0) } }
        sending = true
        defer {
            sending = false
            if !waitingToSend.isEmpty { waitingToSend.removeFirst().resume() }
        }
        guard !closed else { throw EngineError.notConnected }
        let ciphertext = try sender.seal(try encoder.encodeFrame(node))
        try await outbound.send(try writer.frame(ciphertext))
    }

    func nextID() -> String {
        counter += 1
        return "\(idPrefix).\(counter)"
    }

    /// Sends an `<iq>` (its `id` is filled in) and waits for the answer. A `type="error"` answer
    /// throws `EngineError.rejected` with the server's code and text.
    func request(_ iq: BinaryNode, timeout: Duration, clock: any WharfClock) async throws -> BinaryNode {
        var iq = iq
        let id = nextID()
        iq.attributes.insert(.init("id", .string(id)), at: 0)
        let answer = try await send(iq, awaitingAnswerTo: id, timeout: timeout, clock: clock)
        if answer.string("type") == "error" {
            let error = answer.child("error")
            throw EngineError.rejected("\(error?.string("code") ?? "error") \(error?.string("text") ?? "")".trimmingCharacters(in: .whitespaces))
        }
        return answer
    }

    /// Sends `node` and waits for the stanza that answers its `id` (an `<iq>` result, or the
    /// server's `<ack>` of a `<message>`).
    func send(_ node: BinaryNode, awaitingAnswerTo id: String, timeout: Duration, clock: any WharfClock) async throws -> BinaryNode {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BinaryNode, any Error>) in
            let timer = Task {
                guard (try? await clock.sleep(for: timeout)) != nil else { return }
                self.resolve(id, with: .failure(EngineError.timedOut("no answer from WhatsApp within \(timeout)")))
            }
            pending[id] = (continuation, timer)
            Task {
                do { try await self.send(node) } catch { self.resolve(id, with: .failure(error)) }
            }
        }
    }

    /// Delivers an answer from the read loop; unknown ids are ignored.
    func deliver(_ node: BinaryNode) {
        guard let id = node.string("id") else { return }
        resolve(id, with: .success(node))
    }

    private func resolve(_ id: String, with result: Result<BinaryNode, any Error>) {
        guard let waiting = pending.removeValue(forKey: id) else { return }
        waiting.timeout.cancel()
        waiting.answer.resume(with: result)
    }

    func close() async {
        guard !closed else { return }
        closed = true
        for waiting in pending.values {
            waiting.timeout.cancel()
            waiting.answer.resume(throwing: EngineError.notConnected)
        }
        pending = [:]
        await outbound.close()
    }
}
