import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import WharfCore

/// The smallest WebSocket client WhatsApp needs, on SwiftNIO: binary messages both ways, an
/// `Origin` header of our choosing (WhatsApp checks it; general-purpose clients derive it from the
/// URL), pings answered, and one channel per connection with no extra buffering layer.
enum WebSocket {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case invalidURL(String)
        case upgradeRefused

        var description: String {
            switch self {
            case .invalidURL(let url): "not a ws:// or wss:// URL: \(url)"
            case .upgradeRefused: "the server refused the WebSocket upgrade"
            }
        }
    }

    private enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    /// A proxy to tunnel through, and the address (already checked by the caller) to reach it at.
    struct Proxy: Sendable {
        let endpoint: ProxyEndpoint
        let address: String
    }

    /// Closes a connection from outside, even before the upgrade has finished.
    struct Closer: Sendable {
        fileprivate let channel: any Channel
        func close() { channel.close(promise: nil) }
    }

    /// Connects and upgrades, then runs `body` with the connection; closes it when `body` returns.
    /// `opened` gets a closer as soon as the TCP connection exists. With a `proxy`, the TCP connection
    /// goes to it and the tunnel it opens carries TLS and the upgrade; its deadline is the upgrade's.
    static func connect(
        url text: String, origin: String, maximumMessage: Int, proxy: Proxy? = nil, connectTimeout: TimeAmount = .seconds(20),
        upgradeTimeout: TimeAmount = .seconds(20), opened: @escaping @Sendable (Closer) -> Void = { _ in },
        _ body: @Sendable (inout Messages, Writer) async throws -> Void
    ) async throws {
        guard let url = URL(string: text), let scheme = url.scheme, scheme == "ws" || scheme == "wss", let host = url.host else {
            throw Failure.invalidURL(text)
        }
        let secure = scheme == "wss"
        let port = url.port ?? (secure ? 443 : 80)
        let path = (url.path.isEmpty ? "/" : url.path) + (url.query.map { "?" + $0 } ?? "")
        let tls = secure ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil

        let tunnel = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(connectTimeout)
        let initialize: @Sendable (any Channel) -> EventLoopFuture<EventLoopFuture<Upgrade>> = { channel in
            opened(Closer(channel: channel))
            return channel.eventLoop.makeCompletedFuture {
                if let proxy {
                    let handshake = ProxyHandshake(proxy: proxy.endpoint, targetHost: host, targetPort: port)
                    try channel.pipeline.syncOperations.addHandler(ProxyTunnelHandler(handshake: handshake, tunnel: tunnel))
                } else {
                    tunnel.succeed()
                }
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: host))
                }
                let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: maximumMessage) { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        .websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                    }
                }
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
                headers.add(name: "Origin", value: origin)
                let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                    upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                        upgradeRequestHead: request, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { .refused } }))
                configuration.leftOverBytesStrategy = .forwardBytes
                let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
                // TLS and the upgrade get a deadline too: a server that accepts and then stalls
                // must not hold the attempt forever.
                let deadline = channel.eventLoop.scheduleTask(in: upgradeTimeout) { channel.close(promise: nil) }
                upgraded.whenComplete { _ in deadline.cancel() }
                return upgraded
            }
        }
        let upgrade: EventLoopFuture<Upgrade>
        do {
            if let proxy {
                upgrade = try await bootstrap.connect(
                    to: try SocketAddress(ipAddress: proxy.address, port: proxy.endpoint.port), channelInitializer: initialize)
            } else {
                upgrade = try await bootstrap.connect(host: host, port: port, channelInitializer: initialize)
            }
        } catch {
            tunnel.fail(error)
            throw error
        }
        let outcome: Upgrade
        do {
            outcome = try await upgrade.get()
        } catch {
            // A proxy that refused says why; the upgrade only sees the connection close.
            try await tunnel.futureResult.get()
            throw error
        }
        guard case .websocket(let channel) = outcome else { throw Failure.upgradeRefused }
        let underlying = channel.channel
        try await channel.executeThenClose { inbound, outbound in
            let writer = Writer(outbound: outbound, channel: underlying)
            var messages = Messages(frames: inbound.makeAsyncIterator(), writer: writer, maximumMessage: maximumMessage)
            try await body(&messages, writer)
        }
    }

    /// Sends binary messages (masked, as clients must) and closes.
    struct Writer: Sendable {
        fileprivate let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
        fileprivate let channel: any Channel

        func send(_ bytes: [UInt8]) async throws {
            try await write(.binary, ByteBuffer(bytes: bytes))
        }

        fileprivate func write(_ opcode: WebSocketOpcode, _ data: ByteBuffer) async throws {
            try await outbound.write(WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: data))
        }

        /// Says goodbye with a close frame and drops the connection, which ends the reader too.
        /// Does not wait for the goodbye to be written: a server that stopped reading must not be
        /// able to hold the close up.
        func close() async {
            var code = ByteBuffer()
            code.write(webSocketErrorCode: .normalClosure)
            let goodbye = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: code)
            channel.writeAndFlush(goodbye, promise: nil)
            try? await channel.close()
        }
    }

    /// Whole binary messages, reassembled from fragments; pings are answered on the way.
    struct Messages {
        fileprivate var frames: NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator
        fileprivate let writer: Writer
        fileprivate let maximumMessage: Int
        private var partial: [UInt8] = []

        fileprivate init(frames: NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator, writer: Writer, maximumMessage: Int) {
            self.frames = frames
            self.writer = writer
            self.maximumMessage = maximumMessage
        }

        /// The next binary message, or `nil` once the server has closed.
        mutating func next() async throws -> [UInt8]? {
            while let frame = try await frames.next() {
                switch frame.opcode {
                case .binary, .continuation, .text:
                    partial += frame.unmaskedData.readableBytesView
                    guard partial.count <= maximumMessage else { throw WebSocketErrorCode.messageTooLarge }
                    if frame.fin {
                        defer { partial = [] }
                        return partial
                    }
                case .ping:
                    try await writer.write(.pong, frame.unmaskedData)
                case .connectionClose:
                    return nil
                default:
                    continue
                }
            }
            return nil
        }
    }
}

extension WebSocketErrorCode: @retroactive Error {}
