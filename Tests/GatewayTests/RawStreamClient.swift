import Foundation
import PeerSupport

/// A client of a streaming HTTP response on a bare TCP socket with a small receive buffer, which
/// reads only when told: what a consumer that falls behind, or stops reading, looks like to the
/// server (its writes block once the few kilobytes of buffer between them are full).
final class RawStreamClient: @unchecked Sendable {
    struct Event: Sendable {
        var id: String?
        var type: String
        var data: String
    }

    private let socket: Int32
    /// Everything after the response's headers, still in chunked framing.
    private var body = Data()
    private var headers = Data()
    /// Whether the server closed the connection.
    private(set) var sawEnd = false

    /// - Parameters:
    ///   - token: sent as a bearer token unless empty.
    ///   - headers: more request header lines (`Name: value`), such as a WebSocket upgrade's.
    init(port: Int, path: String, token: String, headers: [String] = []) async throws {
        socket = try await offThePool {
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var size: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
            let extra = headers.map { $0 + "\r\n" }.joined()
            let authorization = token.isEmpty ? "" : "Authorization: Bearer \(token)\r\n"
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(authorization)\(extra)\r\n"
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            return fd
        }
    }

    deinit { close(socket) }

    /// Reads until the response's headers are in; returns them.
    func readHead() async throws -> String {
        _ = try await readBytes { [self] _ in headers.range(of: Data("\r\n\r\n".utf8)) != nil }
        return head
    }

    /// Drops the connection, as a client that goes away does.
    func disconnect() { shutdown(socket, Int32(SHUT_RDWR)) }

    /// Reads until `done` holds for the body read so far (in chunked framing), the server closes,
    /// or a minute passes without data; returns the body.
    func read(until done: @escaping @Sendable (String) -> Bool) async throws -> String {
        String(decoding: try await readBytes { done(String(decoding: $0, as: UTF8.self)) }, as: UTF8.self)
    }

    /// ``read(until:)`` for a body that is not text (WebSocket frames).
    func readBytes(until done: @escaping @Sendable (Data) -> Bool) async throws -> Data {
        try await offThePool { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !done(body) {
                let count = recv(socket, &buffer, buffer.count, 0)
                if count <= 0 {
                    sawEnd = count == 0
                    break
                }
                if headers.range(of: Data("\r\n\r\n".utf8)) == nil {
                    headers.append(contentsOf: buffer[0..<count])
                    if let end = headers.range(of: Data("\r\n\r\n".utf8)) {
                        body.append(headers[end.upperBound...])
                        headers = headers[..<end.upperBound]
                    }
                } else {
                    body.append(contentsOf: buffer[0..<count])
                }
            }
            return body
        }
    }

    /// The response's status line and headers, once read.
    var head: String { String(decoding: headers, as: UTF8.self) }

    /// The events of a chunked SSE body (a last, cut-off chunk is read as far as it goes).
    static func serverSentEvents(_ chunked: String) -> [Event] {
        var text = Substring(chunked)
        var plain = ""
        while let lineEnd = text.range(of: "\r\n"), let size = Int(text[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let end = text.utf8.index(start, offsetBy: size, limitedBy: text.endIndex) ?? text.endIndex
            plain += text[start..<end]
            text = text[end...].drop { $0.isNewline }  // "\r\n" is one Character
        }
        return plain.components(separatedBy: "\n\n").compactMap { block -> Event? in
            var event = Event(id: nil, type: "", data: "")
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event.type = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { event.data = String(line.dropFirst(6)) }
            }
            return event.type.isEmpty ? nil : event
        }
    }
}
