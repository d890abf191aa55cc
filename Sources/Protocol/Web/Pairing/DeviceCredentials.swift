import Crypto
import Foundation

/// Everything a linked device must remember between runs: its keys before pairing, and the account
/// it was linked to after. Stored as one JSON blob in the engine's credentials store.
struct DeviceCredentials: Codable, Sendable, Equatable {
    static let storageKey = "web.device"

    /// The Noise static key; the server knows the device by it.
    var noiseKey: KeyPair
    /// The Signal identity key; also signs the prekey and the device identity.
    var identityKey: KeyPair
    var registrationID: UInt32
    var signedPreKeyID: UInt32
    var signedPreKey: KeyPair
    /// XEdDSA by the identity key over `0x05 || signedPreKey.public`.
    var signedPreKeySignature: Data
    /// When the signed prekey was made; it is replaced after 27 days (`nil`: made before Wharf
    /// rotated them, dated on the next login).
    var signedPreKeyCreatedAt: Date?
    /// Shared with the phone through the QR code (or derived in code pairing); authenticates pair-success.
    var advSecret: Data
    var account: LinkedAccount?

    struct LinkedAccount: Codable, Sendable, Equatable {
        var jid: String
        var lid: String?
        var platform: String?
        var businessName: String?
        /// The phone's identity key (the account signature key), kept as the Signal identity of device 0.
        var accountSignatureKey: Data
        /// The signed device identity (ADVSignedDeviceIdentity) messages carry in part 2.
        var signedIdentity: Data
    }

    static func generate() throws -> DeviceCredentials {
        let identity = KeyPair()
        let preKey = KeyPair()
        let signature = try XEdDSA.sign(preKey.serializedPublicKey, privateKey: identity.privateKey)
        return DeviceCredentials(
            noiseKey: KeyPair(),
            identityKey: identity,
            registrationID: UInt32.random(in: 1...16380),
            signedPreKeyID: 1,
            signedPreKey: preKey,
            signedPreKeySignature: Data(signature),
            signedPreKeyCreatedAt: nil,
            advSecret: Data((0..<32).map { _ in UInt8.random(in: .min ... .max) }),
            account: nil)
    }

    var noisePrivateKey: Curve25519.KeyAgreement.PrivateKey { noiseKey.privateKey }
    var identityPrivateKey: Curve25519.KeyAgreement.PrivateKey { identityKey.privateKey }
    var noisePublicKey: [UInt8] { noiseKey.publicKey }
    var identityPublicKey: [UInt8] { identityKey.publicKey }
    var signedPreKeyPublic: [UInt8] { signedPreKey.publicKey }
}
