import Foundation
import PeerSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Wharf's media encryption against an independent one (`media_crypto_peer.py`, over Python's
/// `cryptography`), both ways, at sizes around the AES block and across the streaming chunk.
@Suite struct MediaCipherTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-media-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    struct PeerAnswer: Decodable {
        var fileSha256: String
        var fileEncSha256: String
        var fileLength: UInt64
    }

    /// Runs the Python peer once; `nil` when it refused the input (a bad MAC, say).
    func peer(_ operation: String, _ type: WAMediaType, _ key: [UInt8], _ source: URL, _ destination: URL) async throws -> PeerAnswer? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", PeerProcess.directory.appendingPathComponent("media_crypto_peer.py").path, operation, type.rawValue, key.hex, source.path,
            destination.path,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let reading = output.fileHandleForReading
        let (data, status) = await offThePool {
            let data = reading.readDataToEndOfFile()
            process.waitUntilExit()
            return (data, process.terminationStatus)
        }
        guard status == 0 else { return nil }
        return try JSONDecoder().decode(PeerAnswer.self, from: data)
    }

    func file(_ name: String, bytes count: Int) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try randomData(count).write(to: url)
        return url
    }

    @Test(arguments: [0, 1, 15, 16, 17, 4095, MediaCipher.chunkSize - 1, MediaCipher.chunkSize + 33, 3 * MediaCipher.chunkSize])
    func wharfEncryptsWhatThePeerDecrypts(size: Int) async throws {
        for type in [WAMediaType.image, .ptt, .document] {
            let plain = try file("plain-\(size)-\(type)", bytes: size)
            let key = MediaKeys.newMediaKey()
            let encrypted = directory.appendingPathComponent("enc-\(size)-\(type)")
            let ours = try MediaCipher.encrypt(plain, to: encrypted, mediaKey: key, type: type)
            let decrypted = directory.appendingPathComponent("dec-\(size)-\(type)")
            let theirs = try #require(try await peer("decrypt", type, key, encrypted, decrypted))
            #expect(try Data(contentsOf: decrypted) == Data(contentsOf: plain))
            #expect(theirs.fileSha256 == ours.fileSHA256.hex)
            #expect(theirs.fileEncSha256 == ours.fileEncSHA256.hex)
            #expect(theirs.fileLength == ours.fileLength)
            #expect(ours.encryptedLength == UInt64(try Data(contentsOf: encrypted).count))
            // The file Wharf leaves is private to its user.
            let mode = try FileManager.default.attributesOfItem(atPath: encrypted.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test(arguments: [0, 16, 100_003, 2 * MediaCipher.chunkSize])
    func wharfDecryptsWhatThePeerEncrypts(size: Int) async throws {
        for type in [WAMediaType.video, .audio, .sticker] {
            let plain = try file("p-\(size)-\(type)", bytes: size)
            let key = MediaKeys.newMediaKey()
            let encrypted = directory.appendingPathComponent("e-\(size)-\(type)")
            let theirs = try #require(try await peer("encrypt", type, key, plain, encrypted))
            let decrypted = directory.appendingPathComponent("d-\(size)-\(type)")
            let ours = try MediaCipher.decrypt(
                encrypted, to: decrypted, mediaKey: key, type: type, fileEncSHA256: [UInt8](hex: theirs.fileEncSha256),
                fileSHA256: [UInt8](hex: theirs.fileSha256))
            #expect(try Data(contentsOf: decrypted) == Data(contentsOf: plain))
            #expect(ours.fileLength == theirs.fileLength)
        }
    }

    @Test func aTamperedOrMisnamedFileIsRefusedAndNothingIsLeft() async throws {
        let plain = try file("plain", bytes: 5000)
        let key = MediaKeys.newMediaKey()
        let encrypted = directory.appendingPathComponent("enc")
        let sums = try MediaCipher.encrypt(plain, to: encrypted, mediaKey: key, type: .image)
        let output = directory.appendingPathComponent("out")

        // The wrong type derives other keys: the MAC fails (and the peer agrees).
        #expect(throws: MediaFileError.self) { try MediaCipher.decrypt(encrypted, to: output, mediaKey: key, type: .document) }
        #expect(!FileManager.default.fileExists(atPath: output.path))
        #expect(try await peer("decrypt", .document, key, encrypted, output) == nil)

        // One flipped bit in the ciphertext.
        var bytes = try Data(contentsOf: encrypted)
        bytes[100] ^= 0x01
        let tampered = directory.appendingPathComponent("tampered")
        try bytes.write(to: tampered)
        #expect(throws: MediaFileError.corrupt("the file's MAC does not match its media key")) {
            try MediaCipher.decrypt(tampered, to: output, mediaKey: key, type: .image)
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))

        // A good file that is not the one the message names.
        var otherHash = sums.fileEncSHA256
        otherHash[0] ^= 0xFF
        #expect(throws: MediaFileError.corrupt("the downloaded file's SHA-256 is not the message's")) {
            try MediaCipher.decrypt(encrypted, to: output, mediaKey: key, type: .image, fileEncSHA256: otherHash)
        }
        // A truncated download.
        try bytes.prefix(bytes.count - 3).write(to: tampered)
        #expect(throws: MediaFileError.self) { try MediaCipher.decrypt(tampered, to: output, mediaKey: key, type: .image) }
        // And the good one still decrypts with both hashes checked.
        let result = try MediaCipher.decrypt(
            encrypted, to: output, mediaKey: key, type: .image, fileEncSHA256: sums.fileEncSHA256, fileSHA256: sums.fileSHA256)
        #expect(result.fileLength == 5000)
    }
}
