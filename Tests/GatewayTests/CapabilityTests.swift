import Foundation
import Testing
import WharfCore

@testable import Gateway

/// Requests are checked against what the session's engine can do, when they are accepted.
@Suite struct CapabilityTests {
    @Test func aTypeTheEngineCannotSendIsRefusedUpFrontAndGroupsAndTextAreTaken() async throws {
        try await TestWharf.run(configure: { $0.webEngine.url = "ws://127.0.0.1:9/ws/chat" }) { app in
            let tenant = try await app.makeTenant("capable")
            // Stickers are the web engine's only: the sandbox refuses one before fetching anything.
            let sandbox = try await app.call(.post, "/v1/sessions", json: ["name": "try", "engine": "sandbox"], as: .bearer(tenant.token))
            let trial = try #require(sandbox.string("id"))
            let sticker = try await app.call(
                .post, "/v1/sessions/\(trial)/messages",
                json: ["chatId": "4915100000001", "mediaUrl": "https://example.com/a.webp", "type": "sticker"],
                as: .bearer(tenant.token))
            #expect(sticker.status == .unprocessableContent)
            #expect(
                sticker.string("detail")
                    == "the sandbox engine cannot send sticker messages yet; it sends: text, image, video, audio, voice, document, reaction, location, contact, poll, edit, revoke"
            )
            let created = try await app.call(.post, "/v1/sessions", json: ["name": "phone", "engine": "web"], as: .bearer(tenant.token))
            let session = try #require(created.string("id"))
            let group = try await app.call(
                .post, "/v1/sessions/\(session)/messages", json: ["chatId": "1203630000000000@g.us", "text": "hi"], as: .bearer(tenant.token))
            #expect(group.status == .accepted, "the web engine sends to groups: \(group.text)")
            let text = try await app.call(
                .post, "/v1/sessions/\(session)/messages", json: ["chatId": "4915100000001", "text": "hi"], as: .bearer(tenant.token))
            #expect(text.status == .accepted, "\(text.text)")
        }
    }
}
