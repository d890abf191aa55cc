import Foundation

/// Where an engine keeps its secrets (keys, linked-device identity) between runs.
///
/// The gateway implements it on SQLite, one row set per session; engines see only named blobs.
public protocol CredentialsStore: Sendable {
    func value(forKey key: String) async throws -> Data?
    func setValue(_ value: Data?, forKey key: String) async throws
    /// Forgets every credential of the session (logout, device removed).
    func removeAll() async throws
}
