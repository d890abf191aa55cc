import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// Contact look-ups and presence: on a linked phone (usync `contact`, `w:profile:picture`, the
/// push names seen) and on the sandbox.
@Suite(.serialized) struct ContactTests {
    let web = WebMessagingGatewayTests()

    @Test func numbersAreLookedUpWithTheirNamesAndPictures() async throws {
        guard FileManager.default.isExecutableFile(atPath: CrashTests.binary) else {
            Issue.record("build the wharf executable first (swift build --build-tests): \(CrashTests.binary)")
            return
        }
        let server = try await FakeWhatsApp()
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let setup = try await web.setUp(server, receiver: receiver)
        defer { if setup.child.process.isRunning { setup.child.kill() } }
        let bob = try await web.contact(server)
        let bobPhone = WebMessagingGatewayTests.contactPhone
        _ = try await server.control("POST", "/picture", ["phone": bobPhone, "url": "https://pps.whatsapp.net/v/t61/bob.jpg"])
        let sent = try await bob.call(["op": "send_text", "to": "\(WebMessagingGatewayTests.phone)@s.whatsapp.net", "text": "hi"])
        let sentID = try #require(sent["id"] as? String)
        _ = try await waitFor("Bob's message") { receiver.requests.first { ($0.json?["data"] as? [String: Any])?["id"] as? String == sentID } }
        let base = "/v1/sessions/\(setup.session)"

        let one = try await setup.child.call("GET", "\(base)/contacts/+\(bobPhone)", token: setup.token)
        #expect(one.status == 200, "\(one.body)")
        #expect(one.body["on_whatsapp"] as? Bool == true && one.body["jid"] as? String == "\(bobPhone)@s.whatsapp.net")
        #expect(one.body["push_name"] as? String == "Bob")
        #expect(one.body["picture_url"] as? String == "https://pps.whatsapp.net/v/t61/bob.jpg")
        let many = try await setup.child.call(
            "POST", "\(base)/contacts/check", json: ["phones": ["+\(bobPhone)", "+4915559999"]], token: setup.token)
        let results = try #require(many.body["results"] as? [[String: Any]])
        #expect(results.map { $0["on_whatsapp"] as? Bool } == [true, false])
        #expect(results[1]["jid"] is NSNull)
        let bad = try await setup.child.call("POST", "\(base)/contacts/check", json: ["phones": ["hello"]], token: setup.token)
        #expect(bad.status == 422 && bad.body["field"] as? String == "phones[0]")

        // Presence: a subscription reaches the server, and the account can go unavailable.
        #expect(try await setup.child.call("POST", "\(base)/presence/subscribe", json: ["chatId": "+\(bobPhone)"], token: setup.token).status == 204)
        #expect(try await setup.child.call("PUT", "\(base)/presence", json: ["available": false], token: setup.token).status == 204)
        let presences = try await waitFor("the presence stanzas") { () -> [[String: Any]]? in
            let seen = try await server.control("GET", "/state").json["presences"] as? [[String: Any]] ?? []
            let wanted = seen.filter { ($0["from"] as? String) == setup.device }
            return wanted.contains { $0["type"] as? String == "subscribe" } && wanted.contains { $0["type"] as? String == "unavailable" }
                ? wanted : nil
        }
        #expect(presences.contains { $0["to"] as? String == "\(bobPhone)@s.whatsapp.net" })
    }

    @Test func theSandboxAnswersLookUpsAndRecordsPresence() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("contacts")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let checked = try await app.call(
                .post, "/v1/sessions/\(session)/contacts/check", json: ["phones": ["+4915100000001", "+9991234567"]], as: .bearer(tenant.token))
            #expect(checked["results"]?.arrayValue?.map { $0["on_whatsapp"] } == [.bool(true), .bool(false)])
            #expect(
                try await app.call(.put, "/v1/sessions/\(session)/presence", json: ["available": true], as: .bearer(tenant.token)).status
                    == .noContent)
            let steps = try await app.call(.get, "/v1/sessions/\(session)/sandbox/sent", as: .bearer(tenant.token))["records"]?.arrayValue ?? []
            #expect(steps.contains { $0["step"]?.stringValue == "availability" && $0["text"]?.stringValue == "available" })
        }
    }

    @Test func theTenantsPresenceSettingHoldsOnEveryConnect() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("presence", settings: ["presence": "unavailable"])
            let session = try await app.makeConnectedSession(token: tenant.token)
            func availability() async throws -> [String] {
                let steps = try await app.call(.get, "/v1/sessions/\(session)/sandbox/sent", as: .bearer(tenant.token))["records"]?.arrayValue ?? []
                return steps.filter { $0["step"]?.stringValue == "availability" }.compactMap { $0["text"]?.stringValue }
            }
            func becomes(_ wanted: [String]) async throws -> Bool {
                try await poll(attempts: 500, every: .milliseconds(10)) { try await availability() == wanted }
            }
            #expect(try await becomes(["unavailable"]))
            // A change applies at once to the running session.
            let changed = try await app.call(.put, "/v1/me/settings", json: ["presence": "available"], as: .bearer(tenant.token))
            #expect(changed.status == .ok, "\(changed.text)")
            #expect(try await becomes(["unavailable", "available"]))
            // A reconnect (a new engine, with a fresh record) applies it again.
            #expect(try await app.call(.post, "/v1/sessions/\(session)/restart", as: .bearer(tenant.token)).status == .accepted)
            #expect(try await becomes(["available"]))
            // A wrong value is refused and changes nothing.
            let refused = try await app.call(.put, "/v1/me/settings", json: ["presence": "busy"], as: .bearer(tenant.token))
            #expect(refused.status == .unprocessableContent)
            #expect(refused.text.contains("settings.presence"))
            let settings = try await app.call(.get, "/v1/me/settings", as: .bearer(tenant.token))
            #expect(settings["settings"]?["presence"]?.stringValue == "available")
        }
    }
}
