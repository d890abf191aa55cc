import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Per-request state: who is calling, and from where.
public struct AppRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``AuthenticationMiddleware``; `nil` for anonymous requests.
    public var identity: Principal?
    /// The peer's address, for login rate limiting.
    public let remoteAddress: SocketAddress?
    /// The client behind a trusted proxy, as its forwarding header names it (``ClientAddressMiddleware``).
    public var forwardedAddress: String?
    /// The connection, for a long-lived response that must close it when its client stops reading.
    let channel: any Channel
    /// Where the WebSocket router leaves the handler of an upgrade it accepts.
    public let webSocket = WebSocketHandlerReference<AppRequestContext>()

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Bodies are collected by ``BodyLimitMiddleware`` against the configured limit first.
    public var maxUploadSize: Int { .max }

    /// JSON bodies are read with Wharf's decoder; a wrong field is a problem that names it.
    public var requestDecoder: WharfRequestDecoder { WharfRequestDecoder() }

    /// Every JSON answer is written the same way: sorted keys, ISO 8601 times with milliseconds,
    /// slashes unescaped (``JSONEncoder/wharf``).
    public var responseEncoder: JSONEncoder { .wharf }

    /// The client's IP as text: the peer's, or the one a trusted proxy forwarded for; "unknown" without either.
    var clientAddress: String { forwardedAddress ?? remoteAddress?.ipAddress ?? "unknown" }
}
