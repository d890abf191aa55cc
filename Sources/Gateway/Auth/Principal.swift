import HTTPTypes
import Hummingbird

/// Who is making a request.
public enum Principal: Sendable, Equatable {
    /// The administrator, through the admin cookie session or `ADMIN_API_KEY`.
    case admin(viaCookie: Bool)
    /// A tenant, through a login token (JWT) or one of its API keys.
    case tenant(id: String, viaCookie: Bool = false)

    /// The rows this caller may see.
    public var scope: AccessScope {
        switch self {
        case .admin: .everything
        case .tenant(let id, _): .tenant(id)
        }
    }

    /// Whether a console's browser cookie authenticated the request (so writes need a CSRF token).
    public var isViaCookie: Bool {
        switch self {
        case .admin(let viaCookie), .tenant(_, let viaCookie): viaCookie
        }
    }

    public var isAdmin: Bool {
        if case .admin = self { return true }
        return false
    }
}

extension AppRequestContext {
    /// The caller, or a 401 problem.
    func requireIdentity() throws -> Principal {
        guard let identity else { throw Problem.unauthorized }
        return identity
    }

    /// The administrator, or 401 (anonymous) / 403 (a tenant).
    func requireAdmin() throws {
        guard try requireIdentity().isAdmin else { throw Problem.forbiddenForTenants }
    }

    /// The calling tenant's id, or 401 / 403 for callers who are not a tenant.
    func requireTenant() throws -> String {
        switch try requireIdentity() {
        case .tenant(let id, _): return id
        case .admin:
            throw Problem(.forbidden, detail: "this route acts as a tenant; log in as the tenant or use its API key")
        }
    }
}
