import Foundation
import WharfCore

/// How the native engine reaches WhatsApp. Everything WhatsApp may change under us is configuration:
/// the endpoint, the origin it checks and the client version it refuses once outdated.
public struct WebEngineConfiguration: Sendable {
    public static let defaultURL = "wss://web.whatsapp.com/ws/chat"

    /// `WA_WS_URL`; `ws://` is allowed so a test server can stand in.
    public var url: String = Self.defaultURL
    public var origin: String = "https://web.whatsapp.com"
    /// `WA_VERSION`: WhatsApp Web's version triple, e.g. 2.3000.1045649367.
    public var version: [UInt32] = [2, 3000, 1_045_649_367]
    /// `WA_ROOT_KEY`: the certificate root. Replacing it is for test servers only.
    public var trust = ServerCertificateTrust()
    /// How the device appears in the phone's list of linked devices.
    public var deviceName = "Wharf"
    public var browserDisplay = "Chrome (Linux)"
    /// Keepalive: a ping every 20–30 s; the connection is given up after this many unanswered pings.
    public var keepaliveInterval: ClosedRange<Double> = 20...30
    public var keepaliveMaximumFailures = 3
    /// How long the TCP connection, TLS and the WebSocket upgrade may take together.
    public var connectTimeout: Duration = .seconds(20)
    /// How long an `<iq>` waits for its answer.
    public var requestTimeout: Duration = .seconds(10)
    /// How media files are fetched and uploaded.
    public var media = Media()
    /// The session's proxy, if it has one: the WebSocket and every media transfer go through it.
    public var proxy: WebProxy?

    public struct Media: Sendable {
        /// The HTTP client for WhatsApp's media hosts (the gateway's libcurl client, with its address
        /// policy and trusted roots); without one, files are neither fetched nor sent.
        public var transport: (any HTTPTransport)?
        /// The largest file fetched when the message does not say its size (WhatsApp's own: 2 GB).
        public var maximumBytes = 2_000 << 20
        public var timeout: Duration = .seconds(600)
        public init() {}
    }

    public init() {}

    public var versionString: String { version.map(String.init).joined(separator: ".") }
}
