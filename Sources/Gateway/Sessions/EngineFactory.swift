import Foundation
import Logging
import WhatsAppProtocol
import WharfCore

/// Builds the engine a session asks for.
public struct EngineFactory: Sendable {
    let clock: any WharfClock
    let web: WebEngineConfiguration
    let logger: Logger

    public init(clock: any WharfClock, web: WebEngineConfiguration = .init(), logger: Logger = Logger(label: "wharf.engine")) {
        self.clock = clock
        self.web = web
        self.logger = logger
    }

    /// Engines that can be created on this build.
    public static let available: [EngineKind] = [.sandbox, .web]

    public func makeEngine(for session: SessionRecord, credentials: any CredentialsStore) throws -> any Engine {
        switch EngineKind(rawValue: session.engine) {
        case .sandbox:
            let options = (try? JSONDecoder().decode(SandboxOptions.self, from: Data(session.options.utf8))) ?? .init()
            return SandboxEngine(options: options, credentials: credentials, clock: clock)
        case .web:
            var logger = logger
            logger[metadataKey: "session"] = "\(session.id)"
            return WebEngine(configuration: web, credentials: credentials, clock: clock, logger: logger)
        case .cloud, nil:
            throw EngineError.unsupported("the '\(session.engine)' engine")
        }
    }
}
