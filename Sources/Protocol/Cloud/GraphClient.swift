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
        /// The Graph API answered with its error object (and perhaps a `Retry-After`).
        case graph(GraphError, status: Int, retryAfter: Duration? = nil)
        /// The request never reached Meta (or asked only for data): worth retrying.
        case unreachable(String)
        /// A send that may have reached Meta but got no readable answer (a timeout, a reset, a bare
        /// 5xx): sending it again could deliver it twice, and the Cloud API has no idempotency key.
        case unanswered(String)
        /// A refusal that is not the Graph API's error object (a proxy in the way, a wrong base URL).
        case unexpected(status: Int, body: String)

        var verdict: GraphVerdict {
            switch self {
            case .graph(let error, _, _): GraphVerdict(error)
            case .unreachable(let reason): .retry("the Graph API could not be reached: \(reason)")
            case .unanswered(let reason):
                .fail("the Graph API did not answer (\(reason)); the message may have been sent, so it is not sent again")
            case .unexpected(let status, let body):
                .fail("the Graph API answered HTTP \(status)\(body.isEmpty ? "" : ": \(body)"); check the session's graphBaseUrl")
            }
        }

        /// The token itself is refused: nothing will work until the session gets a new one.
        var refusesToken: Bool {
            guard case .graph(let error, _, _) = self else { return false }
            return error.refusesToken
        }

        /// A limit of the whole number (or app), not of one recipient: every chat must wait.
        var limitsWholeNumber: Bool {
            guard case .graph(let error, _, _) = self else { return false }
            return error.limitsWholeNumber
        }

        var retryAfter: Duration? {
            guard case .graph(_, _, let retryAfter) = self else { return nil }
            return retryAfter
        }
    }

    struct PhoneNumber: Decodable {
        var id: String?
        var display_phone_number: String?
        var verified_name: String?
    }

    /// The number's display form and verified name; proves the token may act for it.
    func phoneNumber() async throws(Failure) -> PhoneNumber {
        let data = try await call(.get, configuration.phoneNumberURL + "?fields=display_phone_number,verified_name", body: nil, isRepeatable: true)
        guard let number = try? JSONDecoder().decode(PhoneNumber.self, from: data) else {
            throw .unreachable("the phone number's details were not JSON")
        }
        return number
    }

    /// Posts to `…/<phone-number-id>/messages`; returns the sent message's `wamid`, if the body was a message.
    ///
    /// - Parameter isRepeatable: whether doing it twice is harmless (a read receipt is; a message is not).
    @discardableResult
    func postMessages(_ json: Data, isRepeatable: Bool) async throws(Failure) -> String? {
        let data = try await call(.post, configuration.phoneNumberURL + "/messages", body: json, isRepeatable: isRepeatable)
        struct Sent: Decodable {
            struct Message: Decodable { var id: String? }
            var messages: [Message]?
        }
        return (try? JSONDecoder().decode(Sent.self, from: data))?.messages?.first?.id
    }

    private func call(_ method: HTTPTransportRequest.Method, _ url: String, body: Data?, isRepeatable: Bool) async throws(Failure) -> Data {
        var headers = [("Authorization", "Bearer \(configuration.accessToken)"), ("User-Agent", "Wharf/1.0")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response = await transport.perform(
            HTTPTransportRequest(method: method, url: url, headers: headers, body: body, timeout: timeout))
        guard let status = response.status else {
            let reason = response.error ?? "no answer"
            throw isRepeatable || !response.mayHaveBeenReceived ? .unreachable(reason) : .unanswered(reason)
        }
        if (200..<300).contains(status) { return response.body }
        if let error = Self.graphError(in: response.body) { throw .graph(error, status: status, retryAfter: response.retryAfter) }
        if status == 429 { throw .unreachable("HTTP 429") }
        if status >= 500 { throw isRepeatable ? .unreachable("HTTP \(status)") : .unanswered("HTTP \(status)") }
        throw .unexpected(status: status, body: String(decoding: response.body.prefix(200), as: UTF8.self))
    }

    /// Meta's `{"error":{"message","type","code","error_data":{"details"},"fbtrace_id"}}`.
    static func graphError(in body: Data) -> GraphError? {
        struct Envelope: Decodable { var error: GraphErrorObject? }
        return (try? JSONDecoder().decode(Envelope.self, from: body))?.error?.graphError
    }
}
