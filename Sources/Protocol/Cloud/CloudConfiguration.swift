import Foundation

/// What a `cloud` session needs to speak for one business phone number.
///
/// The gateway stores it in the session's credentials store (encrypted there), and the engine
/// reads it on every connect, so a changed access token takes effect on the next restart.
public struct CloudConfiguration: Sendable, Codable, Equatable {
    /// Where the configuration is kept in the session's credentials store.
    public static let credentialsKey = "cloud.config"
    public static let defaultGraphBaseURL = "https://graph.facebook.com"
    /// The Graph API version used when a session names none; Meta keeps each for about two years.
    public static let defaultGraphVersion = "v24.0"

    public var phoneNumberId: String
    public var accessToken: String
    /// Signs Meta's webhook posts (`X-Hub-Signature-256`).
    public var appSecret: String
    /// What Meta's subscription check must present (`hub.verify_token`).
    public var verifyToken: String
    public var graphBaseUrl: String
    public var graphVersion: String

    public init(
        phoneNumberId: String, accessToken: String, appSecret: String, verifyToken: String,
        graphBaseUrl: String = Self.defaultGraphBaseURL, graphVersion: String = Self.defaultGraphVersion
    ) {
        self.phoneNumberId = phoneNumberId
        self.accessToken = accessToken
        self.appSecret = appSecret
        self.verifyToken = verifyToken
        self.graphBaseUrl = graphBaseUrl
        self.graphVersion = graphVersion
    }

    /// `https://graph.facebook.com/v24.0/<phone-number-id>`, without a trailing slash.
    var phoneNumberURL: String {
        var base = graphBaseUrl
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/\(graphVersion)/\(phoneNumberId)"
    }
}
