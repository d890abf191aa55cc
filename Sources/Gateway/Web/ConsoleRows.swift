import Foundation
import Outbox
import WharfCore

/// Display rows the console templates render: every value already a string, so a missing
/// value prints as "—" or nothing, never as "nil".
struct EndpointRow {
    var id: String
    var tenantId: String
    var tenantName: String
    var url: String
    var events: String
    var eventList: String
    var headerName: String
    var basicUser: String
    var breaker: String
    var disabledReason: String?
    var disabled: Bool
    var canEnable: Bool
    var failureStreak: Int
    var failingSince: String
    var lastSuccess: String
    var lastFailure: String

    init(_ endpoint: WebhookEndpoint, health: WebhookController.View, tenantName: String) {
        id = endpoint.id
        tenantId = endpoint.tenantId
        self.tenantName = tenantName
        url = endpoint.url
        events = health.eventTypes.isEmpty ? "all" : health.eventTypes.joined(separator: ", ")
        eventList = health.eventTypes.joined(separator: ", ")
        headerName = endpoint.headerName ?? ""
        basicUser = endpoint.basicUser ?? ""
        breaker = health.breaker
        disabledReason = health.disabledReason
        disabled = !endpoint.isEnabled
        canEnable = !endpoint.isEnabled || health.breaker != BreakerState.closed.rawValue
        failureStreak = health.failureStreak
        failingSince = Console.time(health.failingSince)
        lastSuccess = Console.time(health.lastSuccessAt)
        lastFailure = Console.time(health.lastFailureAt)
    }

    /// Whether the admin overview lists it as failing.
    var isFailing: Bool { disabled || breaker != BreakerState.closed.rawValue || failureStreak > 0 }
}

struct SessionRow {
    var id: String
    var tenantId: String
    var tenantName: String
    var name: String
    var engine: String
    var status: String
    var statusDetail: String?
    var phone: String
    var pushName: String
    var lastActivity: String
    var created: String

    init(_ session: SessionRecord, tenantName: String = "") {
        id = session.id
        tenantId = session.tenantId
        self.tenantName = tenantName
        name = session.name
        engine = session.engine.rawValue
        status = session.status.rawValue
        statusDetail = session.statusDetail
        phone = session.phone ?? "—"
        pushName = session.pushName ?? ""
        lastActivity = Console.time(session.lastActivityAt ?? session.connectedAt)
        created = Console.time(session.createdAt)
    }
}

struct NamedCount {
    var name: String
    var count: Int
}

struct Choice {
    var id: String
    var name: String
    var selected: Bool
}

struct TenantRow {
    var id: String
    var name: String
    var username: String
    var maxSessions: Int
    var sessionCount: Int
    var webhookUrl: String
    var created: String
    var settings: String
}

struct KeyRow {
    var id: String
    var name: String
    var prefix: String
    var created: String
    var lastUsed: String
}

struct JobRow {
    var id: String
    var sessionName: String
    var chatId: String
    var type: String
    var status: String
    var error: String?
    var attempts: Int
    var created: String
    var sent: String
    var createdAt: Date
}
