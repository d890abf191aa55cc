import Crypto
import Foundation
import PeerSupport
import SwiftProtobuf
import Testing
import WharfCore

@testable import WhatsAppProtocol

@Suite struct PairingTests {
    /// Every derivation of code pairing (PBKDF2 + AES-CTR wrapping, the HKDF'd GCM key bundle, the ADV
    /// secret) made by Swift equals what Python's `cryptography` computes from the same inputs.
    @Test func linkCodeDerivationsMatchPythonCryptography() async throws {
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }
        let code = LinkCode(randomBytes: random(5))
        let identity = Curve25519.KeyAgreement.PrivateKey()
        let primaryEphemeral = Curve25519.KeyAgreement.PrivateKey()
        let primaryIdentity = Curve25519.KeyAgreement.PrivateKey()
        let (salt, iv, advRandom, bundleSalt, bundleNonce) = (random(32), random(16), random(32), random(32), random(12))
        let publicKey = Array(code.ephemeral.publicKey.rawRepresentation)
        let input: [String: String] = [
            "code": code.code, "publicKey": publicKey.hex, "salt": salt.hex, "iv": iv.hex,
            "companionEphemeral": Array(code.ephemeral.rawRepresentation).hex,
            "primaryEphemeral": Array(primaryEphemeral.rawRepresentation).hex,
            "identity": Array(identity.rawRepresentation).hex, "primaryIdentity": Array(primaryIdentity.rawRepresentation).hex,
            "advRandom": advRandom.hex, "bundleSalt": bundleSalt.hex, "bundleNonce": bundleNonce.hex,
        ]
        let peer = try PeerProcess("pairing_peer.py")
        peer.sendAll(try JSONSerialization.data(withJSONObject: input))
        let python = try JSONSerialization.jsonObject(with: await peer.readToEnd()) as! [String: String]

        let wrapped = try LinkCode.wrap(publicKey, code: code.code, salt: salt, iv: iv)
        #expect(wrapped.hex == python["wrapped"])
        #expect(try LinkCode.unwrap(wrapped, code: code.code) == publicKey)
        let primaryWrapped = [UInt8](hex: python["primaryWrapped"]!)!
        #expect(try LinkCode.unwrap(primaryWrapped, code: code.code) == Array(primaryEphemeral.publicKey.rawRepresentation))

        let finish = try code.finish(
            primaryWrappedEphemeral: primaryWrapped, primaryIdentity: [UInt8](hex: python["primaryIdentityPublic"]!)!,
            identity: identity, advRandom: advRandom, bundleSalt: bundleSalt, bundleNonce: bundleNonce)
        #expect(finish.wrappedKeyBundle.hex == python["bundle"])
        #expect(finish.advSecret.hex == python["advSecret"])
        #expect(try LinkCode.unwrap(wrapped, code: "WRONGCOD") != publicKey)
    }

    @Test func codesUseTheLinkingAlphabetAndItsBitOrder() async {
        // 40 bits of 0xFF…: every 5-bit group is 31, the alphabet's last letter.
        #expect(LinkCode(randomBytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).code == "ZZZZZZZZ")
        #expect(LinkCode(randomBytes: [0, 0, 0, 0, 0]).code == "11111111")
        // 0x08 0x86 0x42 0x98 0xE8 = 00001 00010 00011 00100 00101 00110 00111 01000
        #expect(LinkCode(randomBytes: [0x08, 0x86, 0x42, 0x98, 0xE8]).displayCode == "2345-6789")
    }

    /// A pair-success built the way the phone builds it; the companion checks and countersigns.
    func pairSuccess(
        credentials: DeviceCredentials, primary: Curve25519.KeyAgreement.PrivateKey, hmacKey: Data? = nil,
        tamperSignature: Bool = false
    ) throws -> BinaryNode {
        var details = WAADVDeviceIdentity()
        details.rawID = 77
        details.timestamp = 1_764_000_000
        details.keyIndex = 4
        let detailBytes: [UInt8] = try details.serializedBytes()
        var signed = WAADVSignedDeviceIdentity()
        signed.details = Data(detailBytes)
        signed.accountSignatureKey = primary.publicKey.rawRepresentation
        var signature = try XEdDSA.sign([6, 0] + detailBytes + credentials.identityPublicKey, privateKey: primary)
        if tamperSignature { signature[0] ^= 1 }
        signed.accountSignature = Data(signature)
        let signedBytes: [UInt8] = try signed.serializedBytes()
        var container = WAADVSignedDeviceIdentityHMAC()
        container.details = Data(signedBytes)
        container.hmac = Data(HMAC<SHA256>.authenticationCode(for: signedBytes, using: SymmetricKey(data: hmacKey ?? credentials.advSecret)))
        return BinaryNode(
            "iq", ["from": .jid(.server), "type": "set", "id": "p1"],
            children: [
                BinaryNode(
                    "pair-success",
                    children: [
                        BinaryNode("device-identity", bytes: try container.serializedBytes()),
                        BinaryNode(
                            "device",
                            [
                                "jid": .jid(JID(user: "491701234567", device: 5, server: JID.userServer)),
                                "lid": .jid(JID(user: "100000000000001", device: 5, server: JID.hiddenUserServer)),
                            ]),
                        BinaryNode("platform", ["name": "smba"]),
                    ])
            ])
    }

    @Test func pairSuccessIsCountersignedAndItsFaultsAreRefused() throws {
        let credentials = try DeviceCredentials.generate()
        let primary = Curve25519.KeyAgreement.PrivateKey()
        let outcome = try PairSuccess.handle(try pairSuccess(credentials: credentials, primary: primary), credentials: credentials)
        #expect(outcome.account.jid == "491701234567:5@s.whatsapp.net")
        #expect(outcome.account.lid == "100000000000001:5@lid")
        #expect(outcome.account.accountSignatureKey == primary.publicKey.rawRepresentation)
        let sent = try #require(outcome.reply.child("device-identity"))
        #expect(sent.string("key-index") == "4")
        let identity = try WAADVSignedDeviceIdentity(serializedBytes: sent.bytes!)
        #expect(!identity.hasAccountSignatureKey)
        #expect(
            XEdDSA.verify(
                identity.deviceSignature, of: [6, 1] + identity.details + credentials.identityPublicKey + primary.publicKey.rawRepresentation,
                publicKey: credentials.identityPublicKey))

        #expect(throws: PairSuccess.Refusal(code: 401, text: "hmac-mismatch")) {
            try PairSuccess.handle(
                try pairSuccess(credentials: credentials, primary: primary, hmacKey: Data(repeating: 1, count: 32)), credentials: credentials)
        }
        #expect(throws: PairSuccess.Refusal(code: 401, text: "signature-mismatch")) {
            try PairSuccess.handle(try pairSuccess(credentials: credentials, primary: primary, tamperSignature: true), credentials: credentials)
        }
        #expect(throws: PairSuccess.Refusal(code: 500, text: "internal-error")) {
            try PairSuccess.handle(BinaryNode("iq", children: [BinaryNode("pair-success")]), credentials: credentials)
        }
    }

    @Test func qrStringCarriesTheDevicesPublicValues() throws {
        let credentials = try DeviceCredentials.generate()
        let qr = QRCodeData.make(ref: "2@abc", credentials: credentials)
        let fields = qr.dropFirst(QRCodeData.prefix.count).split(separator: ",").map(String.init)
        #expect(fields.count == 5)
        #expect(fields[0] == "2@abc")
        #expect(Data(base64Encoded: fields[1]) == Data(credentials.noisePublicKey))
        #expect(Data(base64Encoded: fields[2]) == Data(credentials.identityPublicKey))
        #expect(Data(base64Encoded: fields[3]) == credentials.advSecret)
        #expect(fields[4] == "1")
        #expect(XEdDSA.verify(credentials.signedPreKeySignature, of: [5] + credentials.signedPreKeyPublic, publicKey: credentials.identityPublicKey))
    }
}

@Suite struct ConnectionMachineTests {
    @Test func loginSucceedsAndStanzasRouteToTheirActions() {
        var machine = ConnectionMachine(linked: true)
        #expect(machine.receive(BinaryNode("iq", ["type": "set"], children: [BinaryNode("pair-device")])) == .ignore)
        #expect(machine.receive(BinaryNode("success")) == .loggedIn)
        #expect(machine.phase == .connected)
        #expect(machine.receive(BinaryNode("iq", ["id": "7", "type": "result"])) == .response(id: "7"))
        #expect(machine.receive(BinaryNode("iq", ["id": "8", "type": "get", "xmlns": "urn:xmpp:ping"])) == .answerPing(id: "8"))
        #expect(machine.receive(BinaryNode("notification", ["type": "server_sync"])) == .acknowledge)
        #expect(machine.closed("socket closed") == .dropped("socket closed"))
        #expect(machine.receive(BinaryNode("success")) == .ignore)
    }

    @Test func registrationShowsRefsAndRestartsAfterPairing() {
        var machine = ConnectionMachine(linked: false)
        let refs = BinaryNode(
            "iq", ["id": "1", "type": "set"],
            children: [
                BinaryNode("pair-device", children: [BinaryNode("ref", bytes: Array("r1".utf8)), BinaryNode("ref", bytes: Array("r2".utf8))])
            ])
        #expect(machine.receive(refs) == .showRefs(iqID: "1", refs: ["r1", "r2"]))
        #expect(machine.receive(BinaryNode("success")) == .ignore)
        #expect(machine.receive(BinaryNode("iq", ["type": "set"], children: [BinaryNode("pair-success")])) == .pairSuccess)
        machine.pairingAccepted()
        // Pairing ends with the server closing the stream; either way the next step is a restart.
        #expect(machine.closed("closed") == .restart)
    }

    @Test(arguments: [
        (BinaryNode("stream:error", ["code": "515"]), ConnectionMachine.ConnectionEnd.restart),
        (
            BinaryNode("stream:error", ["code": "401"], children: [BinaryNode("conflict", ["type": "device_removed"])]),
            .loggedOut("the device was removed from the phone")
        ),
        (
            BinaryNode("stream:error", children: [BinaryNode("conflict", ["type": "replaced"])]),
            .replaced("another connection replaced this one; restart the session to take over")
        ),
        (BinaryNode("stream:error", ["code": "401"]), .dropped("stream error 401")),
        (BinaryNode("stream:error", ["code": "503"]), .dropped("stream error 503")),
        (BinaryNode("failure", ["reason": "401"]), .loggedOut("WhatsApp logged this device out")),
        (BinaryNode("failure", ["reason": "405"]), .dropped("WhatsApp refuses this client version; set WA_VERSION to a current one")),
        (BinaryNode("failure", ["reason": "500"]), .dropped("WhatsApp refused the login (500)")),
    ])
    func serverVerdictsMapToConnectionEnds(node: BinaryNode, end: ConnectionMachine.ConnectionEnd) {
        var machine = ConnectionMachine(linked: true)
        #expect(machine.receive(node) == .end(end))
        #expect(machine.phase == .ended(end))
    }
}
