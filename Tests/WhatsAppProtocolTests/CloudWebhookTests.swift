import Crypto
import Foundation
import PeerSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Meta's webhook shapes, from the Cloud API documentation's examples (webhooks reference: messages
/// and status), checked and normalized.
@Suite struct CloudWebhookTests {
    static let textMessage = CloudExamples.textMessage

    static let statusOnly = CloudExamples.statusNotification(
        CloudExamples.sentStatus,
        """
        {"id":"wamid.X","status":"failed","timestamp":"1750857390","recipient_id":"5516992318222",
        "errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message",
        "error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]}
        """)

    static func notification(messages: String) -> String {
        """
        {"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp","metadata":{"phone_number_id":"106540352242922"},"messages":[\(messages)]}}]}]}
        """
    }

    @Test func theDocumentedTextMessageBecomesOurMessage() throws {
        let parsed = try CloudWebhook.parse(Data(Self.textMessage.utf8))
        #expect(parsed.phoneNumberID == "106540352242922")
        #expect(parsed.statuses.isEmpty)
        let message = try #require(parsed.messages.first)
        #expect(message.id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
        #expect(message.chat == ChatID("16505551234@s.whatsapp.net"))
        #expect(message.from == "16505551234")
        #expect(message.fromName == "Sheena Nelson")
        #expect(message.kind == "text")
        #expect(message.text == "Does it come in another color?")
        #expect(message.timestamp == Date(timeIntervalSince1970: 1_749_416_383))
    }

    @Test func aStatusOnlyNotificationCarriesSentAndFailed() throws {
        let parsed = try CloudWebhook.parse(Data(Self.statusOnly.utf8))
        #expect(parsed.messages.isEmpty)
        #expect(parsed.statuses.map(\.kind) == [.sent, .failed])
        #expect(parsed.statuses[0].recipient == "5516992318222")
        #expect(parsed.statuses[1].errors.first?.code == 131047)
        #expect(parsed.statuses[1].errors.first?.details?.contains("24 hours") == true)
    }

    @Test func everyModelledTypeAndAnUnsupportedOneAreKept() throws {
        let body = Self.notification(
            messages: """
                {"from":"1","id":"a","timestamp":"1","type":"image","image":{"id":"MEDIA1","mime_type":"image/jpeg","caption":"look"}},
                {"from":"1","id":"b","timestamp":"2","type":"audio","audio":{"id":"MEDIA2","mime_type":"audio/ogg","voice":true}},
                {"from":"1","id":"c","timestamp":"3","type":"document","document":{"id":"MEDIA3","mime_type":"application/pdf","filename":"q4.pdf"}},
                {"from":"1","id":"d","timestamp":"4","type":"location","location":{"latitude":52.5,"longitude":13.4,"name":"Office"}},
                {"from":"1","id":"e","timestamp":"5","type":"reaction","reaction":{"message_id":"wamid.Z","emoji":"👍"}},
                {"from":"1","id":"f","timestamp":"6","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"yes","title":"Yes"}}},
                {"from":"1","id":"g","timestamp":"7","type":"text","text":{"body":"re"},"context":{"id":"wamid.Q"}},
                {"from":"1","id":"h","timestamp":"8","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]},
                {"from":"1","id":"i","timestamp":"9","type":"some_future_type"}
                """)
        let messages = try CloudWebhook.parse(Data(body.utf8)).messages
        #expect(messages.map(\.kind) == ["image", "voice", "document", "location", "reaction", "interactive", "text", "unsupported", "unsupported"])
        #expect(messages[0].media == MediaInfo(mimeType: "image/jpeg", caption: "look", id: "MEDIA1"))
        #expect(messages[0].text == "look")
        #expect(messages[2].media?.fileName == "q4.pdf")
        #expect(messages[3].text == "Office\n52.5,13.4")
        #expect(messages[4].text == "👍" && messages[4].replyTo == "wamid.Z")
        #expect(messages[5].text == "Yes")
        #expect(messages[6].replyTo == "wamid.Q")
        #expect(messages[7].id == "h" && messages[7].text == nil)
    }

    @Test func signaturesAreCheckedOnTheRawBody() {
        let body = Array(Self.textMessage.utf8)
        let secret = "app-secret-0123456789"
        let mac = Array(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))).hex
        #expect(CloudWebhook.isAuthentic(body: body, signature: "sha256=" + mac, appSecret: secret))
        #expect(!CloudWebhook.isAuthentic(body: body + [0x20], signature: "sha256=" + mac, appSecret: secret))
        #expect(!CloudWebhook.isAuthentic(body: body, signature: "sha256=" + mac, appSecret: "other"))
        #expect(!CloudWebhook.isAuthentic(body: body, signature: mac, appSecret: secret))
        #expect(!CloudWebhook.isAuthentic(body: body, signature: nil, appSecret: secret))
        #expect(!CloudWebhook.isAuthentic(body: body, signature: "sha256=zz", appSecret: secret))
    }

    @Test func theSubscriptionCheckEchoesTheChallengeOnlyForTheRightToken() {
        #expect(CloudWebhook.challenge(mode: "subscribe", token: "t0ken", challenge: "1158201444", expectedToken: "t0ken") == "1158201444")
        #expect(CloudWebhook.challenge(mode: "subscribe", token: "wrong", challenge: "1158201444", expectedToken: "t0ken") == nil)
        #expect(CloudWebhook.challenge(mode: "unsubscribe", token: "t0ken", challenge: "1", expectedToken: "t0ken") == nil)
        #expect(CloudWebhook.challenge(mode: "subscribe", token: "", challenge: "1", expectedToken: "") == nil)
    }

    @Test func notWhatsAppOrNotJSONIsRefused() {
        #expect(throws: CloudWebhook.ParseError.notJSON) { try CloudWebhook.parse(Data("nope".utf8)) }
        #expect(throws: CloudWebhook.ParseError.notWhatsApp("page")) { try CloudWebhook.parse(Data(#"{"object":"page"}"#.utf8)) }
    }
}
