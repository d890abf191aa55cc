import Crypto
import CryptoExtras
import Foundation

/// The primitives libsignal's v3 protocol is built from, over swift-crypto: X25519, HKDF-SHA256,
/// HMAC-SHA256 and AES-256-CBC with PKCS#7 padding.
enum SignalCrypto {
    /// X25519 of our private key and their 32-byte public key.
    static func agreement(_ ours: Curve25519.KeyAgreement.PrivateKey, _ theirs: [UInt8]) throws(SignalError) -> [UInt8] {
        guard let theirKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: theirs),
            let shared = try? ours.sharedSecretFromKeyAgreement(with: theirKey)
        else { throw .invalidKey("a public key is not a Curve25519 point") }
        return shared.withUnsafeBytes { Array($0) }
    }

    /// HKDF-SHA256; libsignal uses 32 zero bytes when there is no salt.
    static func derive(_ input: [UInt8], salt: [UInt8]? = nil, info: String, count: Int) -> [UInt8] {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: input), salt: salt ?? [UInt8](repeating: 0, count: 32), info: Array(info.utf8),
            outputByteCount: count)
        return key.withUnsafeBytes { Array($0) }
    }

    static func mac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    static func encrypt(_ plaintext: [UInt8], key: [UInt8], iv: [UInt8]) throws(SignalError) -> [UInt8] {
        do {
            return Array(try AES._CBC.encrypt(plaintext, using: SymmetricKey(data: key), iv: AES._CBC.IV(ivBytes: iv)))
        } catch {
            throw .invalidMessage("the message could not be encrypted: \(error)")
        }
    }

    static func decrypt(_ ciphertext: [UInt8], key: [UInt8], iv: [UInt8]) throws(SignalError) -> [UInt8] {
        do {
            return Array(try AES._CBC.decrypt(ciphertext, using: SymmetricKey(data: key), iv: AES._CBC.IV(ivBytes: iv)))
        } catch {
            throw .invalidMessage("the ciphertext does not decrypt (bad padding or length)")
        }
    }

    /// Compares two byte strings in time independent of where they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Why a Signal operation failed. Every case is a refusal of one message or bundle, never a fault
/// of the process.
enum SignalError: Error, Equatable, CustomStringConvertible {
    /// Malformed, tampered (bad MAC) or otherwise unreadable.
    case invalidMessage(String)
    case invalidKey(String)
    /// There is no session with the sender to decrypt a `msg` with.
    case noSession
    /// A message whose key was already used: it was decrypted (and stored) before.
    case duplicateMessage(counter: UInt32)
    /// The prekey a `pkmsg` names is not (or no longer) ours.
    case unknownPreKey(UInt32)
    case unknownSignedPreKey(UInt32)
    case unsupportedVersion(UInt8)

    var description: String {
        switch self {
        case .invalidMessage(let why): "invalid message: \(why)"
        case .invalidKey(let why): "invalid key: \(why)"
        case .noSession: "no session with the sender"
        case .duplicateMessage(let counter): "message \(counter) was already decrypted"
        case .unknownPreKey(let id): "unknown one-time prekey \(id)"
        case .unknownSignedPreKey(let id): "unknown signed prekey \(id)"
        case .unsupportedVersion(let version): "unsupported message version \(version)"
        }
    }
}
