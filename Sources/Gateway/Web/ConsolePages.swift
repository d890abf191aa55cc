import Foundation
import Outbox
import WhatsAppProtocol

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
    /// The groups page's link (an engine with groups).
    var hasGroups: Bool
    /// The proxy the session connects through, without its password.
    var proxy: String
    var created: String
    var traffic: TrafficPanel
    /// The newest status changes first, each with its reason.
    var history: [StatusChange]

    struct StatusChange: Sendable {
        var at: String
        var status: String
        var detail: String
    }

    /// The watchdog's counts since Wharf started: handed over by the engine, committed as events,
    /// delivered to each of the tenant's endpoints.
    struct TrafficPanel: Sendable {
        struct Delivered: Sendable {
            var url: String
            var count: Int
        }

        var received: Int
        var committed: Int
        var uncommitted: Int
        /// Mustache reads stored properties only.
        var isCommitting: Bool
        var delivered: [Delivered]
    }
}

/// The groups a session's account is in, as its engine lists them now.
struct TenantGroupsPage: ConsolePage {
    static let template = ConsoleTemplate.tenantGroups

    struct Member: Sendable {
        var phone: String
        var role: String
        var isAdmin: Bool
    }

    struct Row: Sendable {
        var id: String
        var subject: String
        var description: String?
        var memberCount: Int
        var members: [Member]
        var admins: String
        var settings: String

        init(_ group: GroupInfo) {
            id = group.id.rawValue
            subject = group.subject
            description = group.description.flatMap { $0.isEmpty ? nil : $0 }
            memberCount = group.participants.count
            members = group.participants.map { Member(phone: $0.phone, role: $0.role.rawValue, isAdmin: $0.role != .member) }
            admins = group.participants.filter { $0.role != .member }.map(\.phone).joined(separator: ", ")
            var settings: [String] = []
            if group.isAnnounce { settings.append("only admins send") }
            if group.isLocked { settings.append("only admins edit") }
            settings.append(group.addressingMode == "lid" ? "LID addressed" : "phone addressed")
            self.settings = settings.joined(separator: " · ")
        }
    }

    var sessionId: String
    var sessionName: String
    /// Why the groups could not be listed (the session is not running, WhatsApp did not answer).
    var problem: String?
    var groups: [Row]
    var count: Int
    var single: Bool
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

/// The live event view: the stream, read by the page's script, with its filters.
struct TenantEventsPage: ConsolePage {
    static let template = ConsoleTemplate.tenantEvents
    var sessions: [SessionRow]
    /// Every event type, comma-separated: the script listens for each (SSE has no wildcard).
    var types: String
}

struct TenantMessagesPage: ConsolePage {
    static let template = ConsoleTemplate.tenantMessages
    var sessions: [SessionRow]
    var hasSessions: Bool
    var jobs: [JobRow]
}
