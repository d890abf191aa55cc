/// What a Graph API error means for a message: try again later, or tell the sender why not.
///
/// Codes from Meta's Cloud API error reference; titles are not used (Meta says they will go away).
public enum GraphVerdict: Sendable, Equatable {
    /// A limit or a passing fault: retry with backoff.
    case retry(String)
    /// Retrying cannot help; the reason goes into `message.failed`.
    case fail(String)

    public init(_ error: GraphError) {
        let said = error.details ?? error.message ?? "no details"
        switch error.code {
        case 190:
            self = .fail("the access token has expired or is invalid; give the session a new accessToken")
        case 0, 3, 10, 200...299:
            self = .fail("the access token may not send for this number (Graph error \(error.code)); check the app's permissions")
        case 131047, 470:
            self = .fail(
                "more than 24 hours have passed since the customer last wrote; WhatsApp allows only template messages until they write again")
        case 130429:
            self = .retry("the number's Cloud API throughput limit was reached")
        case 131056:
            self = .retry("too many messages to this customer in a short time (pair rate limit)")
        case 4, 80007:
            self = .retry("the Graph API rate limit was reached")
        case 1, 2, 131000, 131016, 133004:
            self = .retry("WhatsApp had a temporary problem (Graph error \(error.code))")
        case 131026:
            self = .fail("WhatsApp could not deliver the message: the number may not be on WhatsApp (\(said))")
        case 131030:
            self = .fail("the number is not on this test number's list of allowed recipients")
        case 100, 131008, 131009:
            self = .fail("WhatsApp refused the request as invalid: \(said)")
        default:
            self = .fail("WhatsApp refused the message (Graph error \(error.code)): \(said)")
        }
    }
}

extension GraphVerdict {
    /// What to tell the sender, whichever the verdict.
    public var reason: String {
        switch self {
        case .retry(let reason), .fail(let reason): reason
        }
    }
}

extension GraphError {
    /// The token itself is refused: nothing will work until the session gets a new one.
    var refusesToken: Bool { code == 190 || code == 0 || code == 10 || (200...299).contains(code) }

    /// A limit of the whole number (or app), not of one recipient: every chat must wait.
    var limitsWholeNumber: Bool { [130429, 80007, 4].contains(code) }
}
