import Foundation
import HTTPTypes
import Hummingbird
import WharfCore

/// What both consoles share: the templates, the page frame, the login and logout handlers, and
/// the headers every page carries.
struct Console: Sendable {
    /// Which console: it decides the cookie, the URL prefix and the navigation.
    enum Kind: Sendable {
        case admin
        case tenant

        var base: String { self == .admin ? "/admin" : "/dashboard" }
        var loginCSRFCookie: String { self == .admin ? "wharf_admin_login" : "wharf_tenant_login" }

        /// The navigation: path under ``base`` and label.
        var navigation: [(path: String, label: String)] {
            switch self {
            case .admin:
                [("", "Overview"), ("/tenants", "Tenants"), ("/sessions", "Sessions"), ("/deliveries", "Deliveries"), ("/endpoints", "Endpoints")]
            case .tenant:
                [
                    ("", "Sessions"), ("/webhooks", "Webhooks"), ("/events", "Events"), ("/deliveries", "Deliveries"), ("/messages", "Messages"),
                    ("/settings", "Settings"),
                ]
            }
        }
    }

    static let cspHeader = HTTPField.Name("Content-Security-Policy")!
    /// No inline script or style, nothing from elsewhere, no framing, forms only to us.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    let services: GatewayServices
    let lookup: Lookup
    let renderer: ConsoleRenderer

    /// - Throws: ``ConsoleTemplateError`` when a template does not parse.
    init(services: GatewayServices, lookup: Lookup) throws {
        self.services = services
        self.lookup = lookup
        renderer = try ConsoleRenderer()
    }

    /// Renders `page` inside the page frame.
    ///
    /// - Parameter tenantID: whose watchdog alerts the banners show: a tenant's, or every one
    ///   (`nil`, the administrator).
    func page<Page: ConsolePage>(
        _ page: Page, title: String, kind: Kind, csrf: String, role: String, current: String, tenantID: String?,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let frame = PageFrame(
            title: title, csrf: csrf, role: role, home: kind.base, logout: kind.base + "/logout",
            nav: kind.navigation.map { .init(href: kind.base + $0.path, label: $0.label, current: $0.path == current) },
            alerts: services.watchdog.alerts(tenantID: tenantID).map { AlertBanner($0, kind: kind) },
            troubledEndpoints: services.watchdog.troubledEndpoints(tenantID: tenantID).map { EndpointBanner($0, kind: kind) },
            page: page)
        return html(renderer.render(frame), status: status)
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

    /// The answer to a page request without a live session of the console's kind: back to its home,
    /// which shows the login form.
    static func toHome(_ kind: Kind) -> Response {
        Response(status: .seeOther, headers: [.location: kind.base])
    }

    // MARK: Login and logout

    /// The login form, with a fresh token in a short-lived cookie (there is no session yet to
    /// derive a CSRF token from).
    func loginPage(_ kind: Kind, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let token = Identifier.token(byteCount: 24)
        let cookie = Cookie(
            name: kind.loginCSRFCookie, value: token, maxAge: 3600, path: kind.base,
            secure: services.configuration.usesSecureCookies, httpOnly: true, sameSite: .strict)
        let form = LoginForm(
            title: kind == .admin ? "Wharf admin" : "Wharf dashboard", action: kind.base + "/login", csrf: token,
            asksUsername: kind == .tenant, error: error)
        var response = html(renderer.render(form), status: status)
        response.headers.append(HTTPField(name: .setCookie, value: cookie.description))
        return response
    }

    /// `GET …/login`: the login form, or, for a browser already logged in, its console's home.
    func loginForm(_ kind: Kind, request: Request, context: AppRequestContext) -> Response {
        session(kind, request: request, context: context) == nil ? loginPage(kind, error: nil) : Self.toHome(kind)
    }

    /// Checks the login form's token; the caller then checks the credentials.
    func checkLoginForm(_ kind: Kind, request: Request, fields: [String: String]) throws {
        let expected = request.cookies[kind.loginCSRFCookie]?.value
        guard let expected, !expected.isEmpty, let given = fields["_csrf"], given == expected else {
            throw Problem(.forbidden, detail: "the login form has expired; reload the page and try again")
        }
    }

    /// Starts the browser session and sends the browser to the console's home.
    func loggedIn(
        _ subject: WebSessions.Subject, kind: Kind, isForm: Bool, request: Request, context: AppRequestContext
    ) async throws -> Response {
        let (cookie, csrf) = try await services.webSessions.start(subject)
        var headers: HTTPFields = [.setCookie: cookie.description]
        guard isForm else {
            return try EditedResponse(headers: headers, response: ["csrfToken": csrf]).response(from: request, context: context)
        }
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
