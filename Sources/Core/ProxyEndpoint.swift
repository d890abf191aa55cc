import Foundation

/// A proxy a session's connections to WhatsApp go through: an HTTP proxy (`CONNECT`) or a SOCKS5
/// one, optionally with a username and password.
///
/// Operators of personal numbers use them so that WhatsApp sees a residential or mobile address
/// rather than a data centre's. It lives here because three layers use it: the gateway parses and
/// stores it, the native engine opens its WebSocket through it, and the libcurl client fetches
/// media through it.
public struct ProxyEndpoint: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// An HTTP proxy that tunnels with `CONNECT`.
        case http
        /// SOCKS version 5 (RFC 1928); host names are resolved by the proxy.
        case socks5
    }

    public let kind: Kind
    public let host: String
    public let port: Int
    public let username: String?
    public let password: String?

    public init(kind: Kind, host: String, port: Int, username: String? = nil, password: String? = nil) {
        self.kind = kind
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }

    /// Parses `http://[user[:password]@]host:port` or `socks5://…` (`socks5h://` means the same:
    /// Wharf always lets a SOCKS proxy resolve names, so no lookup leaks from this machine).
    public init(parsing text: String) throws(ProxyEndpointError) {
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)), let scheme = components.scheme
        else { throw .notAURL }
        switch scheme.lowercased() {
        case "http": kind = .http
        case "socks5", "socks5h": kind = .socks5
        default: throw .unsupportedScheme(scheme)
        }
        guard var host = components.host, !host.isEmpty else { throw .missingHost }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = components.port else { throw .missingPort }
        guard (1...65_535).contains(port) else { throw .invalidPort(port) }
        guard components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil else {
            throw .unexpectedPath
        }
        let username = components.user?.removingPercentEncoding ?? components.user
        let password = components.password?.removingPercentEncoding ?? components.password
        // SOCKS5's username/password method (RFC 1929) has one byte for each length.
        if kind == .socks5, (username?.utf8.count ?? 0) > 255 || (password?.utf8.count ?? 0) > 255 {
            throw .credentialsTooLong
        }
        self.host = host.lowercased()
        self.port = port
        self.username = username.flatMap { $0.isEmpty ? nil : $0 }
        self.password = password.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The URL without the password, for the API, the consoles and logs.
    public var redacted: String {
        url(scheme: kind.rawValue, includingPassword: false)
    }

    /// The URL libcurl's `CURLOPT_PROXY` takes, password included (`socks5h`: the proxy resolves).
    public var curlURL: String {
        url(scheme: kind == .socks5 ? "socks5h" : "http", includingPassword: true)
    }

    /// The URL as entered, password included: what is stored (sealed) to open the proxy again.
    public var url: String {
        url(scheme: kind.rawValue, includingPassword: true)
    }

    private func url(scheme: String, includingPassword: Bool) -> String {
        var user = ""
        if let username {
            user = Self.encode(username)
            if includingPassword, let password { user += ":" + Self.encode(password) }
            user += "@"
        }
        let host = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(user)\(host):\(port)"
    }

    private static func encode(_ text: String) -> String {
        var allowed = CharacterSet.urlUserAllowed
        allowed.remove(charactersIn: ":@/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Why a proxy URL was not taken.
public enum ProxyEndpointError: Error, Equatable, CustomStringConvertible {
    case notAURL
    case unsupportedScheme(String)
    case missingHost
    case missingPort
    case invalidPort(Int)
    case unexpectedPath
    case credentialsTooLong

    public var description: String {
        switch self {
        case .notAURL: "not a URL; use http://host:port or socks5://user:password@host:port"
        case .unsupportedScheme(let scheme): "'\(scheme)' proxies are not supported; use http:// (CONNECT) or socks5://"
        case .missingHost: "the proxy URL has no host"
        case .missingPort: "the proxy URL needs a port, such as :1080 or :3128"
        case .invalidPort(let port): "port \(port) is not between 1 and 65535"
        case .unexpectedPath: "a proxy URL has no path, query or fragment: only scheme, credentials, host and port"
        case .credentialsTooLong: "a SOCKS5 username and password are at most 255 bytes each"
        }
    }
}
