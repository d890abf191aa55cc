import Foundation
import PeerSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Plays the gateway for an engine under test: commits each stanza's state changes to the
/// credentials store, records its events, then acknowledges; or, when told to, fails the commit.
actor EngineRecorder {
    private(set) var statuses: [SessionStatus] = []
    private(set) var inbound: [InboundEvent] = []
    private(set) var presences: [PresenceUpdate] = []
    private let credentials: MemoryCredentials
    private var failNextCommits = 0
    private var task: Task<Void, Never>?

    init(_ engine: any Engine, credentials: MemoryCredentials) {
        self.credentials = credentials
        let events = engine.events
        Task { await self.start(events) }
    }

    private func start(_ events: AsyncStream<EngineEvent>) {
        task = Task {
            for await event in events { await self.record(event) }
        }
    }

    private func record(_ event: EngineEvent) async {
        switch event {
        case .status(let status):
            statuses.append(status)
        case .inbound(let items, let ack):
            if failNextCommits > 0 {
                failNextCommits -= 1
                await ack.storingFailed(PeerProcess.PeerFailure(description: "the test refused the commit"))
                return
            }
            do {
                try await credentials.apply(ack.stateChanges)
            } catch {
                Issue.record("state changes not applied: \(error)")
            }
            inbound += items
            await ack()
        case .receipt(let receipt):
            inbound.append(.receipt(receipt))
        case .presence(let presence):
            presences.append(presence)
        }
    }

    /// The next `count` commits fail (nothing is stored, the engine must not acknowledge).
    func failCommits(_ count: Int) { failNextCommits = count }

    var messages: [InboundMessage] { inbound.compactMap { if case .message(let message) = $0 { message } else { nil } } }

    /// Waits (real time, bounded) until `condition` holds for what was recorded.
    func wait<T: Sendable>(_ what: String, seconds: Double = 60, _ condition: @Sendable (isolated EngineRecorder) -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = condition(self) { return value }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw PeerProcess.PeerFailure(description: "timed out waiting for \(what); recorded \(inbound), statuses \(statuses)")
    }

    /// How many times the engine has reported being connected.
    var connections: Int { statuses.filter { if case .connected = $0 { true } else { false } }.count }

    /// Waits for the next "connected" after the `seen` ones.
    func waitConnected(after seen: Int = 0) async throws {
        _ = try await wait("connected") { recorder in recorder.connections > seen ? true : nil }
    }
}
