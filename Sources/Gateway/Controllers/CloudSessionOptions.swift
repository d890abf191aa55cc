import Foundation
import WhatsAppProtocol

/// What a Cloud API session's options column holds: the settings that are not secret, which the API
/// and the consoles show and the webhook route routes by.
struct CloudSessionOptions: Codable, Equatable {
    var phoneNumberId: String
    var graphBaseUrl: String
    var graphVersion: String

    init(_ configuration: CloudConfiguration) {
        phoneNumberId = configuration.phoneNumberId
        graphBaseUrl = configuration.graphBaseUrl
        graphVersion = configuration.graphVersion
    }

    /// The options of a stored session; `nil` for another engine's.
    init?(_ session: SessionRecord) {
        guard session.engine == EngineKind.cloud.rawValue,
            let options = try? JSONDecoder().decode(Self.self, from: Data(session.options.utf8))
        else { return nil }
        self = options
    }

    /// The JSON text for the options column.
    var text: String { String(decoding: (try? JSONEncoder.wharf.encode(self)) ?? Data("{}".utf8), as: UTF8.self) }
}
