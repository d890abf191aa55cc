import Foundation
import Outbox

/// An endpoint that has failed for a while, or is disabled: what its banner says, with the one
/// action that helps (re-enable it and replay what it missed).
public struct EndpointTrouble: Sendable, Equatable {
    public var endpointID: String
    public var tenantID: String
    public var url: String
    public var isDisabled: Bool
    /// Why it was disabled (the breaker gave up, or the tenant switched it off).
    public var disabledReason: String?
    public var failingSince: Date?
    /// What the latest failed attempt got.
    public var lastError: String?

    /// The endpoints in trouble at `now`: disabled ones (unless their tenant chose to), and
    /// enabled ones failing for longer than `after`. `breaker` gives the deliverer's current state,
    /// fresher than the stored one.
    static func find(
        in endpoints: [WebhookEndpoint], breaker: (WebhookEndpoint) -> CircuitBreaker, now: Date, after: Duration
    ) -> [EndpointTrouble] {
        let cutoff = now.addingTimeInterval(-after.timeInterval)
        return endpoints.compactMap { endpoint in
            let since: Date? =
                switch breaker(endpoint).state {
                case .closed(_, let since): since
                case .open(let since, _), .halfOpen(let since): since
                case .disabled: nil
                }
            if endpoint.isEnabled {
                guard let since, since <= cutoff else { return nil }
            } else if endpoint.disabledReason == WebhookEndpoint.disabledByTenant {
                return nil
            }
            return EndpointTrouble(
                endpointID: endpoint.id, tenantID: endpoint.tenantId, url: endpoint.url, isDisabled: !endpoint.isEnabled,
                disabledReason: endpoint.disabledReason, failingSince: endpoint.isEnabled ? since : nil, lastError: nil)
        }
    }
}
