import Foundation

/// A WhatsApp call to this account: offered (ringing), or over.
public struct CallEvent: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case received
        case ended
    }

    public var kind: Kind
    public var callID: String
    /// The caller: phone number (or LID user) and LID, and the device the offer came from (the
    /// one a rejection goes to).
    public var from: String
    public var fromLID: String?
    public var callerDevice: String
    /// The `call-creator` WhatsApp named; a rejection repeats it.
    public var creator: String
    public var isVideo: Bool
    /// For a group call, the group.
    public var group: ChatID?
    /// Why it ended (`timeout` for a missed call, `reject`, …), when WhatsApp said.
    public var reason: String?
    public var timestamp: Date

    public init(
        kind: Kind, callID: String, from: String, fromLID: String? = nil, callerDevice: String, creator: String, isVideo: Bool,
        group: ChatID? = nil, reason: String? = nil, timestamp: Date
    ) {
        self.kind = kind
        self.callID = callID
        self.from = from
        self.fromLID = fromLID
        self.callerDevice = callerDevice
        self.creator = creator
        self.isVideo = isVideo
        self.group = group
        self.reason = reason
        self.timestamp = timestamp
    }

    public var isGroup: Bool { group != nil }
}
