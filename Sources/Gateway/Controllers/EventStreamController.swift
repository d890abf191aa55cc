import Foundation
import HTTPTypes
import Hummingbird
import Outbox
import ServiceLifecycle
import WharfCore

/// Events without a webhook: `GET /v1/events` pages the outbox's event table and
/// `GET /v1/events/stream` streams it as Server-Sent Events, each from a cursor (an event id).
///
/// All read the table in commit order (``EventStreamPump``), so the history and the live tail are
/// one query: a reconnect with `Last-Event-ID` or `?after=` continues exactly after the last event
/// the client got, and there is no seam where the history ends.
struct EventStreamController {
    let services: GatewayServices

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("events", use: page)
        group.get("events/stream", use: stream)
    }

    // MARK: Handlers

    /// A page of events after `after` (the oldest retained when absent), and the cursor for the next.
    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        let selection = try EventSelection(request, caller: context.requireIdentity())
        let limit = try Pagination.limit(request)
        var sequence = try await selection.start(after: request.uri.queryParameters.get("after") ?? "start", in: services.outbox)
        var cursor = request.uri.queryParameters.get("after")
        var items: [StoredEvent] = []
        let batchSize = EventStreamPump.batchSize
        scanning: while items.count < limit {
            let batch = try await services.outbox.events(after: sequence, tenantID: selection.tenantID, limit: batchSize)
            for event in batch {
                sequence = event.sequence
                cursor = event.id
                if selection.accepts(event) {
                    items.append(event)
                    if items.count == limit { break scanning }
                }
            }
            if batch.count < batchSize { break }
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
    ///
    /// A client cut off for falling behind gets a last `stream.closed` event (without an `id`, so
    /// its `Last-Event-ID` stays the last event it got) before the stream ends.
    @Sendable func stream(_ request: Request, context: AppRequestContext) async throws -> Response {
        let selection = try EventSelection(request, caller: context.requireIdentity())
        let cursor = request.headers[.lastEventID] ?? request.uri.queryParameters.get("after")
        let first = try await selection.start(after: cursor, in: services.outbox)
        let pump = EventStreamPump(
            outbox: services.outbox, clock: services.clock, selection: selection, limits: services.configuration.eventStreamLimits)
        let channel = context.channel
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-store",
            // nginx and similar proxies would otherwise hold events back to fill a buffer.
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                // The browser's EventSource waits this long before reconnecting with Last-Event-ID.
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                let ending = try await pump.run(from: first) { events in
                    try await writer.write(Self.serverSentEvents(events))
                } abort: {
                    channel.close(promise: nil)
                }
                if case .cutOff(let reason, let resumeAfter) = ending {
                    let notice = try JSONEncoder.wharf.encode(StreamClosed(reason: reason, resumeAfter: resumeAfter))
                    try await writer.write(ByteBuffer(string: "event: stream.closed\ndata: \(String(decoding: notice, as: UTF8.self))\n\n"))
                }
                try await writer.finish(nil)
            })
    }

    /// SSE framing: `id`, `event` and `data` lines per event; `[]` is a comment line (the keepalive).
    static func serverSentEvents(_ events: [StoredEvent]) -> ByteBuffer {
        guard !events.isEmpty else { return ByteBuffer(string: ": keepalive\n\n") }
        var chunk = ByteBuffer()
        for event in events {
            chunk.writeString("id: \(event.id)\nevent: \(event.type)\ndata: ")
            // An envelope is one line of JSON; SSE would split a data field at a newline.
            chunk.writeBytes(event.payload.filter { $0 != 0x0A && $0 != 0x0D })
            chunk.writeString("\n\n")
        }
        return chunk
    }
}

/// The last word to a client that was cut off: why, and the cursor to resume from. (`type` tells
/// it from the envelopes on a WebSocket, where there is no SSE `event:` line.)
struct StreamClosed: Codable, Sendable {
    var type = "stream.closed"
    var reason: String
    var resumeAfter: String?
}

extension HTTPField.Name {
    /// The SSE reconnection header (WHATWG HTML, server-sent events).
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
