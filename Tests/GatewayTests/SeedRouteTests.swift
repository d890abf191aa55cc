import Foundation
import HTTPTypes
import Testing
import WharfCore

@testable import Gateway

/// Every route the seed (the Node.js service) had, with the shapes its users sent.
@Suite struct SeedRouteTests {
    @Test func tenantLifecycleThroughTheSeedRoutes() async throws {
        try await TestWharf.run { app in
            let created = try await app.call(
                .post, "/api/tenants",
                json: [
                    "name": "Acme", "username": "acme", "password": "password-acme", "webhookUrl": "https://hooks.example.com/wa",
                    "maxSessions": 2, "settings": ["aiPrompt": "Be brief."],
                ], as: .admin)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.string("id"))
            #expect(created.string("webhookUrl") == "https://hooks.example.com/wa")
            #expect(created["settings"]?["aiPrompt"]?.stringValue == "Be brief.")
            #expect(created["password"] == nil && !created.text.contains("$2b$"))

            let updated = try await app.call(
                .put, "/api/tenants/\(id)", json: ["name": "Acme Ltd", "maxSessions": 5], as: .admin)
            #expect(updated.status == .ok)
            #expect(updated.string("name") == "Acme Ltd")
            #expect(updated["maxSessions"]?.intValue == 5)

            let login = try await app.call(.post, "/api/login", json: ["username": "acme", "password": "password-acme"])
            let token = try #require(login.string("token"))

            let session = try await app.call(.post, "/sessions", json: ["name": "Sales"], as: .bearer(token))
            #expect(session.status == .created)
            let sessionID = try #require(session.string("id"))
            try await app.waitForStatus(sessionID, "connected", token: token)

            let renamed = try await app.call(.put, "/api/sessions/\(sessionID)/name", json: ["name": "Sales 2"], as: .bearer(token))
            #expect(renamed.string("name") == "Sales 2")

            let status = try await app.call(.get, "/api/tenant/status", as: .bearer(token))
            #expect(status["tenant"]?["maxSessions"]?.intValue == 5)
            #expect(status["sessions"]?.arrayValue?.first?["name"]?.stringValue == "Sales 2")

            let settings = try await app.call(.put, "/user/settings", json: ["aiPrompt": "Be kind."], as: .bearer(token))
            #expect(settings["settings"]?["aiPrompt"]?.stringValue == "Be kind.")
            let wrapped = try await app.call(
                .put, "/user/settings", json: ["settings": ["language": "de"]], as: .bearer(token))
            #expect(wrapped["settings"]?["aiPrompt"]?.stringValue == "Be kind.")
            #expect(wrapped["settings"]?["language"]?.stringValue == "de")

            let dashboard = try await app.call(.get, "/api/dashboard-data", as: .admin)
            let entry = try #require(dashboard["tenants"]?.arrayValue?.first)
            #expect(entry["id"]?.stringValue == id)
            #expect(entry["sessions"]?.arrayValue?.count == 1)

            let deleted = try await app.call(.delete, "/api/sessions/\(sessionID)", as: .admin)
            #expect(deleted.status == .ok)
            #expect(try await app.wharf.store.session(id: sessionID, scope: .everything) == nil)

            let again = try await app.call(.post, "/sessions", json: ["name": "Again"], as: .bearer(token))
            let againID = try #require(again.string("id"))
            #expect(try await app.call(.delete, "/api/tenants/\(id)", as: .admin).status == .ok)
            #expect(try await app.wharf.store.session(id: againID, scope: .everything) == nil)
            #expect(await app.wharf.sessions.engine(for: againID) == nil)
            #expect(try await app.call(.get, "/api/tenant/status", as: .bearer(token)).status == .unauthorized)
        }
    }

    @Test func tenantPasswordResetAndUsernameConflicts() async throws {
        try await TestWharf.run { app in
            let first = try await app.makeTenant("jules")
            _ = try await app.makeTenant("kim")
            let clash = try await app.call(
                .post, "/api/tenants", json: ["name": "X", "username": "JULES", "password": "password-x"], as: .admin)
            #expect(clash.status == .conflict)
            let rename = try await app.call(.put, "/api/tenants/\(first.id)", json: ["username": "kim"], as: .admin)
            #expect(rename.status == .conflict)
            let reset = try await app.call(
                .post, "/v1/tenants/\(first.id)/password", json: ["password": "a-new-password"], as: .admin)
            #expect(reset.status == .noContent)
            let old = try await app.call(.post, "/api/login", json: ["username": "jules", "password": "password-jules"])
            #expect(old.status == .unauthorized)
            let new = try await app.call(.post, "/api/login", json: ["username": "jules", "password": "a-new-password"])
            #expect(new.status == .ok)
        }
    }

    @Test func tenantsCannotUseAdminSeedRoutes() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("sneaky")
            for (method, path) in [
                (HTTPRequest.Method.post, "/api/tenants"), (.put, "/api/tenants/\(tenant.id)"),
                (.delete, "/api/tenants/\(tenant.id)"), (.get, "/api/dashboard-data"),
            ] {
                let reply = try await app.call(method, path, json: ["name": "x"], as: .bearer(tenant.token))
                #expect(reply.status == .forbidden, "\(method) \(path)")
            }
        }
    }
}
