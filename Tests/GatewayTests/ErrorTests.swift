import Foundation
import HTTPTypes
import Testing
import WharfCore

@testable import Gateway

@Suite struct ErrorTests {
    @Test func malformedAndMistypedBodiesNameTheProblem() async throws {
        try await TestWharf.run { app in
            let broken = try await app.call(.post, "/v1/tenants", raw: "{\"name\": ", as: .admin)
            #expect(broken.status == .badRequest)
            #expect(broken.headers[.contentType] == "application/problem+json")
            #expect(broken.string("detail") == "the request body is not valid JSON")
            #expect(broken["status"]?.intValue == 400)

            let mistyped = try await app.call(
                .post, "/v1/tenants", json: ["name": "X", "username": "xx-x", "password": "password-x", "maxSessions": "three"],
                as: .admin)
            #expect(mistyped.status == .badRequest)
            #expect(mistyped.string("field") == "maxSessions")
            #expect(mistyped.string("detail") == "field 'maxSessions' must be an integer")

            let missing = try await app.call(.post, "/v1/tenants", json: ["name": "X"], as: .admin)
            #expect(missing.string("detail") == "field 'username' is required")

            let empty = try await app.call(.post, "/v1/login", as: .none)
            #expect(empty.status == .badRequest)
            #expect(empty.string("detail")?.contains("empty") == true)

            let badSettings = try await app.call(
                .post, "/v1/tenants", json: ["name": "X", "username": "xx-x", "password": "password-x", "settings": [1, 2]],
                as: .admin)
            #expect(badSettings.status == .unprocessableContent)
            #expect(badSettings.string("field") == "settings")
        }
    }

    /// Found by schemathesis and a reading of the handlers.
    @Test func refusedFieldsChangeNothingAndOddInputIsHandled() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("careful")
            let before = try await app.call(.get, "/v1/tenants/\(tenant.id)", as: .admin)
            let refused = try await app.call(
                .patch, "/v1/tenants/\(tenant.id)", json: ["webhookUrl": "https://hooks.example.com/new", "maxSessions": -5], as: .admin)
            #expect(refused.status == .unprocessableContent)
            let after = try await app.call(.get, "/v1/tenants/\(tenant.id)", as: .admin)
            #expect(after.string("webhookUrl") == before.string("webhookUrl"))
            #expect(try await app.call(.get, "/v1/webhooks", as: .bearer(tenant.token))["items"]?.arrayValue?.isEmpty == true)

            for text in ["nan|x", "inf|x"] {
                let cursor = Data(text.utf8).base64EncodedString()
                let reply = try await app.call(.get, "/v1/sessions?cursor=\(cursor)", as: .bearer(tenant.token))
                #expect(reply.status == .badRequest && reply.string("field") == "cursor")
            }

            let bare = try await app.call(.post, "/v1/keys", as: .bearer(tenant.token))
            #expect(bare.status == .created)
            #expect(bare.string("name") == "API key")
        }
    }

    @Test func oversizedBodiesGet413() async throws {
        try await TestWharf.run { app in
            let big = String(repeating: "a", count: 70 * 1024)
            let reply = try await app.call(.post, "/v1/tenants", json: ["name": .string(big)], as: .admin)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.headers[.contentType] == "application/problem+json")
            #expect(reply.string("detail")?.contains("MAX_BODY_BYTES") == true)
        }
    }

    @Test func unknownRoutesAndIdsGetProblem404s() async throws {
        try await TestWharf.run { app in
            let route = try await app.call(.get, "/v1/nothing-here", as: .admin)
            #expect(route.status == .notFound)
            #expect(route.headers[.contentType] == "application/problem+json")
            let tenant = try await app.call(.get, "/v1/tenants/ten_missing", as: .admin)
            #expect(tenant.status == .notFound)
            #expect(tenant.string("detail") == "tenant 'ten_missing' was not found")
            let session = try await app.call(.get, "/v1/sessions/ses_missing", as: .admin)
            #expect(session.status == .notFound)
        }
    }

    @Test func privateWebhookTargetsAreRefusedUnlessAllowListed() async throws {
        try await TestWharf.run { app in
            for url in ["http://127.0.0.1:9000/hook", "http://169.254.169.254/latest", "http://[::1]/x", "http://localhost/x"] {
                let reply = try await app.call(
                    .post, "/v1/tenants",
                    json: ["name": "X", "username": "xx-x", "password": "password-x", "webhookUrl": .string(url)], as: .admin)
                #expect(reply.status == .unprocessableContent, "\(url)")
                #expect(reply.string("detail")?.contains("OUTBOUND_ALLOW") == true, "\(url)")
            }
            let scheme = try await app.call(
                .post, "/v1/tenants",
                json: ["name": "X", "username": "xx-x", "password": "password-x", "webhookUrl": "file:///etc/passwd"],
                as: .admin)
            #expect(scheme.status == .unprocessableContent)
        }
        try await TestWharf.run(configure: { $0.outboundPolicy = try! .init(allowing: ["127.0.0.0/8"]) }) { app in
            let reply = try await app.call(
                .post, "/v1/tenants",
                json: ["name": "X", "username": "xx-x", "password": "password-x", "webhookUrl": "http://127.0.0.1:9000/hook"],
                as: .admin)
            #expect(reply.status == .created)
        }
    }

    @Test func healthAndReadiness() async throws {
        try await TestWharf.run { app in
            let health = try await app.call(.get, "/health")
            let ready = try await app.call(.get, "/ready")
            #expect(health.string("status") == "ok")
            #expect(ready.string("status") == "ready")
        }
    }
}
