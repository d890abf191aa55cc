/// How far behind an event stream may fall before ``EventStreamPump`` cuts it off.
public struct EventStreamLimits: Sendable, Equatable {
    /// `EVENT_STREAM_MAX_LAG`: events waiting for a stream that had caught up once; past this it is
    /// cut off with a reason. A stream still reading the history it asked for is not held to it
    /// (that is what a cursor is for).
    public var maxLag = 10_000
    /// `EVENT_STREAM_STALL_SECONDS`: a write the client's socket has not taken for this long (its
    /// buffers are full: the client reads nothing) closes the connection.
    public var stallTimeout: Duration = .seconds(60)
    /// `EVENT_STREAM_PING_SECONDS`: how often the WebSocket stream pings its client; a client that
    /// has not answered one ping by the next is disconnected.
    public var pingInterval: Duration = .seconds(30)

    public init() {}
}
