import Foundation
import Hummingbird
import Outbox
import WharfCore

/// The retry console's API (`/v1/deliveries`): the admin sees every tenant's deliveries, a tenant
/// only its own. Bulk actions answer with how many rows they touch; with `dryRun` they only count.
struct DeliveryController {
    let services: GatewayServices

    struct View: Encodable {
        var id: Int64
        var eventId: String
        var endpointId: String
        var tenantId: String
        var type: String
        var status: DeliveryStatus
        var attempts: Int
        var nextAttemptAt: Date?
        var lastStatus: Int?
        var lastError: String?
        var label: String?
        var createdAt: Date
        var deliveredAt: Date?

        init(_ record: DeliveryRecord) {
            id = record.id
            eventId = record.eventId
            endpointId = record.endpointId
            tenantId = record.tenantId
            type = record.type
            status = record.status
            attempts = record.attempts
            nextAttemptAt = record.status == DeliveryStatus.pending ? record.nextAttemptAt : nil
            lastStatus = record.lastStatus
            lastError = record.lastError
            label = record.label
            createdAt = record.createdAt
            deliveredAt = record.deliveredAt
        }
    }

    struct AttemptView: Encodable {
        var attempt: Int
        var startedAt: Date
        var durationMs: Int
        var httpStatus: Int?
        var error: String?
        var responseSnippet: String?
    }

    struct DetailView: ResponseEncodable {
        var delivery: View
        var payload: JSONValue
        var attempts: [AttemptView]
    }

    struct BulkInput: Decodable {
        var tenantId: String?
        var endpointId: String?
        var status: String?
        var type: String?
        var from: Date?
        var to: Date?
        var dryRun: Bool?
    }

    struct BulkView: ResponseEncodable {
        var count: Int
        var dryRun: Bool
    }

    /// Adds the routes under `group`, which is `/v1`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("deliveries", use: list)
        group.get("deliveries/:deliveryId", use: get)
        group.post("deliveries/:deliveryId/retry", use: retryOne)
        group.post("deliveries/:deliveryId/discard", use: discard)
        group.post("deliveries/retry", use: retry)
        group.post("deliveries/replay", use: replay)
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Page<View> {
        let scope = try context.requireIdentity().scope
        let query = request.uri.queryParameters
        let filter = try makeFilter(
            scope: scope, tenantID: query.get("tenantId"), endpointID: query.get("endpointId"), status: query.get("status"),
            type: query.get("type"), from: try date(query.get("from"), field: "from"),
            to: try date(query.get("to"), field: "to"))
        let limit = try Pagination.limit(request)
        var cursor: Int64?
        if let text = query.get("cursor") {
            guard let value = Int64(text) else {
                throw Problem.badRequest("query parameter 'cursor' is not a cursor this server handed out", field: "cursor")
            }
            cursor = value
        }
        let rows = try await services.outbox.deliveries(matching: filter, before: cursor, limit: limit)
        return Page(items: rows.map(View.init), nextCursor: rows.count == limit ? rows.last.map { String($0.id) } : nil)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> DetailView {
        let scope = try context.requireIdentity().scope
        let id = try deliveryID(context)
        guard let detail = try await services.outbox.delivery(id: id, tenantID: scope.tenantID) else {
            throw Problem.notFound("delivery '\(id)'")
        }
        let payload = (try? JSONDecoder().decode(JSONValue.self, from: detail.payload)) ?? .string(String(decoding: detail.payload, as: UTF8.self))
        return DetailView(
            delivery: View(detail.delivery), payload: payload,
            attempts: detail.attempts.map {
                AttemptView(
                    attempt: $0.attempt, startedAt: $0.startedAt, durationMs: $0.durationMs,
                    httpStatus: $0.httpStatus, error: $0.error, responseSnippet: $0.responseSnippet)
            })
    }

    @Sendable func retryOne(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<BulkView> {
        let scope = try context.requireIdentity().scope
        let id = try deliveryID(context)
        guard try await services.outbox.delivery(id: id, tenantID: scope.tenantID) != nil else {
            throw Problem.notFound("delivery '\(id)'")
        }
        guard try await services.outbox.retry(id: id, tenantID: scope.tenantID, now: services.clock.now) else {
            throw Problem.conflict("delivery '\(id)' is being sent right now; try again when the attempt has finished")
        }
        services.delivery.wake()
        return EditedResponse(status: .accepted, response: BulkView(count: 1, dryRun: false))
    }

    @Sendable func discard(_ request: Request, context: AppRequestContext) async throws -> BulkView {
        let scope = try context.requireIdentity().scope
        let id = try deliveryID(context)
        guard try await services.outbox.discard(id: id, tenantID: scope.tenantID, now: services.clock.now) else {
            throw Problem.notFound("delivery '\(id)'")
        }
        return BulkView(count: 1, dryRun: false)
    }

    @Sendable func retry(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<BulkView> {
        try await bulk(request, context: context, replay: false)
    }

    @Sendable func replay(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<BulkView> {
        try await bulk(request, context: context, replay: true)
    }

    /// Retry re-queues failed deliveries matching a filter; replay re-sends every finished delivery
    /// of a time range (delivered ones too), under the same `webhook-id`.
    private func bulk(_ request: Request, context: AppRequestContext, replay: Bool) async throws -> EditedResponse<BulkView> {
        let scope = try context.requireIdentity().scope
        let input = try await request.decode(as: BulkInput.self, context: context)
        if replay {
            guard input.from != nil, input.to != nil else {
                throw Problem.badRequest("a replay needs fields 'from' and 'to' (ISO 8601 times)", field: input.from == nil ? "from" : "to")
            }
        }
        let filter = try makeFilter(
            scope: scope, tenantID: input.tenantId, endpointID: input.endpointId, status: input.status, type: input.type,
            from: input.from, to: input.to)
        let statuses: Set<DeliveryStatus> =
            replay ? [.delivered, .failed, .discarded] : filter.status.map { [$0] } ?? [.failed]
        var counting = filter
        counting.status = nil
        if input.dryRun == true {
            var count = 0
            for status in statuses {
                counting.status = status
                count += try await services.outbox.countDeliveries(matching: counting)
            }
            return EditedResponse(status: .ok, response: BulkView(count: count, dryRun: true))
        }
        var requeue = filter
        requeue.status = nil
        let count = try await services.outbox.requeue(matching: requeue, statuses: statuses, now: services.clock.now)
        services.delivery.wake()
        return EditedResponse(status: .accepted, response: BulkView(count: count, dryRun: false))
    }

    private func makeFilter(
        scope: AccessScope, tenantID: String?, endpointID: String?, status: String?, type: String?, from: Date?, to: Date?
    ) throws -> DeliveryFilter {
        var parsedStatus: DeliveryStatus?
        if let status {
            guard let value = DeliveryStatus(rawValue: status) else {
                let allowed = DeliveryStatus.allCases.map(\.rawValue).joined(separator: ", ")
                throw Problem.badRequest("'status' must be one of \(allowed)", field: "status")
            }
            parsedStatus = value
        }
        return DeliveryFilter(
            tenantID: scope.tenantID ?? tenantID, endpointID: endpointID, status: parsedStatus, type: type, from: from, to: to)
    }

    private func date(_ text: String?, field: String) throws -> Date? {
        try text.map { try DeliveryPages.date($0, field: field) }
    }

    private func deliveryID(_ context: AppRequestContext) throws -> Int64 {
        let text = try context.parameters.require("deliveryId")
        guard let id = Int64(text) else { throw Problem.notFound("delivery '\(text)'") }
        return id
    }
}
