import Foundation

/// One HTTP request and its answer, for the few parts that call out over HTTP on their own
/// account (the Cloud API engine's Graph requests).
///
/// It lives here, below both the engines and the outbox, so that an engine can use the one
/// libcurl client the outbox owns without importing it: the gateway hands the client in.
public protocol HTTPTransport: Sendable {
    func perform(_ request: HTTPTransportRequest) async -> HTTPTransportResponse
}

public struct HTTPTransportRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
    }

    public var method: Method
    public var url: String
    /// `(name, value)` pairs, sent as given.
    public var headers: [(String, String)]
    public var body: Data?
    /// A POST's body streamed from this file instead of `body` (a media upload).
    public var bodyFile: URL?
    /// Where the answer's body is streamed to instead of memory (a media download); the transfer
    /// fails past `maximumResponseBytes` rather than cutting the file.
    public var responseFile: URL?
    /// Answers longer than this are cut (and flagged), not buffered.
    public var maximumResponseBytes: Int
    public var timeout: Duration
    /// The proxy the request goes through, if any.
    public var proxy: ProxyEndpoint?

    public init(
        method: Method, url: String, headers: [(String, String)] = [], body: Data? = nil, bodyFile: URL? = nil, responseFile: URL? = nil,
        maximumResponseBytes: Int = 64 << 10, timeout: Duration = .seconds(15)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.bodyFile = bodyFile
        self.responseFile = responseFile
        self.maximumResponseBytes = maximumResponseBytes
        self.timeout = timeout
    }
}

/// Sends every request through one proxy: a session's media transfers go where its WebSocket goes.
public struct ProxiedHTTPTransport: HTTPTransport {
    let base: any HTTPTransport
    let proxy: ProxyEndpoint

    public init(_ base: any HTTPTransport, through proxy: ProxyEndpoint) {
        self.base = base
        self.proxy = proxy
    }

    public func perform(_ request: HTTPTransportRequest) async -> HTTPTransportResponse {
        var request = request
        request.proxy = proxy
        return await base.perform(request)
    }
}

/// A status when the server answered, else a transport error that says what went wrong.
public struct HTTPTransportResponse: Sendable, Equatable {
    public var status: Int?
    /// The body, or empty when it went to the request's `responseFile`.
    public var body: Data
    /// Bytes of body received (in memory or in the file).
    public var size: Int
    /// The server's `Content-Type`, if it sent one.
    public var contentType: String?
    /// The server's `Retry-After`, if it sent one.
    public var retryAfter: Duration?
    public var error: String?
    /// `false` only when the request certainly never reached the server (no connection was made);
    /// after a timeout or a reset, the server may have acted on it.
    public var mayHaveBeenReceived: Bool

    public init(
        status: Int?, body: Data = Data(), size: Int? = nil, contentType: String? = nil, retryAfter: Duration? = nil, error: String? = nil,
        mayHaveBeenReceived: Bool = true
    ) {
        self.status = status
        self.body = body
        self.size = size ?? body.count
        self.contentType = contentType
        self.retryAfter = retryAfter
        self.error = error
        self.mayHaveBeenReceived = mayHaveBeenReceived || status != nil
    }
}
