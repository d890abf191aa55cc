import Foundation
import HTTPTypes
import Testing
import WharfCore

@testable import Gateway

@Suite struct AdminAuthTests {
    @Test func jsonLoginSetsAStrictHttpOnlyCookieThatAuthenticates() async throws {
        try await TestWharf.run { app in
            let login = try await app.call(.post, "/admin/login", json: ["password": .string(TestWharf.adminPassword)])
            #expect(login.status == .ok)
            let cookie = try #require(login.headers[.setCookie])
            #expect(cookie.contains("wharf_admin="))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            #expect(!cookie.contains("Secure"))
            let value = String(cookie.split(separator: ";")[0])
            let data = try await app.call(.get, "/api/dashboard-data", headers: [.cookie: value])
            #expect(data.status == .ok, "\(data.text)")
            #expect(data["tenants"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func secureCookieWhenPublicURLIsHTTPS() async throws {
        try await TestWharf.run(configure: { $0.publicURL = URL(string: "https://wharf.example.com") }) { app in
            let login = try await app.call(.post, "/admin/login", json: ["password": .string(TestWharf.adminPassword)])
            #expect(login.headers[.setCookie]?.contains("Secure") == true)
        }
    }

    @Test func wrongPasswordIsRefusedAndRepeatedFailuresLockOut() async throws {
        try await TestWharf.run { app in
            for _ in 0..<5 {
                let reply = try await app.call(.post, "/admin/login", json: ["password": "wrong password"])
                #expect(reply.status == .unauthorized)
                #expect(reply.headers[.contentType] == "application/problem+json")
            }
            let locked = try await app.call(.post, "/admin/login", json: ["password": .string(TestWharf.adminPassword)])
            #expect(locked.status == .tooManyRequests)
            #expect(locked.headers[.retryAfter] != nil)
            app.clock.advance(by: .seconds(15 * 60 + 1))
            let again = try await app.call(.post, "/admin/login", json: ["password": .string(TestWharf.adminPassword)])
            #expect(again.status == .ok)
        }
    }

    @Test func formLoginNeedsTheLoginPagesCSRFToken() async throws {
        try await TestWharf.run { app in
            let page = try await app.call(.get, "/admin")
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.headers[HTTPField.Name("Content-Security-Policy")!] != nil)
            let setCookie = try #require(page.headers[.setCookie])
            let csrf = String(setCookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1)[1])
            #expect(page.text.contains("value=\"\(csrf)\""))
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let missing = try await app.call(
                .post, "/admin/login", raw: "password=\(TestWharf.adminPassword.replacingOccurrences(of: " ", with: "+"))",
                headers: form)
            #expect(missing.status == .forbidden)
            var withCookie = form
            withCookie[.cookie] = "wharf_admin_login=\(csrf)"
            let ok = try await app.call(
                .post, "/admin/login",
                raw: "_csrf=\(csrf)&password=\(TestWharf.adminPassword.replacingOccurrences(of: " ", with: "+"))",
                headers: withCookie)
            #expect(ok.status == .seeOther)
            #expect(ok.headers[.location] == "/admin")
        }
    }

    @Test func cookieWritesNeedCSRFAndLogoutKillsTheSession() async throws {
        try await TestWharf.run { app in
            let login = try await app.call(.post, "/admin/login", json: ["password": .string(TestWharf.adminPassword)])
            let cookie = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
            let csrf = try #require(login.string("csrfToken"))
            let tenant: JSONValue = [
                "name": "Acme", "username": "acme", "password": "password-acme",
            ]
            let noToken = try await app.call(.post, "/api/tenants", json: tenant, headers: [.cookie: cookie])
            #expect(noToken.status == .forbidden)
            let created = try await app.call(
                .post, "/api/tenants", json: tenant, headers: [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf])
            #expect(created.status == .created, "\(created.text)")

            let logout = try await app.call(
                .post, "/admin/logout", headers: [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf])
            #expect(logout.status == .noContent)
            let after = try await app.call(.get, "/api/dashboard-data", headers: [.cookie: cookie])
            #expect(after.status == .unauthorized)
        }
    }

    @Test func adminAPIKeyWorksAndTenantsAreNotAdmins() async throws {
        try await TestWharf.run { app in
            #expect(try await app.call(.get, "/v1/tenants", as: .admin).status == .ok)
            #expect(try await app.call(.get, "/v1/tenants", as: .bearer("not-the-key")).status == .unauthorized)
            let tenant = try await app.makeTenant("bob")
            #expect(try await app.call(.get, "/v1/tenants", as: .bearer(tenant.token)).status == .forbidden)
            #expect(try await app.call(.get, "/v1/tenants").status == .unauthorized)
        }
    }
}

@Suite struct TenantAuthTests {
    @Test func loginSucceedsFailsAndLocksOut() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("carol")
            #expect(!tenant.token.isEmpty)
            let me = try await app.call(.get, "/v1/me", as: .bearer(tenant.token))
            #expect(me["tenant"]?["id"]?.stringValue == tenant.id)
            for _ in 0..<5 {
                let bad = try await app.call(.post, "/api/login", json: ["username": "carol", "password": "nope-nope"])
                #expect(bad.status == .unauthorized)
                #expect(bad.string("detail") == "wrong username or password")
            }
            let locked = try await app.call(.post, "/api/login", json: ["username": "carol", "password": "password-carol"])
            #expect(locked.status == .tooManyRequests)
            app.clock.advance(by: .seconds(901))
            let ok = try await app.call(.post, "/api/login", json: ["username": "carol", "password": "password-carol"])
            #expect(ok.status == .ok)
            #expect(ok.string("token") != nil)
        }
    }

    @Test func unknownUserFailsLikeAWrongPassword() async throws {
        try await TestWharf.run { app in
            let reply = try await app.call(.post, "/api/login", json: ["username": "nobody", "password": "whatever1"])
            #expect(reply.status == .unauthorized)
            #expect(reply.string("detail") == "wrong username or password")
        }
    }

    @Test func expiredTokenIsRefused() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("dave")
            #expect(try await app.call(.get, "/v1/me", as: .bearer(tenant.token)).status == .ok)
            app.clock.advance(by: .seconds(12 * 3600 + 1))
            let expired = try await app.call(.get, "/v1/me", as: .bearer(tenant.token))
            #expect(expired.status == .unauthorized)
            #expect(expired.string("detail")?.contains("expired") == true)
        }
    }

    @Test func tamperedTokenIsRefused() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("erin")
            let other = try await app.makeTenant("frank")
            let parts = tenant.token.split(separator: ".").map(String.init)
            // Frank's claims under Erin's signature, and Erin's token with a flipped signature byte.
            let otherClaims = other.token.split(separator: ".").map(String.init)[1]
            let swapped = [parts[0], otherClaims, parts[2]].joined(separator: ".")
            var signature = Array(parts[2])
            signature[4] = signature[4] == "A" ? "B" : "A"
            let flipped = [parts[0], parts[1], String(signature)].joined(separator: ".")
            for token in [swapped, flipped, "not.a.jwt"] {
                #expect(try await app.call(.get, "/v1/me", as: .bearer(token)).status == .unauthorized)
            }
        }
    }

    @Test func jwtSignedWithAnotherSecretIsRefused() async throws {
        let clock = ManualClock()
        let forger = await TokenIssuer(secret: String(repeating: "x", count: 40), lifetime: .seconds(3600), clock: clock)
        try await TestWharf.run(clock: clock) { app in
            let tenant = try await app.makeTenant("gina")
            let forged = try await forger.issue(userID: "usr_x", tenantID: tenant.id).token
            #expect(try await app.call(.get, "/v1/me", as: .bearer(forged)).status == .unauthorized)
        }
    }

    @Test func apiKeysAreShownOnceStoredHashedAndRevocable() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("hank")
            let created = try await app.call(.post, "/v1/keys", json: ["name": "n8n"], as: .bearer(tenant.token))
            #expect(created.status == .created)
            let key = try #require(created.string("key"))
            #expect(key.hasPrefix("wharf_sk_"))
            let keyID = try #require(created.string("id"))

            let list = try await app.call(.get, "/v1/keys", as: .bearer(tenant.token))
            let listed = try #require(list["items"]?.arrayValue?.first)
            #expect(listed["key"] == nil)
            #expect(key.hasPrefix(listed["prefix"]?.stringValue ?? "?"))

            let stored = try await app.wharf.store.keys(tenantID: tenant.id)
            #expect(stored.count == 1)
            #expect(stored[0].keyHash != key && !stored[0].keyHash.contains(key))

            let me = try await app.call(.get, "/v1/me", as: .bearer(key))
            #expect(me["tenant"]?["id"]?.stringValue == tenant.id)

            #expect(try await app.call(.delete, "/v1/keys/\(keyID)", as: .bearer(tenant.token)).status == .noContent)
            let revoked = try await app.call(.get, "/v1/me", as: .bearer(key))
            #expect(revoked.status == .unauthorized)
            #expect(revoked.string("detail")?.contains("revoked") == true)
        }
    }

    @Test func queryTokenWorksOnSeedRoutesOnly() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("ivy")
            #expect(try await app.call(.get, "/api/tenant/status?token=\(tenant.token)").status == .ok)
            #expect(try await app.call(.get, "/v1/me?token=\(tenant.token)").status == .unauthorized)
        }
    }
}
