import Crypto
import Foundation
import PeerSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

@Suite struct XEdDSATests {
    @Test func signaturesInteroperateWithLibxeddsaBothWays() async throws {
        var random = SeededRandom(seed: 11)
        var ours: [[String: String]] = []
        for index in 0..<40 {
            let key = Curve25519.KeyAgreement.PrivateKey()
            let message = (0..<(index * 7)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let signature = try XEdDSA.sign(message, privateKey: key)
            #expect(XEdDSA.verify(signature, of: message, publicKey: key.publicKey.rawRepresentation))
            ours.append(["key": Array(key.publicKey.rawRepresentation).hex, "message": message.hex, "signature": signature.hex])
        }
        // One forged entry the peer must refuse, so a peer that accepts everything fails the test.
        var forged = ours[3]
        forged["message"] = ours[4]["message"]
        let messages = (0..<40).map { [UInt8](repeating: UInt8($0), count: $0 * 3).hex }
        let request = try JSONSerialization.data(withJSONObject: ["verify": ours + [forged], "sign": messages])

        let peer = try PeerProcess("xeddsa_peer.py")
        peer.sendAll(request)
        let answer = try await JSONSerialization.jsonObject(with: peer.readToEnd()) as! [String: Any]
        #expect(answer["verified"] as? [Bool] == Array(repeating: true, count: 40) + [false])

        let theirs = answer["signed"] as! [[String: String]]
        #expect(theirs.count == 40)
        for (index, item) in theirs.enumerated() {
            let key = [UInt8](hex: item["key"]!)!
            let message = [UInt8](hex: item["message"]!)!
            let signature = [UInt8](hex: item["signature"]!)!
            #expect(XEdDSA.verify(signature, of: message, publicKey: key), "signature \(index)")
            #expect(!XEdDSA.verify(signature, of: message + [0], publicKey: key))
        }
    }

    @Test func aFixedRandomGivesAFixedSignatureAndWrongInputsFail() throws {
        let key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 0x42, count: 32))
        let random = [UInt8](repeating: 7, count: 64)
        let first = try XEdDSA.sign(Array("m".utf8), privateKey: key, random: random)
        #expect(try XEdDSA.sign(Array("m".utf8), privateKey: key, random: random) == first)
        #expect(try XEdDSA.sign(Array("m".utf8), privateKey: key) != first)
        let publicKey = Array(key.publicKey.rawRepresentation)
        var flipped = first
        flipped[10] ^= 1
        #expect(!XEdDSA.verify(flipped, of: Array("m".utf8), publicKey: publicKey))
        #expect(!XEdDSA.verify(first, of: Array("m".utf8), publicKey: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)))
        #expect(!XEdDSA.verify(first.dropLast(), of: Array("m".utf8), publicKey: publicKey))
        #expect(throws: XEdDSA.Failure.randomness) { try XEdDSA.sign([1], privateKey: key, random: [1, 2]) }
    }

    @Test func montgomeryToEdwardsMatchesTheCurveBasePoint() {
        // u = 9 is the X25519 base point; its Edwards y is 4/5 mod p, RFC 7748's 0x6666…58.
        var nine = [UInt8](repeating: 0, count: 32)
        nine[0] = 9
        #expect(Field25519.edwardsY(fromMontgomeryU: nine).hex == "5866666666666666666666666666666666666666666666666666666666666666")
        let x = Field25519.element([UInt8](hex: "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")!)
        #expect(Field25519.multiply(x, Field25519.invert(x)) == Field25519.one)
    }
}
