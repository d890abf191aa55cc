import Crypto
import Foundation
import Hummingbird
import WharfCore

/// Browser sessions of the consoles: the admin panel's and each tenant's dashboard. A random
/// cookie value whose keyed hash is stored server-side, and a CSRF token derived from it.
///
/// Storing only `HMAC(SESSION_SECRET, cookie)` means a copy of the database does not hand out
/// live sessions; logout deletes the row, so a stolen cookie dies with it. The admin and a tenant
/// use different cookies, so one browser can hold both without one shadowing the other.
public struct WebSessions: Sendable {
    public enum Subject: Sendable, Equatable {
        case admin
        case tenant(String)

        /// The cookie that carries this kind of session.
        public var cookieName: String {
            switch self {
            case .admin: WebSessions.adminCookie
            case .tenant: WebSessions.tenantCookie
            }
        }
    }

    public static let adminCookie = "wharf_admin"
    public static let tenantCookie = "wharf_tenant"
    public static let lifetime: TimeInterval = 12 * 3600

    private let key: SymmetricKey
    private let store: any WebSessionStore
    private let clock: any WharfClock
    private let secureCookies: Bool

    public init(secret: String, store: any WebSessionStore, clock: any WharfClock, secureCookies: Bool) {
        key = SymmetricKey(data: Data(secret.utf8))
        self.store = store
        self.clock = clock
        self.secureCookies = secureCookies
    }

    /// Starts a session for `subject` and returns the cookie to set.
    public func start(_ subject: Subject) async throws -> (cookie: Cookie, csrfToken: String) {
        let value = Identifier.token(byteCount: 32)
        let now = clock.now
        let tenantID: String? = if case .tenant(let id) = subject { id } else { nil }
        try await store.insertWebSession(
            idHash: idHash(value), tenantID: tenantID, createdAt: now, expiresAt: now.addingTimeInterval(Self.lifetime))
        return (makeCookie(subject.cookieName, value: value, maxAge: Int(Self.lifetime)), csrfToken(for: value))
    }

    /// Who the session named by `cookieValue` belongs to, `nil` when it is unknown, expired or
    /// was presented in the other kind's cookie.
    public func subject(cookieName: String, value cookieValue: String) async throws -> Subject? {
        guard !cookieValue.isEmpty, let row = try await store.webSession(idHash: idHash(cookieValue), now: clock.now) else {
            return nil
        }
        let subject: Subject = row.tenantID.map(Subject.tenant) ?? .admin
        return subject.cookieName == cookieName ? subject : nil
    }

    /// Ends the session server-side and returns a cookie that clears it in the browser.
    public func end(_ cookieValue: String, cookieName: String) async throws -> Cookie {
        try await store.deleteWebSession(idHash: idHash(cookieValue))
        return makeCookie(cookieName, value: "", maxAge: 0)
    }

    /// The CSRF token forms of this session must carry.
    public func csrfToken(for cookieValue: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data("csrf|\(cookieValue)".utf8), using: key))
            .base64URLEncodedString()
    }

    /// Whether `token` is this session's CSRF token (constant-time).
    public func isValidCSRF(_ token: String, for cookieValue: String) -> Bool {
        let expected = Data(csrfToken(for: cookieValue).utf8)
        let given = Data(token.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private func idHash(_ value: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(value.utf8), using: key)).base64URLEncodedString()
    }

    private func makeCookie(_ name: String, value: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secureCookies, httpOnly: true, sameSite: .strict)
    }
}
