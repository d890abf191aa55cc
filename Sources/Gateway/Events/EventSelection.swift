import Foundation
import Hummingbird
import Outbox

/// What a reader of the event table asked for: whose events, which types, which session, and from
/// where. The paging route and the SSE stream read it from the same query parameters.
struct EventSelection: Sendable {
    var tenantID: String?
    var types: EventFilter
    var sessionID: String?

    func accepts(_ event: StoredEvent) -> Bool {
        types.accepts(event.type) && (sessionID == nil || event.sessionID == sessionID)
    }

    /// `types` (the webhook filter syntax), `sessionId`, and for the administrator `tenantId`.
    init(_ request: Request, caller: Principal) throws {
        tenantID = caller.scope.tenantID
        if tenantID == nil, let asked = request.uri.queryParameters.get("tenantId"), !asked.isEmpty { tenantID = asked }
        var patterns: [String] = []
        if let text = request.uri.queryParameters.get("types") {
            patterns = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for pattern in patterns {
                guard Validation.isEventTypePattern(pattern) else {
                    throw Problem.badRequest(
                        "query parameter 'types': '\(pattern)' is not an event type such as 'message.received' or 'message.*'",
                        field: "types")
                }
            }
        }
        types = EventFilter(patterns)
        sessionID = request.uri.queryParameters.get("sessionId").flatMap { $0.isEmpty ? nil : String($0) }
    }

    /// The sequence to read after: `nil` or empty for live events only (from now), `start` for the
    /// oldest retained, else the event id the client last got.
    ///
    /// - Throws: 410 when the cursor is not stored (unknown, another tenant's, or past the
    ///   retention), so a client can tell "start over" from a wrong URL.
    func start(after cursor: String?, in outbox: OutboxStore) async throws -> Int64 {
        guard let cursor = cursor.map({ $0.trimmingCharacters(in: .whitespaces) }), !cursor.isEmpty else {
            return try await outbox.newestEventSequence()
        }
        if cursor == "start" { return 0 }
        guard let sequence = try await outbox.eventSequence(id: cursor, tenantID: tenantID) else {
            throw Problem(
                .gone, title: "Cursor not found",
                detail:
                    "event '\(cursor)' is not stored: unknown, another tenant's, or past the retention; resume with after=start for everything still kept, or without a cursor for new events only",
                extensions: ["field": "after"])
        }
        return sequence
    }
}
