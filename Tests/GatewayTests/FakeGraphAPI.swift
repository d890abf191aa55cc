import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// A stand-in for Meta's Graph API on 127.0.0.1, strict about what it accepts.
///
/// Every request is checked against the Cloud API's documented shapes (path and version, bearer
/// token, content type, and the exact members of the send, read and typing bodies); anything else
/// is recorded as a violation and answered with Graph's own `(#100) Invalid parameter` error.
/// Good requests get the documented answers. Tests script failures (a Graph error code and HTTP
/// status) by recipient, by token, or for the next calls.
final class FakeGraphAPI: Sendable {
    struct Received: Sendable {
        var method: String
        var path: String
        var query: String
        var headers: HTTPFields
        var data: Data
        var at: Date
        var body: [String: Any] { ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:] }
        /// `text`, `image`, …, `read`, or `typing` (a read receipt with the typing indicator).
        var kind: String {
            if method == "GET" { return "phone" }
            let body = body
            if body["status"] as? String == "read" { return body["typing_indicator"] == nil ? "read" : "typing" }
            return body["type"] as? String ?? "?"
        }
    }

    /// A Graph error to answer with.
    struct Failure: Sendable {
        var code: Int
        var status: HTTPResponse.Status
        var message: String
        var details: String
        /// Answers with a bare HTML page instead of Graph's error object (a proxy in the way).
        var isBare = false

        static let expiredToken = Failure(
            code: 190, status: .unauthorized, message: "Error validating access token: Session has expired on Tuesday, 01-Dec-26 10:00:00 PST.",
            details: "")
        static let reEngagement = Failure(
            code: 131047, status: .badRequest, message: "(#131047) Re-engagement message",
            details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.")
        static let throughput = Failure(
            code: 130429, status: .badRequest, message: "(#130429) Rate limit hit",
            details: "Cloud API message throughput has been reached.")
        static let badGateway = Failure(code: 0, status: .badGateway, message: "", details: "", isBare: true)
        static let undeliverable = Failure(
            code: 131026, status: .badRequest, message: "(#131026) Message undeliverable",
            details: "Message failed to send because the recipient phone number is not a WhatsApp number.")
    }

    let phoneNumberID: String
    let token: String
    let displayNumber = "+1 555-078-3881"
    let verifiedName = "Wharf Test Shop"
    private let received = Mutex<[Received]>([])
    private let violationLog = Mutex<[String]>([])
    private let failuresByRecipient = Mutex<[String: Failure]>([:])
    private let nextFailures = Mutex<[Failure]>([])
    private let currentToken: Mutex<String>
    private let counter = Atomic<Int>(0)
    private let now: @Sendable () -> Date
    private let server: ServiceGroupBox

    var requests: [Received] { received.withLock { $0 } }
    var messageRequests: [Received] { requests.filter { $0.method == "POST" } }
    var violations: [String] { violationLog.withLock { $0 } }
    var baseURL: String { "http://127.0.0.1:\(server.port)" }

    private init(phoneNumberID: String, token: String, now: @escaping @Sendable () -> Date, server: ServiceGroupBox) {
        self.phoneNumberID = phoneNumberID
        self.token = token
        self.currentToken = Mutex(token)
        self.now = now
        self.server = server
    }

    private final class Box: @unchecked Sendable { var api: FakeGraphAPI? }

    /// Starts the fake for one business number; `now` stamps each request (the test's clock).
    static func start(
        phoneNumberID: String = "106540352242922", token: String = "EAAG-test-token", now: @escaping @Sendable () -> Date
    ) async throws -> FakeGraphAPI {
        let box = Box()
        let router = Router()
        router.get("/:version/:phoneNumberID") { request, context in
            try await box.api!.handle(request, context: context, method: "GET")
        }
        router.post("/:version/:phoneNumberID/messages") { request, context in
            try await box.api!.handle(request, context: context, method: "POST")
        }
        let server = try await ServiceGroupBox.start(router: router)
        let api = FakeGraphAPI(phoneNumberID: phoneNumberID, token: token, now: now, server: server)
        box.api = api
        return api
    }

    func stop() async { await server.stop() }

    /// Answers every message to `recipient` with `failure`.
    func fail(recipient: String, with failure: Failure) { failuresByRecipient.withLock { $0[recipient] = failure } }
    /// Answers the next sends (not reads or typing) with these failures, in order.
    func failNextSends(_ failures: [Failure]) { nextFailures.withLock { $0.append(contentsOf: failures) } }
    /// From now on only `token` is accepted; the old one gets error 190.
    func rotateToken(to token: String) { currentToken.withLock { $0 = token } }

    // MARK: Handling

    private func handle(_ request: Request, context: BasicRequestContext, method: String) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        let data = Data(buffer.readableBytesView)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let item = Received(
            method: method, path: request.uri.path, query: request.uri.query ?? "", headers: request.headers, data: data, at: now())
        received.withLock { $0.append(item) }

        var problems: [String] = []
        let parts = request.uri.path.split(separator: "/")
        if parts.count < 2 || !parts[0].hasPrefix("v") || Double(parts[0].dropFirst()) == nil {
            problems.append("path \(request.uri.path) does not start with a Graph version such as /v24.0")
        }
        if parts.count >= 2, parts[1] != phoneNumberID { problems.append("path names phone number \(parts[1]), not \(phoneNumberID)") }
        let token = currentToken.withLock { $0 }
        let authorization = request.headers[.authorization] ?? ""
        if authorization != "Bearer \(token)" {
            if authorization.hasPrefix("Bearer ") { return graphError(.expiredToken) }
            problems.append("Authorization is '\(authorization)', not a bearer token")
        }
        if method == "GET" {
            if !(request.uri.query ?? "").contains("fields=") { problems.append("GET without ?fields=") }
            if !data.isEmpty { problems.append("GET with a body") }
        } else {
            if request.headers[.contentType]?.hasPrefix("application/json") != true {
                problems.append("Content-Type is \(request.headers[.contentType] ?? "missing"), not application/json")
            }
            if let object { problems += Self.check(object) } else { problems.append("the body is not a JSON object") }
        }
        if !problems.isEmpty {
            violationLog.withLock { $0 += problems }
            return graphError(
                Failure(code: 100, status: .badRequest, message: "(#100) Invalid parameter", details: problems.joined(separator: "; ")))
        }
        if method == "GET" {
            return json([
                "verified_name": verifiedName, "display_phone_number": displayNumber, "id": phoneNumberID, "quality_rating": "GREEN",
            ])
        }
        let body = object ?? [:]
        if body["status"] as? String == "read" { return json(["success": true]) }
        let to = body["to"] as? String ?? ""
        if let failure = failuresByRecipient.withLock({ $0[to] }) { return graphError(failure) }
        if let failure = nextFailures.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return graphError(failure) }
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return json([
            "messaging_product": "whatsapp", "contacts": [["input": to, "wa_id": to]],
            "messages": [["id": "wamid.FAKE\(number)", "message_status": "accepted"]],
        ])
    }

    /// The documented shapes of `POST /<version>/<phone-number-id>/messages` bodies.
    static func check(_ body: [String: Any]) -> [String] {
        var problems: [String] = []
        func only(_ object: [String: Any], _ allowed: Set<String>, _ name: String) {
            for key in object.keys where !allowed.contains(key) { problems.append("\(name) has an undocumented member '\(key)'") }
        }
        guard body["messaging_product"] as? String == "whatsapp" else { return ["messaging_product must be 'whatsapp'"] }
        if body["status"] != nil {
            only(body, ["messaging_product", "status", "message_id", "typing_indicator"], "a read receipt")
            if body["status"] as? String != "read" { problems.append("status must be 'read'") }
            if (body["message_id"] as? String)?.isEmpty != false { problems.append("message_id is missing") }
            if let typing = body["typing_indicator"] {
                if (typing as? [String: Any])?.count != 1 || (typing as? [String: Any])?["type"] as? String != "text" {
                    problems.append("typing_indicator must be {\"type\":\"text\"}")
                }
            }
            return problems
        }
        let types = ["text", "image", "audio", "video", "document", "reaction", "location", "contacts"]
        guard let type = body["type"] as? String, types.contains(type) else {
            return ["type must be one of \(types.joined(separator: ", "))"]
        }
        // A reaction names its message itself and takes no context.
        only(
            body, Set(["messaging_product", "recipient_type", "to", "type", type]).union(type == "reaction" ? [] : ["context"]), "a \(type) message")
        if body["recipient_type"] as? String != "individual" { problems.append("recipient_type must be 'individual'") }
        if let to = body["to"] as? String, !to.isEmpty, to.allSatisfy(\.isNumber) {} else { problems.append("to must be digits") }
        if let context = body["context"] {
            if let context = context as? [String: Any], context.count == 1, context["message_id"] is String {
            } else {
                problems.append("context must be {\"message_id\": …}")
            }
        }
        if type == "contacts" { return problems + checkContacts(body["contacts"]) }
        guard let content = body[type] as? [String: Any] else { return problems + ["the '\(type)' object is missing"] }
        switch type {
        case "reaction":
            only(content, ["message_id", "emoji"], "reaction")
            if (content["message_id"] as? String)?.isEmpty != false { problems.append("reaction.message_id is missing") }
            if !(content["emoji"] is String) { problems.append("reaction.emoji must be a string (empty removes the reaction)") }
            return problems
        case "location":
            only(content, ["latitude", "longitude", "name", "address"], "location")
            for (key, range) in [("latitude", -90.0...90.0), ("longitude", -180.0...180.0)] {
                guard let value = content[key] as? Double, range.contains(value) else {
                    problems.append("location.\(key) must be a number within \(range)")
                    continue
                }
            }
            return problems
        default:
            break
        }
        if type == "text" {
            only(content, ["body", "preview_url"], "text")
            let text = content["body"] as? String ?? ""
            if text.isEmpty || text.count > 4096 { problems.append("text.body must be 1 to 4096 characters") }
            if let preview = content["preview_url"], !(preview is Bool) { problems.append("text.preview_url must be a boolean") }
            return problems
        }
        var allowed: Set<String> = ["link"]
        if type != "audio" { allowed.insert("caption") }
        if type == "document" { allowed.insert("filename") }
        only(content, allowed, type)
        let link = content["link"] as? String ?? ""
        if !(link.hasPrefix("https://") || link.hasPrefix("http://")) { problems.append("\(type).link must be an http(s) URL") }
        if let caption = content["caption"] as? String, caption.count > 1024 { problems.append("\(type).caption is over 1024 characters") }
        return problems
    }

    /// The documented contact object: `name.formatted_name` and at least one other name part;
    /// phones with `phone`, an optional `type` and `wa_id`.
    private static func checkContacts(_ value: Any?) -> [String] {
        guard let contacts = value as? [[String: Any]], !contacts.isEmpty else { return ["contacts must be a non-empty array"] }
        var problems: [String] = []
        for (index, contact) in contacts.enumerated() {
            for key in contact.keys where !["name", "phones", "emails", "addresses", "org", "urls", "birthday"].contains(key) {
                problems.append("contacts[\(index)] has an undocumented member '\(key)'")
            }
            let name = contact["name"] as? [String: Any] ?? [:]
            if (name["formatted_name"] as? String)?.isEmpty != false { problems.append("contacts[\(index)].name.formatted_name is required") }
            if !["first_name", "last_name", "middle_name", "suffix", "prefix"].contains(where: { name[$0] is String }) {
                problems.append("contacts[\(index)].name needs a first, last or middle name, a suffix or a prefix")
            }
            for phone in contact["phones"] as? [[String: Any]] ?? [] {
                for key in phone.keys where !["phone", "type", "wa_id"].contains(key) {
                    problems.append("contacts[\(index)].phones has an undocumented member '\(key)'")
                }
                if (phone["phone"] as? String)?.isEmpty != false { problems.append("contacts[\(index)].phones[].phone is missing") }
            }
        }
        return problems
    }

    private func json(_ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Graph's error object, as Meta documents it.
    private func graphError(_ failure: Failure) -> Response {
        if failure.isBare {
            return Response(
                status: failure.status, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: "<html>Bad Gateway</html>")))
        }
        var error: [String: Any] = [
            "message": failure.message, "type": "OAuthException", "code": failure.code, "fbtrace_id": "AbCdEfGhIjKlMnOp",
        ]
        if !failure.details.isEmpty { error["error_data"] = ["messaging_product": "whatsapp", "details": failure.details] }
        let data = (try? JSONSerialization.data(withJSONObject: ["error": error])) ?? Data()
        return Response(status: failure.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
