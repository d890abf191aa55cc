import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import WharfCore

/// Works out who a request comes from: a bearer token (API key, admin key or JWT), the admin
/// cookie, or, on the seed's routes only, `?token=`.
struct Authenticator: Sendable {
    let store: any TenantStore & APIKeyStore
    let tokens: TokenIssuer
    let adminSessions: AdminWebSessions
    /// SHA-256 of `ADMIN_API_KEY`, compared in constant time.
    let adminKeyDigest: SHA256Digest?
    let clock: any WharfClock

    /// The caller, `nil` when the request carries no credentials.
    ///
    /// - Throws: a 401 problem when credentials are present but invalid, so a typo in a key is
    ///   reported as such rather than as "this route needs authentication".
    func identify(_ request: Request, allowQueryToken: Bool) async throws -> Principal? {
        if let bearer = Self.bearerToken(request) {
            return try await principal(forToken: bearer)
        }
        if let cookie = request.cookies[AdminWebSessions.cookieName]?.value, !cookie.isEmpty {
            if try await adminSessions.isValid(cookie) { return .admin(viaCookie: true) }
        }
        if allowQueryToken, let token = request.uri.queryParameters.get("token"), !token.isEmpty {
            return try await principal(forToken: token)
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
                try? await store.touchKey(id: key.id, at: now)
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
        guard try await store.tenant(id: claims.tenantID) != nil else {
            throw Problem(.unauthorized, detail: "the token's tenant no longer exists")
        }
        return .tenant(id: claims.tenantID)
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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        if context.identity == nil {
            context.identity = try await authenticator.identify(request, allowQueryToken: allowsQueryToken)
            if case .admin(viaCookie: true) = context.identity, !Self.isSafe(request.method),
                request.uri.path != "/admin/login"
            {
                try await checkCSRF(request)
            }
        }
        return try await next(request, context)
    }

    private func checkCSRF(_ request: Request) async throws {
        guard let cookie = request.cookies[AdminWebSessions.cookieName]?.value else { return }
        var token = request.headers[HTTPField.Name("X-CSRF-Token")!]
        if token == nil, request.isFormPost {
            token = try await request.decodeFields()["_csrf"]
        }
        guard let token, authenticator.adminSessions.isValidCSRF(token, for: cookie) else {
            throw Problem(
                .forbidden,
                detail: "missing or wrong CSRF token: forms must carry the '_csrf' field, scripts the X-CSRF-Token header")
        }
    }

    static func isSafe(_ method: HTTPRequest.Method) -> Bool {
        method == .get || method == .head || method == .options
    }
}
