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
        }
    }
}
