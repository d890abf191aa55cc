import Foundation
import HTTPTypes
import Testing
import WharfCore

@testable import Gateway

/// The consoles over HTTP: logins, cookies, CSRF, logout, escaping and tenant isolation. The
/// browser stories (clicking through in Chromium) are in Tests/browser.
@Suite struct ConsoleTests {
    static let hostile = #"<script>alert("x")</script> 'q' "n""#
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    /// The `name=value` of the cookie called `name` among a response's Set-Cookie headers.
    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        headers[values: .setCookie].map { String($0.split(separator: ";")[0]) }.first { $0.hasPrefix(name + "=") }
    }

    static func csrfMeta(_ page: String) -> String? {
        guard let range = page.range(of: #"<meta name="csrf-token" content=""#) else { return nil }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }

    /// Logs in through the dashboard's form, as a browser does.
    static func dashboardLogin(_ app: TestWharf, username: String, password: String) async throws -> (cookie: String, csrf: String) {
        let form = try await app.call(.get, "/dashboard")
        #expect(form.text.contains(#"name="username""#))
        let loginCookie = try #require(cookie("wharf_tenant_login", in: form.headers))
        let token = String(loginCookie.split(separator: "=", maxSplits: 1)[1])
        let login = try await app.call(
            .post, "/dashboard/login", raw: "_csrf=\(token)&username=\(username)&password=\(password)",
            headers: [.contentType: "application/x-www-form-urlencoded", .cookie: loginCookie])
        #expect(login.status == .seeOther, "\(login.text)")
        #expect(login.headers[.location] == "/dashboard")
        let setCookie = try #require(login.headers[values: .setCookie].first { $0.hasPrefix("wharf_tenant=") })
        #expect(setCookie.contains("HttpOnly"))
        #expect(setCookie.contains("SameSite=Strict"))
        let session = try #require(cookie("wharf_tenant", in: login.headers))
        let page = try await app.call(.get, "/dashboard", headers: [.cookie: session])
        #expect(page.status == .ok)
        return (session, try #require(csrfMeta(page.text)))
    }

    static func adminLogin(_ app: TestWharf) async throws -> (cookie: String, csrf: String) {
        let login = try await app.call(.post, "/admin/login", json: ["password": .string(TestWharf.adminPassword)])
        return (try #require(cookie("wharf_admin", in: login.headers)), try #require(login.string("csrfToken")))
    }

    /// A bookmark or a reload of a login page's address shows the form, not a 404.
    @Test func loginPagesAnswerTheFormAtTheirOwnAddress() async throws {
        try await TestWharf.run { app in
            for (path, asksUsername) in [("/admin/login", false), ("/dashboard/login", true)] {
                let page = try await app.call(.get, path)
                #expect(page.status == .ok, "\(path): \(page.text)")
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
                #expect(page.text.contains(#"<form method="post" action="\#(path)" class="stack">"#), "\(path)")
                #expect(page.text.contains(#"name="password""#))
                #expect(page.text.contains(#"name="username""#) == asksUsername, "\(path)")
                let kind = path.hasPrefix("/admin") ? "wharf_admin_login" : "wharf_tenant_login"
                #expect(Self.cookie(kind, in: page.headers) != nil, "\(path) sets the form's token cookie")
            }
            // A browser that is logged in already goes to its console.
            _ = try await app.makeTenant("acme")
            let (cookie, _) = try await Self.dashboardLogin(app, username: "acme", password: "password-acme")
            let again = try await app.call(.get, "/dashboard/login", headers: [.cookie: cookie])
            #expect(again.status == .seeOther)
            #expect(again.headers[.location] == "/dashboard")
            let (admin, _) = try await Self.adminLogin(app)
            let adminAgain = try await app.call(.get, "/admin/login", headers: [.cookie: admin])
            #expect(adminAgain.status == .seeOther)
            #expect(adminAgain.headers[.location] == "/admin")
        }
    }

    @Test func tenantDashboardNeedsCSRFAndLogoutEndsTheSession() async throws {
        try await TestWharf.run { app in
            _ = try await app.makeTenant("acme")
            let (cookie, csrf) = try await Self.dashboardLogin(app, username: "acme", password: "password-acme")

            let noToken = try await app.call(.post, "/v1/keys", json: ["name": "n8n"], headers: [.cookie: cookie])
            #expect(noToken.status == .forbidden)
            let wrongToken = try await app.call(
                .post, "/v1/keys", json: ["name": "n8n"], headers: [.cookie: cookie, Self.csrfHeader: "forged"])
            #expect(wrongToken.status == .forbidden)
            let created = try await app.call(.post, "/v1/keys", json: ["name": "n8n"], headers: [.cookie: cookie, Self.csrfHeader: csrf])
            #expect(created.status == .created, "\(created.text)")
            let settings = try await app.call(.get, "/dashboard/settings", headers: [.cookie: cookie])
            #expect(settings.text.contains("n8n"))

            let forgedLogout = try await app.call(
                .post, "/dashboard/logout", raw: "_csrf=nope",
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"])
            #expect(forgedLogout.status == .forbidden)
            let logout = try await app.call(
                .post, "/dashboard/logout", raw: "_csrf=\(csrf)",
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"])
            #expect(logout.status == .seeOther)
            #expect(Self.cookie("wharf_tenant", in: logout.headers) == "wharf_tenant=")

            // The old cookie is dead server-side, not just cleared in the browser.
            let page = try await app.call(.get, "/dashboard/settings", headers: [.cookie: cookie])
            #expect(page.status == .seeOther)
            #expect(page.headers[.location] == "/dashboard")
            let api = try await app.call(.get, "/v1/keys", headers: [.cookie: cookie])
            #expect(api.status == .unauthorized)
        }
    }

    @Test func passwordResetLogsTheTenantsBrowsersOut() async throws {
        try await TestWharf.run { app in
            let acme = try await app.makeTenant("acme")
            let (cookie, _) = try await Self.dashboardLogin(app, username: "acme", password: "password-acme")
            let reset = try await app.call(.post, "/v1/tenants/\(acme.id)/password", json: ["password": "a new password"], as: .admin)
            #expect(reset.status == .noContent)
            let page = try await app.call(.get, "/dashboard/settings", headers: [.cookie: cookie])
            #expect(page.status == .seeOther)
            _ = try await Self.dashboardLogin(app, username: "acme", password: "a+new+password")
        }
    }

    @Test func wrongTenantPasswordShowsTheFormAgain() async throws {
        try await TestWharf.run { app in
            _ = try await app.makeTenant("acme")
            let form = try await app.call(.get, "/dashboard")
            let loginCookie = try #require(Self.cookie("wharf_tenant_login", in: form.headers))
            let token = String(loginCookie.split(separator: "=", maxSplits: 1)[1])
            let reply = try await app.call(
                .post, "/dashboard/login", raw: "_csrf=\(token)&username=acme&password=wrong",
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: loginCookie])
            #expect(reply.status == .unauthorized)
            #expect(reply.text.contains("wrong username or password"))
            #expect(Self.cookie("wharf_tenant", in: reply.headers) == nil)
        }
    }

    @Test func pagesRenderHostileTextInert() async throws {
        try await TestWharf.run(configure: DeliveryTests.allowLoopback) { app in
            let created = try await app.call(
                .post, "/v1/tenants",
                json: ["name": .string(Self.hostile), "username": "acme", "password": "password-acme", "maxSessions": 3],
                as: .admin)
            let tenantID = try #require(created.string("id"))
            let (cookie, _) = try await Self.dashboardLogin(app, username: "acme", password: "password-acme")
            let login = try await app.call(.post, "/v1/login", json: ["username": "acme", "password": "password-acme"])
            let token = try #require(login.string("token"))
            let session = try await app.makeConnectedSession(token: token, name: Self.hostile)
            let receiver = try await TestReceiver.start()
            let hook = try await app.call(
                .post, "/v1/webhooks", json: ["url": .string(receiver.url), "tenantId": .string(tenantID)], as: .admin)
            #expect(hook.status == .created, "\(hook.text)")
            let inbound = try await app.call(
                .post, "/v1/sessions/\(session)/sandbox/inbound",
                json: ["from": "4915112345678", "text": .string(Self.hostile), "fromName": .string(Self.hostile)], as: .bearer(token))
            #expect(inbound.status.code < 300, "\(inbound.text)")
            let deliveries = try await app.call(.get, "/v1/deliveries?type=message.received", as: .admin)
            let delivery = try #require(deliveries.body["items"]?.arrayValue?.first?["id"]?.intValue)

            let (adminCookie, _) = try await Self.adminLogin(app)
            let pages: [(String, String)] = [
                ("/admin/tenants", adminCookie), ("/admin/tenants/\(tenantID)", adminCookie), ("/admin/sessions", adminCookie),
                ("/admin/deliveries", adminCookie), ("/admin/deliveries/\(delivery)", adminCookie),
                ("/dashboard", cookie), ("/dashboard/sessions/\(session)", cookie), ("/dashboard/deliveries/\(delivery)", cookie),
                ("/dashboard/messages", cookie),
            ]
            for (path, cookie) in pages {
                let page = try await app.call(.get, path, headers: [.cookie: cookie])
                #expect(page.status == .ok, "\(path): \(page.status)")
                #expect(!page.text.contains("<script>alert"), "\(path) carries the raw script")
                #expect(page.text.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#39;q&#39;"), "\(path) shows it as text")
                let policy = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
                #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"))
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            }
            let overview = try await app.call(.get, "/admin", headers: [.cookie: adminCookie])
            #expect(overview.status == .ok && overview.text.contains("Overview"))
            await receiver.stop()
        }
    }

    @Test func anotherTenantsRowsAreNotFoundInTheDashboard() async throws {
        try await TestWharf.run { app in
            let acme = try await app.makeTenant("acme")
            _ = try await app.makeTenant("globex")
            let session = try await app.makeConnectedSession(token: acme.token)
            let (cookie, _) = try await Self.dashboardLogin(app, username: "globex", password: "password-globex")
            let page = try await app.call(.get, "/dashboard/sessions/\(session)", headers: [.cookie: cookie])
            #expect(page.status == .notFound)
            #expect(page.headers[.contentType] == "application/problem+json")
            let svg = try await app.call(.get, "/v1/sessions/\(session)/qr.svg", headers: [.cookie: cookie])
            #expect(svg.status == .notFound)
            let anonymous = try await app.call(.get, "/admin/deliveries")
            #expect(anonymous.status == .seeOther)
            let tenantAsAdmin = try await app.call(.get, "/admin/tenants", headers: [.cookie: cookie])
            #expect(tenantAsAdmin.status == .seeOther, "a tenant's cookie does not open the admin panel")
        }
    }

    @Test func aWebSessionPageOffersPhoneLinkingAndLogoutButASandboxOneDoesNot() async throws {
        // Nothing listens on port 1: the web session stays unlinked, and no test reaches WhatsApp.
        try await TestWharf.run(configure: { $0.webEngine.url = "ws://127.0.0.1:1/ws/chat" }) { app in
            let acme = try await app.makeTenant("acme")
            let web = try await app.call(
                .post, "/v1/sessions", json: ["name": "phone", "engine": "web"], as: .bearer(acme.token))
            #expect(web.status == .created)
            let sandbox = try await app.makeConnectedSession(token: acme.token)
            let (cookie, _) = try await Self.dashboardLogin(app, username: "acme", password: "password-acme")
            let page = try await app.call(.get, "/dashboard/sessions/\(web.string("id") ?? "")", headers: [.cookie: cookie])
            #expect(page.text.contains("data-api=\"/v1/sessions/\(web.string("id") ?? "")/pairing-code\""))
            #expect(page.text.contains("id=\"logout-session\""))
            let toy = try await app.call(.get, "/dashboard/sessions/\(sandbox)", headers: [.cookie: cookie])
            #expect(!toy.text.contains("pairing-code-form"))
        }
    }

    @Test func oneBrowserMayHoldBothConsoles() async throws {
        try await TestWharf.run { app in
            _ = try await app.makeTenant("acme")
            let tenant = try await Self.dashboardLogin(app, username: "acme", password: "password-acme")
            let admin = try await Self.adminLogin(app)
            let both = "\(tenant.cookie); \(admin.cookie)"
            // The CSRF token says which console is calling.
            let asTenant = try await app.call(.post, "/v1/keys", json: ["name": "k"], headers: [.cookie: both, Self.csrfHeader: tenant.csrf])
            #expect(asTenant.status == .created, "\(asTenant.text)")
            let asAdmin = try await app.call(.get, "/v1/tenants", headers: [.cookie: both, Self.csrfHeader: admin.csrf])
            #expect(asAdmin.status == .ok, "\(asAdmin.text)")
            #expect(try await app.call(.get, "/dashboard/settings", headers: [.cookie: both]).status == .ok)
            #expect(try await app.call(.get, "/admin/tenants", headers: [.cookie: both]).status == .ok)
        }
    }

    @Test func linkingSessionServesItsQRCodeAsSVG() async throws {
        try await TestWharf.run { app in
            let acme = try await app.makeTenant("acme")
            let created = try await app.call(
                .post, "/v1/sessions", json: ["name": "s", "sandbox": ["qr": true]], as: .bearer(acme.token))
            let id = try #require(created.string("id"))
            try await app.waitForStatus(id, "scan_qr", token: acme.token)
            let svg = try await app.call(.get, "/v1/sessions/\(id)/qr.svg", as: .bearer(acme.token))
            #expect(svg.status == .ok)
            #expect(svg.headers[.contentType] == "image/svg+xml")
            #expect(svg.text.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
            _ = try await app.call(.post, "/v1/sessions/\(id)/sandbox/scan", as: .bearer(acme.token))
            try await app.waitForStatus(id, "connected", token: acme.token)
            let after = try await app.call(.get, "/v1/sessions/\(id)/qr.svg", as: .bearer(acme.token))
            #expect(after.status == .conflict)
        }
    }
}

@Suite struct QRCodeTests {
    @Test func drawsFinderPatternsAndAQuietZone() throws {
        let code = try QRCode(text: "2@AbC+/=,noise,identity,secret")
        #expect(code.size >= 21 && (code.size - 17) % 4 == 0, "a QR symbol is 17 + 4·version modules wide")
        // The three finder patterns: a dark 7×7 ring with a dark 3×3 centre.
        for (x0, y0) in [(0, 0), (code.size - 7, 0), (0, code.size - 7)] {
            for i in 0..<7 {
                #expect(code.isDark(x: x0 + i, y: y0) && code.isDark(x: x0, y: y0 + i))
                #expect(code.isDark(x: x0 + i, y: y0 + 6) && code.isDark(x: x0 + 6, y: y0 + i))
            }
            #expect(!code.isDark(x: x0 + 1, y: y0 + 1))
            #expect(code.isDark(x: x0 + 3, y: y0 + 3))
        }
        let svg = code.svg(border: 4)
        #expect(svg.contains("viewBox=\"0 0 \(code.size + 8) \(code.size + 8)\""))
        #expect(svg.contains("M4 4h7v1h-7z"), "the top-left finder's first row is one run, offset by the quiet zone")
    }

    @Test func refusesEmptyAndOverlongText() {
        #expect(throws: QRCode.Failure.empty) { try QRCode(text: "") }
        #expect(throws: QRCode.Failure.self) { try QRCode(text: String(repeating: "x", count: 4000)) }
    }
}
