import Crypto
import Foundation
import SwiftProtobuf

/// The media retry: when a file's link has expired (or what came back does not check out), a
/// device asks its own phone, which keeps every file the account received, to upload it again.
///
/// The request (`<receipt type="server-error">`) and the phone's answer (`<notification
/// type="mediaretry">`) are sealed with AES-256-GCM under a key only holders of the file's media
/// key can derive, with the message id as associated data, so the server cannot read or forge them.
enum MediaRetry {
    static let keyInfo = "WhatsApp Media Retry Notification"

    static func key(_ mediaKey: Data) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: mediaKey), salt: [UInt8](), info: Array(keyInfo.utf8), outputByteCount: 32)
    }

    /// The receipt asking for `reference`'s file again, addressed to our own account.
    static func receipt(for reference: WebMediaReference, ownAccount: JID) throws -> BinaryNode {
        var request = WAServerErrorReceipt()
        request.stanzaID = reference.messageID
        let sealed = try AES.GCM.seal(
            try request.serializedData(), using: key(reference.mediaKey), nonce: AES.GCM.Nonce(),
            authenticating: Data(reference.messageID.utf8))
        var rmr: [BinaryNode.Attribute] = [.init("jid", .string(reference.chat)), .init("from_me", .string(reference.fromMe ? "true" : "false"))]
        if let participant = reference.participant { rmr.append(.init("participant", .string(participant))) }
        return BinaryNode(
            "receipt", ["id": .string(reference.messageID), "to": .jid(ownAccount), "type": "server-error"],
            children: [
                BinaryNode(
                    "encrypt",
                    children: [
                        BinaryNode("enc_p", bytes: Array(sealed.ciphertext + sealed.tag)), BinaryNode("enc_iv", bytes: Array(sealed.nonce)),
                    ]),
                BinaryNode("rmr", rmr),
            ])
    }

    /// The new direct path in the phone's answer, or why there is none.
    static func directPath(from notification: BinaryNode, for reference: WebMediaReference) throws(MediaDownloadError) -> String {
        if let error = notification.child("error") {
            let code = error.string("code") ?? "?"
            // 2: the phone no longer has the file; 3: it could not read our request.
            throw MediaDownloadError(
                code == "2"
                    ? "the phone no longer has the file (media retry: not found)"
                    : "the phone refused to upload the file again (media retry error \(code))",
                isRetryable: false)
        }
        guard let encrypt = notification.child("encrypt"), let ciphertext = encrypt.child("enc_p")?.bytes,
            let iv = encrypt.child("enc_iv")?.bytes, ciphertext.count > 16,
            let box = try? AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: iv), ciphertext: ciphertext.dropLast(16), tag: ciphertext.suffix(16)),
            let plain = try? AES.GCM.open(box, using: key(reference.mediaKey), authenticating: Data(reference.messageID.utf8)),
            let answer = try? WAMediaRetryNotification(serializedBytes: plain)
        else {
            throw MediaDownloadError("the phone's media retry answer could not be read", isRetryable: false)
        }
        guard answer.result == .success, !answer.directPath.isEmpty else {
            throw MediaDownloadError("the phone could not upload the file again (media retry result \(answer.result))", isRetryable: false)
        }
        return answer.directPath
    }
}
