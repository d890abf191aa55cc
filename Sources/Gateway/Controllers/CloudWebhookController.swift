import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WharfCore
import WhatsAppProtocol

/// Meta's webhook for `cloud` sessions, at `/v1/cloud/webhook/:sessionId`.
///
/// `GET` answers Meta's subscription check. `POST` is a notification: its signature is checked on
/// the raw body, its messages and statuses become our events, all of them are committed to the
/// outbox in one transaction, and only then does Meta get its 200. Meta redelivers what it did
/// not get a 200 for, so an event is never lost; event ids are derived from Meta's, so a
/// redelivery is stored once.
struct CloudWebhookController {
    let services: GatewayServices
    /// Takes back jobs that Meta reports as not sent for a passing reason.
    let dispatcher: Dispatcher

    static let signatureHeader = HTTPField.Name("X-Hub-Signature-256")!

    static let pathPrefix = "/v1/cloud/webhook/"

    /// The callback URL's path for a session, to enter at Meta under the public base URL.
    static func path(sessionID: String) -> String { pathPrefix + sessionID }

    /// Meta posts notifications of up to about 3 MB and gives up on a number's events after days of
    /// refusals, so this route takes at least 4 MiB whatever `MAX_BODY_BYTES` says.
    static let bodyLimit = 4 << 20

    /// Adds the routes under `group`, which is `/v1`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("cloud/webhook/:sessionId", use: verify)
        group.post("cloud/webhook/:sessionId", use: notify)
    }

    // MARK: Handlers

    /// Meta's subscription check: echoes `hub.challenge` when the verify token is the session's.
    @Sendable func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, configuration) = try await cloudSession(context)
        let query = request.uri.queryParameters
        guard
            let challenge = CloudWebhook.challenge(
                mode: query.get("hub.mode"), token: query.get("hub.verify_token"), challenge: query.get("hub.challenge"),
                expectedToken: configuration.verifyToken)
        else {
            throw Problem(
                .forbidden, title: "Verification failed",
                detail: "hub.verify_token does not match the session's verifyToken, or hub.mode is not 'subscribe', or hub.challenge is missing")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .init("X-Content-Type-Options")!: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(string: challenge)))
    }

    /// A notification: its events are committed before Meta gets its 200.
    @Sendable func notify(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let (session, configuration) = try await cloudSession(context)
        var request = request
        let body = Data(try await request.collectBody(upTo: .max).readableBytesView)
        guard CloudWebhook.isAuthentic(body: body, signature: request.headers[Self.signatureHeader], appSecret: configuration.appSecret)
        else {
            throw Problem(
                .unauthorized, title: "Bad signature",
                detail: "X-Hub-Signature-256 is missing or is not sha256=<HMAC-SHA256 of the body under the session's appSecret>")
        }
        let notification: CloudWebhook.Notification
        do throws(CloudWebhook.ParseError) {
            notification = try CloudWebhook.parse(body)
        } catch {
            switch error {
            case .notJSON:
                throw Problem.badRequest("the notification is not the JSON of a WhatsApp Business Account webhook")
            case .notWhatsApp(let object):
                throw Problem.badRequest("the notification is for '\(object)', not 'whatsapp_business_account'")
            }
        }
        try await services.eventSink.publish(try await events(in: notification, session: session, appSecret: configuration.appSecret))
        return .ok
    }

    /// The session named in the path, if it is a Cloud API session, with its settings.
    private func cloudSession(_ context: AppRequestContext) async throws -> (SessionRecord, CloudConfiguration) {
        let id = try context.parameters.require("sessionId")
        // Only a session with Cloud API settings has a Meta webhook.
        guard let session = try await services.store.session(id: id, scope: .everything), CloudSessionOptions(session) != nil
        else { throw Problem.notFound("Cloud API session '\(id)'") }
        do {
            guard let configuration = try await CloudConfiguration.load(from: services.store.credentials(sessionID: id)) else {
                throw Problem(.serviceUnavailable, detail: "session '\(id)' has no Cloud API settings")
            }
            return (session, configuration)
        } catch let problem as Problem {
            throw problem
        } catch {
            // Meta retries later; the operator sees why in the log.
            services.logger.error("cloud settings unreadable", metadata: ["session": "\(id)", "error": "\(error)"])
            throw Problem(.serviceUnavailable, detail: "the Cloud API settings of session '\(id)' cannot be read")
        }
    }

    /// Our events for a notification. One Meta app may post every number it serves to one URL, so
    /// a part for another number goes to the tenant's session of that number, if it has one and it
    /// belongs to the same app (its app secret is the one that signed the notification).
    private func events(
        in notification: CloudWebhook.Notification, session: SessionRecord, appSecret: String
    ) async throws
        -> [SessionEvent]
    {
        let now = services.clock.now
        let ownNumber = CloudSessionOptions(session)?.phoneNumberId
        var events: [SessionEvent] = []
        for change in notification.changes {
            var target = session
            if let number = change.phoneNumberID, number != ownNumber {
                guard let other = try await services.store.cloudSession(tenantID: session.tenantId, phoneNumberID: number),
                    try await sameApp(other, appSecret: appSecret)
                else {
                    services.logger.warning(
                        "cloud notification for a number without a session of this Meta app",
                        metadata: ["session": "\(session.id)", "phone_number_id": "\(number)"])
                    continue
                }
                target = other
            }
            func event(_ kind: SessionEvent.Kind, key: String?) -> SessionEvent {
                SessionEvent(
                    sessionID: target.id, tenantID: target.tenantId, kind: kind, at: now,
                    dedupeKey: key.map { "cloud/\(target.id)/\($0)" })
            }
            for message in change.messages {
                events.append(event(.message(message), key: message.id.isEmpty ? nil : "message/\(message.id)"))
            }
            for status in change.statuses {
                let key = "status/\(status.messageID)/\(status.kind.rawValue)"
                if let kind = try await eventKind(of: status, sessionID: target.id, now: now) { events.append(event(kind, key: key)) }
            }
        }
        return events
    }

    /// An ack for a status; for a failure, the job failed with its reason, or `nil` when the
    /// failure was a limit and the job goes again later (nobody is told it failed).
    private func eventKind(of status: CloudWebhook.Status, sessionID: String, now: Date) async throws -> SessionEvent.Kind? {
        let chat = ChatID("\(status.recipient)@s.whatsapp.net")
        let level: MessageReceipt.Level
        switch status.kind {
        case .sent: level = .server
        case .delivered: level = .delivered
        case .read: level = .read
        case .played: level = .played
        case .failed:
            let verdict = status.errors.first.map(GraphVerdict.init) ?? .fail("WhatsApp reported the message as not sent, without a reason")
            let isRetryable = if case .retry = verdict { true } else { false }
            switch try await dispatcher.recordUndelivered(
                sessionID: sessionID, messageID: status.messageID, reason: verdict.reason, isRetryable: isRetryable)
            {
            case .retrying:
                return nil
            case .failed(let job):
                return .deliveryFailed(
                    messageID: status.messageID, chat: chat, reason: verdict.reason, code: status.errors.first?.code, job: job)
            }
        }
        return .receipt(MessageReceipt(messageID: status.messageID, chat: chat, level: level, timestamp: status.timestamp))
    }

    /// Whether `session` is a number of the Meta app whose secret signed the notification.
    private func sameApp(_ session: SessionRecord, appSecret: String) async throws -> Bool {
        let configuration: CloudConfiguration?
        do {
            configuration = try await CloudConfiguration.load(from: services.store.credentials(sessionID: session.id))
        } catch {
            services.logger.error("Cloud API settings unreadable", metadata: ["session": "\(session.id)", "error": "\(error)"])
            return false
        }
        guard let configuration else { return false }
        return CloudWebhook.constantTimeEqual(Array(configuration.appSecret.utf8), Array(appSecret.utf8))
    }
}
