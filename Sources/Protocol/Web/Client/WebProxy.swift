import WharfCore

/// The proxy a native session reaches WhatsApp through: its WebSocket and its media transfers.
public struct WebProxy: Sendable {
    public var endpoint: ProxyEndpoint
    /// The numeric addresses the proxy may be connected to, asked before every connection so that a
    /// name which later resolves elsewhere is checked again; throws to refuse the connection. The
    /// gateway resolves the name and applies its outbound address policy here.
    public var addresses: @Sendable () throws -> [String]

    public init(endpoint: ProxyEndpoint, addresses: @escaping @Sendable () throws -> [String]) {
        self.endpoint = endpoint
        self.addresses = addresses
    }
}
