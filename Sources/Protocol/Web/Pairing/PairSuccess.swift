import Crypto
import Foundation
import SwiftProtobuf

/// The companion's half of `<pair-success>`: check that the phone vouches for our identity key and
/// countersign. A value computation; the engine sends the reply and stores the account.
enum PairSuccess {
    static let accountSignaturePrefix: [UInt8] = [6, 0]
    static let deviceSignaturePrefix: [UInt8] = [6, 1]
    static let hostedAccountSignaturePrefix: [UInt8] = [6, 5]

    /// Why a pair-success was refused, with the error code and text the server expects back.
    struct Refusal: Error, Equatable {
        let code: Int
        let text: String
    }

    struct Outcome {
        let account: DeviceCredentials.LinkedAccount
        /// `<pair-device-sign>` content: the signed identity without the account signature key.
        let reply: BinaryNode
    }

    static func handle(_ node: BinaryNode, credentials: DeviceCredentials) throws(Refusal) -> Outcome {
        guard let success = node.child("pair-success"),
            let identityBytes = success.child("device-identity")?.bytes,
            case .jid(let jid)? = success.child("device")?[attribute: "jid"]
        else { throw Refusal(code: 500, text: "internal-error") }
        var lid: String?
        if case .jid(let value)? = success.child("device")?[attribute: "lid"] { lid = value.description }

        guard let container = try? WAADVSignedDeviceIdentityHMAC(serializedBytes: identityBytes) else {
            throw Refusal(code: 500, text: "internal-error")
        }
        let hosted = container.accountType == .hosted
        let signed = (hosted ? hostedAccountSignaturePrefix : []) + Array(container.details)
        guard HMAC<SHA256>.isValidAuthenticationCode(container.hmac, authenticating: signed, using: SymmetricKey(data: credentials.advSecret))
        else { throw Refusal(code: 401, text: "hmac-mismatch") }

        guard var identity = try? WAADVSignedDeviceIdentity(serializedBytes: container.details),
            let details = try? WAADVDeviceIdentity(serializedBytes: identity.details)
        else { throw Refusal(code: 500, text: "internal-error") }
        let ourIdentity = credentials.identityPublicKey
        let prefix = details.deviceType == .hosted ? hostedAccountSignaturePrefix : accountSignaturePrefix
        guard identity.accountSignatureKey.count == 32, identity.accountSignature.count == 64,
            XEdDSA.verify(identity.accountSignature, of: prefix + identity.details + ourIdentity, publicKey: identity.accountSignatureKey)
        else { throw Refusal(code: 401, text: "signature-mismatch") }

        let accountKey = identity.accountSignatureKey
        guard
            let deviceSignature = try? XEdDSA.sign(
                deviceSignaturePrefix + identity.details + ourIdentity + accountKey, privateKey: credentials.identityPrivateKey)
        else { throw Refusal(code: 500, text: "internal-error") }
        identity.deviceSignature = Data(deviceSignature)
        let stored = try! Array(identity.serializedBytes() as Data)
        identity.clearAccountSignatureKey()
        let reply = BinaryNode(
            "pair-device-sign",
            children: [
                BinaryNode("device-identity", ["key-index": .string(String(details.keyIndex))], bytes: try! Array(identity.serializedBytes() as Data))
            ])
        let account = DeviceCredentials.LinkedAccount(
            jid: jid.description, lid: lid, platform: success.child("platform")?.string("name"),
            businessName: success.child("biz")?.string("name"), accountSignatureKey: accountKey, signedIdentity: Data(stored))
        return Outcome(account: account, reply: reply)
    }
}
