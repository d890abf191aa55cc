import Foundation
import HTTPTypes
import Hummingbird
import Outbox
import ServiceLifecycle
import WharfCore

/// Events without a webhook: `GET /v1/events` pages the outbox's event table and
/// `GET /v1/events/stream` streams it as Server-Sent Events, each from a cursor (an event id).
///
/// Both read the table in commit order, so the history and the live tail are one query: a stream
/// asks for what follows the last event it sent, sends it, and waits for the next commit. Nothing is
/// buffered per client (a slow reader only holds its own cursor), a reconnect with `Last-Event-ID`
/// continues exactly after the last event it got, and there is no seam where the history ends.
struct EventStreamController {
    let services: GatewayServices

    /// Rows read per query; a stream also sends at most this many events between two looks at the table.
    static let batchSize = 500
    /// A comment line this often keeps proxies from closing a quiet stream and finds dead clients.
    static let keepaliveInterval: Duration = .seconds(15)

    /// What a caller asked for: whose events, which types, which session, from where.
    struct Selection: Sendable {
        var tenantID: String?
        var types: EventFilter
        var sessionID: String?

        func accepts(_ event: StoredEvent) -> Bool {
            types.accepts(event.type) && (sessionID == nil || event.sessionID == sessionID)
        }
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("events", use: page)
        group.get("events/stream", use: stream)
    }

    // MARK: Handlers

    /// A page of events after `after` (the oldest retained when absent), and the cursor for the next.
    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        let selection = try selection(request, context)
        let limit = try Pagination.limit(request)
        var sequence = try await start(request.uri.queryParameters.get("after") ?? "start", selection)
        var cursor = request.uri.queryParameters.get("after")
        var items: [StoredEvent] = []
        scanning: while items.count < limit {
            let batch = try await services.outbox.events(after: sequence, tenantID: selection.tenantID, limit: Self.batchSize)
            for event in batch {
                sequence = event.sequence
                cursor = event.id
                if selection.accepts(event) {
                    items.append(event)
                    if items.count == limit { break scanning }
                }
            }
            if batch.count < Self.batchSize { break }
        }
        // The stored envelopes are the items as they are: no decoding and encoding again.
        var body = ByteBuffer(string: #"{"items":["#)
        for (index, event) in items.enumerated() {
            if index > 0 { body.writeString(",") }
            body.writeBytes(event.payload)
        }
        body.writeString("],\"nextCursor\":")
        body.writeString(cursor.map { "\"\($0)\"" } ?? "null")
        body.writeString("}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }

    /// Server-Sent Events: each event as `id`, `event` (its type) and `data` (its envelope).
    @Sendable func stream(_ request: Request, context: AppRequestContext) async throws -> Response {
        let selection = try selection(request, context)
        let cursor = request.headers[.lastEventID] ?? request.uri.queryParameters.get("after")
        let first = try await start(cursor, selection)
        let outbox = services.outbox
        let clock = services.clock
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-store",
            // nginx and similar proxies would otherwise hold events back to fill a buffer.
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await Self.pump(from: first, selection, outbox: outbox, clock: clock, into: &writer)
                try await writer.finish(nil)
            })
    }

    private enum Wake { case committed, keepalive, shutdown }

    /// Sends what follows `sequence`, then waits for commits (or the keepalive) and sends again,
    /// until the client goes or the server stops (the stream then ends; the client resumes).
    private static func pump(
        from sequence: Int64, _ selection: Selection, outbox: OutboxStore, clock: any WharfClock, into writer: inout any ResponseBodyWriter
    ) async throws {
        var sequence = sequence
        // The browser's EventSource waits this long before reconnecting with Last-Event-ID.
        try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
        while !Task.isCancelled {
            let seen = outbox.feed.commits
            let batch = try await outbox.events(after: sequence, tenantID: selection.tenantID, limit: batchSize)
            var chunk = ByteBuffer()
            for event in batch {
                sequence = event.sequence
                guard selection.accepts(event) else { continue }
                chunk.writeString("id: \(event.id)\nevent: \(event.type)\ndata: ")
                // An envelope is one line of JSON; SSE would split a data field at a newline.
                chunk.writeBytes(event.payload.filter { $0 != 0x0A && $0 != 0x0D })
                chunk.writeString("\n\n")
            }
            if chunk.readableBytes > 0 { try await writer.write(chunk) }
            if batch.count == batchSize { continue }
            let wake = await withTaskGroup(of: Wake.self) { group in
                group.addTask {
                    _ = await outbox.feed.wait(after: seen)
                    return .committed
                }
                group.addTask {
                    try? await clock.sleep(for: keepaliveInterval)
                    return .keepalive
                }
                group.addTask {
                    // Returns at the server's graceful shutdown (or throws when cancelled first).
                    do { try await gracefulShutdown() } catch { return .committed }
                    return .shutdown
                }
                let first = await group.next() ?? .shutdown
                group.cancelAll()
                return first
            }
            switch wake {
            case .committed: continue
            case .keepalive: try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
            case .shutdown: return
            }
        }
    }

    // MARK: Parameters

    private func selection(_ request: Request, _ context: AppRequestContext) throws -> Selection {
        var tenantID = try context.requireIdentity().scope.tenantID
        if tenantID == nil, let asked = request.uri.queryParameters.get("tenantId"), !asked.isEmpty { tenantID = asked }
        var types: [String] = []
        if let text = request.uri.queryParameters.get("types") {
            types = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for type in types {
                guard Validation.isEventTypePattern(type) else {
                    throw Problem.badRequest(
                        "query parameter 'types': '\(type)' is not an event type such as 'message.received' or 'message.*'", field: "types")
                }
            }
        }
        let sessionID = request.uri.queryParameters.get("sessionId").flatMap { $0.isEmpty ? nil : String($0) }
        return Selection(tenantID: tenantID, types: EventFilter(types), sessionID: sessionID)
    }

    /// The sequence to read after: `nil` for live events only (from now), `start` for the oldest
    /// retained, else the event id the client last got.
    private func start(_ cursor: String?, _ selection: Selection) async throws -> Int64 {
        guard let cursor = cursor.map({ $0.trimmingCharacters(in: .whitespaces) }), !cursor.isEmpty else {
            return try await services.outbox.newestEventSequence()
        }
        if cursor == "start" { return 0 }
        guard let sequence = try await services.outbox.eventSequence(id: cursor, tenantID: selection.tenantID) else {
            throw Problem(
                .gone, title: "Cursor not found",
                detail:
                    "event '\(cursor)' is not stored: unknown, another tenant's, or past the retention; resume with after=start for everything still kept, or without a cursor for new events only",
                extensions: ["field": "after"])
        }
        return sequence
    }
}

extension HTTPField.Name {
    /// The SSE reconnection header (WHATWG HTML, server-sent events).
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
