import Foundation
import Outbox
import WharfCore
import WhatsAppProtocol

/// A native session's proxy as the gateway keeps it: the URL without its password in the session's
/// options (what the API and consoles show), the whole URL sealed beside it, so that a copy of the
/// database does not hand out the proxy's password.
enum SessionProxy {
    /// What the seal is bound to: a sealed proxy copied to another session does not open there.
    static func context(sessionID: String) -> String { "session-proxy:\(sessionID)" }

    /// Parses a proxy URL a tenant gave and checks the outbound address policy lets Wharf reach it.
    static func validate(_ text: String, policy: OutboundPolicy, field: String = "proxy") throws(ValidationError) -> ProxyEndpoint {
        let endpoint: ProxyEndpoint
        do {
            endpoint = try ProxyEndpoint(parsing: text)
        } catch {
            throw .invalid(field: field, detail: "field '\(field)': \(error)")
        }
        do {
            guard !(try policy.addresses(ofHost: endpoint.host)).isEmpty else {
                throw ValidationError.invalid(field: field, detail: "field '\(field)': the proxy's host '\(endpoint.host)' does not resolve")
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw .invalid(field: field, detail: "field '\(field)': \(error)")
        }
        return endpoint
    }

    /// Stores `endpoint` (or none) in `options`.
    static func store(_ endpoint: ProxyEndpoint?, in options: inout SessionOptions, sessionID: String, box: SecretBox) throws {
        options.proxy = endpoint?.redacted
        options.sealedProxy = try endpoint.map { try box.seal(Data($0.url.utf8), context: context(sessionID: sessionID)) }
    }

    /// The proxy stored for `session`, if any.
    static func endpoint(of session: SessionRecord, box: SecretBox) throws -> ProxyEndpoint? {
        guard let sealed = session.options.sealedProxy else { return nil }
        let url = String(decoding: try box.open(sealed, context: context(sessionID: session.id)), as: UTF8.self)
        return try ProxyEndpoint(parsing: url)
    }

    /// The engine's view of `endpoint`: its addresses are resolved and checked against `policy`
    /// again before every connection, so a name that has since moved to a private address is refused.
    static func webProxy(_ endpoint: ProxyEndpoint, policy: OutboundPolicy) -> WebProxy {
        WebProxy(endpoint: endpoint) {
            try policy.addresses(ofHost: endpoint.host).map(\.description)
        }
    }
}
