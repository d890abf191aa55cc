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
    private let lock = Mutex<[UInt8]>([])
    private let pushed = Mutex<[Data]>([])
    /// What the peer said on its `ready` line.
    public let ready: [String: Any]

    public init(_ script: String, _ arguments: [String] = [], environment: [String: String] = [:]) throws {
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
        ready = try Self.readyLine(output, buffer: lock)
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Sends one request and returns its answer; an answer with `"ok": false` throws.
    @discardableResult
    public func call(_ request: [String: Any]) throws -> [String: Any] {
        let answer = try send(request)
        if answer["ok"] as? Bool == false {
            throw PeerProcess.PeerFailure(description: "\(answer["error"] ?? "error"): \(answer["message"] ?? "")")
        }
        return answer
    }

    /// Sends one request and returns its answer as it is, failures included.
    public func send(_ request: [String: Any]) throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: request)
        input.fileHandleForWriting.write(data + Data("\n".utf8))
        while true {
            let line = try readLine()
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
            if object["event"] != nil {
                pushed.withLock { $0.append(Data(line.utf8)) }
                continue
            }
            return object
        }
    }

    /// Events the peer pushed between answers.
    public var events: [[String: Any]] {
        pushed.withLock { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
    }

    /// The `ready {…}` line's object (lines before it are skipped).
    private static func readyLine(_ output: Pipe, buffer: borrowing Mutex<[UInt8]>) throws -> [String: Any] {
        while true {
            let line = try readLine(output, buffer: buffer)
            guard line.hasPrefix("ready") else { continue }
            let text = line.dropFirst("ready".count).trimmingCharacters(in: .whitespaces)
            return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }
    }

    private func readLine() throws -> String { try Self.readLine(output, buffer: lock) }

    private static func readLine(_ output: Pipe, buffer lock: borrowing Mutex<[UInt8]>) throws -> String {
        while true {
            if let line = lock.withLock({ bytes -> String? in
                guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
                let line = String(decoding: bytes[..<newline], as: UTF8.self)
                bytes.removeSubrange(...newline)
                return line
            }) {
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw PeerProcess.PeerFailure(description: "the peer closed its output") }
            lock.withLock { $0 += Array(chunk) }
        }
    }
}

/// A hex member of a peer's JSON answer, as bytes.
public func hexMember(_ object: [String: Any], _ key: String) -> [UInt8]? {
    (object[key] as? String).flatMap { [UInt8](hex: $0) }
}
