import Foundation
import WharfCore

/// Input rules shared by the routes, each failure a ``ValidationError`` that says what is allowed.
enum Validation {
    static func username(_ value: String) throws(ValidationError) {
        let allowed = value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._@-".contains($0)) }
        guard (3...64).contains(value.count), allowed else {
            throw .invalid(field: "username", detail: "field 'username' must be 3 to 64 characters: letters, digits, '.', '_', '@' or '-'")
        }
    }

    static func password(_ value: String) throws(ValidationError) {
        guard value.count >= 8, value.utf8.count <= 72 else {
            throw .invalid(
                field: "password", detail: "field 'password' must be at least 8 characters (and at most 72 bytes, bcrypt's limit)")
        }
    }

    static func name(_ value: String, field: String) throws(ValidationError) {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, fits(trimmed, characters: 100) else {
            throw .invalid(field: field, detail: "field '\(field)' must be 1 to 100 characters (and at most 400 bytes of UTF-8)")
        }
    }

    /// Whether `text` is within `characters` grapheme clusters and four bytes of UTF-8 per allowed
    /// character: a cluster can be any number of combining marks, so counting characters alone
    /// would let a "one character" string be megabytes.
    static func fits(_ text: String, characters: Int) -> Bool {
        text.utf8.count <= characters * 4 && text.count <= characters
    }

    /// Whether `type` is an event type or pattern as webhook filters and the event routes take
    /// them (`message.received`, `message.*`).
    static func isEventTypePattern(_ type: String) -> Bool {
        !type.isEmpty && type.count <= 64 && type.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._*".contains($0)) }
    }

    static func maxSessions(_ value: Int) throws(ValidationError) -> Int {
        guard (0...1000).contains(value) else {
            throw .invalid(field: "maxSessions", detail: "field 'maxSessions' must be a whole number from 0 to 1000")
        }
        return value
    }

    static func settings(_ value: JSONValue) throws -> JSONValue {
        guard case .object = value else {
            throw ValidationError.invalid(field: "settings", detail: "field 'settings' must be a JSON object")
        }
        let data = try JSONEncoder.wharf.encode(value)
        guard data.count <= 64 * 1024 else {
            throw ValidationError.invalid(field: "settings", detail: "field 'settings' must be at most 64 KiB of JSON")
        }
        try PresenceSetting.validate(value)
        return value
    }

    /// A required field's value.
    static func required<Value>(_ value: Value?, _ field: String) throws(ValidationError) -> Value {
        guard let value else { throw .missing(field: field, detail: "field '\(field)' is required") }
        return value
    }
}
