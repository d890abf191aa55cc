import Crypto
import Foundation
import WharfCore

/// Wharf's own URLs for received files, signed so that a workflow can fetch one without
/// credentials (an n8n HTTP Request node given only the URL), until it expires.
///
/// The signature is HMAC-SHA256 over the media id and the expiry, under a key derived from
/// `ENCRYPTION_KEY`: a link cannot be stretched, moved to another file or forged, and it names
/// nothing but the file. Another tenant's credentials get 404 as for any id they do not own.
struct MediaLinks: Sendable {
    private let key: SymmetricKey
    /// Where people reach Wharf (`PUBLIC_URL`, or this machine on the bound port).
    let baseURL: @Sendable () -> String

    init(encryptionKey: [UInt8], baseURL: @escaping @Sendable () -> String) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: encryptionKey), salt: Array("wharf".utf8), info: Array("media links".utf8),
            outputByteCount: 32)
        self.baseURL = baseURL
    }

    func path(_ id: String) -> String { "/v1/media/\(id)" }

    /// The signed URL of `id`, good until `expires` (whole seconds).
    func url(_ id: String, expires: Date) -> String {
        let seconds = Int64(expires.timeIntervalSince1970.rounded(.down))
        return "\(baseURL())\(path(id))?expires=\(seconds)&sig=\(signature(id, seconds))"
    }

    enum Verdict: Equatable {
        case valid
        case expired
        case invalid
    }

    func verify(_ id: String, expires: String?, signature given: String?, now: Date) -> Verdict {
        guard let expires, let seconds = Int64(expires), let given, let bytes = [UInt8](hex: given) else { return .invalid }
        guard HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: Data(message(id, seconds)), using: key) else { return .invalid }
        return Double(seconds) > now.timeIntervalSince1970 ? .valid : .expired
    }

    private func message(_ id: String, _ seconds: Int64) -> [UInt8] { Array("\(id)\n\(seconds)".utf8) }

    private func signature(_ id: String, _ seconds: Int64) -> String {
        Array(HMAC<SHA256>.authenticationCode(for: message(id, seconds), using: key)).hex
    }
}
