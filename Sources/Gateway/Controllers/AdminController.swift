import Foundation
import HTTPTypes
import Hummingbird
import WharfCore

/// The admin's login and logout. The full panel comes with the web consoles; this page is the
/// door to it: a login form, and once logged in, a logout form.
struct AdminController {
    let services: GatewayServices
    static let loginCSRFCookie = "wharf_login_csrf"

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin") { request, context in
            if case .admin(viaCookie: true) = context.identity,
                let cookie = request.cookies[AdminWebSessions.cookieName]?.value
            {
                return html(AdminPage.home(csrf: services.adminSessions.csrfToken(for: cookie)))
            }
            return loginPage(error: nil)
        }
        router.post("/admin/login") { request, context in
            let isForm = request.isFormPost
            let fields = try await request.decodeFields()
            if isForm {
                let expected = request.cookies[Self.loginCSRFCookie]?.value
                guard let expected, !expected.isEmpty, fields["_csrf"] == expected else {
                    throw Problem(.forbidden, detail: "the login form has expired; reload the page and try again")
                }
            }
            let keys = ["admin-ip:\(context.clientAddress)"]
            if let wait = services.limiter.retryAfter(keys) {
                throw Problem.tooManyRequests(retryAfter: wait, detail: "too many failed logins; try again in \(wait) seconds")
            }
            let password = fields["password"] ?? ""
            guard try await services.hasher.verify(password, hash: services.adminPasswordHash) else {
                services.limiter.recordFailure(keys)
                if isForm { return loginPage(error: "Wrong password.", status: .unauthorized) }
                throw Problem(.unauthorized, detail: "wrong admin password")
            }
            services.limiter.recordSuccess(keys)
            let (cookie, csrf) = try await services.adminSessions.start()
            var headers: HTTPFields = [.setCookie: cookie.description]
            if isForm {
                headers[.location] = "/admin"
                return Response(status: .seeOther, headers: headers)
            }
            return try JSONResponse.make(["csrfToken": csrf], headers: headers)
        }
        router.post("/admin/logout") { request, context in
            guard let cookie = request.cookies[AdminWebSessions.cookieName]?.value, context.identity?.isAdmin == true else {
                throw Problem.unauthorized
            }
            let cleared = try await services.adminSessions.end(cookie)
            var headers: HTTPFields = [.setCookie: cleared.description]
            if request.isFormPost {
                headers[.location] = "/admin"
                return Response(status: .seeOther, headers: headers)
            }
            return Response(status: .noContent, headers: headers)
        }
    }

    private func loginPage(error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let token = Identifier.token(byteCount: 24)
        let cookie = Cookie(
            name: Self.loginCSRFCookie, value: token, maxAge: 3600, path: "/admin",
            secure: services.configuration.usesSecureCookies, httpOnly: true, sameSite: .strict)
        var response = html(AdminPage.login(csrf: token, error: error), status: status)
        response.headers.append(HTTPField(name: .setCookie, value: cookie.description))
        return response
    }

    private func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8",
                HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; form-action 'self'; frame-ancestors 'none'",
                .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

enum AdminPage {
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    static func login(csrf: String, error: String?) -> String {
        let message = error.map { "<p role=\"alert\">\(escape($0))</p>" } ?? ""
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Wharf admin</title></head>
            <body><main><h1>Wharf admin</h1>\(message)
            <form method="post" action="/admin/login">
            <input type="hidden" name="_csrf" value="\(escape(csrf))">
            <label>Password <input type="password" name="password" autocomplete="current-password" required autofocus></label>
            <button type="submit">Log in</button></form></main></body></html>
            """
    }

    static func home(csrf: String) -> String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Wharf admin</title></head>
        <body><main><h1>Wharf admin</h1><p>You are logged in. The JSON API is under <code>/v1</code>.</p>
        <form method="post" action="/admin/logout"><input type="hidden" name="_csrf" value="\(escape(csrf))">
        <button type="submit">Log out</button></form></main></body></html>
        """
    }
}
