import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Outbox
import WharfCore

/// `GET /v1/events/ws`: the event stream of ``EventStreamController`` over a WebSocket, for
/// clients that would rather hold one (n8n's WebSocket trigger, browsers, most WhatsApp tools).
///
/// Each event is one text message, its envelope exactly as a webhook gets it; the cursor is
/// `?after=<event id>` (or `start`), with the same filters (`types`, `sessionId`, `tenantId` for
/// the administrator). It is the same ``EventStreamPump``, so a reconnect from the last id the
/// client got continues with no gap and no duplicate. A client that falls behind gets a last
/// `{"type":"stream.closed","reason":…,"resumeAfter":…}` message and a close frame (4008).
///
/// A refused stream (no credentials, a bad filter, an unknown cursor) is still upgraded, then gets
/// one message `{"type":"stream.refused","problem":{…}}` with the problem+json body the HTTP routes
/// would give, and a close frame with code 4000 + the HTTP status (4401, 4400, 4410). That is not
/// the usual refuse-before-upgrade, by necessity and by choice: Hummingbird answers every refused
/// upgrade with a bare `400` and no body, and a browser's WebSocket cannot read an HTTP refusal
/// anyway, while it can read a close code and a message. A plain `GET` (no upgrade) is checked the
/// same way and answered with the problem, or 426 when nothing is wrong but the missing upgrade.
struct EventSocketController {
    /// The close code of a slow consumer: 4000–4999 are the application's (RFC 6455 §7.4.2); 4008
    /// echoes 1008, "policy violation".
    static let slowConsumerCloseCode: UInt16 = 4008

    let services: GatewayServices

    /// The upgrade, on the WebSocket router.
    func addSocketRoute(to group: RouterGroup<AppRequestContext>) {
        group.ws("events/ws") { inbound, outbound, context in
            let selection: EventSelection
            let first: Int64
            do {
                (selection, first) = try await start(context.request, caller: try await identify(context.request))
            } catch {
                try await refuse(error, outbound: outbound, logger: context.logger)
                return
            }
            try await stream(selection, from: first, inbound: inbound, outbound: outbound, channel: context.requestContext.channel)
        }
    }

    /// The same path on the HTTP router: what a request that was not upgraded gets.
    func addRefusalRoute(to group: RouterGroup<AppRequestContext>) {
        group.get("events/ws") { request, context -> Response in
            _ = try await start(request, caller: context.requireIdentity())
            throw Problem(
                .upgradeRequired, title: "WebSocket upgrade required",
                detail:
                    "GET /v1/events/ws is a WebSocket: connect with a WebSocket client (Upgrade: websocket); GET /v1/events/stream is the same stream as Server-Sent Events"
            )
        }
    }

    /// The caller, as the HTTP routes' authentication finds it, except that a console cookie only
    /// counts from Wharf's own pages: browsers send cookies with a WebSocket from any site, and no
    /// CSRF token guards a `GET`, so the `Origin` is what tells the dashboard from a page that would
    /// read a logged-in user's events (cross-site WebSocket hijacking).
    private func identify(_ request: Request) async throws -> Principal {
        guard let (principal, cookie) = try await services.authenticator.identify(request, allowQueryToken: false) else {
            throw Problem.unauthorized
        }
        if cookie != nil, let origin = request.headers[.origin] {
            let host = origin.split(separator: "://", maxSplits: 1).last.map(String.init)
            guard host != nil, host == request.head.authority else {
                throw Problem(
                    .forbidden,
                    detail:
                        "a console login works on this socket from Wharf's own pages only (Origin '\(origin)' is another site); other clients send 'Authorization: Bearer <token or API key>'"
                )
            }
        }
        return principal
    }

    /// What the client asked for, checked: its selection and the sequence to read after.
    private func start(_ request: Request, caller: Principal) async throws -> (EventSelection, Int64) {
        let selection = try EventSelection(request, caller: caller)
        let first = try await selection.start(after: request.uri.queryParameters.get("after"), in: services.outbox)
        return (selection, first)
    }

    /// The problem as the last message, and its status in the close code.
    private func refuse(_ error: any Error, outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        let problem =
            Problem.known(error)
            ?? {
                logger.error("event socket not started", metadata: ["error": "\(String(reflecting: error))"])
                return Problem(.internalServerError, detail: "an unexpected error occurred; it has been logged")
            }()
        let message = try JSONEncoder.wharf.encode(JSONValue.object(["type": "stream.refused", "problem": .object(problem.members)]))
        try await outbound.write(.text(String(decoding: message, as: UTF8.self)))
        try await outbound.close(.unknown(UInt16(4000 + problem.status.code)), reason: String(problem.title.prefix(100)))
    }

    private func stream(
        _ selection: EventSelection, from first: Int64, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        channel: any Channel
    ) async throws {
        let pump = EventStreamPump(
            outbox: services.outbox, clock: services.clock, selection: selection, limits: services.configuration.eventStreamLimits)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Reading is what answers the client's pings and notices its close; anything it sends is ignored.
            group.addTask {
                for try await _ in inbound {}
                throw CancellationError()
            }
            group.addTask {
                let ending = try await pump.run(from: first) { events in
                    // An empty batch is the pump's keepalive, which the socket's own pings make needless.
                    for event in events {
                        try await outbound.write(.text(String(decoding: event.payload, as: UTF8.self)))
                    }
                } abort: {
                    channel.close(promise: nil)
                }
                if case .cutOff(let reason, let resumeAfter) = ending {
                    let notice = try JSONEncoder.wharf.encode(StreamClosed(reason: reason, resumeAfter: resumeAfter))
                    try await outbound.write(.text(String(decoding: notice, as: UTF8.self)))
                    try await outbound.close(.unknown(Self.slowConsumerCloseCode), reason: "slow consumer")
                }
            }
            // Whichever ends first (the client left, or the stream is over) ends both.
            do {
                try await group.next()
            } catch is CancellationError {}
            group.cancelAll()
        }
    }
}
