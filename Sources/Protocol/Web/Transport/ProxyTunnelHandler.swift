import NIOCore
import WharfCore

/// Runs a ``ProxyHandshake`` at the bottom of a pipeline, then gets out of the way.
///
/// Everything above it (TLS, the WebSocket upgrade) is added at once and starts as if connected to
/// the target: what it writes before the tunnel is open is held and sent after, in order, and the
/// handler then removes itself. `tunnel` completes when the tunnel opens or fails, so the caller
/// can say "the proxy refused the password" rather than "the connection closed".
final class ProxyTunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var handshake: ProxyHandshake
    private var started = false
    private var isOpen = false
    private var held: [(data: NIOAny, promise: EventLoopPromise<Void>?)] = []
    private var flushRequested = false
    private var isSettled = false
    private let tunnel: EventLoopPromise<Void>

    init(handshake: ProxyHandshake, tunnel: EventLoopPromise<Void>) {
        self.handshake = handshake
        self.tunnel = tunnel
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { begin(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        begin(context: context)
        context.fireChannelActive()
    }

    private func begin(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: handshake.start())), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isOpen else {
            context.fireChannelRead(data)
            return
        }
        let buffer = unwrapInboundIn(data)
        do {
            switch try handshake.receive(buffer.readableBytesView) {
            case .wait:
                break
            case .send(let bytes):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
            case .established(let leftover):
                isOpen = true
                settle(nil)
                if !leftover.isEmpty { context.fireChannelRead(wrapInboundOut(ByteBuffer(bytes: leftover))) }
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            }
        } catch {
            settle(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        settle(handshake.closedError)
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        held.append((data, promise))
    }

    func flush(context: ChannelHandlerContext) {
        flushRequested = true
    }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        for (data, promise) in held { context.write(data, promise: promise) }
        held = []
        if flushRequested { context.flush() }
        context.leavePipeline(removalToken: removalToken)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Closed before the tunnel opened: nothing held may be left waiting.
        for (_, promise) in held { promise?.fail(ProxyHandshakeError.closed) }
        held = []
        settle(handshake.closedError)
    }

    /// Completes `tunnel` once: with success, or with the first reason it failed.
    private func settle(_ error: (any Error)?) {
        guard !isSettled else { return }
        isSettled = true
        if let error { tunnel.fail(error) } else { tunnel.succeed() }
    }
}
