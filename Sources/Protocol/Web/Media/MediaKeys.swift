import Crypto
import Foundation

/// The keys one media file is encrypted with, expanded from the 32-byte `mediaKey` the message
/// carries: HKDF-SHA256 with no salt and the type's info string, 112 bytes cut into the CBC IV
/// (16), the AES-256 key (32), the HMAC key (32) and a reference key (32, unused by Wharf).
struct MediaKeys: Sendable {
    let iv: [UInt8]
    let cipherKey: [UInt8]
    let macKey: [UInt8]

    init(mediaKey: [UInt8], type: WAMediaType) {
        let expanded = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: mediaKey), salt: [UInt8](), info: Array(type.keyInfo.utf8), outputByteCount: 112
        ).withUnsafeBytes { Array($0) }
        iv = Array(expanded[0..<16])
        cipherKey = Array(expanded[16..<48])
        macKey = Array(expanded[48..<80])
    }

    /// A new random media key.
    static func newMediaKey() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }
}
