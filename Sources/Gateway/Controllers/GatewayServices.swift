import Foundation
import Logging
import Outbox
import WharfCore

/// What controllers share: stores, auth pieces, the session manager, settings.
struct GatewayServices: Sendable {
    let store: SQLiteGatewayStore
    let configuration: WharfConfiguration
    let hasher: PasswordHasher
    let tokens: TokenIssuer
    let adminSessions: AdminWebSessions
    let adminPasswordHash: String
    /// A hash of a random password, checked when a username does not exist (equal timing).
    let decoyPasswordHash: String
    let limiter: LoginLimiter
    let sessions: SessionManager
    let events: SessionEventHub
    let clock: any WharfClock
    let logger: Logger

    var outboundPolicy: OutboundPolicy { configuration.outboundPolicy }

    /// Checks a webhook URL the way deliveries will: absolute http(s) and allowed by the policy.
    func validateWebhookURL(_ text: String, field: String = "webhookUrl") throws -> String {
        guard let url = URL(string: text), url.scheme != nil, url.host() != nil else {
            throw Problem.unprocessable("field '\(field)' must be an absolute http:// or https:// URL", field: field)
        }
        do {
            try outboundPolicy.check(url)
        } catch {
            throw Problem.unprocessable("field '\(field)': \(error)", field: field)
        }
        return text
    }
}
