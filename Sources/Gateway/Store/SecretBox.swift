import Crypto
import Foundation
import Outbox
import WharfCore

/// Encrypts secrets before they reach the database (AES-256-GCM), so that a copy of
/// `wharf.sqlite` (a backup, a dump) does not hand out engines' keys and Cloud API tokens.
///
/// The key comes from `ENCRYPTION_KEY`, or is generated once into `DATA_DIR/secrets.json`; keep it
/// outside `DATA_DIR` to make database backups useless without it. Every value is bound to where
/// it is stored (`context`), so a sealed value copied into another row does not open there.
public struct SecretBox: Sendable {
    /// Marks a sealed value ("WX", version 1); values written before encryption lack it.
    static let magic: [UInt8] = [0x57, 0x58, 0x01]

    private let key: SymmetricKey

    /// - Parameter key: 32 bytes of secret key material.
    public init(key: [UInt8]) {
        precondition(key.count == 32, "the encryption key must be 32 bytes")
        self.key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: key), info: Data("wharf stored secrets v1".utf8), outputByteCount: 32)
    }

    /// A box with a random key, for stores that live only as long as a test.
    public static func ephemeral() -> SecretBox { SecretBox(key: Identifier.randomBytes(32)) }

    public func seal(_ plaintext: Data, context: String) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw SecretBoxError.cannotSeal }
        return Data(Self.magic) + combined
    }

    /// The plaintext of a sealed value. A value in the clear is refused: start-up seals what an
    /// earlier version stored, so one found later was put there by someone else.
    public func open(_ stored: Data, context: String) throws -> Data {
        guard Self.isSealed(stored) else { throw SecretBoxError.notSealed }
        do {
            let box = try AES.GCM.SealedBox(combined: stored.dropFirst(Self.magic.count))
            return try AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
        } catch {
            throw SecretBoxError.cannotOpen
        }
    }

    static func isSealed(_ data: Data) -> Bool { data.starts(with: magic) }
}

public enum SecretBoxError: Error, CustomStringConvertible {
    case cannotSeal
    case cannotOpen
    case notSealed

    public var description: String {
        switch self {
        case .cannotSeal: "the value could not be encrypted"
        case .cannotOpen: "the stored value cannot be decrypted: ENCRYPTION_KEY is not the key it was written with"
        case .notSealed: "the stored value is not encrypted, so it was not written by Wharf"
        }
    }
}

extension SecretBox: FieldSealer {
    /// A text field sealed as `wharf-sealed:` and the sealed bytes in base64.
    public func seal(_ value: String, context: String) throws -> String {
        sealedFieldPrefix + (try seal(Data(value.utf8), context: context)).base64EncodedString()
    }

    public func open(_ stored: String, context: String) throws -> String {
        guard stored.hasPrefix(sealedFieldPrefix), let data = Data(base64Encoded: String(stored.dropFirst(sealedFieldPrefix.count))) else {
            throw SecretBoxError.notSealed
        }
        return String(decoding: try open(data, context: context), as: UTF8.self)
    }
}
