import Foundation
import Logging
import Outbox
import WharfCore
import WhatsAppProtocol

/// Builds the engine a session asks for.
public struct EngineFactory: Sendable {
    let clock: any WharfClock
    let web: WebEngineConfiguration
    /// How the Cloud API engine reaches the Graph API and the web engine WhatsApp's media hosts:
    /// the gateway's libcurl client, with its outbound-address policy.
    let cloudTransport: (any HTTPTransport)?
    let cloudTimeout: Duration
    /// Opens sessions' sealed proxy URLs; the policy their addresses must pass at every connection.
    let secretBox: SecretBox?
    let policy: OutboundPolicy
    let logger: Logger

    public init(
        clock: any WharfClock, web: WebEngineConfiguration = .init(), cloudTransport: (any HTTPTransport)? = nil,
        cloudTimeout: Duration = .seconds(15), secretBox: SecretBox? = nil, policy: OutboundPolicy = .strict,
        logger: Logger = Logger(label: "wharf.engine")
    ) {
        self.clock = clock
        self.web = web
        self.cloudTransport = cloudTransport
        self.cloudTimeout = cloudTimeout
        self.secretBox = secretBox
        self.policy = policy
        self.logger = logger
    }

    /// Engines that can be created on this build.
    public static let available: [EngineKind] = [.sandbox, .web, .cloud]

    public func makeEngine(for session: SessionRecord, credentials: any CredentialsStore) throws -> any Engine {
        switch session.engine {
        case .sandbox:
            return SandboxEngine(options: session.options.sandbox, credentials: credentials, clock: clock)
        case .web:
            var logger = logger
            logger[metadataKey: "session"] = "\(session.id)"
            var configuration = web
            if configuration.media.transport == nil { configuration.media.transport = cloudTransport }
            if session.options.sealedProxy != nil {
                // A session set to go through a proxy never connects without it.
                guard let secretBox, let endpoint = try? SessionProxy.endpoint(of: session, box: secretBox) else {
                    throw EngineError.unreadableState(
                        "the session's proxy setting cannot be opened with this server's ENCRYPTION_KEY; set the proxy again")
                }
                configuration.proxy = SessionProxy.webProxy(endpoint, policy: policy)
            }
            return WebEngine(configuration: configuration, credentials: credentials, clock: clock, logger: logger)
        case .cloud:
            guard let cloudTransport else { throw EngineError.unsupported("the cloud engine without an HTTP client") }
            var logger = logger
            logger[metadataKey: "session"] = "\(session.id)"
            return CloudEngine(
                credentials: credentials, transport: cloudTransport, clock: clock, timeout: cloudTimeout, logger: logger)
        }
    }
}
