import Foundation
import GRDB

/// Milliseconds since 1970, the outbox's unit of time in the database (cheap to compare and index).
public typealias Milliseconds = Int64

extension Date {
    /// This time as the outbox stores it: the one conversion every millisecond column and every
    /// SQL argument goes through.
    public var milliseconds: Milliseconds { Milliseconds((timeIntervalSince1970 * 1000).rounded()) }
    public init(milliseconds: Milliseconds) { self.init(timeIntervalSince1970: TimeInterval(milliseconds) / 1000) }
}

/// A record whose `Date` properties are stored as milliseconds since 1970 (the outbox's columns),
/// read and written through ``Foundation/Date/milliseconds``.
public protocol MillisecondDates: FetchableRecord, EncodableRecord {}

extension MillisecondDates {
    public static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy {
        .custom { value in Milliseconds.fromDatabaseValue(value).map(Date.init(milliseconds:)) }
    }

    public static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy {
        .custom { $0.milliseconds }
    }
}

/// The event types an endpoint wants (`message.received`, `message.*`, `*`); empty means every
/// type. Stored as a JSON array.
public struct EventFilter: Sendable, Equatable, Codable, DatabaseValueConvertible {
    public var patterns: [String]

    public init(_ patterns: [String] = []) { self.patterns = patterns }

    /// Whether events of `type` pass (`message.*` matches every `message.` type).
    public func accepts(_ type: String) -> Bool {
        patterns.isEmpty
            || patterns.contains { pattern in
                pattern == "*" || pattern == type || (pattern.hasSuffix(".*") && type.hasPrefix(pattern.dropLast()))
            }
    }

    public init(from decoder: any Decoder) throws { patterns = try decoder.singleValueContainer().decode([String].self) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(patterns)
    }

    public var databaseValue: DatabaseValue {
        String(decoding: (try? JSONEncoder().encode(patterns)) ?? Data("[]".utf8), as: UTF8.self).databaseValue
    }

    /// `nil` (a conversion error GRDB reports) for text that is not a JSON array of strings.
    public static func fromDatabaseValue(_ value: DatabaseValue) -> EventFilter? {
        guard let text = String.fromDatabaseValue(value),
            let patterns = try? JSONDecoder().decode([String].self, from: Data(text.utf8))
        else { return nil }
        return EventFilter(patterns)
    }
}

/// A circuit breaker's state as the `breaker_state` column stores it and the API shows it: the one
/// mapping between breaker states and their names.
public enum BreakerState: String, Sendable, Codable, DatabaseValueConvertible {
    case closed
    case open
    case halfOpen = "half_open"
}

extension CircuitBreaker.State {
    /// The state as stored: a disabled endpoint's breaker is stored closed (`is_enabled` says the rest).
    public var stored: BreakerState {
        switch self {
        case .closed, .disabled: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    /// The name the API and the consoles show: the stored name, or `disabled`.
    public var name: String {
        if case .disabled = self { return "disabled" }
        return stored.rawValue
    }
}

/// A tenant's webhook endpoint: where deliveries go and how they are signed and authenticated.
public struct WebhookEndpoint: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord, MillisecondDates {
    public static let databaseTableName = "webhook_endpoint"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: String
    public var tenantId: String
    public var position: Int
    public var url: String
    /// `whsec_…`; never logged, never in a payload.
    public var secret: String
    public var previousSecret: String?
    /// Until when deliveries are also signed with the previous secret (rotation overlap).
    public var previousSecretUntil: Date?
    public var headerName: String?
    public var headerValue: String?
    public var basicUser: String?
    public var basicPassword: String?
    /// The event types this endpoint receives.
    public var eventTypes: EventFilter
    public var isEnabled: Bool
    public var disabledReason: String?
    /// The `disabledReason` of an endpoint its tenant switched off (no banner: that was a choice).
    public static let disabledByTenant = "disabled by the tenant"
    public var breakerState: BreakerState
    public var failureStreak: Int
    public var failingSince: Date?
    public var nextProbeAt: Date?
    public var lastSuccessAt: Date?
    public var lastFailureAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, tenantId: String, url: String, secret: WebhookSecret, now: Date) {
        self.id = id
        self.tenantId = tenantId
        position = 0
        self.url = url
        self.secret = secret.encoded
        eventTypes = EventFilter()
        isEnabled = true
        breakerState = .closed
        failureStreak = 0
        createdAt = now
        updatedAt = now
    }

    /// Whether events of `type` go to this endpoint (`message.*` matches every `message.` type).
    public func accepts(type: String) -> Bool { eventTypes.accepts(type) }

    /// The secrets to sign with at `now`: the current one, and the previous one during an overlap.
    public func signingSecrets(now: Date) -> [WebhookSecret] {
        var secrets = [WebhookSecret(encoded: secret)].compactMap { $0 }
        if let previous = previousSecret, let until = previousSecretUntil, until > now,
            let old = WebhookSecret(encoded: previous)
        {
            secrets.append(old)
        }
        return secrets
    }

    /// The breaker as stored. A half-open breaker reads back as open and due for a probe: the
    /// probe it was waiting for died with the process that sent it.
    public var breaker: CircuitBreaker { breaker(configuration: .init()) }

    /// The breaker as stored, with the deliverer's thresholds.
    public func breaker(configuration: CircuitBreaker.Configuration) -> CircuitBreaker {
        let state: CircuitBreaker.State =
            switch breakerState {
            case .open, .halfOpen:
                .open(failingSince: failingSince ?? updatedAt, nextProbe: nextProbeAt ?? Date(milliseconds: 0))
            case .closed:
                .closed(failures: failureStreak, failingSince: failingSince)
            }
        return CircuitBreaker(state: isEnabled ? state : .disabled, configuration: configuration)
    }

    public enum Columns {
        public static let tenantID = Column("tenant_id")
        public static let position = Column("position")
        public static let createdAt = Column("created_at")
    }
}

/// An event as accepted: its envelope is the exact payload every endpoint receives.
public struct OutboxEvent: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var sessionID: String?
    public var type: String
    public var payload: Data
    public var createdAt: Date

    public init(id: String, tenantID: String, sessionID: String?, type: String, payload: Data, createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.sessionID = sessionID
        self.type = type
        self.payload = payload
        self.createdAt = createdAt
    }
}

/// Where a delivery stands.
public enum DeliveryStatus: String, Sendable, Codable, CaseIterable, DatabaseValueConvertible, CustomStringConvertible {
    case pending
    case inflight
    case delivered
    case failed
    case discarded

    public var description: String { rawValue }
}

/// One event on its way to one endpoint.
public struct DeliveryRecord: Codable, Sendable, Equatable, FetchableRecord, MillisecondDates {
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: Int64
    public var eventId: String
    public var endpointId: String
    public var tenantId: String
    public var type: String
    public var status: DeliveryStatus
    public var attempts: Int
    public var nextAttemptAt: Date
    public var leaseUntil: Date?
    public var lastStatus: Int?
    public var lastError: String?
    public var label: String?
    public var createdAt: Date
    public var deliveredAt: Date?
    public var updatedAt: Date
}

/// One attempt, as logged for the console.
public struct DeliveryAttemptRecord: Codable, Sendable, Equatable, FetchableRecord, MillisecondDates {
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public var id: Int64
    public var deliveryId: Int64
    public var attempt: Int
    public var startedAt: Date
    public var durationMs: Int
    public var httpStatus: Int?
    public var error: String?
    public var responseSnippet: String?
}

/// A delivery claimed for sending, with what is needed to send it.
public struct ClaimedDelivery: Sendable, Equatable {
    public var id: Int64
    public var eventID: String
    public var endpointID: String
    public var type: String
    /// 1 for the first attempt.
    public var attempt: Int
    public var payload: Data
    /// The event's session (`nil` for a tenant's own events), for the per-session counters.
    public var sessionID: String? = nil
}

/// What happened to a claimed delivery, to be recorded.
public struct AttemptResult: Sendable, Equatable {
    public var deliveryID: Int64
    public var endpointID: String
    public var attempt: Int
    public var startedAt: Date
    public var duration: Duration
    public var httpStatus: Int?
    public var error: String?
    public var responseSnippet: String?
    public var decision: RetryDecision
}

/// Which deliveries a console query or bulk action is about.
public struct DeliveryFilter: Sendable, Equatable {
    public var tenantID: String?
    public var endpointID: String?
    public var status: DeliveryStatus?
    public var type: String?
    public var from: Date?
    public var to: Date?

    public init(
        tenantID: String? = nil, endpointID: String? = nil, status: DeliveryStatus? = nil, type: String? = nil,
        from: Date? = nil, to: Date? = nil
    ) {
        self.tenantID = tenantID
        self.endpointID = endpointID
        self.status = status
        self.type = type
        self.from = from
        self.to = to
    }

    /// SQL conditions on `delivery` and their arguments.
    var sql: (String, StatementArguments) {
        var conditions: [String] = ["1"]
        var arguments: StatementArguments = []
        if let tenantID {
            conditions.append("tenant_id = ?")
            arguments += [tenantID]
        }
        if let endpointID {
            conditions.append("endpoint_id = ?")
            arguments += [endpointID]
        }
        if let status {
            conditions.append("status = ?")
            arguments += [status.rawValue]
        }
        if let type {
            conditions.append("type = ?")
            arguments += [type]
        }
        if let from {
            conditions.append("created_at >= ?")
            arguments += [from.milliseconds]
        }
        if let to {
            conditions.append("created_at < ?")
            arguments += [to.milliseconds]
        }
        return (conditions.joined(separator: " AND "), arguments)
    }
}
