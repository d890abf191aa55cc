import Foundation
import WharfCore

/// A tenant's own presence (`settings.presence`): `"available"` shows its accounts online to their
/// contacts, `"unavailable"` keeps them offline, so the phone still gets notifications (WhatsApp
/// mutes the phone while a linked device is online). Absent, each engine keeps its default (the
/// web engine announces itself available, as WhatsApp Web does).
enum PresenceSetting {
    static let key = "presence"
    static let choices = ["available", "unavailable"]

    /// Whether the tenant asked to be shown available; nil when it did not choose.
    static func available(in settings: JSONValue) -> Bool? {
        guard case .string(let value)? = settings[key], choices.contains(value) else { return nil }
        return value == "available"
    }

    /// The member's value, if any, is one of the choices.
    static func validate(_ settings: JSONValue) throws(ValidationError) {
        guard let value = settings[key], value != .null else { return }
        guard case .string(let text) = value, choices.contains(text) else {
            throw .invalid(field: "settings.presence", detail: "field 'settings.presence' must be \"available\" or \"unavailable\"")
        }
    }
}
