import Foundation
import Hummingbird
import Outbox
import WharfCore

/// The retry console's two pages, shared by the admin panel (every tenant) and the tenant
/// dashboard (its own deliveries): a filtered list with bulk actions, and one delivery with its
/// payload and attempts. The actions are the `/v1/deliveries` API's.
struct DeliveryPages {
    let console: Console
    var services: GatewayServices { console.services }
    static let pageSize = 50

    struct Filter {
        var tenantId = ""
        var endpointId = ""
        var status = ""
        var type = ""
        var from = ""
        var to = ""
    }

    struct Row {
        var id: Int64
        var eventId: String
        var type: String
        var tenantName: String
        var endpointUrl: String
        var status: String
        var label: String?
        var attempts: Int
        var lastResult: String
        var created: String
        var canRetry: Bool
    }

    struct ListModel: ConsolePage {
        static let template = ConsoleTemplate.deliveries
        var base: String
        var isAdmin: Bool
        var filter: Filter
        var statuses: [Choice]
        var tenants: [Choice]
        var endpoints: [Choice]
        var rows: [Row]
        var total: Int
        var older: String?
    }

    struct AttemptRow {
        var attempt: Int
        var started: String
        var durationMs: Int
        var httpStatus: String
        var error: String
        var response: String
    }

    struct DetailModel: ConsolePage {
        static let template = ConsoleTemplate.delivery
        var base: String
        var isAdmin: Bool
        var id: Int64
        var eventId: String
        var type: String
        var tenantId: String
        var tenantName: String
        var endpointUrl: String
        var status: String
        var label: String?
        var created: String
        var nextAttempt: String
        var delivered: String
        var canRetry: Bool
        var canDiscard: Bool
        var attempts: [AttemptRow]
        var payload: String
    }

    /// The list page; `tenantID` is `nil` for the admin.
    func list(_ request: Request, kind: Console.Kind, csrf: String, role: String, tenantID: String?) async throws -> Response {
        let query = request.uri.queryParameters
        func text(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : $0 } }
        var filter = Filter()
        var outbox = DeliveryFilter(tenantID: tenantID ?? text("tenantId"), endpointID: text("endpointId"), type: text("type"))
        if let status = text("status") {
            guard let value = DeliveryStatus(rawValue: status) else {
                throw Problem.badRequest(
                    "'status' must be one of \(DeliveryStatus.allCases.map(\.rawValue).joined(separator: ", "))", field: "status")
            }
            outbox.status = value
        }
        outbox.from = try text("from").map { try Self.date($0, field: "from") }
        outbox.to = try text("to").map { try Self.date($0, field: "to") }
        filter.tenantId = tenantID == nil ? outbox.tenantID ?? "" : ""
        filter.endpointId = outbox.endpointID ?? ""
        filter.status = outbox.status?.rawValue ?? ""
        filter.type = outbox.type ?? ""
        filter.from = Console.formValue(outbox.from)
        filter.to = Console.formValue(outbox.to)

        let before = text("before").flatMap(Int64.init)
        let records = try await services.outbox.deliveries(matching: outbox, before: before, limit: Self.pageSize)
        let names = try await tenantNames()
        let endpoints = tenantID == nil ? try await services.outbox.allEndpoints() : try await services.outbox.endpoints(tenantID: tenantID!)
        let urls = Dictionary(endpoints.map { ($0.id, $0.url) }, uniquingKeysWith: { first, _ in first })
        var older: String?
        if records.count == Self.pageSize, let last = records.last {
            var components = URLComponents()
            components.queryItems =
                [
                    ("status", filter.status), ("tenantId", filter.tenantId), ("endpointId", filter.endpointId), ("type", filter.type),
                    ("from", filter.from), ("to", filter.to), ("before", String(last.id)),
                ]
                .filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) }
            older = kind.base + "/deliveries?" + (components.percentEncodedQuery ?? "")
        }
        let model = ListModel(
            base: kind.base, isAdmin: tenantID == nil, filter: filter,
            statuses: DeliveryStatus.allCases.map { Choice(id: $0.rawValue, name: $0.rawValue, selected: $0.rawValue == filter.status) },
            tenants: names.sorted { $0.value < $1.value }.map { Choice(id: $0.key, name: $0.value, selected: $0.key == filter.tenantId) },
            endpoints: endpoints.map {
                Choice(
                    id: $0.id, name: (tenantID == nil ? "\(names[$0.tenantId] ?? $0.tenantId): " : "") + $0.url, selected: $0.id == filter.endpointId)
            },
            rows: records.map { record in
                Row(
                    id: record.id, eventId: record.eventId, type: record.type, tenantName: names[record.tenantId] ?? record.tenantId,
                    endpointUrl: urls[record.endpointId] ?? record.endpointId, status: record.status.rawValue, label: record.label,
                    attempts: record.attempts, lastResult: Self.lastResult(record), created: Console.time(record.createdAt),
                    canRetry: record.status != DeliveryStatus.delivered && record.status != DeliveryStatus.inflight)
            },
            total: try await services.outbox.countDeliveries(matching: outbox), older: older)
        return console.page(model, title: "Deliveries", kind: kind, csrf: csrf, role: role, current: "/deliveries", tenantID: tenantID)
    }

    /// One delivery; another tenant's is a 404, like the API.
    func detail(_ id: String, kind: Console.Kind, csrf: String, role: String, tenantID: String?) async throws -> Response {
        guard let number = Int64(id), let detail = try await services.outbox.delivery(id: number, tenantID: tenantID) else {
            throw Problem.notFound("delivery '\(id)'")
        }
        let record = detail.delivery
        let payload =
            (try? JSONDecoder().decode(JSONValue.self, from: detail.payload)).map(Console.pretty)
            ?? String(decoding: detail.payload, as: UTF8.self)
        let endpoint = try await services.outbox.endpoint(id: record.endpointId, tenantID: tenantID)
        let tenantName = try await services.store.tenant(id: record.tenantId)?.name ?? record.tenantId
        let status = record.status
        let model = DetailModel(
            base: kind.base, isAdmin: tenantID == nil, id: record.id, eventId: record.eventId, type: record.type,
            tenantId: record.tenantId, tenantName: tenantName, endpointUrl: endpoint?.url ?? record.endpointId,
            status: record.status.rawValue, label: record.label, created: Console.time(record.createdAt),
            nextAttempt: status == .pending ? Console.time(record.nextAttemptAt) : "—",
            delivered: Console.time(record.deliveredAt),
            canRetry: status != .delivered && status != .inflight, canDiscard: status == .pending || status == .failed,
            // Numbered in order: a manual retry starts the outbox's own count again at 1.
            attempts: detail.attempts.enumerated().map { index, attempt in
                AttemptRow(
                    attempt: index + 1, started: Console.time(attempt.startedAt), durationMs: attempt.durationMs,
                    httpStatus: attempt.httpStatus.map(String.init) ?? "—", error: attempt.error ?? "",
                    response: attempt.responseSnippet ?? "")
            },
            payload: payload)
        return console.page(model, title: "Delivery \(record.id)", kind: kind, csrf: csrf, role: role, current: "/deliveries", tenantID: tenantID)
    }

    func tenantNames() async throws -> [String: String] {
        Dictionary(
            try await services.store.tenants(after: nil, limit: .max).map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    static func lastResult(_ record: DeliveryRecord) -> String {
        switch (record.lastStatus, record.lastError) {
        case (let status?, let error?): "HTTP \(status): \(error)"
        case (let status?, nil): "HTTP \(status)"
        case (nil, let error?): error
        case (nil, nil): "—"
        }
    }

    /// ISO 8601, or a `datetime-local` value (`2026-11-25T14:50`), read as UTC.
    static func date(_ text: String, field: String) throws -> Date {
        for candidate in [text, text + ":00Z", text + "Z"] {
            if let date = try? Date(candidate, strategy: .iso8601) { return date }
        }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        throw Problem.badRequest("'\(field)' must be an ISO 8601 time such as 2026-11-25T10:00:00Z", field: field)
    }
}
