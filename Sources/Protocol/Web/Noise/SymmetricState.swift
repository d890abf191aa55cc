import Crypto
import Foundation

/// The symmetric half of a Noise handshake (`Noise_XX_25519_AESGCM_SHA256`): the running hash `h`,
/// the chaining key `ck` and the current cipher key. A value without I/O; the handshake drives it.
///
/// WhatsApp pads the 28-byte protocol name with four zero bytes to exactly 32 and uses it directly
/// as `h` and `ck`, which is what the Noise specification does for names of 32 bytes or fewer.
public struct SymmetricState: Sendable {
    public static let protocolName: [UInt8] = Array("Noise_XX_25519_AESGCM_SHA256".utf8) + [0, 0, 0, 0]

    public private(set) var hash: [UInt8]
    public private(set) var chainingKey: [UInt8]
    private var cipher: CipherState?

    public init(prologue: [UInt8]) {
        hash = Self.protocolName
        chainingKey = Self.protocolName
        mixHash(prologue)
    }

    public mutating func mixHash(_ data: some Sequence<UInt8>) {
        var hasher = SHA256()
        hasher.update(data: hash)
        hasher.update(data: Array(data))
        hash = Array(hasher.finalize())
    }

    /// HKDF(ck, input) into a new chaining key and a new cipher key whose nonce starts at 0.
    public mutating func mixKey(_ inputKeyMaterial: some ContiguousBytes) {
        let output = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: inputKeyMaterial), salt: chainingKey,
            info: [UInt8](), outputByteCount: 64
        ).withUnsafeBytes { Array($0) }
        chainingKey = Array(output[0..<32])
        cipher = CipherState(key: SymmetricKey(data: output[32..<64]))
    }

    /// Encrypts with `h` as associated data and mixes the ciphertext into `h`. Before the first
    /// `mixKey` there is no key and the plaintext passes through, as Noise specifies.
    public mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        var ciphertext = plaintext
        if var cipher {
            ciphertext = try cipher.seal(plaintext, associatedData: hash)
            self.cipher = cipher
        }
        mixHash(ciphertext)
        return ciphertext
    }

    public mutating func decryptAndHash(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        var plaintext = ciphertext
        if var cipher {
            plaintext = try cipher.open(ciphertext, associatedData: hash)
            self.cipher = cipher
        }
        mixHash(ciphertext)
        return plaintext
    }

    /// The two transport keys: the initiator writes with the first and reads with the second.
    public func split() -> (initiator: CipherState, responder: CipherState) {
        let output = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: [UInt8]()), salt: chainingKey,
            info: [UInt8](), outputByteCount: 64
        ).withUnsafeBytes { Array($0) }
        return (CipherState(key: SymmetricKey(data: output[0..<32])), CipherState(key: SymmetricKey(data: output[32..<64])))
    }
}

/// AES-256-GCM with a counting nonce: 4 zero bytes, then the counter as 8 big-endian bytes (for
/// counters below 2^32 the same 12 bytes as WhatsApp's "8 zeros and a 32-bit counter").
public struct CipherState: Sendable {
    private let key: SymmetricKey
    private var counter: UInt64 = 0

    init(key: SymmetricKey) {
        self.key = key
    }

    public mutating func seal(_ plaintext: [UInt8], associatedData: [UInt8] = []) throws(NoiseError) -> [UInt8] {
        let nonce = try nextNonce()
        guard let box = try? AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: associatedData) else {
            throw .decryptionFailed
        }
        return Array(box.ciphertext) + Array(box.tag)
    }

    public mutating func open(_ ciphertext: [UInt8], associatedData: [UInt8] = []) throws(NoiseError) -> [UInt8] {
        let nonce = try nextNonce()
        guard ciphertext.count >= 16,
            let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: ciphertext.dropLast(16), tag: ciphertext.suffix(16)),
            let plaintext = try? AES.GCM.open(box, using: key, authenticating: associatedData)
        else { throw .decryptionFailed }
        return Array(plaintext)
    }

    private mutating func nextNonce() throws(NoiseError) -> AES.GCM.Nonce {
        guard counter < .max else { throw .nonceExhausted }
        defer { counter += 1 }
        let bytes = [UInt8](repeating: 0, count: 4) + (0..<8).reversed().map { UInt8(truncatingIfNeeded: counter >> ($0 * 8)) }
        return try! AES.GCM.Nonce(data: bytes)
    }
}
