import Crypto
import Foundation
import WharfCore

/// Tenant API keys: `wharf_sk_` followed by 43 random base64url characters (256 bits).
///
/// The prefix makes a leaked key recognisable to secret scanners and to people; only the SHA-256
/// of a key is stored, which is safe for keys of this entropy (unlike passwords, they cannot be
/// guessed, so a slow hash buys nothing).
enum APIKeyFormat {
    static let prefix = "wharf_sk_"

    static func make() -> String { prefix + Identifier.token(byteCount: 32) }

    static func isAPIKey(_ token: String) -> Bool { token.hasPrefix(prefix) }

    static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// What is shown in lists: the prefix and a few characters.
    static func displayPrefix(_ key: String) -> String { String(key.prefix(prefix.count + 6)) }
}
