import Foundation
import Testing

@testable import WhatsAppProtocol

/// Bodies compared with the documented examples of the Cloud API's send endpoint.
@Suite struct CloudRequestTests {
    func json(_ object: [String: Any]) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: object)) as! NSDictionary
    }

    func documented(_ text: String) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! NSDictionary
    }

    @Test func textImageDocumentAndReplyMatchTheDocumentedBodies() throws {
        #expect(
            try json(CloudRequest.text(to: "16505551234", body: "Hello!"))
                == documented(
                    """
                    { "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                      "type": "text", "text": { "preview_url": false, "body": "Hello!" } }
                    """))
        #expect(
            try json(CloudRequest.media(to: "16505551234", kind: .image, link: "https://example.com/aloe.png", caption: "The best succulent ever?"))
                == documented(
                    """
                    { "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                      "type": "image", "image": { "link": "https://example.com/aloe.png", "caption": "The best succulent ever?" } }
                    """))
        #expect(
            try json(
                CloudRequest.media(
                    to: "16505551234", kind: .document, link: "https://example.com/report.pdf", caption: "Q4 Report", fileName: "report.pdf"))
                == documented(
                    """
                    { "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                      "type": "document", "document": { "link": "https://example.com/report.pdf", "filename": "report.pdf", "caption": "Q4 Report" } }
                    """))
        let reply = try json(CloudRequest.text(to: "1", body: "re", replyTo: "wamid.Q"))
        #expect(reply["context"] as? NSDictionary == ["message_id": "wamid.Q"])
        let audio = try json(CloudRequest.media(to: "1", kind: .audio, link: "https://x/a.ogg", caption: "dropped", fileName: "dropped"))
        #expect(audio["audio"] as? NSDictionary == ["link": "https://x/a.ogg"])
    }

    @Test func readAndTypingMatchTheDocumentedBody() throws {
        #expect(
            try json(CloudRequest.read(messageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA", typing: true))
                == documented(
                    """
                    { "messaging_product": "whatsapp", "status": "read",
                      "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
                      "typing_indicator": { "type": "text" } }
                    """))
        #expect(try json(CloudRequest.read(messageID: "m"))["typing_indicator"] == nil)
        #expect(CloudRequest.path(version: "v23.0", phoneNumberID: "106540352242922") == "/v23.0/106540352242922/messages")
    }

    @Test(arguments: [
        (190, false, "access token"), (131047, false, "24 hours"), (470, false, "24 hours"),
        (130429, true, "throughput"), (131056, true, "pair rate"), (80007, true, "rate limit"),
        (131026, false, "may not be on WhatsApp"), (131030, false, "allowed recipients"), (999999, false, "999999"),
    ])
    func graphErrorsBecomeClearVerdicts(code: Int, retry: Bool, phrase: String) {
        let verdict = GraphVerdict(GraphError(code: code, message: "(#\(code)) something", details: "the details"))
        switch verdict {
        case .retry(let reason):
            #expect(retry, "\(code) should not be retried")
            #expect(reason.contains(phrase))
        case .fail(let reason):
            #expect(!retry, "\(code) should be retried")
            #expect(reason.contains(phrase), "\(reason)")
        }
    }

    @Test func theDocumentedGraphErrorIsReadAndUnreadableAnswersAreRetried() throws {
        let documented = Data(
            """
            {"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
            "error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},
            "error_subcode":2494055,"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}
            """.utf8)
        let error = try #require(GraphClient.graphError(in: documented))
        #expect(
            error
                == GraphError(
                    code: 130429, title: "OAuthException", message: "(#130429) Rate limit hit",
                    details: "Cloud API message throughput has been reached."))
        #expect(GraphClient.graphError(in: Data("<html>502</html>".utf8)) == nil)
        #expect(GraphClient.Failure.unreachable("refused").verdict == .retry("the Graph API could not be reached: refused"))
        guard case .fail(let unsure) = GraphClient.Failure.unanswered("timed out").verdict else {
            Issue.record("a send that may have arrived is not sent again")
            return
        }
        #expect(unsure.contains("may have been sent"))
        #expect(GraphClient.Failure.graph(GraphError(code: 130429), status: 400).limitsWholeNumber)
        #expect(!GraphClient.Failure.graph(GraphError(code: 131056), status: 400).limitsWholeNumber)
        guard case .fail(let reason) = GraphClient.Failure.unexpected(status: 404, body: "Not Found").verdict else {
            Issue.record("a foreign 404 is not worth retrying")
            return
        }
        #expect(reason.contains("graphBaseUrl"))
        #expect(GraphClient.Failure.graph(GraphError(code: 190), status: 401).refusesToken)
        #expect(!GraphClient.Failure.graph(GraphError(code: 131047), status: 400).refusesToken)
    }
}
