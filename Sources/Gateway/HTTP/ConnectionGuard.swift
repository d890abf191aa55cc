import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Closes a request whose body stops arriving for `bodyTimeout`, as nginx's
/// `client_body_timeout` does. The connection cap is ``ConnectionCap``'s, the wait for the first
/// head ``HeadTimer``'s, and idle keep-alive connections are closed by Hummingbird's idle timeout.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let bodyTimeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(bodyTimeout: TimeAmount) {
        self.bodyTimeout = bodyTimeout
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head, .body:
            armTimer(context)
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    /// Closes the connection unless more of the request arrives within `bodyTimeout`.
    private func armTimer(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: bodyTimeout) { channel.close(promise: nil) }
    }
}
