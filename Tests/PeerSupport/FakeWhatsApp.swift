import Foundation
import WharfCore
import WhatsAppProtocol

/// `Tests/peers/fake_whatsapp.py`: WhatsApp's server and the user's phone, written in Python from the
/// protocol facts alone (its own codec, noiseprotocol, xeddsa, cryptography), on 127.0.0.1.
public final class FakeWhatsApp: @unchecked Sendable {
    public let url: String
    public let controlURL: String
    public let rootKey: [UInt8]
    private let process = Process()
    private let input = Pipe()

    public init() async throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", PeerProcess.directory.appendingPathComponent("fake_whatsapp.py").path]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        if let log = ProcessInfo.processInfo.environment["FAKE_WHATSAPP_LOG"] {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: log)
        }
        try process.run()
        let reading = output.fileHandleForReading
        let line = try await offThePool {
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = reading.availableData
                guard !chunk.isEmpty else { throw PeerProcess.PeerFailure(description: "the fake server did not start") }
                line += chunk
            }
            return line
        }
        let words = String(decoding: line, as: UTF8.self).split(separator: "\n")[0].split(separator: " ").map(String.init)
        guard words.count == 4, words[0] == "ready" else { throw PeerProcess.PeerFailure(description: "unexpected: \(words)") }
        url = words[1]
        controlURL = words[2]
        rootKey = [UInt8](hex: words[3])!
    }

    deinit {
        try? input.fileHandleForWriting.close()
        let process = process
        reapInBackground { process.waitUntilExit() }
    }

    public var configuration: WebEngineConfiguration {
        var configuration = WebEngineConfiguration()
        configuration.url = url
        configuration.trust = ServerCertificateTrust(rootKey: rootKey)
        return configuration
    }

    /// Calls the control API; returns the status code and the JSON answer.
    @discardableResult
    public func control(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> (status: Int, json: [String: Any]) {
        try await JSONCall.perform(method, controlURL + path, body: body)
    }

    public func devices() async throws -> [String: Any] {
        try await control("GET", "/state").json["devices"] as? [String: Any] ?? [:]
    }
}
