import Foundation

/// A Python peer from `Tests/peers`, driven over stdin/stdout: the independent implementations
/// (noiseprotocol, xeddsa, cryptography) our protocol code is checked against.
public final class PeerProcess: @unchecked Sendable {
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("peers")

    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer: [UInt8] = []

    public init(_ script: String, _ arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.directory.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = Self.directory
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    deinit {
        try? input.fileHandleForWriting.close()
        let process = process
        reapInBackground { process.waitUntilExit() }
    }

    public struct PeerFailure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public func send(_ word: String, _ bytes: [UInt8]) {
        input.fileHandleForWriting.write(Data((word + " " + bytes.hex + "\n").utf8))
    }

    public func sendAll(_ data: Data) {
        input.fileHandleForWriting.write(data)
        try? input.fileHandleForWriting.close()
    }

    /// The next `word hex` line; a line `error …` from the peer becomes a thrown failure.
    public func receive(_ expected: String) async throws -> [UInt8] {
        let line = try await offThePool { try self.readLine() }
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let word = parts.first ?? ""
        let payload = parts.count > 1 ? parts[1] : ""
        if word == "error" {
            throw PeerFailure(description: String(decoding: [UInt8](hex: payload) ?? [], as: UTF8.self))
        }
        guard word == expected else { throw PeerFailure(description: "expected \(expected), got \(line)") }
        return [UInt8](hex: payload) ?? Array(payload.utf8)
    }

    public func receiveText(_ expected: String) async throws -> String {
        let line = try await offThePool { try self.readLine() }
        guard line.hasPrefix(expected + " ") else { throw PeerFailure(description: "expected \(expected), got \(line)") }
        return String(line.dropFirst(expected.count + 1))
    }

    public func readToEnd() async -> Data {
        let handle = output.fileHandleForReading
        let rest = await offThePool { handle.readDataToEndOfFile() }
        defer { buffer = [] }
        return Data(buffer) + rest
    }

    private func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw PeerFailure(description: "the peer closed its output") }
            buffer += chunk
        }
    }
}
