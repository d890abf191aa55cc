import Foundation
import Hummingbird
import WharfCore

extension Request {
    /// Decodes a JSON object or an HTML form (`application/x-www-form-urlencoded`) into fields.
    func decodeFields() async throws -> [String: String] {
        var request = self
        let buffer = try await request.collectBody(upTo: .max)
        let text = String(buffer: buffer)
        if headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            var fields: [String: String] = [:]
            for pair in text.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let decode = { (part: Substring) in
                    String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part)
                }
                if let name = parts.first { fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : "" }
            }
            return fields
        }
        guard !text.isEmpty else { throw Problem.badRequest("the request body is empty; send a JSON object") }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw Problem.badRequest("the request body is not valid JSON")
        }
        guard let object = value.objectValue else { throw Problem.badRequest("the request body must be a JSON object") }
        return object.compactMapValues { $0.stringValue }
    }

    /// Whether the body is an HTML form rather than JSON.
    var isFormPost: Bool {
        headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true
    }
}

extension Problem {
    /// A 400 that says which field was wrong and how.
    static func describing(_ error: DecodingError) -> Problem {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .badRequest("field '\(field)' is required", field: field)
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return .badRequest("field '\(field)' must be \(describe(type))", field: field.isEmpty ? nil : field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .badRequest("field '\(field)' must be \(describe(type)), not null", field: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .badRequest("the request body is not valid JSON") }
            return .badRequest("field '\(field)': \(context.debugDescription)", field: field)
        @unknown default:
            return .badRequest("the request body could not be read")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is [Any].Type: "an array"
        default:
            String(describing: type).contains("Dictionary") || String(describing: type).contains("JSONValue")
                ? "a JSON object" : "a \(type)"
        }
    }
}

extension JSONDecoder {
    /// Dates as ISO 8601, with or without fractional seconds.
    static var wharf: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(text, strategy: .iso8601) { return date }
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an ISO 8601 time such as 2026-11-25T10:00:00Z")
        }
        return decoder
    }
}

extension Response {
    /// A JSON answer of a value built by hand (the API's snake_case views of engine types).
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder.wharf.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
