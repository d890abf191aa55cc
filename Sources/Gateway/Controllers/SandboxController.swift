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
    }

    struct InboundView: Encodable {
        var id: String
        var chatId: String
        var from: String
        var text: String?
        var timestamp: Date
    }

    func addSandboxRoutes(to router: Router<AppRequestContext>) {
        router.post("/v1/sessions/:sessionId/sandbox/inbound") { request, context in
            let engine = try await sandbox(context)
            let input: InboundInput = try await request.decodeJSON()
            let digits = input.from.filter(\.isNumber)
            guard (5...20).contains(digits.count), input.from.allSatisfy({ $0.isNumber || "+ -()".contains($0) }) else {
                throw Problem.unprocessable("field 'from' must be a phone number such as +4915112345678", field: "from")
            }
            guard !input.text.isEmpty, input.text.count <= 65_536 else {
                throw Problem.unprocessable("field 'text' must be 1 to 65536 characters", field: "text")
            }
            do {
                let message = try await engine.injectInbound(from: digits, fromName: input.fromName, text: input.text)
                return try JSONResponse.make(
                    InboundView(
                        id: message.id, chatId: message.chat.rawValue, from: message.from, text: message.text,
                        timestamp: message.timestamp), status: .created)
            } catch let error as EngineError {
                throw Problem.conflict("the sandbox session cannot receive messages: \(error)")
            }
        }
        router.get("/v1/sessions/:sessionId/sandbox/sent") { _, context in
            let engine = try await sandbox(context)
            return try JSONResponse.make(["records": await engine.recordedSteps()])
        }
        router.post("/v1/sessions/:sessionId/sandbox/scan") { _, context in
            let engine = try await sandbox(context)
            do {
                try await engine.scanQR()
            } catch let error as EngineError {
                throw Problem.conflict("\(error)")
            }
            return try JSONResponse.make(view(try await find(context)))
        }
        router.post("/v1/sessions/:sessionId/sandbox/disconnect") { _, context in
            let engine = try await sandbox(context)
            await engine.simulateConnectionLoss()
            return JSONResponse.noContent()
        }
    }

    private func sandbox(_ context: AppRequestContext) async throws -> SandboxEngine {
        let session = try await find(context)
        guard session.engine == EngineKind.sandbox else {
            throw Problem.conflict("session '\(session.id)' uses the '\(session.engine)' engine; sandbox actions need a sandbox session")
        }
        guard let engine = await services.sessions.engine(for: session.id) as? SandboxEngine else {
            throw Problem.conflict("session '\(session.id)' is not running (status: \(session.status))")
        }
        return engine
    }
}
