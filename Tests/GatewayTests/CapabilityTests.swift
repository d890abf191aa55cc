import Foundation
import Testing
import WharfCore

@testable import Gateway

/// Requests are checked against what the session's engine can do, when they are accepted.
@Suite struct CapabilityTests {
    @Test func theWebEngineRefusesMediaAndGroupsUpFrontAndTakesText() async throws {
        try await TestWharf.run(configure: { $0.webEngine.url = "ws://127.0.0.1:9/ws/chat" }) { app in
            let tenant = try await app.makeTenant("capable")
            let created = try await app.call(.post, "/v1/sessions", json: ["name": "phone", "engine": "web"], as: .bearer(tenant.token))
            let session = try #require(created.string("id"))
            let media = try await app.call(
                .post, "/v1/sessions/\(session)/messages",
                json: ["chatId": "4915100000001", "mediaUrl": "https://example.com/a.png", "type": "image"],
                as: .bearer(tenant.token))
            #expect(media.status == .unprocessableContent)
            #expect(media.string("detail") == "the web engine cannot send image messages yet; it sends: text")
            let group = try await app.call(
                .post, "/v1/sessions/\(session)/messages", json: ["chatId": "1203630000000000@g.us", "text": "hi"], as: .bearer(tenant.token))
            #expect(group.status == .unprocessableContent)
            let text = try await app.call(
                .post, "/v1/sessions/\(session)/messages", json: ["chatId": "4915100000001", "text": "hi"], as: .bearer(tenant.token))
            #expect(text.status == .accepted, "\(text.text)")
        }
    }
}
