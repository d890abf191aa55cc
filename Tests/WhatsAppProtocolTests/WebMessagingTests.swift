import Foundation
import PeerSupport
import TestSupport
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

    func link(_ server: FakeWhatsApp, clock: any WharfClock = SystemClock(), media: (any HTTPTransport)? = nil) async throws -> Linked {
        let credentials = MemoryCredentials()
        var configuration = server.configuration
        configuration.media.transport = media
        let engine = WebEngine(configuration: configuration, credentials: credentials, clock: clock)
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
    func contact(_ server: FakeWhatsApp, phone: String = contactPhone, name: String = "Bob") async throws -> JSONPeer {
        let words = server.url
        return try await JSONPeer(
            "wa_contact.py",
            ["--control", server.controlURL, "--ws", words, "--root", server.rootKey.hex, "--phone", phone, "--push-name", name])
    }

    @Test func textBothWaysWithRepliesReceiptsAndTyping() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await link(server)
        defer { Task { await wharf.engine.shutdown() } }
        let bob = try await contact(server)
        let chat = "\(Self.phone)@s.whatsapp.net"

        // Bob writes first: Wharf decrypts his pkmsg and reports the exact text with his name.
        let sent = try await bob.call(["op": "send_text", "to": chat, "text": "Hello Wharf 👋"])
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
        let answer = try await bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0REPLY0001"]])
        let item = try #require((answer["items"] as? [[String: Any]])?.first)
        #expect(item["text"] as? String == "Hi Bob, got it")
        #expect(item["quotedId"] as? String == bobMessageID)
        #expect(item["quotedText"] as? String == "Hello Wharf 👋")

        // A second message goes out as a plain msg in the established session.
        _ = try await wharf.engine.send(
            OutboundMessage(clientMessageID: "3EB0PLAIN0002", chat: ChatID("\(Self.contactPhone)@s.whatsapp.net"), content: .text("and again")))
        let second = try await bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0PLAIN0002"]])
        #expect((second["items"] as? [[String: Any]])?.first?["encTypes"] as? [String] == ["msg"])

        // Bob's delivery receipt (pyaileys sends it by itself) and his read receipt become acks.
        try await bob.call(["op": "receipt", "ids": ["3EB0REPLY0001"], "type": "read"])
        let levels = try await wharf.recorder.wait("receipts") { recorder -> Set<MessageReceipt.Level>? in
            let levels = Set(
                recorder.inbound.compactMap { event -> MessageReceipt.Level? in
                    if case .receipt(let receipt) = event, receipt.messageID == "3EB0REPLY0001" { receipt.level } else { nil }
                })
            return levels.isSuperset(of: [.delivered, .read]) ? levels : nil
        }
        #expect(levels.contains(.read))

        // Typing shows on Bob's side as chat state.
        try await wharf.engine.setPresence(.composing, in: ChatID("\(Self.contactPhone)@s.whatsapp.net"), answering: nil)
        try await wharf.engine.setPresence(.paused, in: ChatID("\(Self.contactPhone)@s.whatsapp.net"), answering: nil)
        let states = try await bob.call(["op": "wait", "for": "chatstate", "count": 2])
        #expect((states["items"] as? [[String: Any]])?.compactMap { $0["state"] as? String } == ["composing", "paused"])

        // Bob typing shows up as a presence update; his mention of Wharf's number arrives with it.
        try await bob.call(["op": "chatstate", "to": chat, "state": "composing"])
        let typing = try await wharf.recorder.wait("Bob typing") { $0.presences.first { $0.presence == "composing" } }
        #expect(typing.from == Self.contactPhone)
        #expect(typing.chat.rawValue == "\(Self.contactPhone)@s.whatsapp.net")
        let mentioning = try await bob.call(["op": "send_text", "to": chat, "text": "ping @\(Self.phone)", "mentions": [chat]])
        let mentionID = try #require(mentioning["id"] as? String)
        let mention = try await wharf.recorder.wait("the mention") { $0.messages.first { $0.id == mentionID } }
        #expect(mention.mentions == [chat])
        // And Wharf's own "@number" in a text is a mention on Bob's side.
        _ = try await wharf.engine.send(
            OutboundMessage(
                clientMessageID: "3EB0MENTION01", chat: ChatID("\(Self.contactPhone)@s.whatsapp.net"), content: .text("hi @\(Self.contactPhone)")))
        let mentioned = try await bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0MENTION01"]])
        #expect((mentioned["items"] as? [[String: Any]])?.first?["mentions"] as? [String] == ["\(Self.contactPhone)@s.whatsapp.net"])

        // Wharf's read receipt reaches Bob.
        try await wharf.engine.markRead(chat: ChatID("\(Self.contactPhone)@s.whatsapp.net"), messageIDs: [bobMessageID])
        let read = try await bob.call(["op": "wait", "for": "receipt", "match": ["id": bobMessageID, "type": "read"]])
        #expect((read["items"] as? [[String: Any]])?.isEmpty == false)
    }

    func items(_ answer: [String: Any]) -> [[String: Any]] { answer["items"] as? [[String: Any]] ?? [] }

    func state(_ server: FakeWhatsApp) async throws -> [String: Any] { try await server.control("GET", "/state").json }

    @Test func offlineMessagesArriveAtLoginAndACommitThatFailsIsDeliveredAgain() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await link(server)
        let bob = try await contact(server)
        let chat = "\(Self.phone)@s.whatsapp.net"
        await wharf.engine.disconnect()
        for index in 1...3 { try await bob.call(["op": "send_text", "to": chat, "text": "offline \(index)", "waitAck": false]) }
        // The first commit after the reconnect fails: nothing may be acknowledged for it, and the
        // engine drops the connection so that WhatsApp delivers again, in order.
        await wharf.recorder.failCommits(1)
        var seen = await wharf.recorder.connections
        try await wharf.engine.connect()
        try await wharf.recorder.waitConnected(after: seen)
        seen += 1
        _ = try await wharf.recorder.wait("the drop after the refused commit") { recorder in
            recorder.statuses.last.flatMap { if case .disconnected = $0 { true } else { nil } }
        }
        try await wharf.engine.connect()
        try await wharf.recorder.waitConnected(after: seen)
        let texts = try await wharf.recorder.wait("the queued messages", seconds: 30) { recorder -> [String]? in
            let texts = recorder.messages.compactMap(\.text)
            return texts.count >= 3 ? texts : nil
        }
        #expect(texts == ["offline 1", "offline 2", "offline 3"])
        // Once each: the refused commit made the server deliver it again, not decrypt it twice.
        #expect(await wharf.recorder.messages.count == 3)
        await wharf.engine.shutdown()
    }

    @Test func messagesTypedOnAnotherDeviceOfTheAccountArriveAsFromMe() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await link(server)
        let bob = try await contact(server)
        let companion = try await contact(server, phone: Self.phone, name: "Me")
        let bobChat = "\(Self.contactPhone)@s.whatsapp.net"
        // The user writes to Bob from the other device: Wharf gets its copy, from_me, in Bob's chat.
        let typed = try await companion.call(["op": "send_text", "to": bobChat, "text": "typed on the phone"])
        let id = try #require(typed["id"] as? String)
        let copy = try await wharf.recorder.wait("the own-device copy") { $0.messages.first { $0.id == id } }
        #expect(copy.isFromMe)
        #expect(copy.chat.rawValue == bobChat)
        #expect(copy.text == "typed on the phone")
        #expect(copy.from == Self.phone)
        // Wharf's sends reach the user's other device too, as sent-from-this-account.
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0SELF0001", chat: ChatID(bobChat), content: .text("from Wharf")))
        let mirrored = try await companion.call(["op": "wait", "for": "message", "match": ["id": "3EB0SELF0001"]])
        let item = try #require(items(mirrored).first)
        #expect(item["deviceSent"] as? Bool == true)
        #expect(item["chat"] as? String == bobChat)
        #expect(item["text"] as? String == "from Wharf")
        await #expect(!items(try bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0SELF0001"]])).isEmpty)
        await wharf.engine.shutdown()
    }

    @Test func aContactOnLIDAddressingIsReachedByPhoneNumberAndReportedWithBoth() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await link(server)
        let bob = try await contact(server)
        let addressing = try await server.control("POST", "/addressing", ["phone": Self.contactPhone, "mode": "lid"])
        let lid = try #require((addressing.json["lid"] as? String).flatMap(JID.init)).user
        let sentID = try await bob.call(["op": "send_text", "to": "\(Self.phone)@s.whatsapp.net", "text": "from my LID"])["id"] as? String
        let message = try await wharf.recorder.wait("the LID message") { $0.messages.first { $0.id == sentID } }
        #expect(message.from == Self.contactPhone)
        #expect(message.fromLID == "\(lid)@lid")
        #expect(message.chat.rawValue == "\(Self.contactPhone)@s.whatsapp.net")
        // Answering the phone number reaches them, in the session their LID set up.
        _ = try await wharf.engine.send(
            OutboundMessage(clientMessageID: "3EB0LIDREPLY1", chat: ChatID("\(Self.contactPhone)@s.whatsapp.net"), content: .text("by number")))
        let reply = try await #require(items(try bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0LIDREPLY1"]])).first)
        #expect(reply["text"] as? String == "by number")
        // And so does writing to the LID itself.
        _ = try await wharf.engine.send(
            OutboundMessage(clientMessageID: "3EB0LIDREPLY2", chat: ChatID("\(lid)@lid"), content: .text("by LID")))
        await #expect(!items(try bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0LIDREPLY2"]])).isEmpty)
        await wharf.engine.shutdown()
    }

    @Test func aCorruptedMessageGetsRetryReceiptsThenIsReportedUndecryptable() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await link(server)
        let bob = try await contact(server)
        // The original and every resend are corrupted on the way to Wharf.
        try await server.control("POST", "/faults", ["jid": wharf.device, "corrupt": 5])
        let sent = try await bob.call(["op": "send_text", "to": "\(Self.phone)@s.whatsapp.net", "text": "never readable"])
        let id = try #require(sent["id"] as? String)
        let failed = try await wharf.recorder.wait("the undecryptable report", seconds: 30) { recorder in
            recorder.inbound.lazy.compactMap { if case .undecryptable(let message) = $0, message.id == id { message } else { nil } }.first
        }
        #expect(failed.origin.from == Self.contactPhone)
        #expect(await wharf.recorder.messages.isEmpty)
        let retries = try await state(server)["retries"] as? [[String: Any]] ?? []
        let ours = retries.filter { $0["retryId"] as? String == id || $0["id"] as? String == id }
        #expect(ours.compactMap { $0["count"] as? Int } == [1, 2, 3, 4])
        let registration = try JSONDecoder().decode(
            DeviceCredentials.self, from: try #require(await wharf.credentials.values[DeviceCredentials.storageKey])
        ).registrationID
        #expect(ours.allSatisfy { ($0["registration"] as? Int).map(UInt32.init) == registration })
        #expect(ours.map { $0["keys"] is [String: Any] } == [false, true, true, true])

        // Once the corruption stops, a retry answered by the sender is read.
        try await server.control("POST", "/faults", ["jid": wharf.device, "corrupt": 1])
        let nextID =
            try await bob.call(["op": "send_text", "to": "\(Self.phone)@s.whatsapp.net", "text": "readable on the second try"])["id"] as? String
        let recovered = try await wharf.recorder.wait("the resent message", seconds: 30) { $0.messages.first { $0.id == nextID } }
        #expect(recovered.text == "readable on the second try")
        await wharf.engine.shutdown()
    }

    @Test func aRetryReceiptFromTheContactMakesWharfSendTheSameMessageAgain() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await link(server)
        let bob = try await contact(server)
        let chat = ChatID("\(Self.contactPhone)@s.whatsapp.net")
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0RETRY0001", chat: chat, content: .text("please resend me")))
        _ = try await bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0RETRY0001"]])
        // Bob says he could not read it (with his keys, as from a second retry): Wharf sets a new
        // session up from them and sends the same message again.
        try await bob.call(["op": "retry_receipt", "id": "3EB0RETRY0001", "count": 2, "keys": true])
        let again = try await bob.call(["op": "wait", "for": "message", "match": ["id": "3EB0RETRY0001"], "count": 2])
        let resent = try #require(items(again).first { "\($0["retryCount"] ?? "")" == "2" }, "\(items(again))")
        #expect(resent["text"] as? String == "please resend me")
        #expect(resent["encTypes"] as? [String] == ["pkmsg"])
        await wharf.engine.shutdown()
    }

    @Test func prekeysAreUploadedToppedUpAndTheSignedPreKeyRotates() async throws {
        let server = try await FakeWhatsApp()
        let clock = ManualClock(now: Date())
        let wharf = try await link(server, clock: clock)
        let device = try #require((try await state(server)["devices"] as? [String: [String: Any]])?[wharf.device])
        #expect(device["preKeys"] as? Int == Messenger.initialPreKeys)
        #expect(device["signedPreKeyValid"] as? Bool == true)

        // The server says it is running low: 50 more.
        try await server.control("POST", "/notify-prekeys", ["jid": wharf.device, "count": 2])
        _ = try await waitFor("the top-up") { () -> Bool? in
            let devices = try await self.state(server)["devices"] as? [String: [String: Any]]
            return (devices?[wharf.device]?["preKeys"] as? Int ?? 0) > Messenger.initialPreKeys ? true : nil
        }

        // 28 days on, the next login replaces the signed prekey and keeps the old one for pkmsgs.
        // (The key is dated back: moving the clock would expire the fake server's certificates.)
        await wharf.engine.disconnect()
        var dated = try JSONDecoder().decode(
            DeviceCredentials.self, from: try #require(await wharf.credentials.values[DeviceCredentials.storageKey]))
        #expect(dated.signedPreKeyCreatedAt == clock.now)
        dated.signedPreKeyCreatedAt = clock.now.addingTimeInterval(-28 * 24 * 3600)
        try await wharf.credentials.setValue(try JSONEncoder().encode(dated), forKey: DeviceCredentials.storageKey)
        let seen = await wharf.recorder.connections
        try await wharf.engine.connect()
        try await wharf.recorder.waitConnected(after: seen)
        let rotated = try #require((try await state(server)["devices"] as? [String: [String: Any]])?[wharf.device])
        #expect(rotated["signedPreKeyId"] as? Int == 2)
        #expect(rotated["signedPreKeyValid"] as? Bool == true)
        let stored = try JSONDecoder().decode(
            DeviceCredentials.self, from: try #require(await wharf.credentials.values[DeviceCredentials.storageKey]))
        #expect(stored.signedPreKeyID == 2)
        #expect(await wharf.credentials.values[SignalTransaction.Key.signedPreKey(1)] != nil)
        await wharf.engine.shutdown()
    }

    /// The contact is python-axolotl (strict libsignal) as a device that only has keys: Wharf's
    /// stanzas are read by it byte for byte, and its messages reach Wharf; then it reinstalls with
    /// a new identity, and both directions notice and go on.
    @Test func strictSignalThroughTheWholeStanzaPathAcrossAnIdentityChange() async throws {
        let server = try await FakeWhatsApp()
        let wharf = try await link(server)
        let oracle = try await JSONPeer("axolotl_peer.py")
        let carol = "4915550003"
        let carolJID = "\(carol)@s.whatsapp.net"
        func register() async throws {
            let keys = try await oracle.call(["op": "keys", "count": 5])
            var request: [String: Any] = ["phone": carol, "device": 0]
            request["keys"] = keys.filter { $0.key != "ok" }
            let answer = try await server.control("POST", "/accounts", request)
            #expect(answer.status == 200, "\(answer.json)")
        }
        func inbox() async throws -> [[String: Any]] {
            ((try await state(server)["inbox"] as? [String: Any])?[carolJID] as? [[String: Any]] ?? []).filter { $0["tag"] as? String == "message" }
        }
        func openLast(from wharfDevice: String) async throws -> WAMessage {
            let message = try #require(try await inbox().last)
            let enc = try #require((message["enc"] as? [[String: Any]])?.first)
            let answer = try await oracle.call([
                "op": "decrypt", "peer": wharfDevice, "type": enc["type"] as? String ?? "", "ciphertext": enc["bytes"] as? String ?? "",
            ])
            return try WAMessage(serializedBytes: try WhatsAppPadding.unpad(hexMember(answer, "plaintext") ?? []))
        }
        func deliver(_ text: String, id: String) async throws {
            var message = WAMessage()
            message.conversation = text
            let padded = WhatsAppPadding.pad(try message.serializedBytes())
            let sealed = try await oracle.call(["op": "encrypt", "peer": "wharf", "plaintext": padded.hex])
            let node: [String: Any] = [
                "tag": "message",
                "attrs": ["from": carolJID, "id": id, "t": String(Int(Date().timeIntervalSince1970)), "type": "text", "notify": "Carol"],
                "content": [
                    ["tag": "enc", "attrs": ["v": "2", "type": sealed["type"] as? String ?? ""], "bytes": sealed["ciphertext"] as? String ?? ""]
                ],
            ]
            #expect(try await server.control("POST", "/deliver", ["jid": wharf.device, "node": node]).status == 200)
        }
        func wharfBundle(preKey id: UInt32) async throws -> [String: Any] {
            let device = try JSONDecoder().decode(
                DeviceCredentials.self, from: try #require(await wharf.credentials.values[DeviceCredentials.storageKey]))
            let oneTime = try KeyPair(privateKey: try #require(await wharf.credentials.values[SignalTransaction.Key.preKey(id)]))
            return [
                "registrationId": device.registrationID, "deviceId": 2, "identityKey": device.identityKey.serializedPublicKey.hex,
                "signedPreKeyId": device.signedPreKeyID, "signedPreKey": device.signedPreKey.serializedPublicKey.hex,
                "signedPreKeySignature": Array(device.signedPreKeySignature).hex, "preKeyId": id, "preKey": oneTime.serializedPublicKey.hex,
            ]
        }

        try await register()
        let chat = ChatID(carolJID)
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0ORACLE001", chat: chat, content: .text("strict hello")))
        #expect(try await openLast(from: wharf.device).conversation == "strict hello")
        try await oracle.call(["op": "process_bundle", "peer": "wharf", "bundle": try await wharfBundle(preKey: 7)])
        try await deliver("strict reply", id: "ORACLE0001")
        let reply = try await wharf.recorder.wait("the oracle's message") { $0.messages.first { $0.id == "ORACLE0001" } }
        #expect(reply.text == "strict reply")
        #expect(reply.fromName == "Carol")

        // Carol reinstalls and writes at once: her pkmsg carries a new identity, which Wharf
        // trusts (as WhatsApp's clients do) and reports.
        try await oracle.call(["op": "identity", "dropSessions": true])
        try await oracle.call(["op": "process_bundle", "peer": "wharf", "bundle": try await wharfBundle(preKey: 8)])
        try await deliver("new phone, who dis", id: "ORACLE0002")
        let after = try await wharf.recorder.wait("the message from the new identity") { $0.messages.first { $0.id == "ORACLE0002" } }
        #expect(after.text == "new phone, who dis")
        let changes = await wharf.recorder.inbound.compactMap { if case .identityChanged(let change) = $0 { change } else { nil } }
        #expect(changes.map(\.origin.from) == [carol])

        // Her new keys reach the server, which announces the change: Wharf forgets her sessions
        // and its next message is a new session under her new keys.
        try await register()
        _ = try await wharf.recorder.wait("the announced identity change") { recorder -> Bool? in
            recorder.inbound.filter { if case .identityChanged = $0 { true } else { false } }.count >= 2 ? true : nil
        }
        _ = try await wharf.engine.send(OutboundMessage(clientMessageID: "3EB0ORACLE002", chat: chat, content: .text("after the change")))
        #expect(try await openLast(from: wharf.device).conversation == "after the change")
        await wharf.engine.shutdown()
    }
}
