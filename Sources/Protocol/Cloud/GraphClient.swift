import Foundation
import WharfCore

/// The Graph API calls of one business phone number: who the number is, and its `messages`
/// endpoint (sends, read receipts, typing). Every request carries the access token as a bearer
/// token and nothing else of the configuration; answers are read as Meta documents them.
struct GraphClient: Sendable {
    let configuration: CloudConfiguration
    let transport: any HTTPTransport
    let timeout: Duration

    /// Why a Graph call did not succeed.
    enum Failure: Error, Equatable {
        /// The Graph API answered with its error object.
        case graph(GraphError, status: Int)
        /// No answer, an overloaded server, or an answer that could not be read: worth retrying.
        case unreachable(String)
        /// A refusal that is not the Graph API's error object (a proxy in the way, a wrong base URL).
        case unexpected(status: Int, body: String)

        var verdict: GraphVerdict {
            switch self {
            case .graph(let error, _): GraphVerdict(error)
            case .unreachable(let reason): .retry("the Graph API could not be reached: \(reason)")
            case .unexpected(let status, let body):
                .fail("the Graph API answered HTTP \(status)\(body.isEmpty ? "" : ": \(body)"); check the session's graphBaseUrl")
            }
        }

        /// The token itself is refused: nothing will work until the session gets a new one.
        var refusesToken: Bool {
            guard case .graph(let error, _) = self else { return false }
            return error.code == 190 || error.code == 0 || error.code == 10 || (200...299).contains(error.code)
        }
    }

    struct PhoneNumber: Decodable {
        var id: String?
        var display_phone_number: String?
        var verified_name: String?
    }

    /// The number's display form and verified name; proves the token may act for it.
    func phoneNumber() async throws(Failure) -> PhoneNumber {
        let data = try await call(.get, configuration.phoneNumberURL + "?fields=display_phone_number,verified_name", body: nil)
        guard let number = try? JSONDecoder().decode(PhoneNumber.self, from: data) else {
            throw .unreachable("the phone number's details were not JSON")
        }
        return number
    }

    /// Posts to `…/<phone-number-id>/messages`; returns the sent message's `wamid`, if the body was a message.
    @discardableResult
    func postMessages(_ json: Data) async throws(Failure) -> String? {
        let data = try await call(.post, configuration.phoneNumberURL + "/messages", body: json)
        struct Sent: Decodable {
            struct Message: Decodable { var id: String? }
            var messages: [Message]?
        }
        return (try? JSONDecoder().decode(Sent.self, from: data))?.messages?.first?.id
    }

    private func call(_ method: HTTPTransportRequest.Method, _ url: String, body: Data?) async throws(Failure) -> Data {
        var headers = [("Authorization", "Bearer \(configuration.accessToken)"), ("User-Agent", "Wharf/1.0")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response = await transport.perform(
            HTTPTransportRequest(method: method, url: url, headers: headers, body: body, timeout: timeout))
        guard let status = response.status else { throw .unreachable(response.error ?? "no answer") }
        if (200..<300).contains(status) { return response.body }
        if let error = Self.graphError(in: response.body) { throw .graph(error, status: status) }
        if status >= 500 || status == 429 { throw .unreachable("HTTP \(status)") }
        throw .unexpected(status: status, body: String(decoding: response.body.prefix(200), as: UTF8.self))
    }

    /// Meta's `{"error":{"message","type","code","error_data":{"details"},"fbtrace_id"}}`.
    static func graphError(in body: Data) -> GraphError? {
        struct Envelope: Decodable { var error: GraphErrorObject? }
        guard let error = (try? JSONDecoder().decode(Envelope.self, from: body))?.error, error.code != nil else { return nil }
        return error.graphError
    }
}
