import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Closes a connection over the cap at once, so that hundreds of idle sockets cannot use up the
/// descriptors `/health` and everyone else need (nginx's `worker_connections`).
///
/// ``WharfChildChannel`` puts it first on every connection as it is accepted, so a connection
/// counts from its accept, whether or not it ever sends a byte (or upgrades to a WebSocket). It
/// only passes reads on and never looks at them.
final class ConnectionCap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Open connections, shared by every connection's cap.
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
    private var counted = false

    init(counter: Counter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        guard counter.enter() else {
            context.close(promise: nil)
            return
        }
        counted = true
    }

    private func release() {
        if counted {
            counter.leave()
            counted = false
        }
    }
}
