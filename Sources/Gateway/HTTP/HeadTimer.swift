import NIOCore

/// Closes a connection whose first request head has not fully arrived within `timeout`: an idle
/// socket, or one that sends a header a byte at a time (slowloris).
///
/// It sits at the front of the pipeline from the accept, before any HTTP parsing, because the
/// WebSocket-capable channel only adds Hummingbird's own timeouts once it has a whole head to
/// decide on. It looks for the blank line that ends the head in the raw bytes, then steps aside
/// (later requests on the connection are the idle timeout's and ``ConnectionGuard``'s).
final class HeadTimer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let endOfHead: [UInt8] = Array("\r\n\r\n".utf8)

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// The last four bytes seen, so a blank line split across two reads is still found.
    private var tail: [UInt8] = []

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var found = false
        for byte in unwrapInboundIn(data).readableBytesView {
            tail.append(byte)
            if tail.count > Self.endOfHead.count { tail.removeFirst() }
            if tail == Self.endOfHead {
                found = true
                break
            }
        }
        context.fireChannelRead(data)
        if found {
            timer?.cancel()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
