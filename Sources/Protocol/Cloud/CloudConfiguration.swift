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

    /// The configuration kept in a session's credentials store; `nil` when there is none.
    public static func load(from credentials: any CredentialsStore) async throws -> CloudConfiguration? {
        guard let stored = try await credentials.value(forKey: credentialsKey) else { return nil }
        return try JSONDecoder().decode(CloudConfiguration.self, from: stored)
    }

    /// The bytes `load(from:)` reads back, for a store that is written in one transaction with more.
    public func encoded() throws -> Data { try JSONEncoder().encode(self) }

    public func save(to credentials: any CredentialsStore) async throws {
        try await credentials.setValue(try encoded(), forKey: Self.credentialsKey)
    }

    /// `https://graph.facebook.com/v24.0/<phone-number-id>`, without a trailing slash.
    var phoneNumberURL: String {
        var base = graphBaseUrl
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/\(graphVersion)/\(phoneNumberId)"
    }
}
