import Foundation
import Logging
import ServiceLifecycle
import WharfCore
import WhatsAppProtocol

/// Applies each tenant's ``PresenceSetting`` whenever one of its sessions connects (a reconnect
/// would otherwise fall back to the engine's default), and at once to the running sessions when the
/// tenant changes it. Engines without presence (the Cloud API) are left alone.
final class PresenceKeeper: Service {
    private let store: SQLiteGatewayStore
    private let sessions: SessionManager
    private let hub: SessionEventHub
    private let logger: Logger

    init(store: SQLiteGatewayStore, sessions: SessionManager, hub: SessionEventHub, logger: Logger) {
        self.store = store
        self.sessions = sessions
        self.hub = hub
        self.logger = logger
    }

    func run() async throws {
        for await event in hub.subscribe(sessionID: nil).cancelOnGracefulShutdown() {
            guard case .status(.connected, _) = event.kind else { continue }
            do {
                guard let tenant = try await store.tenant(id: event.tenantID),
                    let available = PresenceSetting.available(in: tenant.settings)
                else { continue }
                await apply(available, to: [event.sessionID])
            } catch {
                logger.warning("presence not applied", metadata: ["session": "\(event.sessionID)", "error": "\(error)"])
            }
        }
    }

    /// Sets the presence of the given sessions that are running on an engine that has one.
    func apply(_ available: Bool, to sessionIDs: [String]) async {
        for id in sessionIDs {
            guard let engine = await sessions.engine(for: id), engine.capabilities.hasContactLookups else { continue }
            do {
                try await engine.setAvailability(available)
            } catch {
                logger.info("presence not applied", metadata: ["session": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// After a settings change: the tenant's running sessions take the new presence at once.
    func tenantChanged(_ tenantID: String, settings: JSONValue) async throws {
        guard let available = PresenceSetting.available(in: settings) else { return }
        let records = try await store.sessions(scope: .tenant(tenantID), after: nil, limit: 1000)
        await apply(available, to: records.map(\.id))
    }
}
