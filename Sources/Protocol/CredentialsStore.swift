import Foundation

/// Where an engine keeps its secrets (keys, linked-device identity) between runs.
///
/// The gateway implements it on SQLite, one row set per session; engines see only named blobs.
public protocol CredentialsStore: Sendable {
    func value(forKey key: String) async throws -> Data?
    func setValue(_ value: Data?, forKey key: String) async throws
    /// Writes several values in one transaction: all of them or none.
    func apply(_ changes: CredentialChanges) async throws
    /// Forgets every credential of the session (logout, device removed).
    func removeAll() async throws
}

extension CredentialsStore {
    /// One value after the other, for stores without transactions (tests' in-memory stores).
    public func apply(_ changes: CredentialChanges) async throws {
        for (key, value) in changes.writes { try await setValue(value, forKey: key) }
    }
}

/// Writes to an engine's credentials, collected to be made in one transaction (`nil` deletes).
public struct CredentialChanges: Sendable, Equatable {
    /// In the order they were made; a later write of a key replaces an earlier one.
    public private(set) var writes: [(key: String, value: Data?)] = []

    public init() {}

    public var isEmpty: Bool { writes.isEmpty }

    public mutating func set(_ value: Data?, forKey key: String) {
        writes.removeAll { $0.key == key }
        writes.append((key, value))
    }

    public mutating func merge(_ other: CredentialChanges) {
        for (key, value) in other.writes { set(value, forKey: key) }
    }

    /// The value this set of changes gives `key`: `.some(nil)` when it deletes it, `nil` when it
    /// does not touch it.
    public func value(forKey key: String) -> Data?? {
        writes.last { $0.key == key }.map { $0.value }
    }

    public static func == (lhs: CredentialChanges, rhs: CredentialChanges) -> Bool {
        lhs.writes.map(\.key) == rhs.writes.map(\.key) && lhs.writes.map(\.value) == rhs.writes.map(\.value)
    }
}
