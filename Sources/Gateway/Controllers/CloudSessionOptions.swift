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

    /// The options of a stored session; `nil` when it has no Cloud API settings (another engine's).
    init?(_ session: SessionRecord) {
        let options = session.options
        guard let phoneNumberId = options.phoneNumberId, let graphBaseUrl = options.graphBaseUrl,
            let graphVersion = options.graphVersion
        else { return nil }
        self.phoneNumberId = phoneNumberId
        self.graphBaseUrl = graphBaseUrl
        self.graphVersion = graphVersion
    }

    /// The session options that hold these settings.
    var sessionOptions: SessionOptions {
        var options = SessionOptions()
        options.phoneNumberId = phoneNumberId
        options.graphBaseUrl = graphBaseUrl
        options.graphVersion = graphVersion
        return options
    }
}
