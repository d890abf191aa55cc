import AsyncHTTPClient
import Foundation
import NIOCore

/// One JSON request over a real socket, for tests that drive a server (ours or a peer) from outside.
public enum JSONCall {
    /// Sends `body` as JSON (when given) and returns the status code and the JSON answer (empty when
    /// the answer is not a JSON object).
    public static func perform(
        _ method: String, _ url: String, body: [String: Any]? = nil, headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(30)
    ) async throws -> (status: Int, json: [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), json)
    }

    /// Any request, answered with the status, the headers and the raw body (up to `limit` bytes).
    public static func raw(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: Data? = nil, limit: Int = 64 << 20,
        timeout: TimeAmount = .seconds(60)
    ) async throws -> (status: Int, headers: [String: String], body: Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: limit)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return (Int(response.status.code), fields, Data(bytes.readableBytesView))
    }

    /// A `multipart/form-data` body of text `fields` and one file part, with its boundary.
    public static func form(_ fields: [String: String], file: (name: String, type: String, data: Data)?) -> (body: Data, contentType: String) {
        let boundary = "wharf-test-\(UUID().uuidString)"
        var body = Data()
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        if let file {
            body += Data(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(file.name)\"\r\nContent-Type: \(file.type)\r\n\r\n".utf8
            )
            body += file.data + Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        return (body, "multipart/form-data; boundary=\(boundary)")
    }
}
