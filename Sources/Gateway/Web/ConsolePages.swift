import Foundation
import Outbox

// The typed models of the console pages, one per template. The rows they list are in
// ConsoleRows.swift, the retry console's pages in DeliveryPages.swift.

/// The admin panel's overview.
struct AdminOverviewPage: ConsolePage {
    static let template = ConsoleTemplate.adminOverview
    var tenantCount: Int
    var sessionCount: Int
    var sessionsByStatus: [NamedCount]
    var jobsQueued: Int
    var deliveriesPending: Int
    var deliveriesFailed: Int
    var deliveriesByStatus: [NamedCount]
    var oldestPending: String
    var hasFailing: Bool
    /// The failing endpoints (the `endpointHealth` partial lists `rows`).
    var rows: [EndpointRow]
}

struct AdminTenantsPage: ConsolePage {
    static let template = ConsoleTemplate.adminTenants
    var tenants: [TenantRow]
}

struct AdminTenantPage: ConsolePage {
    static let template = ConsoleTemplate.adminTenant
    var tenant: TenantRow
    var endpoints: [EndpointRow]
    var sessions: [SessionRow]
}

struct AdminSessionsPage: ConsolePage {
    static let template = ConsoleTemplate.adminSessions
    var sessions: [SessionRow]
}

struct AdminEndpointsPage: ConsolePage {
    static let template = ConsoleTemplate.adminEndpoints
    var rows: [EndpointRow]
}

/// The tenant's sessions, with the form for a new one.
struct TenantSessionsPage: ConsolePage {
    static let template = ConsoleTemplate.tenantSessions
    var sessions: [SessionRow]
    var count: Int
    var maxSessions: Int
    /// Whether the limit is one session (the page says "session", not "sessions").
    var single: Bool
    var atLimit: Bool
    var engines: [String]
}

/// One session: its live status panel, linking, and what its engine offers.
struct TenantSessionPage: ConsolePage {
    static let template = ConsoleTemplate.tenantSession

    /// A Cloud API session's callback URL, to enter at Meta.
    struct CloudPanel: Sendable {
        var webhookUrl: String
        var phoneNumberId: String?
    }

    var id: String
    var name: String
    var engine: String
    var status: String
    var statusDetail: String
    var phone: String
    var pushName: String
    var qr: String
    var pairingCode: String
    var linking: Bool
    /// The sandbox's "simulate scanning" form.
    var isSandbox: Bool
    /// Linking by phone number and logging out (an engine that is a linked device with phone codes).
    var isWeb: Bool
    var cloud: CloudPanel?
    var created: String
}

struct TenantWebhooksPage: ConsolePage {
    static let template = ConsoleTemplate.tenantWebhooks
    var endpoints: [EndpointRow]
}

struct TenantSettingsPage: ConsolePage {
    static let template = ConsoleTemplate.tenantSettings
    var aiPrompt: String
    var humanize: HumanizePolicy
    var keys: [KeyRow]
}

struct TenantMessagesPage: ConsolePage {
    static let template = ConsoleTemplate.tenantMessages
    var sessions: [SessionRow]
    var hasSessions: Bool
    var jobs: [JobRow]
}
