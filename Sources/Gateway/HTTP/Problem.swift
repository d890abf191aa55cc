import Foundation
import Hummingbird
import WharfCore

/// An RFC 9457 problem: every 4xx and 5xx Wharf answers is one of these, as
/// `application/problem+json`, with a `detail` that tells the caller what to change.
public struct Problem: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String
    /// Extra members (for example `field`, `limit`, `retryAfter`).
    public var extensions: [String: JSONValue]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, title: String? = nil, detail: String,
        extensions: [String: JSONValue] = [:], headers: HTTPFields = [:]
    ) {
        self.status = status
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.extensions = extensions
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body = members
        body["instance"] = .string(request.uri.path)
        var headers = headers
        headers[.contentType] = "application/problem+json"
        let data = try JSONEncoder.wharf.encode(JSONValue.object(body))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The problem an error stands for when Wharf knows it: a ``Problem`` as it is, a domain
    /// service's error through its ``ProblemConvertible`` mapping; `nil` for anything else.
    static func known(_ error: any Error) -> Problem? {
        switch error {
        case let problem as Problem: problem
        case let convertible as any ProblemConvertible: convertible.problem
        default: nil
        }
    }

    /// The members of the problem+json body, without `instance`.
    var members: [String: JSONValue] {
        var body = extensions
        body["type"] = .string("about:blank")
        body["title"] = .string(title)
        body["status"] = .number(Double(status.code))
        body["detail"] = .string(detail)
        return body
    }

    // MARK: Common problems

    public static func notFound(_ what: String) -> Problem {
        Problem(.notFound, detail: "\(what) was not found")
    }

    public static func badRequest(_ detail: String, field: String? = nil) -> Problem {
        Problem(.badRequest, detail: detail, extensions: field.map { ["field": .string($0)] } ?? [:])
    }

    public static func unprocessable(_ detail: String, field: String? = nil) -> Problem {
        Problem(.unprocessableContent, detail: detail, extensions: field.map { ["field": .string($0)] } ?? [:])
    }

    public static func conflict(_ detail: String) -> Problem {
        Problem(.conflict, detail: detail)
    }

    public static let unauthorized = Problem(
        .unauthorized,
        detail: "authentication required: send 'Authorization: Bearer <token or API key>' or log in",
        headers: [.wwwAuthenticate: "Bearer"])

    public static let forbiddenForTenants = Problem(
        .forbidden, detail: "this route is for the administrator only")

    public static func tooManyRequests(retryAfter seconds: Int, detail: String) -> Problem {
        Problem(
            .tooManyRequests, detail: detail, extensions: ["retryAfter": .number(Double(seconds))],
            headers: [.retryAfter: String(seconds)])
    }

    public static func contentTooLarge(limit: Int) -> Problem {
        Problem(
            .contentTooLarge, detail: "the request body is larger than the limit of \(limit) bytes (MAX_BODY_BYTES)",
            extensions: ["limit": .number(Double(limit))])
    }
}

extension JSONEncoder {
    /// The encoder of every JSON body Wharf writes: ISO 8601 dates with milliseconds, sorted keys.
    static var wharf: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.iso8601Milliseconds)
        }
        return encoder
    }
}

extension Date {
    /// `2026-11-25T10:00:00.000Z`.
    var iso8601Milliseconds: String {
        formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
