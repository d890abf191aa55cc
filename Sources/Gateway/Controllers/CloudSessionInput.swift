import Foundation
import WharfCore
import WhatsAppProtocol

/// The `cloud` member of a session's create or update request, checked field by field.
///
/// Secrets (`accessToken`, `appSecret`, `verifyToken`) go into the session's encrypted credentials
/// and are never answered back; the rest is also kept in the session's options, where the API and
/// the consoles show it. A field Wharf cannot take is a ``ValidationError``.
struct CloudSessionInput: Decodable {
    var phoneNumberId: String?
    var accessToken: String?
    var appSecret: String?
    var verifyToken: String?
    var graphBaseUrl: String?
    var graphVersion: String?

    /// The settings of a new session: the four first fields are required.
    func configuration(services: GatewayServices) throws -> CloudConfiguration {
        func required(_ value: String?, _ name: String) throws -> String {
            guard let value, !value.isEmpty else {
                throw ValidationError.missing(field: "cloud.\(name)", detail: "field 'cloud.\(name)' is required for a Cloud API session")
            }
            return value
        }
        var configuration = CloudConfiguration(
            phoneNumberId: try required(phoneNumberId, "phoneNumberId"), accessToken: try required(accessToken, "accessToken"),
            appSecret: try required(appSecret, "appSecret"), verifyToken: try required(verifyToken, "verifyToken"))
        try apply(to: &configuration, services: services)
        return configuration
    }

    /// An update: given fields replace the stored ones.
    func apply(to configuration: inout CloudConfiguration, services: GatewayServices) throws {
        if let phoneNumberId {
            guard (1...32).contains(phoneNumberId.count), phoneNumberId.allSatisfy(\.isASCII), phoneNumberId.allSatisfy(\.isNumber) else {
                throw ValidationError.invalid(
                    field: "cloud.phoneNumberId",
                    detail: "field 'cloud.phoneNumberId' must be the digits of the Phone number ID shown in Meta's WhatsApp Manager"
                        + " (not the phone number)")
            }
            configuration.phoneNumberId = phoneNumberId
        }
        for (name, value, limit) in [("accessToken", accessToken, 4096), ("appSecret", appSecret, 256), ("verifyToken", verifyToken, 256)] {
            guard let value else { continue }
            guard (1...limit).contains(value.utf8.count), value.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
                throw ValidationError.invalid(
                    field: "cloud.\(name)", detail: "field 'cloud.\(name)' must be 1 to \(limit) visible ASCII characters without spaces")
            }
        }
        configuration.accessToken = accessToken ?? configuration.accessToken
        configuration.appSecret = appSecret ?? configuration.appSecret
        configuration.verifyToken = verifyToken ?? configuration.verifyToken
        if let graphBaseUrl {
            var base = try services.validateWebhookURL(graphBaseUrl, field: "cloud.graphBaseUrl")
            while base.hasSuffix("/") { base.removeLast() }
            configuration.graphBaseUrl = base
        }
        if let graphVersion {
            let parts = graphVersion.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
            guard graphVersion.hasPrefix("v"), parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
                throw ValidationError.invalid(
                    field: "cloud.graphVersion",
                    detail: "field 'cloud.graphVersion' must be a Graph API version such as \(CloudConfiguration.defaultGraphVersion)")
            }
            configuration.graphVersion = graphVersion
        }
    }
}
