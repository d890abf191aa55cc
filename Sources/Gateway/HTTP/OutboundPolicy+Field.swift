import Foundation
import Outbox

extension OutboundPolicy {
    /// The URL in a request field, if it is absolute http(s) and the policy lets Wharf (or, for a
    /// link WhatsApp fetches, WhatsApp) reach it; otherwise a ``ValidationError`` that names the field.
    ///
    /// - Parameters:
    ///   - resolvingHosts: `false` when Wharf itself connects nowhere, so host names are not looked up.
    ///   - refusal: how the detail of a refused address begins; the field's name by default.
    func url(in text: String, field: String, resolvingHosts: Bool = true, refusal: String? = nil) throws -> URL {
        guard let url = URL(string: text), url.scheme != nil, url.host() != nil else {
            throw ValidationError.invalid(field: field, detail: "field '\(field)' must be an absolute http:// or https:// URL")
        }
        do {
            if resolvingHosts { try check(url) } else { try check(url, resolve: { _ in [] }) }
        } catch {
            throw ValidationError.invalid(field: field, detail: "\(refusal ?? "field '\(field)'"): \(error)")
        }
        return url
    }
}
