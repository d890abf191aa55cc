import Foundation
import WhatsAppProtocol

/// An error of a domain service that the HTTP layer answers as a problem. The services throw
/// their own small errors; this file is the one place that decides their status and wording, and
/// ``ProblemMiddleware`` the one place that answers them.
protocol ProblemConvertible: Error {
    var problem: Problem { get }
}

extension ValidationError: ProblemConvertible {
    var problem: Problem {
        switch self {
        case .missing(let field, let detail): .badRequest(detail, field: field)
        case .invalid(let field, let detail): .unprocessable(detail, field: field)
        }
    }
}

extension MediaError: ProblemConvertible {
    var problem: Problem {
        switch self {
        case .tooLarge(let kind):
            let limit = MediaFetcher.sizeLimit(kind)
            return Problem(
                .contentTooLarge, title: "Media too large",
                detail: "the media at 'mediaUrl' is larger than the \(limit >> 20) MiB WhatsApp allows for \(kind.rawValue)",
                extensions: ["field": "mediaUrl", "limit": .number(Double(limit))])
        case .downloadFailed(let error):
            return Problem(
                .unprocessableContent, title: "Media download failed",
                detail: "the media at 'mediaUrl' could not be downloaded: \(error)", extensions: ["field": "mediaUrl"])
        case .httpStatus(let status):
            return Problem(
                .unprocessableContent, title: "Media download failed",
                detail: "the media at 'mediaUrl' answered HTTP \(status ?? 0)", extensions: ["field": "mediaUrl"])
        case .unsupportedType(let mimeType, let kind):
            let declared = mimeType.isEmpty ? "of no declared type" : mimeType
            return Problem(
                .unsupportedMediaType, title: "Unsupported media type",
                detail: "the media at 'mediaUrl' is '\(declared)', which WhatsApp does not take as \(kind.rawValue)",
                extensions: ["field": "mediaUrl"])
        case .notStored:
            return Problem(.internalServerError, detail: "the downloaded media could not be stored")
        }
    }
}

extension LoginError: ProblemConvertible {
    var problem: Problem {
        switch self {
        case .tooManyAttempts(let wait):
            .tooManyRequests(retryAfter: wait, detail: "too many failed logins; try again in \(wait) seconds")
        case .wrongCredentials:
            Problem(.unauthorized, detail: "wrong username or password")
        case .busy(let wait):
            Problem(
                .serviceUnavailable, detail: "too many logins are being checked at once; try again in \(wait) second(s)",
                extensions: ["retryAfter": .number(Double(wait))], headers: [.retryAfter: String(wait)])
        }
    }
}

/// What an engine answered to a request made on behalf of the caller (groups, contacts): WhatsApp's
/// refusal with its reason, the session not connected, or no answer in time.
extension EngineError: ProblemConvertible {
    var problem: Problem {
        switch self {
        case .notConnected, .loggedOut: .conflict("\(description); try again while the session is connected")
        case .notFound(let what): Problem(.notFound, detail: what)
        case .invalidRequest(let why), .unsupported(let why): .unprocessable(why)
        case .timedOut(let what): Problem(.gatewayTimeout, title: "WhatsApp did not answer", detail: "\(what); try again")
        case .temporary(let why, let after, _): .tooManyRequests(retryAfter: Int(after?.components.seconds ?? 60), detail: why)
        case .rejected(let why), .unreadableState(let why): .conflict(why)
        }
    }
}
