import Foundation

/// The text a linking QR code carries: the server's ref and the three public values the phone
/// needs, behind the deep link current WhatsApp apps open from the camera.
///
/// `https://wa.me/settings/linked_devices#ref,noiseKey,identityKey,advSecret,clientType`, with the
/// keys in standard base64; the client type `1` says "Chrome".
enum QRCodeData {
    static let prefix = "https://wa.me/settings/linked_devices#"

    static func make(ref: String, credentials: DeviceCredentials, clientType: String = "1") -> String {
        prefix
            + [
                ref,
                Data(credentials.noisePublicKey).base64EncodedString(),
                Data(credentials.identityPublicKey).base64EncodedString(),
                credentials.advSecret.base64EncodedString(),
                clientType,
            ].joined(separator: ",")
    }

    /// How long each ref is shown: the first for 60 seconds, the rest for 20, as the official client does.
    static func lifetime(ofRefAt index: Int) -> Duration { index == 0 ? .seconds(60) : .seconds(20) }
}
