import Foundation
import HTTPTypes
import Testing
import WharfCore

@testable import Gateway

/// For every tenant-scoped route: tenant B's credentials against tenant A's ids answer 404 (never
/// 403, never data), and A's things are left as they were.
@Suite struct IsolationTests {
    @Test func tenantBCannotSeeOrTouchTenantAsResources() async throws {
        try await TestWharf.run { app in
            let a = try await app.makeTenant("alpha")
            let b = try await app.makeTenant("bravo")
            let sessionA = try await app.makeConnectedSession(token: a.token)
            let keyA = try #require(
                try await app.call(.post, "/v1/keys", json: ["name": "a"], as: .bearer(a.token)).string("id"))
            let keyB = try #require(
                try await app.call(.post, "/v1/keys", json: ["name": "b"], as: .bearer(b.token)).string("key"))
            let webhookA = try #require(
                try await app.call(.post, "/v1/webhooks", json: ["url": "https://hooks.example.com/a"], as: .bearer(a.token)).string("id"))
            _ = try await app.call(
                .post, "/v1/sessions/\(sessionA)/sandbox/inbound", json: ["from": "4915112345678", "text": "x"], as: .bearer(a.token))
            let deliveryA = try #require(
                try await app.call(.get, "/v1/deliveries", as: .bearer(a.token))["items"]?.arrayValue?.first?["id"]?.intValue)
            let jobA = try #require(
                try await app.call(
                    .post, "/v1/sessions/\(sessionA)/messages", json: ["chatId": "4915112345678", "text": "x"], as: .bearer(a.token)
                ).string("jobId"))

            let routes: [(HTTPRequest.Method, String, JSONValue?)] = [
                (.get, "/v1/sessions/\(sessionA)", nil),
                (.patch, "/v1/sessions/\(sessionA)", ["name": "stolen"]),
                (.delete, "/v1/sessions/\(sessionA)", nil),
                (.post, "/v1/sessions/\(sessionA)/restart", nil),
                (.get, "/v1/sessions/\(sessionA)/qr", nil),
                (.post, "/v1/sessions/\(sessionA)/sandbox/inbound", ["from": "4915112345678", "text": "x"]),
                (.get, "/v1/sessions/\(sessionA)/sandbox/sent", nil),
                (.post, "/v1/sessions/\(sessionA)/sandbox/scan", nil),
                (.post, "/v1/sessions/\(sessionA)/sandbox/disconnect", nil),
                (.delete, "/api/sessions/\(sessionA)", nil),
                (.put, "/api/sessions/\(sessionA)/name", ["name": "stolen"]),
                (.delete, "/v1/keys/\(keyA)", nil),
                (.post, "/v1/sessions/\(sessionA)/messages", ["chatId": "4915112345678", "text": "x"]),
                (.post, "/sessions/\(sessionA)/send", ["chatId": "4915112345678", "text": "x"]),
                (.get, "/v1/sessions/\(sessionA)/jobs", nil),
                (.get, "/v1/jobs/\(jobA)", nil),
                (.post, "/v1/jobs/\(jobA)/cancel", nil),
                (.get, "/v1/webhooks/\(webhookA)", nil),
                (.patch, "/v1/webhooks/\(webhookA)", ["url": "https://evil.example.com/x"]),
                (.delete, "/v1/webhooks/\(webhookA)", nil),
                (.post, "/v1/webhooks/\(webhookA)/rotate", nil),
                (.get, "/v1/webhooks/\(webhookA)/secret", nil),
                (.post, "/v1/webhooks/\(webhookA)/test", nil),
                (.post, "/v1/webhooks/\(webhookA)/enable", nil),
                (.get, "/v1/deliveries/\(deliveryA)", nil),
                (.post, "/v1/deliveries/\(deliveryA)/retry", nil),
                (.post, "/v1/deliveries/\(deliveryA)/discard", nil),
            ]
            for credential in [b.token, keyB] {
                for (method, path, body) in routes {
                    let reply = try await app.call(method, path, json: body, as: .bearer(credential))
                    #expect(reply.status == .notFound, "\(method) \(path) answered \(reply.status.code)")
                    #expect(reply.headers[.contentType] == "application/problem+json")
                    #expect(!reply.text.contains("alpha"))
                }
            }
            let listB = try await app.call(.get, "/v1/sessions", as: .bearer(b.token))
            #expect(listB["items"]?.arrayValue?.isEmpty == true)
            let session = try await app.call(.get, "/v1/sessions/\(sessionA)", as: .bearer(a.token))
            #expect(session.string("name") == "main")
            #expect(session.string("status") == "connected")
            #expect(try await app.call(.get, "/v1/keys", as: .bearer(a.token))["items"]?.arrayValue?.count == 1)
            let statusB = try await app.call(.get, "/api/tenant/status", as: .bearer(b.token))
            #expect(statusB["sessions"]?.arrayValue?.isEmpty == true)
            #expect(try await app.call(.get, "/v1/webhooks", as: .bearer(b.token))["items"]?.arrayValue?.isEmpty == true)
            #expect(try await app.call(.get, "/v1/deliveries", as: .bearer(b.token))["items"]?.arrayValue?.isEmpty == true)
            let bulk = try await app.call(
                .post, "/v1/deliveries/replay", json: ["from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"], as: .bearer(b.token))
            #expect(bulk["count"]?.intValue == 0)
            #expect(try await app.call(.get, "/v1/webhooks/\(webhookA)", as: .bearer(a.token)).string("url") == "https://hooks.example.com/a")
            #expect(try await app.call(.get, "/v1/jobs/\(jobA)", as: .bearer(a.token)).status == .ok)
        }
    }
}
