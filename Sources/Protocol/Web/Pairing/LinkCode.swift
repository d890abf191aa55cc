import Crypto
import CryptoExtras
import Foundation

/// Linking by phone number: the user types an 8-character code on the phone instead of scanning.
///
/// The code never crosses the wire. Each side wraps an ephemeral public key under a key derived
/// from it (PBKDF2-SHA256, 131,072 rounds, then AES-256-CTR): `salt(32) || iv(16) || ciphertext(32)`.
/// After the phone's key arrives, the companion proves its identity in a GCM-sealed bundle and both
/// derive the ADV secret that authenticates the pair-success.
struct LinkCode: Sendable {
    /// Crockford-like base32 without 0, O, I and U, as the official clients use.
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTVWXYZ")
    static let rounds = 2 << 16

    /// The 8 characters (shown to the user as `XXXX-XXXX`).
    let code: String
    let ephemeral: Curve25519.KeyAgreement.PrivateKey

    init(
        randomBytes: [UInt8] = (0..<5).map { _ in UInt8.random(in: .min ... .max) },
        ephemeral: Curve25519.KeyAgreement.PrivateKey = .init()
    ) {
        precondition(randomBytes.count == 5)
        let bits = randomBytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        code = String((0..<8).map { Self.alphabet[Int(bits >> UInt64(35 - 5 * $0) & 0x1F)] })
        self.ephemeral = ephemeral
    }

    var displayCode: String { String(code.prefix(4)) + "-" + String(code.suffix(4)) }

    static func wrap(
        _ publicKey: [UInt8], code: String,
        salt: [UInt8] = random(32), iv: [UInt8] = random(16)
    ) throws -> [UInt8] {
        let key = try codeKey(code, salt: salt)
        let encrypted = try AES._CTR.encrypt(publicKey, using: key, nonce: .init(nonceBytes: iv))
        return salt + iv + Array(encrypted)
    }

    static func unwrap(_ wrapped: [UInt8], code: String) throws -> [UInt8] {
        guard wrapped.count >= 80 else { throw LinkCodeError.malformed("a wrapped key must be 80 bytes") }
        let key = try codeKey(code, salt: Array(wrapped[0..<32]))
        return Array(try AES._CTR.decrypt(wrapped[48..<80], using: key, nonce: .init(nonceBytes: wrapped[32..<48])))
    }

    /// PBKDF2 below swift-crypto's minimum of 210,000 rounds, because WhatsApp's phones use 131,072.
    private static func codeKey(_ code: String, salt: [UInt8]) throws -> SymmetricKey {
        try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(code.utf8), salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: rounds)
    }

    /// The companion's answer to the phone's hello: the sealed key bundle and the new ADV secret.
    struct Finish: Equatable {
        let wrappedKeyBundle: [UInt8]
        let advSecret: [UInt8]
    }

    func finish(
        primaryWrappedEphemeral: [UInt8], primaryIdentity: [UInt8], identity: Curve25519.KeyAgreement.PrivateKey,
        advRandom: [UInt8] = random(32), bundleSalt: [UInt8] = random(32), bundleNonce: [UInt8] = random(12)
    ) throws -> Finish {
        let primaryEphemeral = try Curve25519.KeyAgreement.PublicKey(
            rawRepresentation: Self.unwrap(primaryWrappedEphemeral, code: code))
        let primaryIdentityKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: primaryIdentity)
        let shared = try ephemeral.sharedSecretFromKeyAgreement(with: primaryEphemeral).withUnsafeBytes { Array($0) }
        let bundleKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: shared), salt: bundleSalt,
            info: Array("link_code_pairing_key_bundle_encryption_key".utf8), outputByteCount: 32)
        let bundle = Array(identity.publicKey.rawRepresentation) + primaryIdentity + advRandom
        let sealed = try AES.GCM.seal(bundle, using: bundleKey, nonce: AES.GCM.Nonce(data: bundleNonce))
        let identityShared = try identity.sharedSecretFromKeyAgreement(with: primaryIdentityKey).withUnsafeBytes { Array($0) }
        let advSecret = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: shared + identityShared + advRandom), salt: [UInt8](),
            info: Array("adv_secret".utf8), outputByteCount: 32
        ).withUnsafeBytes { Array($0) }
        return Finish(
            wrappedKeyBundle: bundleSalt + bundleNonce + Array(sealed.ciphertext) + Array(sealed.tag), advSecret: advSecret)
    }

    static func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: .min ... .max) } }
}

enum LinkCodeError: Error, Equatable {
    case malformed(String)
}
