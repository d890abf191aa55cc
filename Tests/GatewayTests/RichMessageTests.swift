import Foundation
import TestSupport
import Testing
import WharfCore

@testable import Gateway

/// Reactions, places, contact cards, polls, edits and revokes through the send queue: validated
/// when accepted, kept across the queue, humanized (a reaction is not typed), and refused by an
/// engine that cannot send them.
@Suite struct RichMessageTests {
    let sends = SendTests()

    func records(_ app: TestWharf, session: String, token: String) async throws -> [JSONValue] {
        try await app.call(.get, "/v1/sessions/\(session)/sandbox/sent", as: .bearer(token))["records"]?.arrayValue ?? []
    }

    @Test func eachRichTypeGoesThroughTheQueue() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("rich", settings: ["humanize": ["typingMs": 1000, "pauseMs": 100, "gapMs": 0]])
            let session = try await app.makeConnectedSession(token: tenant.token)
            let chat = "4915112345678@s.whatsapp.net"
            let bodies: [JSONValue] = [
                ["chatId": .string(chat), "type": "reaction", "messageId": "3EB0ABC", "emoji": "👍"],
                ["chatId": .string(chat), "type": "location", "latitude": 52.52, "longitude": 13.405, "name": "Berlin"],
                ["chatId": .string(chat), "type": "contact", "contacts": [["name": "Ana", "phone": "+55 11 91234-5678"]]],
                ["chatId": .string(chat), "type": "poll", "poll": ["name": "Lunch?", "options": ["Pizza", "Sushi"], "selectableCount": 1]],
            ]
            var jobs: [String] = []
            for body in bodies {
                let queued = try await sends.send(app, session: session, token: tenant.token, body: body)
                #expect(queued.status == .accepted, "\(queued.text)")
                jobs.append(try #require(queued.string("jobId")))
            }
            let edit = try await app.call(
                .patch, "/v1/sessions/\(session)/messages/3EB0MINE?chatId=\(chat)", json: ["text": "fixed"], as: .bearer(tenant.token))
            #expect(edit.status == .accepted, "\(edit.text)")
            #expect(edit["payload"]?["messageId"]?.stringValue == "3EB0MINE" && edit.string("type") == "edit")
            let revoke = try await app.call(.delete, "/v1/sessions/\(session)/messages/3EB0MINE?chatId=%2B4915112345678", as: .bearer(tenant.token))
            #expect(revoke.status == .accepted, "\(revoke.text)")
            jobs += [try #require(edit.string("jobId")), try #require(revoke.string("jobId"))]
            let all = jobs
            try await sends.advance(app) {
                for job in all where try await sends.jobStatus(app, job, token: tenant.token) != "sent" { return false }
                return true
            }
            let sent = try await records(app, session: session, token: tenant.token)
            let types = sent.filter { $0["step"]?.stringValue == "send" }.map { $0["type"]?.stringValue ?? "" }
            #expect(types == ["reaction", "location", "contact", "poll", "edit", "revoke"])
            // The reaction, the edit and the revoke were not typed; the place, card and poll were.
            let steps = sent.map { $0["step"]?.stringValue ?? "" }
            #expect(steps.filter { $0 == "composing" }.count == 3, "\(steps)")
            #expect(steps.prefix(1) == ["send"], "a reaction goes out without typing first: \(steps)")
            let card = try #require(sent.first { $0["type"]?.stringValue == "contact" })
            #expect(card["contacts"]?.arrayValue?.first?["vcard"]?.stringValue?.contains("waid=5511912345678") == true)
            let poll = try #require(sent.first { $0["type"]?.stringValue == "poll" })
            #expect(poll["poll"]?["options"]?.arrayValue?.compactMap(\.stringValue) == ["Pizza", "Sushi"])
            let place = try #require(sent.first { $0["type"]?.stringValue == "location" })
            #expect(place["location"]?["name"]?.stringValue == "Berlin")
            #expect(sent.first { $0["type"]?.stringValue == "edit" }?["text"]?.stringValue == "fixed")
        }
    }

    @Test func badRichMessagesAreRefusedWithTheField() async throws {
        try await TestWharf.run { app in
            let tenant = try await app.makeTenant("strict")
            let session = try await app.makeConnectedSession(token: tenant.token)
            let chat: JSONValue = "4915112345678"
            let cases: [(JSONValue, String)] = [
                (["chatId": chat, "type": "reaction", "emoji": "👍"], "messageId"),
                (["chatId": chat, "type": "reaction", "messageId": "X1", "emoji": "not one"], "emoji"),
                (["chatId": chat, "type": "location", "latitude": 91, "longitude": 0], "latitude"),
                (["chatId": chat, "type": "contact", "contacts": []], "contacts"),
                (["chatId": chat, "type": "contact", "contacts": [["name": "x", "phone": "12"]]], "contacts"),
                (["chatId": chat, "type": "poll", "poll": ["name": "q", "options": ["only one"]]], "poll"),
                (["chatId": chat, "type": "poll", "poll": ["name": "q", "options": ["a", "a"]]], "poll"),
                (["chatId": chat, "type": "poll", "poll": ["name": "q", "options": ["a", "b"], "selectableCount": 3]], "poll"),
            ]
            for (body, field) in cases {
                let answer = try await sends.send(app, session: session, token: tenant.token, body: body)
                #expect([.badRequest, .unprocessableContent].contains(answer.status), "\(body): \(answer.text)")
                #expect(answer.string("field") == field, "\(body): \(answer.text)")
            }
            let noChat = try await app.call(.patch, "/v1/sessions/\(session)/messages/X1", json: ["text": "t"], as: .bearer(tenant.token))
            #expect(noChat.status == .badRequest && noChat.string("field") == "chatId")
            let badID = try await app.call(.delete, "/v1/sessions/\(session)/messages/a%20b?chatId=4915112345678", as: .bearer(tenant.token))
            #expect(badID.status == .unprocessableContent)
        }
    }

    @Test func theSandboxDeliversEveryRichEvent() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await TestWharf.run(clock: ManualClock(now: Date()), configure: DeliveryTests.allowLoopback) { app in
            let tenant = try await app.makeTenant("events")
            _ = try await app.call(.post, "/v1/webhooks", json: ["url": .string(receiver.url)], as: .bearer(tenant.token))
            let session = try await app.makeConnectedSession(token: tenant.token)
            let from: JSONValue = "+4915100000001"
            let bodies: [(JSONValue, String)] = [
                (["from": from, "reaction": ["messageId": "3EB0X", "emoji": "🎉"]], "message.reaction"),
                (["from": from, "location": ["latitude": 48.1, "longitude": 11.6, "name": "Munich"]], "message.received"),
                (["from": from, "contact": ["name": "Ana", "phone": "+5511912345678"]], "message.received"),
                (["from": from, "poll": ["name": "Tea?", "options": ["Yes", "No"]]], "message.received"),
                (["from": from, "pollVote": ["pollId": "3EB0P", "options": ["Yes"]]], "poll.vote"),
                (["from": from, "edit": ["messageId": "3EB0E", "text": "new"]], "message.edited"),
                (["from": from, "revoke": ["messageId": "3EB0R"]], "message.revoked"),
            ]
            for (body, _) in bodies {
                let answer = try await app.call(.post, "/v1/sessions/\(session)/sandbox/event", json: body, as: .bearer(tenant.token))
                #expect(answer.status == .created, "\(body): \(answer.text)")
            }
            let types = try await waitFor("every event") { () -> [String]? in
                let seen = receiver.requests.compactMap { $0.json?["type"] as? String }.filter { $0 != "session.status" }
                return seen.count >= bodies.count ? seen : nil
            }
            #expect(Set(types) == Set(bodies.map(\.1)))
            let kinds = receiver.requests.compactMap { $0.json?["data"] as? [String: Any] }.compactMap { $0["type"] as? String }
            #expect(Set(kinds) == ["location", "contact", "poll"])
            let vote = try #require(receiver.requests.first { $0.json?["type"] as? String == "poll.vote" }?.json?["data"] as? [String: Any])
            #expect(vote["options"] as? [String] == ["Yes"] && vote["poll_id"] as? String == "3EB0P")
            let two = try await app.call(
                .post, "/v1/sessions/\(session)/sandbox/event", json: ["from": from, "revoke": ["messageId": "a"], "edit": ["messageId": "b"]],
                as: .bearer(tenant.token))
            #expect(two.status == .unprocessableContent)
        }
    }
}
