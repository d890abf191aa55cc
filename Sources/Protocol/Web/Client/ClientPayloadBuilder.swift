import Crypto
import Foundation
import SwiftProtobuf

/// The ClientPayload sent at the end of the Noise handshake: registration data for a device that
/// is not linked yet, or the account and device number for one that is.
enum ClientPayloadBuilder {
    static func registration(_ credentials: DeviceCredentials, configuration: WebEngineConfiguration) -> [UInt8] {
        var payload = base(configuration)
        var pairing = WAClientPayload.DevicePairingRegistrationData()
        pairing.eRegid = Data(bigEndian(credentials.registrationID, bytes: 4))
        pairing.eKeytype = Data([0x05])
        pairing.eIdent = Data(credentials.identityPublicKey)
        pairing.eSkeyID = Data(bigEndian(credentials.signedPreKeyID, bytes: 3))
        pairing.eSkeyVal = Data(credentials.signedPreKeyPublic)
        pairing.eSkeySig = credentials.signedPreKeySignature
        pairing.buildHash = Data(Insecure.MD5.hash(data: Data(configuration.versionString.utf8)))
        var props = WADeviceProps()
        props.os = configuration.deviceName
        props.version.primary = 0
        props.version.secondary = 1
        props.version.tertiary = 0
        props.platformType = .chrome
        props.requireFullSync = false
        pairing.deviceProps = try! props.serializedBytes()
        payload.devicePairingData = pairing
        payload.passive = false
        payload.pull = false
        return try! Array(payload.serializedBytes() as Data)
    }

    static func login(user: UInt64, device: UInt32, configuration: WebEngineConfiguration) -> [UInt8] {
        var payload = base(configuration)
        payload.username = user
        payload.device = device
        payload.passive = true
        payload.pull = true
        payload.lidDbMigrated = true
        return try! Array(payload.serializedBytes() as Data)
    }

    private static func base(_ configuration: WebEngineConfiguration) -> WAClientPayload {
        var payload = WAClientPayload()
        var agent = WAClientPayload.UserAgent()
        agent.platform = .web
        agent.releaseChannel = .release
        let version = configuration.version + [0, 0, 0]
        agent.appVersion.primary = version[0]
        agent.appVersion.secondary = version[1]
        agent.appVersion.tertiary = version[2]
        agent.mcc = "000"
        agent.mnc = "000"
        agent.osVersion = "0.1"
        agent.device = "Desktop"
        agent.osBuildNumber = "0.1"
        agent.localeLanguageIso6391 = "en"
        agent.localeCountryIso31661Alpha2 = "US"
        payload.userAgent = agent
        payload.webInfo.webSubPlatform = .webBrowser
        payload.connectType = .wifiUnknown
        payload.connectReason = .userActivated
        return payload
    }

    static func bigEndian(_ value: UInt32, bytes: Int) -> [UInt8] {
        (0..<bytes).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
    }
}
