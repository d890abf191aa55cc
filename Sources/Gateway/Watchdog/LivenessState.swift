import Foundation

/// Which connected sessions the watchdog probes: those quiet for ``WatchdogLimits/quietFor``
/// (no event, no answered probe) that are not being probed already. No I/O: the watchdog feeds
/// it the session manager's view and runs the probes it picks.
struct LivenessState: Sendable {
    let quietFor: Duration
    /// Sessions with a probe in flight.
    private(set) var probing: Set<String> = []

    init(quietFor: Duration) { self.quietFor = quietFor }

    /// The sessions to probe now, which count as being probed until ``finished(_:)``.
    mutating func due(_ sessions: [SessionManager.ConnectedSession], now: Date) -> [SessionManager.ConnectedSession] {
        guard quietFor > .zero else { return [] }
        let chosen = sessions.filter { session in
            !probing.contains(session.sessionID) && now.timeIntervalSince(session.quietSince) >= quietFor.timeInterval
        }
        probing.formUnion(chosen.map(\.sessionID))
        return chosen
    }

    mutating func finished(_ sessionID: String) { probing.remove(sessionID) }
}
