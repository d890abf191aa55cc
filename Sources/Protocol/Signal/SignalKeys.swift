import Foundation

/// Signal's serialized public keys: the 32-byte Curve25519 key behind a type byte, `0x05`.
enum SignalKeys {
    static let djbType: UInt8 = 0x05

    static func serialize(_ publicKey: [UInt8]) -> [UInt8] { [djbType] + publicKey }

    /// The 32-byte key of a serialized one; a bare 32-byte key is accepted as well.
    static func deserialize(_ bytes: some Collection<UInt8>) throws(SignalError) -> [UInt8] {
        let bytes = Array(bytes)
        if bytes.count == 33, bytes[0] == djbType { return Array(bytes[1...]) }
        if bytes.count == 32 { return bytes }
        throw .invalidKey("a public key must be 33 bytes starting with 0x05, not \(bytes.count) bytes")
    }
}
