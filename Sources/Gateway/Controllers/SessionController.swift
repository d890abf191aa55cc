import Foundation
import Hummingbird
import WhatsAppProtocol
import WharfCore

/// Sessions: the seed's `/sessions`, `/api/sessions/…`, `/api/tenant/status`, and `/v1/sessions…`.
struct SessionController {
    let services: GatewayServices

    struct CreateInput: Decodable {
        var name: String?
        var engine: String?
        var tenantId: String?
        var sandbox: SandboxOptions?
        var cloud: CloudSessionInput?
    }

    struct UpdateInput: Decodable {
        var name: String?
        var cloud: CloudSessionInput?
    }

    /// What the API shows of a Cloud API session: where Meta must post, and nothing secret.
    struct CloudView: Encodable {
        var phoneNumberId: String?
        var graphBaseUrl: String?
        var graphVersion: String?
        /// The callback URL to enter in Meta's app dashboard, with the session's verify token.
        var webhookUrl: String
    }

    struct View: Encodable {
        var id: String
        var tenantId: String
        var name: String
        var engine: EngineKind
        var status: SessionState
        var statusDetail: String?
        var qr: String?
        var pairingCode: String?
        var phone: String?
        var jid: String?
        var pushName: String?
        var createdAt: Date
        var updatedAt: Date
        var connectedAt: Date?
        var lastActivityAt: Date?
        var cloud: CloudView?

        init(_ record: SessionRecord, baseURL: String) {
            id = record.id
            tenantId = record.tenantId
            name = record.name
            engine = record.engine
            status = record.status
            statusDetail = record.statusDetail
            qr = record.qr
            pairingCode = record.pairingCode
            phone = record.phone
            jid = record.jid
            pushName = record.pushName
            createdAt = record.createdAt
            updatedAt = record.updatedAt
            connectedAt = record.connectedAt
            lastActivityAt = record.lastActivityAt
            if let options = CloudSessionOptions(record) {
                cloud = CloudView(
                    phoneNumberId: options.phoneNumberId, graphBaseUrl: options.graphBaseUrl, graphVersion: options.graphVersion,
                    webhookUrl: baseURL + CloudWebhookController.path(sessionID: record.id))
            }
        }
    }

    func view(_ record: SessionRecord) -> View { View(record, baseURL: services.baseURL) }

    func addSeedRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("/sessions") { request, context in try await create(request, context: context) }
        group.delete("/api/sessions/:sessionId") { _, context in
            try await remove(context: context, id: context.parameters.require("sessionId"))
            return try JSONResponse.make(["deleted": true])
        }
        group.put("/api/sessions/:sessionId/name") { request, context in
            try await update(request, context: context, id: context.parameters.require("sessionId"), requiresName: true)
        }
        group.get("/api/tenant/status") { _, context in
            let tenantID = try context.requireTenant()
            guard let tenant = try await services.store.tenant(id: tenantID) else { throw Problem.unauthorized }
            let sessions = try await services.store.sessions(scope: .tenant(tenantID), after: nil, limit: .max)
            return try JSONResponse.make(
                TenantStatus(
                    tenant: .init(id: tenant.id, name: tenant.name, maxSessions: tenant.maxSessions),
                    sessions: sessions.map(view)))
        }
    }

    struct TenantStatus: Encodable {
        struct Tenant: Encodable {
            var id: String
            var name: String
            var maxSessions: Int
        }
        var tenant: Tenant
        var sessions: [View]
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/v1/sessions") { request, context in
            var scope = try context.requireIdentity().scope
            if scope == .everything, let tenantID = request.uri.queryParameters.get("tenantId") { scope = .tenant(tenantID) }
            let limit = try Pagination.limit(request)
            let rows = try await services.store.sessions(scope: scope, after: try Pagination.cursor(request), limit: limit)
            return try JSONResponse.make(
                Page(
                    items: rows.map(view),
                    nextCursor: rows.count == limit ? rows.last.map { PageCursor(createdAt: $0.createdAt, id: $0.id).token } : nil))
        }
        router.post("/v1/sessions") { request, context in try await create(request, context: context) }
        router.get("/v1/sessions/:sessionId") { _, context in
            try JSONResponse.make(view(try await find(context)))
        }
        router.patch("/v1/sessions/:sessionId") { request, context in
            try await update(request, context: context, id: context.parameters.require("sessionId"), requiresName: false)
        }
        router.delete("/v1/sessions/:sessionId") { _, context in
            try await remove(context: context, id: context.parameters.require("sessionId"))
            return JSONResponse.noContent()
        }
        router.post("/v1/sessions/:sessionId/restart") { _, context in
            let session = try await find(context)
            try await services.sessions.restart(sessionID: session.id)
            return try JSONResponse.make(view(session), status: .accepted)
        }
        router.get("/v1/sessions/:sessionId/qr") { _, context in
            let session = try await find(context)
            guard let qr = session.qr else {
                throw Problem.conflict("session '\(session.id)' is \(session.status), not waiting for a QR scan")
            }
            return try JSONResponse.make(["qr": qr, "status": session.status.rawValue])
        }
        // The same code drawn as an SVG image, for the dashboard and for any page that links one.
        router.get("/v1/sessions/:sessionId/qr.svg") { _, context in
            let session = try await find(context)
            guard let qr = session.qr else {
                throw Problem.conflict("session '\(session.id)' is \(session.status), not waiting for a QR scan")
            }
            let svg = try QRCode(text: qr).svg()
            return Response(
                status: .ok, headers: [.contentType: "image/svg+xml", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: svg)))
        }
        router.post("/v1/sessions/:sessionId/pairing-code") { request, context in
            try await requestPairingCode(request, context: context)
        }
        router.post("/v1/sessions/:sessionId/logout") { _, context in
            let session = try await find(context)
            guard session.engine != EngineKind.cloud else {
                throw Problem.conflict(
                    "a Cloud API session is not a linked device, so there is nothing to log out; delete the session to stop using the number")
            }
            guard await services.sessions.unlink(sessionID: session.id) else {
                throw Problem.conflict("session '\(session.id)' is \(session.status) and not running; restart it to link it again")
            }
            return try JSONResponse.make(view(try await find(context)))
        }
        addSandboxRoutes(to: router)
    }

    /// Linking by phone number: WhatsApp shows a notification on that phone, where the user types
    /// the code this returns.
    private func requestPairingCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        struct Input: Decodable { var phone: String }
        let session = try await find(context)
        let input: Input = try await request.decodeJSON()
        let digits = input.phone.filter(\.isNumber)
        guard (7...15).contains(digits.count), !digits.hasPrefix("0"),
            input.phone.allSatisfy({ $0.isNumber || " +-().".contains($0) })
        else {
            throw Problem.badRequest(
                "field 'phone': a phone number in international format with its country code, such as +49 170 1234567",
                field: "phone")
        }
        guard let engine = await services.sessions.engine(for: session.id) else {
            throw Problem.conflict("session '\(session.id)' is not running; restart it first")
        }
        guard let pairing = engine as? any PhoneNumberPairing else {
            throw Problem.conflict("the '\(session.engine)' engine does not link by phone number")
        }
        do {
            let code = try await pairing.requestPairingCode(phone: digits)
            return try JSONResponse.make(["pairingCode": code, "phone": digits])
        } catch EngineError.notConnected {
            throw Problem.conflict("session '\(session.id)' is \(session.status), not waiting to be linked")
        } catch EngineError.timedOut(let what) {
            throw Problem(.gatewayTimeout, title: "WhatsApp did not answer", detail: "\(what); try again")
        } catch let error as EngineError {
            throw Problem.conflict(error.description)
        } catch {
            throw Problem(.badGateway, title: "Pairing failed", detail: "the pairing code could not be requested: \(error)")
        }
    }

    // MARK: Handlers

    private func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let input: CreateInput = try await request.decodeJSON()
        let tenantID: String
        switch identity {
        case .tenant(let id, _):
            tenantID = id
        case .admin:
            guard let id = input.tenantId else {
                throw Problem.badRequest("field 'tenantId' is required when the administrator creates a session", field: "tenantId")
            }
            tenantID = id
        }
        guard let tenant = try await services.store.tenant(id: tenantID) else { throw Problem.notFound("tenant '\(tenantID)'") }
        let engineName = input.engine ?? EngineKind.sandbox.rawValue
        guard let engine = EngineKind(rawValue: engineName), EngineFactory.available.contains(engine) else {
            let available = EngineFactory.available.map(\.rawValue).joined(separator: ", ")
            throw Problem.unprocessable(
                "field 'engine': '\(engineName)' is not available on this server; available: \(available)", field: "engine")
        }
        let name = input.name ?? "WhatsApp"
        try Validation.name(name, field: "name")
        var options = SessionOptions()
        var credentials: [String: Data] = [:]
        switch engine {
        case .sandbox:
            if let sandbox = input.sandbox { options = SessionOptions(sandbox: sandbox) }
        case .cloud:
            guard let cloud = input.cloud else {
                throw Problem.badRequest(
                    "field 'cloud' is required for the cloud engine: {\"phoneNumberId\",\"accessToken\",\"appSecret\",\"verifyToken\"}",
                    field: "cloud")
            }
            let configuration = try cloud.configuration(services: services)
            options = CloudSessionOptions(configuration).sessionOptions
            credentials[CloudConfiguration.credentialsKey] = try configuration.encoded()
        case .web:
            break
        }
        let now = services.clock.now
        let session = SessionRecord(
            id: Identifier.make(prefix: "ses"), tenantId: tenant.id, name: name.trimmingCharacters(in: .whitespacesAndNewlines),
            engine: engine, options: options, status: .starting, createdAt: now, updatedAt: now)
        do {
            try await services.store.insertSession(session, maxSessions: tenant.maxSessions, credentials: credentials)
        } catch StoreError.sessionLimitReached(let limit) {
            throw Problem(
                .conflict, title: "Session limit reached",
                detail: "tenant '\(tenant.name)' already has its maximum of \(limit) session\(limit == 1 ? "" : "s"); delete one or ask the administrator to raise maxSessions",
                extensions: ["maxSessions": .number(Double(limit))])
        }
        await services.sessions.start(session)
        return try JSONResponse.make(view(session), status: .created)
    }

    /// Renames a session, and for a Cloud API session replaces any of its settings (a new access
    /// token, say), then restarts its engine with them.
    private func update(_ request: Request, context: AppRequestContext, id: String, requiresName: Bool) async throws -> Response {
        let scope = try context.requireIdentity().scope
        guard let session = try await services.store.session(id: id, scope: scope) else { throw Problem.notFound("session '\(id)'") }
        let input: UpdateInput = try await request.decodeJSON()
        if requiresName, input.name == nil { throw Problem.badRequest("field 'name' is required", field: "name") }
        guard input.name != nil || input.cloud != nil else {
            throw Problem.badRequest("send 'name', or 'cloud' with the settings to change, to update a session")
        }
        if let name = input.name { try Validation.name(name, field: "name") }
        var newOptions: SessionOptions?
        if let cloud = input.cloud {
            guard session.engine == EngineKind.cloud else {
                throw Problem.unprocessable("field 'cloud': session '\(id)' uses the \(session.engine) engine, not cloud", field: "cloud")
            }
            let credentials = services.store.credentials(sessionID: id)
            guard var configuration = try? await CloudConfiguration.load(from: credentials) else {
                throw Problem(.conflict, detail: "session '\(id)' has no readable Cloud API settings; delete it and create it again")
            }
            try cloud.apply(to: &configuration, services: services)
            try await configuration.save(to: credentials)
            newOptions = CloudSessionOptions(configuration).sessionOptions
        }
        let name = input.name?.trimmingCharacters(in: .whitespacesAndNewlines)
        let options = newOptions
        let now = services.clock.now
        guard let updated = try await services.store.updateSession(id: id, { session in
            if let name { session.name = name }
            if let options { session.options = options }
            session.updatedAt = now
        }) else {
            throw Problem.notFound("session '\(id)'")
        }
        services.eventSink.invalidate()
        if options != nil { try await services.sessions.restart(sessionID: id) }
        return try JSONResponse.make(view(updated))
    }

    private func remove(context: AppRequestContext, id: String) async throws {
        let scope = try context.requireIdentity().scope
        guard try await services.store.session(id: id, scope: scope) != nil else { throw Problem.notFound("session '\(id)'") }
        await services.sessions.logout(sessionID: id)
        _ = try await services.store.deleteSession(id: id)
    }

    func find(_ context: AppRequestContext) async throws -> SessionRecord {
        let id = try context.parameters.require("sessionId")
        guard let session = try await services.store.session(id: id, scope: try context.requireIdentity().scope) else {
            throw Problem.notFound("session '\(id)'")
        }
        return session
    }
}
