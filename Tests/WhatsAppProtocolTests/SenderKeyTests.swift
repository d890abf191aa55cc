import Foundation
import PeerSupport
import TestSupport
import Testing
import WharfCore

@testable import WhatsAppProtocol

/// Wharf's sender keys (group messages) against python-axolotl's GroupCipher, both ways: chains
/// that start at iteration 0 and later, skipped and out-of-order iterations, duplicates, bad
/// signatures, and a new chain after a member left.
@Suite(.serialized) struct SenderKeyTests {
    func axolotl() async throws -> JSONPeer { try await JSONPeer("axolotl_peer.py") }

    /// The peer's chain in `group`, as our record of it.
    func record(of peer: JSONPeer, in group: String) async throws -> SenderKeyRecord {
        let answer = try await peer.call(["op": "group_create", "group": group])
        var record = SenderKeyRecord()
        record.add(try SenderKeyDistributionMessage(hexMember(answer, "distribution") ?? []))
        return record
    }

    func groupMessage(from peer: JSONPeer, in group: String, _ text: String) async throws -> SenderKeyMessage {
        let answer = try await peer.call(["op": "group_encrypt", "group": group, "plaintext": Array(text.utf8).hex])
        return try SenderKeyMessage(hexMember(answer, "ciphertext") ?? [])
    }

    func decrypt(_ message: SenderKeyMessage, _ record: inout SenderKeyRecord) throws -> String {
        String(decoding: try GroupCipher.decrypt(message, record: &record), as: UTF8.self)
    }

    @Test func axolotlsGroupMessagesDecryptInAnyOrderOnce() async throws {
        let peer = try await axolotl()
        var record = try await record(of: peer, in: "123-456@g.us")
        let messages = try await sequentially(0..<6) { try await groupMessage(from: peer, in: "123-456@g.us", "g\($0)") }
        #expect(messages.map(\.iteration) == [0, 1, 2, 3, 4, 5])
        for index in [3, 0, 5, 1, 4, 2] {
            #expect(try decrypt(messages[index], &record) == "g\(index)")
        }
        #expect(throws: SignalError.duplicateMessage(counter: 3)) { _ = try decrypt(messages[3], &record) }
        #expect(record.states.first?.skipped.isEmpty == true)
    }

    @Test func aBadSignatureIsRefusedAndChangesNothing() async throws {
        let peer = try await axolotl()
        var record = try await record(of: peer, in: "g")
        let message = try await groupMessage(from: peer, in: "g", "signed")
        var bytes = message.serialized
        bytes[bytes.count - 5] ^= 0x10
        let before = record
        #expect(throws: SignalError.invalidMessage("the group message's signature does not verify")) {
            _ = try decrypt(try SenderKeyMessage(bytes), &record)
        }
        #expect(record == before)
        #expect(try decrypt(message, &record) == "signed")
    }

    @Test func aDistributionSentAgainDoesNotWindTheChainBack() async throws {
        let peer = try await axolotl()
        let first = try await peer.call(["op": "group_create", "group": "g"])
        var record = SenderKeyRecord()
        record.add(try SenderKeyDistributionMessage(hexMember(first, "distribution") ?? []))
        _ = try await decrypt(try groupMessage(from: peer, in: "g", "one"), &record)
        // The peer's distribution now starts at iteration 1; ours is already past it.
        await record.add(try SenderKeyDistributionMessage(hexMember(try peer.call(["op": "group_create", "group": "g"]), "distribution") ?? []))
        #expect(record.states.count == 1)
        #expect(record.states[0].chain.iteration == 1)
    }

    @Test func aDistributionLaterInTheChainStartsThere() async throws {
        let peer = try await axolotl()
        _ = try await peer.call(["op": "group_create", "group": "g"])
        _ = try await sequentially(0..<3) { try await groupMessage(from: peer, in: "g", "before \($0)") }
        // A member who joins now gets the chain at iteration 3.
        var record = try await record(of: peer, in: "g")
        #expect(record.states[0].chain.iteration == 3)
        #expect(try await decrypt(try groupMessage(from: peer, in: "g", "after"), &record) == "after")
    }

    @Test func wharfsGroupMessagesDecryptInAxolotl() async throws {
        let peer = try await axolotl()
        var ours = SenderKeyRecord(states: [GroupCipher.makeOwnState()])
        let distribution = try GroupCipher.distribution(of: ours)
        #expect(distribution.serialized.first == 0x33)
        try await peer.call(["op": "group_process", "group": "g", "peer": "wharf", "distribution": distribution.serialized.hex])
        var sent: [SenderKeyMessage] = []
        for index in 0..<5 { sent.append(try GroupCipher.encrypt(Array("w\(index)".utf8), record: &ours)) }
        #expect(sent.map(\.iteration) == [0, 1, 2, 3, 4])
        for index in [1, 0, 4, 2, 3] {
            let answer = try await peer.call(["op": "group_decrypt", "group": "g", "peer": "wharf", "ciphertext": sent[index].serialized.hex])
            #expect(String(decoding: hexMember(answer, "plaintext") ?? [], as: UTF8.self) == "w\(index)")
        }
        // A member who gets our distribution now starts at iteration 5.
        #expect(try GroupCipher.distribution(of: ours).iteration == 5)
        // Our signature is checked strictly: one flipped bit and axolotl refuses it.
        var tampered = try GroupCipher.encrypt(Array("x".utf8), record: &ours).serialized
        tampered[tampered.count - 1] ^= 0x01
        let refused = try await peer.send(["op": "group_decrypt", "group": "g", "peer": "wharf", "ciphertext": tampered.hex])
        #expect(refused["error"] as? String == "InvalidMessageException")
    }

    @Test func aNewChainIsUnreadableWithTheOldDistribution() async throws {
        let stays = try await axolotl()
        let leaves = try await axolotl()
        var ours = SenderKeyRecord(states: [GroupCipher.makeOwnState()])
        for peer in [stays, leaves] {
            try await peer.call([
                "op": "group_process", "group": "g", "peer": "wharf", "distribution": try GroupCipher.distribution(of: ours).serialized.hex,
            ])
        }
        _ = try GroupCipher.encrypt(Array("to both".utf8), record: &ours)
        // A member left: a new chain, given only to who stays.
        ours = SenderKeyRecord(states: [GroupCipher.makeOwnState()])
        try await stays.call([
            "op": "group_process", "group": "g", "peer": "wharf", "distribution": try GroupCipher.distribution(of: ours).serialized.hex,
        ])
        let secret = try GroupCipher.encrypt(Array("after the leave".utf8), record: &ours)
        let read = try await stays.call(["op": "group_decrypt", "group": "g", "peer": "wharf", "ciphertext": secret.serialized.hex])
        #expect(String(decoding: hexMember(read, "plaintext") ?? [], as: UTF8.self) == "after the leave")
        let refused = try await leaves.send(["op": "group_decrypt", "group": "g", "peer": "wharf", "ciphertext": secret.serialized.hex])
        #expect(refused["ok"] as? Bool == false)
    }

    @Test func malformedMessagesAreRefused() {
        #expect(throws: SignalError.self) { _ = try SenderKeyMessage([0x33, 0x08]) }
        #expect(throws: SignalError.unsupportedVersion(2)) { _ = try SenderKeyDistributionMessage([0x22, 0x08, 0x01]) }
        #expect(throws: SignalError.self) { _ = try SenderKeyDistributionMessage([0x33, 0x08, 0x01]) }
    }
}
