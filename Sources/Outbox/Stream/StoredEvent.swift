import Foundation

/// An event as the event table holds it, with its place in commit order.
public struct StoredEvent: Sendable, Equatable {
    /// Increases with commit order (the table's rowid: one writer, so a later commit has higher ones).
    public var sequence: Int64
    public var id: String
    public var tenantID: String
    public var sessionID: String?
    public var type: String
    /// The webhook envelope, as delivered.
    public var payload: Data
}
