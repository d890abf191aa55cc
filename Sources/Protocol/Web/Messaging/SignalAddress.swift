import Foundation

/// The name a device's Signal state is kept under: `user[_agent]:device`, with agent 1 for a LID
/// (as whatsmeow names them). A contact's sessions live under their LID once it is known, whichever
/// address a message used, so a chat that moves between phone number and LID keeps its ratchet.
struct SignalAddress: Hashable, Sendable, CustomStringConvertible {
    var user: String
    var isLID: Bool
    var device: UInt16

    var description: String { "\(user)\(isLID ? "_1" : ""):\(device)" }
}
