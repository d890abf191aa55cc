import Foundation
import Hummingbird
import WhatsAppProtocol

/// Drives a sandbox session: inject inbound messages, "scan" its QR, drop its connection, and read
/// what it recorded.
extension SessionController {
    struct InboundInput: Decodable {
        var from: String
        var text: String
        var fromName: String?
        /// A group of the sandbox account the message is written in.
        var group: String?
    }

    struct InboundView: ResponseEncodable {
        var id: String
        var chatId: String
        var from: String
        var text: String?
        var timestamp: Date
    }

    func addSandboxRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("sessions/:sessionId/sandbox/inbound", use: injectInbound)
        group.get("sessions/:sessionId/sandbox/sent", use: recordedSteps)
        group.post("sessions/:sessionId/sandbox/scan", use: scan)
        group.post("sessions/:sessionId/sandbox/disconnect", use: disconnect)
        group.post("sessions/:sessionId/sandbox/silence", use: silence)
        group.post("sessions/:sessionId/sandbox/call", use: injectCall)
        group.post("sessions/:sessionId/sandbox/event", use: injectEvent)
    }

    @Sendable func injectInbound(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<InboundView> {
        let engine = try await sandbox(context)
        let input = try await request.decode(as: InboundInput.self, context: context)
        let digits = input.from.filter(\.isNumber)
        guard (5...20).contains(digits.count), input.from.allSatisfy({ $0.isNumber || "+ -()".contains($0) }) else {
            throw Problem.unprocessable("field 'from' must be a phone number such as +4915112345678", field: "from")
        }
        guard !input.text.isEmpty, Validation.fits(input.text, characters: 65_536) else {
            throw Problem.unprocessable("field 'text' must be 1 to 65536 characters", field: "text")
        }
        var group: ChatID?
        if let raw = input.group {
            guard let chat = ChatAddress.normalize(raw.contains("@") ? raw : "\(raw)@g.us"), chat.isGroup else {
                throw Problem.unprocessable("field 'group' must be a group id such as 120363041234567890@g.us", field: "group")
            }
            group = chat
        }
        do {
            let message = try await engine.injectInbound(from: digits, fromName: input.fromName, text: input.text, group: group)
            return EditedResponse(
                status: .created,
                response: InboundView(
                    id: message.id, chatId: message.chat.rawValue, from: message.from, text: message.text, timestamp: message.timestamp))
        } catch let error as EngineError {
            throw Problem.conflict("the sandbox session cannot receive messages: \(error)")
        }
    }

    /// Something else a simulated contact does: a reaction, a place, a contact card, a poll, a vote
    /// on a poll, an edit or a revoke; answers once its event is stored.
    @Sendable func injectEvent(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let engine = try await sandbox(context)
        let input = try await request.decode(as: SandboxEventInput.self, context: context)
        let event = try input.event(at: services.clock.now)
        do {
            try await engine.injectEvent(event)
        } catch let error as EngineError {
            throw Problem.conflict("the sandbox session cannot receive it: \(error)")
        }
        return .created
    }

    /// A simulated contact calls the session (`call.received`; declined if the tenant asked).
    @Sendable func injectCall(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<[String: String]> {
        struct Input: Decodable {
            var from: String
            var video: Bool?
        }
        let engine = try await sandbox(context)
        let input = try await request.decode(as: Input.self, context: context)
        guard let chat = ChatAddress.normalize(input.from), chat.rawValue.hasSuffix("@s.whatsapp.net") else {
            throw Problem.unprocessable("field 'from' must be a phone number such as +4915112345678", field: "from")
        }
        do {
            let call = try await engine.injectCall(from: chat.user, video: input.video ?? false)
            return EditedResponse(status: .created, response: ["callId": call.callID, "from": call.from])
        } catch let error as EngineError {
            throw Problem.conflict("the sandbox session cannot be called: \(error)")
        }
    }

    @Sendable func recordedSteps(_ request: Request, context: AppRequestContext) async throws -> [String: [SandboxRecord]] {
        ["records": try await sandbox(context).recordedSteps()]
    }

    @Sendable func scan(_ request: Request, context: AppRequestContext) async throws -> View {
        let engine = try await sandbox(context)
        do {
            try await engine.scanQR()
        } catch let error as EngineError {
            throw Problem.conflict("\(error)")
        }
        return lookup.sessionView(try await lookup.session(context))
    }

    @Sendable func disconnect(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        try await sandbox(context).simulateConnectionLoss()
        return .noContent
    }

    /// The connection stays "connected" but stops answering, so the watchdog's liveness probe
    /// can be seen finding it and reconnecting the session.
    @Sendable func silence(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        try await sandbox(context).simulateSilentConnection()
        return .noContent
    }

    /// The running engine of a simulated session.
    private func sandbox(_ context: AppRequestContext) async throws -> SandboxEngine {
        let session = try await lookup.session(context)
        guard session.engine.capabilities.isSimulated else {
            throw Problem.conflict("session '\(session.id)' uses the '\(session.engine)' engine; sandbox actions need a sandbox session")
        }
        guard let engine = await services.sessions.engine(for: session.id) as? SandboxEngine else {
            throw Problem.conflict("session '\(session.id)' is not running (status: \(session.status.rawValue))")
        }
        return engine
    }
}
