import Foundation
import Synchronization
import WharfCore

/// A Python peer from `Tests/peers` that speaks JSON lines on stdin/stdout: `ready {…}` first, then
/// one answer line per request line. Lines carrying an `"event"` key are pushed by the peer on its
/// own (a message it received); they are kept for ``events`` and never taken for an answer.
public final class JSONPeer: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let pushed = Mutex<[Data]>([])
    /// Reads and writes happen on this queue, never on the cooperative pool: a test waiting for a
    /// slow peer must not hold one of the pool's few threads (two on this machine), which every
    /// in-process server of the tests running beside it needs.
    private let queue = DispatchQueue(label: "wharf.json-peer")
    /// Bytes read but not yet taken as lines; touched on `queue` only.
    private nonisolated(unsafe) var buffer: [UInt8] = []
    /// What the peer said on its `ready` line.
    public private(set) var ready: [String: Any] = [:]

    public init(_ script: String, _ arguments: [String] = [], environment: [String: String] = [:]) async throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", PeerProcess.directory.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = PeerProcess.directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        if let log = ProcessInfo.processInfo.environment["PEER_LOG"] {
            _ = FileManager.default.createFile(atPath: log + "." + script, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: log + "." + script)
        }
        try process.run()
        let line = try await onQueue { try self.readyLine() }
        ready = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }

    deinit {
        try? input.fileHandleForWriting.close()
        let process = process
        reapInBackground { process.waitUntilExit() }
    }

    /// Sends one request and returns its answer; an answer with `"ok": false` throws.
    @discardableResult
    public func call(_ request: [String: Any]) async throws -> [String: Any] {
        let answer = try await send(request)
        if answer["ok"] as? Bool == false {
            throw PeerProcess.PeerFailure(description: "\(answer["error"] ?? "error"): \(answer["message"] ?? "")")
        }
        return answer
    }

    /// Sends one request and returns its answer as it is, failures included.
    public func send(_ request: [String: Any]) async throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: request)
        let line = try await onQueue { try self.exchange(data) }
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }

    /// Events the peer pushed between answers.
    public var events: [[String: Any]] {
        pushed.withLock { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
    }

    /// Runs blocking pipe work on the peer's own queue and waits for it without blocking a thread.
    private func onQueue(_ work: @escaping @Sendable () throws -> String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Writes a request line and reads up to its answer line (pushed event lines are kept aside).
    private func exchange(_ request: Data) throws -> String {
        input.fileHandleForWriting.write(request + Data("\n".utf8))
        while true {
            let line = try readLine()
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
            if object["event"] != nil {
                pushed.withLock { $0.append(Data(line.utf8)) }
                continue
            }
            return line
        }
    }

    /// The text after `ready` on the first such line (lines before it are skipped).
    private func readyLine() throws -> String {
        while true {
            let line = try readLine()
            guard line.hasPrefix("ready") else { continue }
            return line.dropFirst("ready".count).trimmingCharacters(in: .whitespaces)
        }
    }

    private func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw PeerProcess.PeerFailure(description: "the peer closed its output") }
            buffer += Array(chunk)
        }
    }
}

/// A hex member of a peer's JSON answer, as bytes.
public func hexMember(_ object: [String: Any], _ key: String) -> [UInt8]? {
    (object[key] as? String).flatMap { [UInt8](hex: $0) }
}
