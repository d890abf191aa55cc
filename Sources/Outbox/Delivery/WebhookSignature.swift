import Crypto
import Foundation
import WharfCore

/// A Standard Webhooks signing secret: `whsec_` followed by the base64 of its bytes.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "whsec_"
    public let bytes: Data

    public init(bytes: Data) { self.bytes = bytes }

    /// Parses `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    public init?(encoded: String) {
        let base64 = encoded.hasPrefix(Self.prefix) ? String(encoded.dropFirst(Self.prefix.count)) : encoded
        guard let bytes = Data(base64Encoded: base64), !bytes.isEmpty else { return nil }
        self.bytes = bytes
    }

    /// A new secret of 32 random bytes.
    public static func generate() -> WebhookSecret { WebhookSecret(bytes: Data(Identifier.randomBytes(32))) }

    public var encoded: String { Self.prefix + bytes.base64EncodedString() }

    /// Never prints the secret itself.
    public var description: String { "whsec_…" }
}

/// Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
public enum WebhookSignature {
    /// The `webhook-signature` header value: one `v1,…` per secret, space-separated, so receivers
    /// holding either the old or the new secret accept it during a rotation.
    public static func header(id: String, timestamp: Int64, body: Data, secrets: [WebhookSecret]) -> String {
        secrets.map { sign(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    public static func sign(id: String, timestamp: Int64, body: Data, secret: WebhookSecret) -> String {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret.bytes))
        return "v1," + Data(code).base64EncodedString()
    }
}
