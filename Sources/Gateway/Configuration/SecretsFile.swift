import Foundation
import WharfCore

/// Secrets Wharf generates once and keeps under `DATA_DIR`, so that restarts keep sessions,
/// tokens and the admin login valid.
///
/// The file holds only what was not given in configuration: random signing secrets, and the bcrypt
/// hash (never the text) of a generated admin password. It is written with mode 0600.
struct SecretsFile: Codable, Equatable {
    var sessionSecret: String?
    var jwtSecret: String?
    var adminPasswordHash: String?
    /// The key stored secrets are encrypted with (base64), when `ENCRYPTION_KEY` is not set.
    var encryptionKey: String?

    static let fileName = "secrets.json"

    static func load(directory: String) throws -> SecretsFile {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else { return SecretsFile() }
        do {
            return try JSONDecoder().decode(SecretsFile.self, from: data)
        } catch {
            throw ConfigurationError(variable: "DATA_DIR", message: "holds an unreadable \(fileName): \(error)")
        }
    }

    func save(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else {
            throw ConfigurationError(variable: "DATA_DIR", message: "is not writable (could not write \(Self.fileName))")
        }
        guard rename(temporary, path) == 0 else {
            throw ConfigurationError(variable: "DATA_DIR", message: "is not writable (could not replace \(Self.fileName))")
        }
    }

    static func makeSecret() -> String { Identifier.token(byteCount: 48) }

    static func makeKey() -> String { Data(Identifier.randomBytes(32)).base64EncodedString() }

    /// 32 bytes written as 64 hex characters or as base64.
    static func decodeKey(_ text: String) -> [UInt8]? {
        if text.count == 64, let bytes = [UInt8](hex: text) { return bytes }
        guard let data = Data(base64Encoded: text), data.count == 32 else { return nil }
        return Array(data)
    }
}
