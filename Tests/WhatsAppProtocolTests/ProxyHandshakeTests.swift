import Foundation
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// The proxy handshakes byte for byte as RFC 1928, RFC 1929 and RFC 9110 write them; the gateway's
/// proxy test runs them against pproxy.
@Suite struct ProxyHandshakeTests {
    @Test func socks5WithAPasswordNegotiatesAuthenticatesAndConnectsByName() throws {
        let proxy = ProxyEndpoint(kind: .socks5, host: "proxy.example", port: 1080, username: "ann", password: "s3cret")
        var handshake = ProxyHandshake(proxy: proxy, targetHost: "web.whatsapp.com", targetPort: 443)
        #expect(handshake.start() == [5, 2, 0x00, 0x02])
        // The proxy picks username/password; its reply may arrive split.
        #expect(try handshake.receive([5]) == .wait)
        #expect(try handshake.receive([2]) == .send([1, 3] + Array("ann".utf8) + [6] + Array("s3cret".utf8)))
        let name = Array("web.whatsapp.com".utf8)
        #expect(try handshake.receive([1, 0]) == .send([5, 1, 0, 3, UInt8(name.count)] + name + [0x01, 0xBB]))
        // A reply with a bound IPv4 address, then the first bytes from the target.
        #expect(try handshake.receive([5, 0, 0, 1, 10, 0, 0]) == .wait)
        #expect(try handshake.receive([1, 0x04, 0x38, 0x16, 0x03]) == .established(leftover: [0x16, 0x03]))
    }

    @Test func socks5WithoutCredentialsConnectsToAnAddressLiteral() throws {
        var handshake = ProxyHandshake(proxy: ProxyEndpoint(kind: .socks5, host: "p", port: 1), targetHost: "127.0.0.1", targetPort: 8080)
        #expect(handshake.start() == [5, 1, 0x00])
        #expect(try handshake.receive([5, 0]) == .send([5, 1, 0, 1, 127, 0, 0, 1, 0x1F, 0x90]))
        // A reply naming a domain as the bound address.
        #expect(try handshake.receive([5, 0, 0, 3, 2] + Array("ok".utf8) + [0, 80]) == .established(leftover: []))

        var v6 = ProxyHandshake(proxy: ProxyEndpoint(kind: .socks5, host: "p", port: 1), targetHost: "::1", targetPort: 443)
        _ = v6.start()
        #expect(try v6.receive([5, 0]) == .send([5, 1, 0, 4] + [UInt8](repeating: 0, count: 15) + [1, 0x01, 0xBB]))
    }

    @Test func socks5RefusalsSayWhy() throws {
        let withPassword = ProxyEndpoint(kind: .socks5, host: "p", port: 1, username: "ann", password: "wrong")
        var refused = ProxyHandshake(proxy: withPassword, targetHost: "h", targetPort: 443)
        _ = refused.start()
        _ = try refused.receive([5, 2])
        #expect(throws: ProxyHandshakeError.authenticationFailed) { try refused.receive([1, 1]) }

        var noMethod = ProxyHandshake(proxy: ProxyEndpoint(kind: .socks5, host: "p", port: 1), targetHost: "h", targetPort: 443)
        _ = noMethod.start()
        #expect(throws: ProxyHandshakeError.authenticationRequired) { try noMethod.receive([5, 0xFF]) }

        var unreachable = ProxyHandshake(proxy: ProxyEndpoint(kind: .socks5, host: "p", port: 1), targetHost: "h", targetPort: 443)
        _ = unreachable.start()
        _ = try unreachable.receive([5, 0])
        #expect(throws: ProxyHandshakeError.refused("host unreachable")) { try unreachable.receive([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]) }

        var notSOCKS = ProxyHandshake(proxy: ProxyEndpoint(kind: .socks5, host: "p", port: 1), targetHost: "h", targetPort: 443)
        _ = notSOCKS.start()
        #expect(throws: ProxyHandshakeError.self) { try notSOCKS.receive(Array("HTTP/1.1 400 Bad".utf8)) }
    }

    @Test func httpConnectSendsBasicCredentialsAndOpensOnA2xx() throws {
        let proxy = ProxyEndpoint(kind: .http, host: "proxy.example", port: 3128, username: "ann", password: "p:w")
        var handshake = ProxyHandshake(proxy: proxy, targetHost: "web.whatsapp.com", targetPort: 443)
        let credentials = Data("ann:p:w".utf8).base64EncodedString()
        #expect(
            String(decoding: handshake.start(), as: UTF8.self)
                == "CONNECT web.whatsapp.com:443 HTTP/1.1\r\nHost: web.whatsapp.com:443\r\nProxy-Authorization: Basic \(credentials)\r\n\r\n")
        #expect(try handshake.receive(Array("HTTP/1.1 200 Connection established\r\n".utf8)) == .wait)
        #expect(try handshake.receive(Array("Via: x\r\n\r\n".utf8) + [0x16]) == .established(leftover: [0x16]))

        var bare = ProxyHandshake(proxy: ProxyEndpoint(kind: .http, host: "p", port: 1), targetHost: "::1", targetPort: 443)
        #expect(String(decoding: bare.start(), as: UTF8.self) == "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n")
        #expect(throws: ProxyHandshakeError.authenticationRequired) {
            try bare.receive(Array("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n".utf8))
        }

        var forbidden = ProxyHandshake(proxy: proxy, targetHost: "h", targetPort: 443)
        _ = forbidden.start()
        #expect(throws: ProxyHandshakeError.authenticationFailed) { try forbidden.receive(Array("HTTP/1.0 407 No\r\n\r\n".utf8)) }
        var denied = ProxyHandshake(proxy: proxy, targetHost: "h", targetPort: 443)
        _ = denied.start()
        #expect(throws: ProxyHandshakeError.refused("HTTP 403 Forbidden")) { try denied.receive(Array("HTTP/1.1 403 Forbidden\r\n\r\n".utf8)) }
        // A proxy that never ends its answer is cut off.
        var endless = ProxyHandshake(proxy: proxy, targetHost: "h", targetPort: 443)
        _ = endless.start()
        #expect(throws: ProxyHandshakeError.self) { try endless.receive([UInt8](repeating: 65, count: ProxyHandshake.maximumResponse + 1)) }
    }
}

@Suite struct ProxyEndpointTests {
    @Test func urlsAreParsedWithCredentialsAndShownWithoutThePassword() throws {
        let socks = try ProxyEndpoint(parsing: "socks5h://ann:p%40ss%3Aword@Proxy.Example:1080")
        #expect(socks.kind == .socks5 && socks.host == "proxy.example" && socks.port == 1080)
        #expect(socks.username == "ann" && socks.password == "p@ss:word")
        #expect(socks.redacted == "socks5://ann@proxy.example:1080")
        #expect(socks.curlURL == "socks5h://ann:p%40ss%3Aword@proxy.example:1080")
        #expect(try ProxyEndpoint(parsing: socks.url) == socks, "the stored form parses back to the same proxy")

        let http = try ProxyEndpoint(parsing: "http://[2001:db8::1]:3128")
        #expect(http.kind == .http && http.host == "2001:db8::1" && http.username == nil)
        #expect(http.redacted == "http://[2001:db8::1]:3128")

        #expect(throws: ProxyEndpointError.unsupportedScheme("https")) { try ProxyEndpoint(parsing: "https://p:1") }
        #expect(throws: ProxyEndpointError.missingPort) { try ProxyEndpoint(parsing: "socks5://p") }
        #expect(throws: ProxyEndpointError.unexpectedPath) { try ProxyEndpoint(parsing: "http://p:1/path") }
        #expect(throws: ProxyEndpointError.missingHost) { try ProxyEndpoint(parsing: "socks5://:1080") }
        #expect(throws: ProxyEndpointError.credentialsTooLong) {
            try ProxyEndpoint(parsing: "socks5://\(String(repeating: "a", count: 256)):x@p:1")
        }
    }
}

extension ProxyHandshakeTests {
    @Test func aProxyThatHangsUpAfterTheCredentialsRefusedThem() throws {
        let proxy = ProxyEndpoint(kind: .socks5, host: "p", port: 1, username: "ann", password: "wrong")
        var handshake = ProxyHandshake(proxy: proxy, targetHost: "h", targetPort: 443)
        #expect(handshake.closedError == .closed)
        _ = handshake.start()
        _ = try handshake.receive([5, 2])
        #expect(handshake.closedError == .authenticationFailed)
    }
}
