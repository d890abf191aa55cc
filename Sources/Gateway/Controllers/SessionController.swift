import Foundation
import Hummingbird
import Outbox
import WharfCore
import WhatsAppProtocol

/// Sessions (`/v1/sessions…`); the seed's `/sessions` and `/api/sessions/…` (``LegacyController``)
/// call the same handlers.
struct SessionController {
    let services: GatewayServices
    let lookup: Lookup

    struct CreateInput: Decodable {
        var name: String?
        var engine: String?
        var tenantId: String?
        var sandbox: SandboxOptions?
        var cloud: CloudSessionInput?
        /// Web: `http://…` or `socks5://…` for the WebSocket and media to go through.
        var proxy: String?
    }

    struct UpdateInput: Decodable {
        var name: String?
        var cloud: CloudSessionInput?
        /// `null` (or "") removes the proxy; absent leaves it.
        var proxy: String??

        enum CodingKeys: String, CodingKey { case name, cloud, proxy }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            cloud = try container.decodeIfPresent(CloudSessionInput.self, forKey: .cloud)
            if container.contains(.proxy) {
                let text = try container.decodeNil(forKey: .proxy) ? nil : try container.decode(String.self, forKey: .proxy)
                proxy = .some(text.flatMap { $0.isEmpty ? nil : $0 })
            }
        }
    }

    /// What the API shows of a Cloud API session: where Meta must post, and nothing secret.
    struct CloudView: Encodable {
        var phoneNumberId: String?
        var graphBaseUrl: String?
        var graphVersion: String?
        /// The callback URL to enter in Meta's app dashboard, with the session's verify token.
        var webhookUrl: String
    }

    struct View: ResponseEncodable {
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
        /// The proxy the session connects through, without its password.
        var proxy: String?

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
            proxy = record.options.proxy
            if let options = CloudSessionOptions(record) {
                cloud = CloudView(
                    phoneNumberId: options.phoneNumberId, graphBaseUrl: options.graphBaseUrl, graphVersion: options.graphVersion,
                    webhookUrl: baseURL + CloudWebhookController.path(sessionID: record.id))
            }
        }
    }

    /// Adds the routes under `group`, which is `/v1`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("sessions", use: list)
        group.post("sessions", use: create)
        group.get("sessions/:sessionId", use: get)
        group.patch("sessions/:sessionId", use: update)
        group.delete("sessions/:sessionId", use: delete)
        group.post("sessions/:sessionId/restart", use: restart)
        group.get("sessions/:sessionId/qr", use: qr)
        // The same code drawn as an SVG image, for the dashboard and for any page that links one.
        group.get("sessions/:sessionId/qr.svg", use: qrImage)
        group.post("sessions/:sessionId/pairing-code", use: requestPairingCode)
        group.post("sessions/:sessionId/logout", use: logout)
        group.get("sessions/:sessionId/status-history", use: statusHistory)
        addSandboxRoutes(to: group)
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Page<View> {
        var scope = try context.requireIdentity().scope
        if scope == .everything, let tenantID = request.uri.queryParameters.get("tenantId") { scope = .tenant(tenantID) }
        let limit = try Pagination.limit(request)
        let rows = try await services.store.sessions(scope: scope, after: try Pagination.cursor(request), limit: limit)
        return Page(
            items: rows.map(lookup.sessionView),
            nextCursor: rows.count == limit ? rows.last.map { PageCursor(createdAt: $0.createdAt, id: $0.id).token } : nil)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> View {
        lookup.sessionView(try await lookup.session(context))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> View {
        try await update(request, context: context, requiresName: false)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        try await remove(context)
        return .noContent
    }

    @Sendable func restart(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<View> {
        let session = try await lookup.session(context)
        try await services.sessions.restart(sessionID: session.id)
        return EditedResponse(status: .accepted, response: lookup.sessionView(session))
    }

    /// What the session's status has been, newest first, with the reason of each change.
    @Sendable func statusHistory(_ request: Request, context: AppRequestContext) async throws -> StatusHistory {
        let session = try await lookup.session(context)
        let limit = try Pagination.limit(request)
        return StatusHistory(items: try await services.store.statusHistory(sessionID: session.id, limit: limit))
    }

    struct StatusHistory: ResponseEncodable {
        var items: [SessionStatusChange]
    }

    @Sendable func qr(_ request: Request, context: AppRequestContext) async throws -> [String: String] {
        let session = try await lookup.session(context)
        return ["qr": try Self.qrCode(session), "status": session.status.rawValue]
    }

    @Sendable func qrImage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let svg = try QRCode(text: try Self.qrCode(try await lookup.session(context))).svg()
        return Response(
            status: .ok, headers: [.contentType: "image/svg+xml", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: svg)))
    }

    private static func qrCode(_ session: SessionRecord) throws -> String {
        guard let qr = session.qr else {
            throw Problem.conflict("session '\(session.id)' is \(session.status.rawValue), not waiting for a QR scan")
        }
        return qr
    }

    /// Unlinks the device but keeps the session (`logged_out`); a restart links it again.
    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> View {
        let session = try await lookup.session(context)
        guard session.engine.capabilities.isLinkedDevice else {
            throw Problem.conflict(
                "a '\(session.engine)' session is not a linked device, so there is nothing to log out; delete the session to stop using the number")
        }
        guard await services.sessions.unlink(sessionID: session.id) else {
            throw Problem.conflict("session '\(session.id)' is \(session.status.rawValue) and not running; restart it to link it again")
        }
        return lookup.sessionView(try await lookup.session(context))
    }

    /// Linking by phone number: WhatsApp shows a notification on that phone, where the user types
    /// the code this returns.
    @Sendable func requestPairingCode(_ request: Request, context: AppRequestContext) async throws -> [String: String] {
        struct Input: Decodable { var phone: String }
        let session = try await lookup.session(context)
        let input = try await request.decode(as: Input.self, context: context)
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
            return ["pairingCode": code, "phone": digits]
        } catch EngineError.notConnected {
            throw Problem.conflict("session '\(session.id)' is \(session.status.rawValue), not waiting to be linked")
        } catch EngineError.timedOut(let what) {
            throw Problem(.gatewayTimeout, title: "WhatsApp did not answer", detail: "\(what); try again")
        } catch let error as EngineError {
            throw Problem.conflict(error.description)
        } catch {
            throw Problem(.badGateway, title: "Pairing failed", detail: "the pairing code could not be requested: \(error)")
        }
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<View> {
        let identity = try context.requireIdentity()
        let input = try await request.decode(as: CreateInput.self, context: context)
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
        let proxy = try input.proxy.map { text throws(ValidationError) in
            try Self.proxy(text, engine: engine, policy: services.outboundPolicy)
        }
        let sessionID = Identifier.make(prefix: "ses")
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
            try SessionProxy.store(proxy, in: &options, sessionID: sessionID, box: services.store.secretBox)
        }
        let now = services.clock.now
        let session = SessionRecord(
            id: sessionID, tenantId: tenant.id, name: name.trimmingCharacters(in: .whitespacesAndNewlines),
            engine: engine, options: options, status: .starting, createdAt: now, updatedAt: now)
        do {
            try await services.store.insertSession(session, maxSessions: tenant.maxSessions, credentials: credentials)
        } catch StoreError.sessionLimitReached(let limit) {
            throw Problem(
                .conflict, title: "Session limit reached",
                detail:
                    "tenant '\(tenant.name)' already has its maximum of \(limit) session\(limit == 1 ? "" : "s"); delete one or ask the administrator to raise maxSessions",
                extensions: ["maxSessions": .number(Double(limit))])
        }
        await services.sessions.start(session)
        return EditedResponse(status: .created, response: lookup.sessionView(session))
    }

    /// Renames a session, and for a Cloud API session replaces any of its settings (a new access
    /// token, say), then restarts its engine with them.
    ///
    /// - Parameter requiresName: the seed's rename route needs `name`.
    func update(_ request: Request, context: AppRequestContext, requiresName: Bool) async throws -> View {
        let session = try await lookup.session(context)
        let id = session.id
        let input = try await request.decode(as: UpdateInput.self, context: context)
        if requiresName, input.name == nil { throw Problem.badRequest("field 'name' is required", field: "name") }
        guard input.name != nil || input.cloud != nil || input.proxy != nil else {
            throw Problem.badRequest(
                "send 'name', 'proxy', or 'cloud' with the settings to change, to update a session")
        }
        if let name = input.name { try Validation.name(name, field: "name") }
        var newOptions: SessionOptions?
        if let change = input.proxy {
            let proxy = try change.map { text throws(ValidationError) in
                try Self.proxy(text, engine: session.engine, policy: services.outboundPolicy)
            }
            var options = session.options
            try SessionProxy.store(proxy, in: &options, sessionID: id, box: services.store.secretBox)
            newOptions = options
        }
        if let cloud = input.cloud {
            guard CloudSessionOptions(session) != nil else {
                throw Problem.unprocessable("field 'cloud': session '\(id)' uses the \(session.engine) engine, not cloud", field: "cloud")
            }
            let credentials = services.store.credentials(sessionID: id)
            let stored: CloudConfiguration?
            do {
                stored = try await CloudConfiguration.load(from: credentials)
            } catch {
                services.logger.error("Cloud API settings unreadable", metadata: ["session": "\(id)", "error": "\(error)"])
                stored = nil
            }
            guard var configuration = stored else {
                throw Problem(.conflict, detail: "session '\(id)' has no readable Cloud API settings; delete it and create it again")
            }
            try cloud.apply(to: &configuration, services: services)
            try await configuration.save(to: credentials)
            newOptions = CloudSessionOptions(configuration).sessionOptions
        }
        let name = input.name?.trimmingCharacters(in: .whitespacesAndNewlines)
        let options = newOptions
        let now = services.clock.now
        guard
            let updated = try await services.store.updateSession(
                id: id,
                { session in
                    if let name { session.name = name }
                    if let options { session.options = options }
                    session.updatedAt = now
                })
        else {
            throw Problem.notFound("session '\(id)'")
        }
        services.eventSink.invalidate()
        if options != nil { try await services.sessions.restart(sessionID: id) }
        return lookup.sessionView(updated)
    }

    /// A proxy a tenant gave for a session of `engine`: only the native engine has a connection of its own.
    private static func proxy(_ text: String, engine: EngineKind, policy: OutboundPolicy) throws(ValidationError) -> ProxyEndpoint {
        guard engine == .web else {
            throw .invalid(
                field: "proxy",
                detail:
                    "field 'proxy': only a web session connects through a proxy; a \(engine.rawValue) session has no WhatsApp connection of its own")
        }
        return try SessionProxy.validate(text, policy: policy)
    }

    /// Logs the session of the `:sessionId` parameter out and deletes it.
    func remove(_ context: AppRequestContext) async throws {
        let session = try await lookup.session(context)
        await services.sessions.logout(sessionID: session.id)
        _ = try await services.store.deleteSession(id: session.id)
    }
}
