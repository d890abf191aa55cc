import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WharfCore

/// Works out who a request comes from: a bearer token (API key, admin key or JWT), a console
/// cookie (admin or tenant), or, on the seed's routes only, `?token=`.
struct Authenticator: Sendable {
    let store: any TenantStore & APIKeyStore
    let tokens: TokenIssuer
    let webSessions: WebSessions
    /// SHA-256 of `ADMIN_API_KEY`, compared in constant time.
    let adminKeyDigest: SHA256Digest?
    /// SHA-256 of `METRICS_TOKEN`: no identity, but not an invalid credential either (`/metrics`
    /// checks it itself).
    var metricsTokenDigest: SHA256Digest? = nil
    let clock: any WharfClock
    let logger: Logger

    /// The caller, `nil` when the request carries no credentials.
    ///
    /// - Throws: a 401 problem when credentials are present but invalid, so a typo in a key is
    ///   reported as such rather than as "this route needs authentication".
    /// - Returns: the caller and, when a console cookie identified it, that cookie's value (its
    ///   CSRF token is derived from it).
    func identify(_ request: Request, allowQueryToken: Bool) async throws -> (principal: Principal, cookie: String?)? {
        if let bearer = Self.bearerToken(request) {
            if let metricsTokenDigest, SHA256.hash(data: Data(bearer.utf8)) == metricsTokenDigest { return nil }
            return (try await principal(forToken: bearer), nil)
        }
        if let (principal, cookie) = try await cookieSession(request) { return (principal, cookie) }
        if allowQueryToken, let token = request.uri.queryParameters.get("token"), !token.isEmpty {
            return (try await principal(forToken: token), nil)
        }
        return nil
    }

    func principal(forToken token: String) async throws -> Principal {
        if APIKeyFormat.isAPIKey(token) {
            guard let key = try await store.activeKey(hash: APIKeyFormat.hash(token)) else {
                throw Problem(.unauthorized, detail: "the API key is unknown or has been revoked")
            }
            let now = clock.now
            if (key.lastUsedAt ?? .distantPast).addingTimeInterval(60) < now {
                do {
                    try await store.touchKey(id: key.id, at: now)
                } catch {
                    // Only the "last used" time is lost; the request goes on.
                    logger.warning("API key use not recorded", metadata: ["key": "\(key.id)", "error": "\(error)"])
                }
            }
            return .tenant(id: key.tenantId)
        }
        if let adminKeyDigest {
            let given = SHA256.hash(data: Data(token.utf8))
            if given == adminKeyDigest { return .admin(viaCookie: false) }
        }
        guard let claims = await tokens.verify(token) else {
            throw Problem(.unauthorized, detail: "the token is invalid or has expired; log in again")
        }
        guard try await store.tenant(id: claims.tenantID) != nil, let user = try await store.user(tenantID: claims.tenantID),
            user.id == claims.userID
        else {
            throw Problem(.unauthorized, detail: "the token's tenant no longer exists")
        }
        guard user.tokenVersion == claims.version else {
            throw Problem(.unauthorized, detail: "the token was revoked (the password changed, or all tokens were revoked); log in again")
        }
        return .tenant(id: claims.tenantID)
    }

    /// The console session a request's cookies name, and the cookie's value (for its CSRF token).
    ///
    /// A browser logged in to both consoles sends both cookies; the CSRF token the page sent
    /// says which console made the call, and without one the path does (`/dashboard` is the
    /// tenant's).
    func cookieSession(_ request: Request) async throws -> (Principal, cookie: String)? {
        var found: [(Principal, cookie: String)] = []
        for name in [WebSessions.adminCookie, WebSessions.tenantCookie] {
            guard let value = request.cookies[name]?.value, !value.isEmpty,
                let subject = try await webSessions.subject(cookieName: name, value: value)
            else { continue }
            switch subject {
            case .admin: found.append((.admin(viaCookie: true), value))
            case .tenant(let id): found.append((.tenant(id: id, viaCookie: true), value))
            }
        }
        guard found.count > 1 else { return found.first }
        if let token = request.headers[AuthenticationMiddleware.csrfHeader],
            let match = found.first(where: { webSessions.isValidCSRF(token, for: $0.cookie) })
        {
            return match
        }
        let wantsTenant = request.uri.path.hasPrefix("/dashboard")
        return found.first { $0.0.isAdmin != wantsTenant }
    }

    static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// Sets ``AppRequestContext/identity`` and enforces CSRF tokens on cookie-authenticated writes.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let authenticator: Authenticator
    /// Only the seed's routes accept `?token=`.
    let allowsQueryToken: Bool

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        var context = context
        if context.identity == nil {
            let caller = try await authenticator.identify(request, allowQueryToken: allowsQueryToken)
            context.identity = caller?.principal
            if let cookie = caller?.cookie, !Self.isSafe(request.method), !Self.loginPaths.contains(request.uri.path) {
                try await checkCSRF(request, cookie: cookie)
            }
        }
        return try await next(request, context)
    }

    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    /// Login forms carry their own CSRF cookie; there is no session yet to derive a token from.
    static let loginPaths: Set<String> = ["/admin/login", "/dashboard/login"]

    private func checkCSRF(_ request: Request, cookie: String) async throws {
        var token = request.headers[Self.csrfHeader]
        if token == nil, request.isFormPost {
            token = try await request.decodeFields()["_csrf"]
        }
        guard let token, authenticator.webSessions.isValidCSRF(token, for: cookie) else {
            throw Problem(
                .forbidden,
                detail: "missing or wrong CSRF token: forms must carry the '_csrf' field, scripts the X-CSRF-Token header")
        }
    }

    static func isSafe(_ method: HTTPRequest.Method) -> Bool {
        method == .get || method == .head || method == .options
    }
}
