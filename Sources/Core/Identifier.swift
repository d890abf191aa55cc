import Foundation

/// Random, prefixed identifiers such as `ses_5kq3…`.
///
/// The prefix tells a human (and a log reader) what kind of object an id names; the 20 base-32
/// characters carry 100 bits of randomness, so ids are unguessable and never collide in practice.
public enum Identifier {
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")

    /// A new identifier `prefix_` followed by 20 random base-32 characters.
    public static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        var result = prefix + "_"
        result.reserveCapacity(prefix.count + 21)
        for _ in 0..<20 {
            result.append(alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))])
        }
        return result
    }

    /// An identifier of the same form drawn from `digest` (20 or more bytes of a hash) instead of
    /// randomness: the same input always names the same object.
    public static func make(prefix: String, digest: some Sequence<UInt8>) -> String {
        prefix + "_" + String(digest.prefix(20).map { alphabet[Int($0 % 32)] })
    }

    /// `count` random bytes from the system's secure generator.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// A URL-safe base64 token (no padding) of `byteCount` random bytes.
    public static func token(byteCount: Int = 32) -> String {
        Data(randomBytes(byteCount)).base64URLEncodedString()
    }
}

extension Data {
    /// Base64url without padding (RFC 4648 §5), as used in tokens and URLs.
    public func base64URLEncodedString() -> String {
        base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
