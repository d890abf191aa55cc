import Foundation
import PeerSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// One-to-one messaging of the native engine through the fake server's relay, with pyaileys (an
/// independent WhatsApp Web client with its own Signal code) as the contact and as another device
/// of the user's own account.
@Suite(.serialized) struct WebMessagingTests {
    static let phone = "491701234567"
    static let contactPhone = "4915550002"

    /// A linked, connected engine with its recorder.
    struct Linked {
        let server: FakeWhatsApp
        let engine: WebEngine
        let recorder: EngineRecorder
        let credentials: MemoryCredentials
        let device: String
    }

    func link(_ server: FakeWhatsApp, clock: any WharfClock = SystemClock()) async throws -> Linked {
        let credentials = MemoryCredentials()
        let engine = WebEngine(configuration: server.configuration, credentials: credentials, clock: clock)
        let recorder = EngineRecorder(engine, credentials: credentials)
        try await engine.connect()
        let qr = try await recorder.wait("a QR code") { recorder in
            recorder.statuses.lazy.compactMap { if case .qr(let qr) = $0 { qr } else { nil } }.first
        }
        let scan = try await server.control("POST", "/scan", ["qr": qr, "phone": Self.phone])
        #expect(scan.status == 200, "scan: \(scan.json)")
        try await recorder.waitConnected()
        return Linked(server: server, engine: engine, recorder: recorder, credentials: credentials, device: scan.json["jid"] as? String ?? "")
    }

    /// A pyaileys client logged in to the fake server as `phone` (a contact, or with Wharf's own
    /// number a companion of its account).
    func contact(_ server: FakeWhatsApp, phone: String = contactPhone, name: String = "Bob") throws -> JSONPeer {
        let words = server.url
        return try JSONPeer(
            "wa_contact.py",
            ["--control", server.controlURL, "--ws", words, "--root", server.rootKey.hex, "--phone", phone, "--push-name", name])
    }

    @Test func textBothWaysWithRepliesReceiptsAndTyping() async throws {
        let server = try FakeWhatsApp()
        let wharf = try await link(server)
        defer { Task { await wharf.engine.shutdown() } }
        let bob = try contact(server)
        let chat = "\(Self.phone)@s.whatsapp.net"

        // Bob writes first: Wharf decrypts his pkmsg and reports the exact text with his name.
        let sent = try bob.call(["op": "send_text", "to": chat, "text": "Hello Wharf 👋"])
        let bobMessageID = try #require(sent["id"] as? String)
        let received = try await wharf.recorder.wait("Bob's message") { $0.messages.first { $0.id == bobMessageID } }
        #expect(received.text == "Hello Wharf 👋")
        #expect(received.from == Self.contactPhone)
        #expect(received.fromName == "Bob")
        #expect(received.chat.rawValue == "\(Self.contactPhone)@s.whatsapp.net")
        #expect(!received.isFromMe)

        // Wharf answers, quoting him: pyaileys decrypts exactly that text and the quote.
        let reply = try await wharf.engine.send(
            OutboundMessage(
                clientMessageID: "3EB0REPLY0001", chat: ChatID("\(Self.contactPhone)@s.whatsapp.net"), content: .text("Hi Bob, got it"),
                replyTo: bobMessageID))
        #expect(reply.messageID == "3EB0REPLY0001")
        let answer = try bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0REPLY0001"]])
        let item = try #require((answer["items"] as? [[String: Any]])?.first)
        #expect(item["text"] as? String == "Hi Bob, got it")
        #expect(item["quotedId"] as? String == bobMessageID)
        #expect(item["quotedText"] as? String == "Hello Wharf 👋")

        // A second message goes out as a plain msg in the established session.
        _ = try await wharf.engine.send(
            OutboundMessage(clientMessageID: "3EB0PLAIN0002", chat: ChatID("\(Self.contactPhone)@s.whatsapp.net"), content: .text("and again")))
        let second = try bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0PLAIN0002"]])
        #expect((second["items"] as? [[String: Any]])?.first?["encTypes"] as? [String] == ["msg"])

        // Bob's delivery receipt (pyaileys sends it by itself) and his read receipt become acks.
        try bob.call(["op": "receipt", "ids": ["3EB0REPLY0001"], "type": "read"])
        let levels = try await wharf.recorder.wait("receipts") { recorder -> Set<MessageReceipt.Level>? in
            let levels = Set(recorder.inbound.compactMap { event -> MessageReceipt.Level? in
                if case .receipt(let receipt) = event, receipt.messageID == "3EB0REPLY0001" { receipt.level } else { nil }
            })
            return levels.isSuperset(of: [.delivered, .read]) ? levels : nil
        }
        #expect(levels.contains(.read))

        // Typing shows on Bob's side as chat state.
        try await wharf.engine.setPresence(.composing, in: ChatID("\(Self.contactPhone)@s.whatsapp.net"), answering: nil)
        try await wharf.engine.setPresence(.paused, in: ChatID("\(Self.contactPhone)@s.whatsapp.net"), answering: nil)
        let states = try bob.call(["op": "wait", "for": "chatstate", "count": 2])
        #expect((states["items"] as? [[String: Any]])?.compactMap { $0["state"] as? String } == ["composing", "paused"])

        // Wharf's read receipt reaches Bob.
        try await wharf.engine.markRead(chat: ChatID("\(Self.contactPhone)@s.whatsapp.net"), messageIDs: [bobMessageID])
        let read = try bob.call(["op": "wait", "for": "receipt", "match": ["id": bobMessageID, "type": "read"]])
        #expect((read["items"] as? [[String: Any]])?.isEmpty == false)
    }
}
