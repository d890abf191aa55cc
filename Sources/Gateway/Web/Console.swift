import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import WharfCore

/// What both consoles share: the template library, the page frame, the login and logout
/// handlers, and the headers every page carries.
struct Console: Sendable {
    /// Which console: it decides the cookie, the URL prefix and the navigation.
    enum Kind: Sendable {
        case admin
        case tenant

        var base: String { self == .admin ? "/admin" : "/dashboard" }
        var loginCSRFCookie: String { self == .admin ? "wharf_admin_login" : "wharf_tenant_login" }
    }

    struct NavItem {
        var href: String
        var label: String
        var current: Bool
    }

    static let cspHeader = HTTPField.Name("Content-Security-Policy")!
    /// No inline script or style, nothing from elsewhere, no framing, forms only to us.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    let services: GatewayServices
    let library: MustacheLibrary

    init(services: GatewayServices) {
        self.services = services
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            // The templates are compiled in; one that does not parse is a programming error.
            do { try library.register(text, named: name) } catch { fatalError("console template '\(name)': \(error)") }
        }
        self.library = library
    }

    /// Renders `template` inside the page frame.
    func page(
        _ template: String, title: String, kind: Kind, csrf: String, role: String, current: String, model: Any,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let nav: [(String, String)] =
            switch kind {
            case .admin:
                [("", "Overview"), ("/tenants", "Tenants"), ("/sessions", "Sessions"), ("/deliveries", "Deliveries"), ("/endpoints", "Endpoints")]
            case .tenant:
                [("", "Sessions"), ("/webhooks", "Webhooks"), ("/deliveries", "Deliveries"), ("/messages", "Messages"), ("/settings", "Settings")]
            }
        let frame: [String: Any] = [
            "title": title, "csrf": csrf, "role": role, "home": kind.base, "logout": kind.base + "/logout",
            "nav": nav.map { NavItem(href: kind.base + $0.0, label: $0.1, current: $0.0 == current) },
            "page": model,
        ]
        return html(library.render(frame, withTemplate: template) ?? "", status: status)
    }

    func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", Self.cspHeader: Self.contentSecurityPolicy,
                .cacheControl: "no-store", HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                HTTPField.Name("Referrer-Policy")!: "same-origin",
            ],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    // MARK: Login and logout

    /// The login form, with a fresh token in a short-lived cookie (there is no session yet to
    /// derive a CSRF token from).
    func loginPage(_ kind: Kind, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let token = Identifier.token(byteCount: 24)
        let cookie = Cookie(
            name: kind.loginCSRFCookie, value: token, maxAge: 3600, path: kind.base,
            secure: services.configuration.usesSecureCookies, httpOnly: true, sameSite: .strict)
        // Dictionaries hand a nil to the template as "nil": absent values are left out instead.
        var model: [String: Any] = [
            "title": kind == .admin ? "Wharf admin" : "Wharf dashboard", "action": kind.base + "/login", "csrf": token,
            "asksUsername": kind == .tenant,
        ]
        if let error { model["error"] = error }
        var response = html(library.render(model, withTemplate: "login") ?? "", status: status)
        response.headers.append(HTTPField(name: .setCookie, value: cookie.description))
        return response
    }

    /// Checks the login form's token; the caller then checks the credentials.
    func checkLoginForm(_ kind: Kind, request: Request, fields: [String: String]) throws {
        let expected = request.cookies[kind.loginCSRFCookie]?.value
        guard let expected, !expected.isEmpty, let given = fields["_csrf"], given == expected else {
            throw Problem(.forbidden, detail: "the login form has expired; reload the page and try again")
        }
    }

    /// Starts the browser session and sends the browser to the console's home.
    func loggedIn(_ subject: WebSessions.Subject, kind: Kind, isForm: Bool) async throws -> Response {
        let (cookie, csrf) = try await services.webSessions.start(subject)
        var headers: HTTPFields = [.setCookie: cookie.description]
        guard isForm else { return try JSONResponse.make(["csrfToken": csrf], headers: headers) }
        headers[.location] = kind.base
        return Response(status: .seeOther, headers: headers)
    }

    /// Deletes the session server-side, clears the cookie and returns to the login page.
    func logout(_ kind: Kind, request: Request, context: AppRequestContext) async throws -> Response {
        let name = kind == .admin ? WebSessions.adminCookie : WebSessions.tenantCookie
        guard let cookie = request.cookies[name]?.value, context.identity?.isViaCookie == true else { throw Problem.unauthorized }
        let cleared = try await services.webSessions.end(cookie, cookieName: name)
        var headers: HTTPFields = [.setCookie: cleared.description]
        if request.isFormPost {
            headers[.location] = kind.base
            return Response(status: .seeOther, headers: headers)
        }
        return Response(status: .noContent, headers: headers)
    }

    /// The browser session behind a console page: its CSRF token, or `nil` when the request has
    /// no live session of this kind (the page then shows the login form).
    func session(_ kind: Kind, request: Request, context: AppRequestContext) -> (csrf: String, tenantID: String?)? {
        switch (kind, context.identity) {
        case (.admin, .admin(viaCookie: true)?):
            guard let cookie = request.cookies[WebSessions.adminCookie]?.value else { return nil }
            return (services.webSessions.csrfToken(for: cookie), nil)
        case (.tenant, .tenant(let id, viaCookie: true)?):
            guard let cookie = request.cookies[WebSessions.tenantCookie]?.value else { return nil }
            return (services.webSessions.csrfToken(for: cookie), id)
        default:
            return nil
        }
    }

    // MARK: Formatting

    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        return date.formatted(Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeZone: .gmt))
            .replacingOccurrences(of: "Z", with: " UTC")
    }

    static func age(_ date: Date?, now: Date) -> String {
        guard let date else { return "—" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<86_400: return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
        default: return "\(seconds / 86_400) d \(seconds % 86_400 / 3600) h"
        }
    }

    /// Indented, key-sorted JSON for reading; the template escapes it.
    static func pretty(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? ""
    }

    /// `2026-11-25T14:50` for a `datetime-local` field, in UTC like the rest of the console.
    static func formValue(_ date: Date?) -> String {
        guard let date else { return "" }
        return String(time(date).prefix(16)).replacingOccurrences(of: " ", with: "T")
    }
}
