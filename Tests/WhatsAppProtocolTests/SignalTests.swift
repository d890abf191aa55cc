import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Wharf's Signal layer against python-axolotl (a strict port of libsignal, GPL, run as a separate
/// process): sessions both ways, with and without one-time prekeys, ratchet turns, out-of-order and
/// skipped messages, tampering, padding, identity changes and archived states.
@Suite(.serialized) struct SignalTests {
    /// Wharf's side: an identity with its prekeys and one session record per peer.
    final class SwiftParty {
        let identity = LocalIdentity(keyPair: KeyPair(), registrationID: UInt32.random(in: 1...16380))
        let signedPreKey = KeyPair()
        let signedPreKeyID: UInt32 = 1
        var oneTimePreKeys: [UInt32: KeyPair] = [:]
        var record = SessionRecord()

        var keys: SessionCipher.LocalKeys {
            SessionCipher.LocalKeys(
                identity: identity, signedPreKey: { [signedPreKey, signedPreKeyID] in $0 == signedPreKeyID ? signedPreKey : nil },
                oneTimePreKey: { [oneTimePreKeys] in oneTimePreKeys[$0] })
        }

        /// Our bundle as the axolotl peer's `process_bundle` takes it.
        func bundle(oneTime: Bool) throws -> [String: Any] {
            let signature = try XEdDSA.sign(signedPreKey.serializedPublicKey, privateKey: identity.keyPair.privateKey)
            var bundle: [String: Any] = [
                "registrationId": identity.registrationID, "deviceId": 1, "identityKey": identity.keyPair.serializedPublicKey.hex,
                "signedPreKeyId": signedPreKeyID, "signedPreKey": signedPreKey.serializedPublicKey.hex, "signedPreKeySignature": signature.hex,
            ]
            if oneTime {
                let id = UInt32(oneTimePreKeys.count + 1)
                let key = KeyPair()
                oneTimePreKeys[id] = key
                bundle["preKeyId"] = id
                bundle["preKey"] = key.serializedPublicKey.hex
            }
            return bundle
        }

        func encrypt(_ text: String) throws -> CiphertextMessage {
            try SessionCipher.encrypt(Array(text.utf8), record: &record)
        }

        func decrypt(type: String, _ ciphertext: [UInt8]) throws -> String {
            if type == "pkmsg" {
                let (plaintext, used) = try SessionCipher.decrypt(try PreKeySignalMessage(ciphertext), record: &record, keys: keys)
                if let used { oneTimePreKeys[used] = nil }
                return String(decoding: plaintext, as: UTF8.self)
            }
            return String(decoding: try SessionCipher.decrypt(try SignalMessage(ciphertext), record: &record), as: UTF8.self)
        }
    }

    func axolotl() async throws -> JSONPeer { try await JSONPeer("axolotl_peer.py") }

    func bundle(from peer: JSONPeer, oneTime: Bool) async throws -> PreKeyBundle {
        let answer = try await peer.call(["op": "bundle", "oneTime": oneTime])
        return PreKeyBundle(
            registrationID: UInt32(answer["registrationId"] as? Int ?? 0),
            identityKey: try SignalKeys.deserialize(hexMember(answer, "identityKey") ?? []),
            signedPreKeyID: UInt32(answer["signedPreKeyId"] as? Int ?? 0),
            signedPreKey: try SignalKeys.deserialize(hexMember(answer, "signedPreKey") ?? []),
            signedPreKeySignature: hexMember(answer, "signedPreKeySignature") ?? [],
            preKeyID: (answer["preKeyId"] as? Int).map(UInt32.init),
            preKey: try hexMember(answer, "preKey").map { try SignalKeys.deserialize($0) })
    }

    func send(_ peer: JSONPeer, _ message: CiphertextMessage) async throws -> String {
        let answer = try await peer.call(["op": "decrypt", "peer": "wharf", "type": message.wireType, "ciphertext": message.serialized.hex])
        return String(decoding: hexMember(answer, "plaintext") ?? [], as: UTF8.self)
    }

    func receive(_ peer: JSONPeer, _ text: String) async throws -> (type: String, ciphertext: [UInt8]) {
        let answer = try await peer.call(["op": "encrypt", "peer": "wharf", "plaintext": Array(text.utf8).hex])
        return (answer["type"] as? String ?? "", hexMember(answer, "ciphertext") ?? [])
    }

    @Test(arguments: [true, false])
    func wharfStartsASessionAndTheRatchetTurns(withOneTimePreKey: Bool) async throws {
        let peer = try await axolotl()
        let wharf = SwiftParty()
        wharf.record.current = try await SessionBuilder.initiate(with: try bundle(from: peer, oneTime: withOneTimePreKey), identity: wharf.identity)
        let first = try wharf.encrypt("hello from Swift")
        guard case .preKey(let pkmsg) = first else {
            Issue.record("the first message is not a pkmsg")
            return
        }
        #expect((pkmsg.preKeyID != nil) == withOneTimePreKey)
        #expect(try await send(peer, first) == "hello from Swift")
        // Until the other side answers, every message repeats the prekey part.
        #expect(try wharf.encrypt("second").wireType == "pkmsg")
        for round in 0..<4 {
            let reply = try await receive(peer, "reply \(round)")
            #expect(reply.type == "msg")
            #expect(try wharf.decrypt(type: reply.type, reply.ciphertext) == "reply \(round)")
            let message = try wharf.encrypt("answer \(round)")
            #expect(message.wireType == "msg")
            #expect(try await send(peer, message) == "answer \(round)")
        }
    }

    @Test(arguments: [true, false])
    func axolotlStartsASessionWithOurBundle(withOneTimePreKey: Bool) async throws {
        let peer = try await axolotl()
        let wharf = SwiftParty()
        try await peer.call(["op": "process_bundle", "peer": "wharf", "bundle": try wharf.bundle(oneTime: withOneTimePreKey)])
        let first = try await receive(peer, "hello from axolotl")
        #expect(first.type == "pkmsg")
        #expect(try wharf.decrypt(type: first.type, first.ciphertext) == "hello from axolotl")
        // A one-time prekey is used once and then gone.
        #expect(wharf.oneTimePreKeys.isEmpty)
        let second = try await receive(peer, "again")
        #expect(try wharf.decrypt(type: second.type, second.ciphertext) == "again")
        #expect(try await send(peer, try wharf.encrypt("hello back")) == "hello back")
        let third = try await receive(peer, "after the reply")
        #expect(third.type == "msg")
        #expect(try wharf.decrypt(type: third.type, third.ciphertext) == "after the reply")
    }

    @Test func outOfOrderAndSkippedMessagesDecryptOnce() async throws {
        let peer = try await axolotl()
        let wharf = SwiftParty()
        try await peer.call(["op": "process_bundle", "peer": "wharf", "bundle": try wharf.bundle(oneTime: true)])
        let messages = try await sequentially(1...6) { try await receive(peer, "m\($0)") }
        for index in [2, 0, 5, 1, 4, 3] {
            #expect(try wharf.decrypt(type: messages[index].type, messages[index].ciphertext) == "m\(index + 1)")
        }
        // Each was decrypted once: a second time is a duplicate, not a second plaintext.
        #expect(throws: SignalError.duplicateMessage(counter: 2)) {
            _ = try wharf.decrypt(type: "msg", try PreKeySignalMessage(messages[2].ciphertext).message.serialized)
        }
        // A new ratchet turn with a gap in the middle.
        #expect(try await send(peer, try wharf.encrypt("turn")) == "turn")
        let later = try await sequentially(1...3) { try await receive(peer, "l\($0)") }
        #expect(try wharf.decrypt(type: later[2].type, later[2].ciphertext) == "l3")
        #expect(try wharf.decrypt(type: later[0].type, later[0].ciphertext) == "l1")
    }

    @Test func aTamperedMACIsRefusedAndChangesNothing() async throws {
        let peer = try await axolotl()
        let wharf = SwiftParty()
        try await peer.call(["op": "process_bundle", "peer": "wharf", "bundle": try wharf.bundle(oneTime: true)])
        let first = try await receive(peer, "first")
        _ = try wharf.decrypt(type: first.type, first.ciphertext)
        #expect(try await send(peer, try wharf.encrypt("ack")) == "ack")
        let message = try await receive(peer, "genuine")
        var tampered = message.ciphertext
        tampered[tampered.count - 1] ^= 0x01
        let before = wharf.record
        #expect(throws: SignalError.invalidMessage("bad MAC")) { _ = try wharf.decrypt(type: "msg", tampered) }
        #expect(wharf.record == before)
        #expect(try wharf.decrypt(type: message.type, message.ciphertext) == "genuine")
        // Our MAC is the strict one: axolotl refuses ours when one byte of it changes.
        var ours = try wharf.encrypt("checked").serialized
        ours[ours.count - 2] ^= 0x80
        let refused = try await peer.send(["op": "decrypt", "peer": "wharf", "type": "msg", "ciphertext": ours.hex])
        #expect(refused["error"] as? String == "InvalidMessageException")
    }

    @Test func paddingIsWhatsAppsAndCheckedStrictly() async throws {
        let peer = try await axolotl()
        let wharf = SwiftParty()
        wharf.record.current = try await SessionBuilder.initiate(with: try bundle(from: peer, oneTime: true), identity: wharf.identity)
        var random = SeededRandom(seed: 7)
        var counts = Set<Int>()
        for index in 0..<64 {
            let plaintext = Array("padded \(index)".utf8)
            let padded = WhatsAppPadding.pad(plaintext, using: &random)
            let answer = try await peer.call([
                "op": "decrypt", "peer": "wharf", "type": index == 0 ? "pkmsg" : "msg",
                "ciphertext": try SessionCipher.encrypt(padded, record: &wharf.record).serialized.hex,
            ])
            let received = hexMember(answer, "plaintext") ?? []
            let count = Int(received.last ?? 0)
            counts.insert(count)
            #expect((1...16).contains(count))
            #expect(received.suffix(count).allSatisfy { Int($0) == count })
            #expect(try WhatsAppPadding.unpad(received) == plaintext)
            if index == 0 { _ = try await wharf.decrypt(type: "msg", try receive(peer, "open").ciphertext) }
        }
        #expect(counts.count > 8, "padding lengths vary: \(counts.sorted())")
        // A peer's message whose padding bytes are not all equal is refused.
        let bad = try await receive(peer, "hello\u{03}\u{03}\u{02}\u{03}")
        let plaintext = Array(try wharf.decrypt(type: bad.type, bad.ciphertext).utf8)
        #expect(throws: SignalError.invalidMessage("the padding bytes differ")) { try WhatsAppPadding.unpad(plaintext) }
        #expect(throws: SignalError.self) { try WhatsAppPadding.unpad([0x41, 0x00]) }
        #expect(throws: SignalError.self) { try WhatsAppPadding.unpad([0x09]) }
    }

    @Test func aChangedIdentityStartsANewSessionAndTheOldStateStillDecrypts() async throws {
        let peer = try await axolotl()
        let wharf = SwiftParty()
        try await peer.call(["op": "process_bundle", "peer": "wharf", "bundle": try wharf.bundle(oneTime: true)])
        let first = try await receive(peer, "old identity")
        _ = try wharf.decrypt(type: first.type, first.ciphertext)
        let oldIdentity = try #require(wharf.record.current?.remoteIdentity)
        // Keep the old session to send from it later, as a message still in flight would be.
        let saved = try await peer.call(["op": "save_session", "peer": "wharf"])
        let pending = try await receive(peer, "sent before the reinstall")

        // The peer reinstalls: a new identity and a new session from our bundle.
        try await peer.call(["op": "identity", "dropSessions": true])
        try await peer.call(["op": "process_bundle", "peer": "wharf", "bundle": try wharf.bundle(oneTime: true)])
        let fresh = try await receive(peer, "new identity")
        #expect(fresh.type == "pkmsg")
        #expect(try wharf.decrypt(type: fresh.type, fresh.ciphertext) == "new identity")
        let newIdentity = try #require(wharf.record.current?.remoteIdentity)
        #expect(newIdentity != oldIdentity)
        #expect(wharf.record.previous.first?.remoteIdentity == oldIdentity)
        // The message encrypted under the archived state still decrypts.
        #expect(try wharf.decrypt(type: pending.type, pending.ciphertext) == "sent before the reinstall")
        _ = saved
    }
}
