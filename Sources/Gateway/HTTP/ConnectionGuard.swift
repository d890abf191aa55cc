import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Keeps slow and idle clients from holding the server, as nginx does: a connection over the cap
/// is closed at once (so that hundreds of idle sockets cannot use up the descriptors `/health` and
/// everyone else need), and a request whose body stops arriving is closed after `bodyTimeout`.
/// Idle keep-alive connections and half-sent headers are closed by Hummingbird's idle timeout.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    /// Open connections, shared by every connection's guard.
    final class Counter: Sendable {
        let limit: Int
        private let open = Atomic<Int>(0)

        init(limit: Int) { self.limit = limit }

        var count: Int { open.load(ordering: .relaxed) }

        func enter() -> Bool {
            if open.wrappingAdd(1, ordering: .relaxed).newValue > limit {
                open.wrappingSubtract(1, ordering: .relaxed)
                return false
            }
            return true
        }

        func leave() { open.wrappingSubtract(1, ordering: .relaxed) }

        /// The cap the process's descriptor limit allows: `wanted`, or less when the soft
        /// `RLIMIT_NOFILE` would not leave room for the database, the engines and curl.
        static func limit(wanted: Int) -> Int {
            var limit = rlimit()
            guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(Int32.max) else { return wanted }
            return min(wanted, max(16, Int(limit.rlim_cur) - 128))
        }
    }

    private let counter: Counter
    private let bodyTimeout: TimeAmount
    private var counted = false
    private var timer: Scheduled<Void>?

    init(counter: Counter, bodyTimeout: TimeAmount) {
        self.counter = counter
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        admit(context)
    }

    func channelActive(context: ChannelHandlerContext) {
        if !counted { admit(context) }
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        guard counter.enter() else {
            context.close(promise: nil)
            return
        }
        counted = true
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if counted {
            counter.leave()
            counted = false
        }
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
        if counted {
            counter.leave()
            counted = false
        }
    }

    /// Closes the connection unless more of the request arrives within `bodyTimeout`.
    private func armTimer(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: bodyTimeout) { channel.close(promise: nil) }
    }
}
