import Foundation
import WhatsAppProtocol
import WharfCore

/// Builds the engine a session asks for.
public struct EngineFactory: Sendable {
    let clock: any WharfClock

    public init(clock: any WharfClock) { self.clock = clock }

    /// Engines that can be created on this build.
    public static let available: [EngineKind] = [.sandbox]

    public func makeEngine(for session: SessionRecord, credentials: any CredentialsStore) throws -> any Engine {
        switch EngineKind(rawValue: session.engine) {
        case .sandbox:
            let options = (try? JSONDecoder().decode(SandboxOptions.self, from: Data(session.options.utf8))) ?? .init()
            return SandboxEngine(options: options, credentials: credentials, clock: clock)
        case .web, .cloud, nil:
            throw EngineError.unsupported("the '\(session.engine)' engine")
        }
    }
}
