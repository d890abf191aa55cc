import CSodium
import Crypto
import Foundation

/// XEdDSA: Ed25519-compatible signatures made with an X25519 (Montgomery) key pair, as Signal and
/// WhatsApp use for identity keys, signed prekeys, device identities and the server's certificates.
///
/// swift-crypto signs only from Ed25519 seeds, so signing uses libsodium's raw-scalar Edwards
/// operations; verifying converts the Montgomery key to its Edwards form (`Field25519`) and hands
/// the signature to swift-crypto's Ed25519.
public enum XEdDSA {
    public enum Failure: Error, Equatable {
        case invalidPrivateKey
        case randomness
    }

    /// Signs `message` with the X25519 private key. `random` is the 64-byte Z of the XEdDSA
    /// specification; tests pass a fixed one, callers let it default to fresh randomness.
    public static func sign(
        _ message: some DataProtocol, privateKey: Curve25519.KeyAgreement.PrivateKey,
        random: [UInt8]? = nil
    ) throws(Failure) -> [UInt8] {
        initialise()
        let z = random ?? (0..<64).map { _ in UInt8.random(in: .min ... .max) }
        guard z.count == 64 else { throw .randomness }
        let message = Array(message)
        // k: the clamped Montgomery scalar; E = kB on the Edwards curve.
        var k = Array(privateKey.rawRepresentation)
        k[0] &= 248
        k[31] &= 127
        k[31] |= 64
        var edwards = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult_ed25519_base_noclamp(&edwards, k) == 0 else { throw .invalidPrivateKey }
        // XEdDSA fixes the public key's sign bit at 0: if E's is 1, sign with -k, whose point is -E.
        var a = reduce(k + [UInt8](repeating: 0, count: 32))
        if edwards[31] & 0x80 != 0 {
            var negated = [UInt8](repeating: 0, count: 32)
            crypto_core_ed25519_scalar_negate(&negated, a)
            a = negated
        }
        var publicKey = edwards
        publicKey[31] &= 0x7F
        // r = hash1(a || M || Z) mod L, with hash1 prefixing 0xFE followed by 31 bytes of 0xFF.
        let r = reduce(Array(SHA512.hash(data: [0xFE] + [UInt8](repeating: 0xFF, count: 31) + a + message + z)))
        var commitment = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult_ed25519_base_noclamp(&commitment, r) == 0 else { throw .randomness }
        let h = reduce(Array(SHA512.hash(data: commitment + publicKey + message)))
        var ha = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&ha, h, a)
        var s = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_add(&s, r, ha)
        return commitment + s
    }

    /// Verifies a 64-byte signature against a 32-byte X25519 public key.
    ///
    /// Older libsignal signers put the Edwards key's sign bit in the signature's last bit instead of
    /// fixing it at 0; taking the bit from there accepts both kinds, as the other clients do.
    public static func verify(_ signature: some DataProtocol, of message: some DataProtocol, publicKey: some DataProtocol) -> Bool {
        var signature = Array(signature)
        let montgomery = Array(publicKey)
        guard signature.count == 64, montgomery.count == 32 else { return false }
        var edwards = Field25519.edwardsY(fromMontgomeryU: montgomery)
        edwards[31] |= signature[63] & 0x80
        signature[63] &= 0x7F
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: edwards) else { return false }
        return key.isValidSignature(signature, for: Array(message))
    }

    private static func reduce(_ wide: [UInt8]) -> [UInt8] {
        precondition(wide.count == 64)
        var scalar = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&scalar, wide)
        return scalar
    }

    private static let initialised: Bool = sodium_init() >= 0
    private static func initialise() { _ = initialised }
}
