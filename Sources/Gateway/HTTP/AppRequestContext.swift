import Hummingbird
import NIOCore

/// Per-request state: who is calling, and from where.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``AuthenticationMiddleware``; `nil` for anonymous requests.
    public var identity: Principal?
    /// The peer's address, for login rate limiting.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are collected by ``BodyLimitMiddleware`` against the configured limit first.
    public var maxUploadSize: Int { .max }

    /// The remote IP as text, or "unknown".
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}
