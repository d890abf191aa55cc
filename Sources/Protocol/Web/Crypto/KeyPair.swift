import Crypto
import Foundation

/// A Curve25519 key pair (X25519 agreement, XEdDSA signatures), stored as its 32-byte private key.
///
/// Decoding checks the key, so bytes read back from storage either give a usable key or an error
/// for that one session; nothing later has to trust them.
struct KeyPair: Codable, Sendable, Equatable {
    let privateKey: Curve25519.KeyAgreement.PrivateKey
    /// The 32-byte public key.
    let publicKey: [UInt8]

    init(_ privateKey: Curve25519.KeyAgreement.PrivateKey = .init()) {
        self.privateKey = privateKey
        publicKey = Array(privateKey.publicKey.rawRepresentation)
    }

    init(privateKey bytes: some ContiguousBytes) throws {
        self.init(try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes))
    }

    /// The public key in Signal's serialized form, `0x05 ‖ key`.
    var serializedPublicKey: [UInt8] { [0x05] + publicKey }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let bytes = try container.decode(Data.self)
        guard bytes.count == 32 else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a private key must be 32 bytes, not \(bytes.count)")
        }
        try self.init(privateKey: bytes)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(privateKey.rawRepresentation)
    }

    static func == (lhs: KeyPair, rhs: KeyPair) -> Bool { lhs.publicKey == rhs.publicKey }
}
