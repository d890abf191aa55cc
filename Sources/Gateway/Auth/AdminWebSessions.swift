import Crypto
import Foundation
import Hummingbird
import WharfCore

/// The admin's browser session: a random cookie value whose keyed hash is stored server-side, and
/// a CSRF token derived from it.
///
/// Storing only `HMAC(SESSION_SECRET, cookie)` means a copy of the database does not hand out
/// live sessions; logout deletes the row, so a stolen cookie dies with it.
public struct AdminWebSessions: Sendable {
    public static let cookieName = "wharf_admin"
    public static let lifetime: TimeInterval = 12 * 3600

    private let key: SymmetricKey
    private let store: any AdminWebSessionStore
    private let clock: any WharfClock
    private let secureCookies: Bool

    public init(secret: String, store: any AdminWebSessionStore, clock: any WharfClock, secureCookies: Bool) {
        key = SymmetricKey(data: Data(secret.utf8))
        self.store = store
        self.clock = clock
        self.secureCookies = secureCookies
    }

    /// Starts a session and returns the cookie to set.
    public func start() async throws -> (cookie: Cookie, csrfToken: String) {
        let value = Identifier.token(byteCount: 32)
        let now = clock.now
        try await store.insertAdminSession(
            idHash: idHash(value), createdAt: now, expiresAt: now.addingTimeInterval(Self.lifetime))
        return (makeCookie(value: value, maxAge: Int(Self.lifetime)), csrfToken(for: value))
    }

    /// Whether `cookieValue` names a live session.
    public func isValid(_ cookieValue: String) async throws -> Bool {
        try await store.isAdminSessionValid(idHash: idHash(cookieValue), now: clock.now)
    }

    /// Ends the session server-side and returns a cookie that clears it in the browser.
    public func end(_ cookieValue: String) async throws -> Cookie {
        try await store.deleteAdminSession(idHash: idHash(cookieValue))
        return makeCookie(value: "", maxAge: 0)
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

    private func makeCookie(value: String, maxAge: Int) -> Cookie {
        Cookie(
            name: Self.cookieName, value: value, maxAge: maxAge, path: "/", secure: secureCookies, httpOnly: true,
            sameSite: .strict)
    }
}
