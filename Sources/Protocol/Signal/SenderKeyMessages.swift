import Foundation
import SwiftProtobuf

/// What a group member hands each other member's devices (inside a pairwise message) so they can
/// read its group messages: version byte 0x33 ‖ protobuf{id, iteration, chain key, signing key}.
struct SenderKeyDistributionMessage: Sendable, Equatable {
    var keyID: UInt32
    var iteration: UInt32
    /// 32 bytes.
    var chainKey: [UInt8]
    /// The 32-byte signing public key.
    var signingKey: [UInt8]

    init(keyID: UInt32, iteration: UInt32, chainKey: [UInt8], signingKey: [UInt8]) {
        self.keyID = keyID
        self.iteration = iteration
        self.chainKey = chainKey
        self.signingKey = signingKey
    }

    init(_ bytes: some Collection<UInt8>) throws(SignalError) {
        let bytes = Array(bytes)
        guard bytes.count > 1 else { throw .invalidMessage("an empty sender key distribution message") }
        guard bytes[0] >> 4 == 3 else { throw .unsupportedVersion(bytes[0] >> 4) }
        let wire: SignalWireSenderKeyDistribution
        do {
            wire = try SignalWireSenderKeyDistribution(serializedBytes: Array(bytes[1...]))
        } catch {
            throw .invalidMessage("the sender key distribution is not a protobuf")
        }
        // libsignal requires all four fields.
        guard wire.hasID, wire.hasIteration, wire.hasChainKey, wire.hasSigningKey, wire.chainKey.count == 32 else {
            throw .invalidMessage("the sender key distribution lacks its id, iteration, chain key or signing key")
        }
        keyID = wire.id
        iteration = wire.iteration
        chainKey = Array(wire.chainKey)
        signingKey = try SignalKeys.deserialize(wire.signingKey)
    }

    var serialized: [UInt8] {
        var wire = SignalWireSenderKeyDistribution()
        wire.id = keyID
        wire.iteration = iteration
        wire.chainKey = Data(chainKey)
        wire.signingKey = Data(SignalKeys.serialize(signingKey))
        // Optional scalar and bytes fields always serialize.
        return [signalVersionByte] + ((try? wire.serializedBytes() as [UInt8]) ?? [])
    }
}

/// A group message (`skmsg`): version byte ‖ protobuf{id, iteration, ciphertext} ‖ a 64-byte
/// XEdDSA signature over both by the sender's signing key.
struct SenderKeyMessage: Sendable, Equatable {
    static let signatureLength = 64

    var keyID: UInt32
    var iteration: UInt32
    var ciphertext: [UInt8]
    /// The exact bytes as sent.
    private(set) var serialized: [UInt8]

    /// Builds and signs a message from the sender's side.
    init(keyID: UInt32, iteration: UInt32, ciphertext: [UInt8], signingKey: KeyPair) throws(SignalError) {
        self.keyID = keyID
        self.iteration = iteration
        self.ciphertext = ciphertext
        var wire = SignalWireSenderKeyMessage()
        wire.id = keyID
        wire.iteration = iteration
        wire.ciphertext = Data(ciphertext)
        let body: [UInt8]
        do {
            body = [signalVersionByte] + (try wire.serializedBytes() as [UInt8])
        } catch {
            throw .invalidMessage("the group message could not be serialized")
        }
        guard let signature = try? XEdDSA.sign(body, privateKey: signingKey.privateKey) else {
            throw .invalidKey("the group message could not be signed")
        }
        serialized = body + signature
    }

    /// Parses a received message; the signature is checked once the sender's key is known.
    init(_ bytes: [UInt8]) throws(SignalError) {
        guard bytes.count > 1 + Self.signatureLength else { throw .invalidMessage("a group message of \(bytes.count) bytes is too short") }
        guard bytes[0] >> 4 == 3 else { throw .unsupportedVersion(bytes[0] >> 4) }
        let wire: SignalWireSenderKeyMessage
        do {
            wire = try SignalWireSenderKeyMessage(serializedBytes: Array(bytes[1..<(bytes.count - Self.signatureLength)]))
        } catch {
            throw .invalidMessage("the group message is not a SenderKeyMessage protobuf")
        }
        guard wire.hasID, wire.hasIteration, wire.hasCiphertext else {
            throw .invalidMessage("the group message lacks its key id, iteration or ciphertext")
        }
        keyID = wire.id
        iteration = wire.iteration
        ciphertext = Array(wire.ciphertext)
        serialized = bytes
    }

    func hasValidSignature(signingKey: some DataProtocol) -> Bool {
        XEdDSA.verify(serialized.suffix(Self.signatureLength), of: serialized.dropLast(Self.signatureLength), publicKey: signingKey)
    }
}
