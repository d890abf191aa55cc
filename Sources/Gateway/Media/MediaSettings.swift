import Foundation
import WharfCore

/// A tenant's choices for received files, from the `media` object of its settings:
/// `{"download": "eager" | "lazy", "retentionDays": 7, "inlineMaxBytes": 0}`.
struct MediaSettings: Equatable, Sendable {
    /// Fetch each file as soon as it arrives (the default), or only when it is first requested.
    var eager = true
    /// How long files (and their links) are kept.
    var retention: TimeInterval = 7 * 86400
    /// Files up to this size go inline (base64) in their message's event, which then waits for the
    /// download; 0 (the default) never.
    var inlineMaxBytes: Int64 = 0
    static let maximumInlineBytes: Int64 = 1 << 20

    static let maximumRetentionDays = 365

    init() {}

    init(_ settings: JSONValue) {
        guard case .object(let object) = settings, case .object(let media)? = object["media"] else { return }
        if case .string(let download)? = media["download"] { eager = download != "lazy" }
        if case .number(let days)? = media["retentionDays"], days > 0 {
            retention = min(days, Double(Self.maximumRetentionDays)) * 86400
        }
        if case .number(let bytes)? = media["inlineMaxBytes"], bytes > 0 {
            inlineMaxBytes = min(Int64(bytes), Self.maximumInlineBytes)
        }
    }
}
