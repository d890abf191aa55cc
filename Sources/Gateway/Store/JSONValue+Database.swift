import Foundation
import GRDB
import WharfCore

/// Free-form JSON columns (tenant settings, a job's humanizing overrides) hold JSON text.
///
/// Without this, GRDB would decode such a column through `JSONValue`'s single-value container and
/// read the JSON text back as one string.
extension JSONValue: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue {
        String(decoding: (try? JSONEncoder.wharf.encode(self)) ?? Data("null".utf8), as: UTF8.self).databaseValue
    }

    /// `nil` (a decoding error for the row) when the text is not JSON.
    public static func fromDatabaseValue(_ value: DatabaseValue) -> JSONValue? {
        guard let text = String.fromDatabaseValue(value) else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}
