import Foundation

/// Encrypts text fields before they are stored (webhook signing secrets, static header values,
/// Basic-auth passwords) and decrypts them when read. The gateway hands one in, built on the key
/// that seals engine credentials (`ENCRYPTION_KEY`); without one, fields are stored as they are.
public protocol FieldSealer: Sendable {
    /// `value` sealed for `context` (where it is stored), as text that starts with ``sealedFieldPrefix``.
    func seal(_ value: String, context: String) throws -> String
    /// The value of a sealed field.
    func open(_ stored: String, context: String) throws -> String
}

/// What every sealed field starts with; a field without it was stored in the clear.
public let sealedFieldPrefix = "wharf-sealed:"
