import Foundation
import WharfCore

/// A tenant's answer to calls (`settings.calls`): `{"reject": true, "message": "…"}` declines
/// every call at once and, with a message, writes it to the caller.
struct CallSettings: Equatable, Sendable {
    var reject = false
    var message: String?
    static let messageLimit = 4096

    init() {}

    init(_ settings: JSONValue) {
        guard case .object(let calls)? = settings["calls"] else { return }
        if case .bool(let reject)? = calls["reject"] { self.reject = reject }
        if case .string(let message)? = calls["message"], !message.isEmpty { self.message = String(message.prefix(Self.messageLimit)) }
    }
}
