import Foundation
import WharfCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The opening exchange with a proxy that makes it a tunnel to the target, before any TLS or HTTP
/// of our own: an HTTP `CONNECT` (RFC 9110 §9.3.6) or SOCKS5 (RFC 1928, with RFC 1929's username
/// and password). A state machine without I/O: the caller sends what it returns and feeds it what
/// the proxy says.
///
/// Written here rather than taken from swift-nio-extras because its SOCKS client offers no
/// authentication (the proxies operators rent all require it) and its CONNECT handler needs an
/// HTTP codec added before it and removed after; both protocols are a few dozen bytes each way.
struct ProxyHandshake {
    enum Action: Equatable {
        /// Send these bytes and wait for more.
        case send([UInt8])
        /// Nothing to do until more bytes arrive.
        case wait
        /// The tunnel is open; `leftover` already belongs to the target.
        case established(leftover: [UInt8])
    }

    private enum State {
        case idle
        case awaitingHTTPResponse
        case awaitingMethod
        case awaitingAuthentication
        case awaitingReply
        case established
        case failed
    }

    /// Longest answer a proxy may give before the tunnel opens.
    static let maximumResponse = 16 << 10

    let proxy: ProxyEndpoint
    let targetHost: String
    let targetPort: Int
    private var state: State = .idle
    private var received: [UInt8] = []

    init(proxy: ProxyEndpoint, targetHost: String, targetPort: Int) {
        self.proxy = proxy
        self.targetHost = targetHost
        self.targetPort = targetPort
    }

    /// The first bytes to send, once the TCP connection to the proxy is up.
    mutating func start() -> [UInt8] {
        precondition(state == .idle, "the handshake has started already")
        switch proxy.kind {
        case .http:
            state = .awaitingHTTPResponse
            let authority = (targetHost.contains(":") ? "[\(targetHost)]" : targetHost) + ":\(targetPort)"
            var request = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
            if let username = proxy.username {
                let credentials = Data("\(username):\(proxy.password ?? "")".utf8).base64EncodedString()
                request += "Proxy-Authorization: Basic \(credentials)\r\n"
            }
            return Array((request + "\r\n").utf8)
        case .socks5:
            state = .awaitingMethod
            // No authentication, and username/password when we have them; the proxy chooses.
            return proxy.username == nil ? [5, 1, 0x00] : [5, 2, 0x00, 0x02]
        }
    }

    /// Takes bytes from the proxy.
    mutating func receive(_ bytes: some Sequence<UInt8>) throws(ProxyHandshakeError) -> Action {
        received += bytes
        guard received.count <= Self.maximumResponse else { return try fail(.malformed("an answer longer than 16 KiB")) }
        switch state {
        case .idle, .established, .failed:
            return .wait
        case .awaitingHTTPResponse:
            return try httpResponse()
        case .awaitingMethod:
            guard received.count >= 2 else { return .wait }
            guard received[0] == 5 else { return try fail(.malformed("not a SOCKS5 proxy (version \(received[0]))")) }
            let method = received[1]
            received.removeFirst(2)
            switch method {
            case 0x00:
                state = .awaitingReply
                return .send(try connectRequest())
            case 0x02 where proxy.username != nil:
                state = .awaitingAuthentication
                let user = Array((proxy.username ?? "").utf8)
                let password = Array((proxy.password ?? "").utf8)
                return .send([1, UInt8(user.count)] + user + [UInt8(password.count)] + password)
            case 0x02, 0xFF:
                return try fail(.authenticationRequired)
            default:
                return try fail(.malformed("the proxy chose authentication method \(method), which was not offered"))
            }
        case .awaitingAuthentication:
            guard received.count >= 2 else { return .wait }
            guard received[1] == 0 else { return try fail(.authenticationFailed) }
            received.removeFirst(2)
            state = .awaitingReply
            return .send(try connectRequest())
        case .awaitingReply:
            guard received.count >= 5 else { return .wait }
            guard received[0] == 5 else { return try fail(.malformed("a reply of version \(received[0])")) }
            guard received[1] == 0 else { return try fail(.refused(Self.socksReply(received[1]))) }
            let length: Int
            switch received[3] {
            case 1: length = 4 + 4 + 2
            case 4: length = 4 + 16 + 2
            case 3: length = 4 + 1 + Int(received[4]) + 2
            default: return try fail(.malformed("a reply with address type \(received[3])"))
            }
            guard received.count >= length else { return .wait }
            state = .established
            defer { received = [] }
            return .established(leftover: Array(received[length...]))
        }
    }

    private mutating func httpResponse() throws(ProxyHandshakeError) -> Action {
        let end: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = received.indices.dropLast(3).first(where: { received[$0..<$0 + 4].elementsEqual(end) }) else {
            return .wait
        }
        let head = String(decoding: received[..<headEnd], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            return try fail(.malformed("not an HTTP answer: \(statusLine.prefix(80))"))
        }
        switch status {
        case 200..<300:
            state = .established
            defer { received = [] }
            return .established(leftover: Array(received[(headEnd + 4)...]))
        case 407:
            return try fail(proxy.username == nil ? .authenticationRequired : .authenticationFailed)
        default:
            return try fail(.refused("HTTP \(status)\(parts.count > 2 ? " " + parts[2] : "")"))
        }
    }

    /// SOCKS5 `CONNECT` to the target: an address literal as itself, a name for the proxy to resolve.
    private func connectRequest() throws(ProxyHandshakeError) -> [UInt8] {
        var address: [UInt8]
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, targetHost, &v4) == 1 {
            address = [1] + withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, targetHost, &v6) == 1 {
            address = [4] + withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            let name = Array(targetHost.utf8)
            guard name.count <= 255 else { throw .malformed("a host name longer than 255 bytes") }
            address = [3, UInt8(name.count)] + name
        }
        return [5, 1, 0] + address + [UInt8(targetPort >> 8), UInt8(targetPort & 0xFF)]
    }

    /// Why the tunnel failed when the proxy closed the connection before opening it. Closing right
    /// after the username and password is how some proxies refuse them (RFC 1929 asks for a status first).
    var closedError: ProxyHandshakeError {
        state == .awaitingAuthentication ? .authenticationFailed : .closed
    }

    private mutating func fail(_ error: ProxyHandshakeError) throws(ProxyHandshakeError) -> Action {
        state = .failed
        throw error
    }

    private static func socksReply(_ code: UInt8) -> String {
        switch code {
        case 1: "general SOCKS server failure"
        case 2: "connection not allowed by ruleset"
        case 3: "network unreachable"
        case 4: "host unreachable"
        case 5: "connection refused by the target"
        case 6: "TTL expired"
        case 7: "command not supported"
        case 8: "address type not supported"
        default: "reply code \(code)"
        }
    }
}

/// Why a proxy did not open the tunnel.
public enum ProxyHandshakeError: Error, Equatable, CustomStringConvertible {
    /// The proxy wants credentials and none were given.
    case authenticationRequired
    /// The proxy refused the username and password.
    case authenticationFailed
    /// The proxy would not reach the target.
    case refused(String)
    case malformed(String)
    /// The proxy closed the connection before the tunnel opened.
    case closed
    /// The proxy's own host name does not resolve.
    case unresolvable(String)

    public var description: String {
        switch self {
        case .authenticationRequired: "the proxy requires a username and password"
        case .authenticationFailed: "the proxy refused the username and password"
        case .refused(let reason): "the proxy did not connect to WhatsApp: \(reason)"
        case .malformed(let what): "the proxy answered with \(what)"
        case .closed: "the proxy closed the connection before the tunnel opened"
        case .unresolvable(let host): "its host '\(host)' does not resolve"
        }
    }
}
