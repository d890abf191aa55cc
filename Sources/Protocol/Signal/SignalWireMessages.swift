import Foundation
import SwiftProtobuf

/// The version byte in front of every v3 message: current and minimum version, `(3 << 4) | 3`.
let signalVersionByte: UInt8 = 0x33

/// A `msg`: version byte ‖ protobuf ‖ the first 8 bytes of an HMAC-SHA256 over both identities,
/// the version byte and the protobuf.
struct SignalMessage: Sendable, Equatable {
    static let macLength = 8

    var ratchetKey: [UInt8]
    var counter: UInt32
    var previousCounter: UInt32
    var ciphertext: [UInt8]
    /// The exact bytes as sent (what the MAC covers, and what a `pkmsg` carries).
    private(set) var serialized: [UInt8]

    /// Builds and authenticates a message from the sender's side.
    init(
        ratchetKey: [UInt8], counter: UInt32, previousCounter: UInt32, ciphertext: [UInt8], macKey: Data,
        senderIdentity: Data, receiverIdentity: Data
    ) throws(SignalError) {
        self.ratchetKey = ratchetKey
        self.counter = counter
        self.previousCounter = previousCounter
        self.ciphertext = ciphertext
        var wire = SignalWireMessage()
        wire.ratchetKey = Data(SignalKeys.serialize(ratchetKey))
        wire.counter = counter
        wire.previousCounter = previousCounter
        wire.ciphertext = Data(ciphertext)
        let body: [UInt8]
        do {
            body = [signalVersionByte] + (try wire.serializedBytes() as [UInt8])
        } catch {
            throw .invalidMessage("the message could not be serialized")
        }
        serialized = body + Self.mac(body, key: macKey, sender: senderIdentity, receiver: receiverIdentity)
    }

    /// Parses a received message; the MAC is checked later, once the keys are known.
    init(_ bytes: [UInt8]) throws(SignalError) {
        guard bytes.count > 1 + Self.macLength else { throw .invalidMessage("a message of \(bytes.count) bytes is too short") }
        guard bytes[0] >> 4 == 3 else { throw .unsupportedVersion(bytes[0] >> 4) }
        let wire: SignalWireMessage
        do {
            wire = try SignalWireMessage(serializedBytes: Array(bytes[1..<(bytes.count - Self.macLength)]))
        } catch {
            throw .invalidMessage("the message is not a SignalMessage protobuf")
        }
        guard wire.hasRatchetKey, wire.hasCounter, wire.hasCiphertext else {
            throw .invalidMessage("the message lacks its ratchet key, counter or ciphertext")
        }
        ratchetKey = try SignalKeys.deserialize(wire.ratchetKey)
        counter = wire.counter
        previousCounter = wire.previousCounter
        ciphertext = Array(wire.ciphertext)
        serialized = bytes
    }

    /// Whether the MAC is the one `macKey` gives over these bytes, for this sender and receiver.
    func hasValidMAC(macKey: Data, senderIdentity: Data, receiverIdentity: Data) -> Bool {
        let body = Array(serialized.dropLast(Self.macLength))
        let expected = Self.mac(body, key: macKey, sender: senderIdentity, receiver: receiverIdentity)
        return SignalCrypto.constantTimeEqual(expected, Array(serialized.suffix(Self.macLength)))
    }

    private static func mac(_ body: [UInt8], key: Data, sender: Data, receiver: Data) -> [UInt8] {
        let input = SignalKeys.serialize(Array(sender)) + SignalKeys.serialize(Array(receiver)) + body
        return Array(SignalCrypto.mac(Array(key), input).prefix(macLength))
    }
}

/// A `pkmsg`: the first messages of a session the sender set up from our prekey bundle, carrying
/// what we need to set it up on our side.
struct PreKeySignalMessage: Sendable, Equatable {
    var registrationID: UInt32
    var preKeyID: UInt32?
    var signedPreKeyID: UInt32
    /// The sender's base (ephemeral) key and identity key, 32 bytes each.
    var baseKey: [UInt8]
    var identityKey: [UInt8]
    var message: SignalMessage

    init(
        registrationID: UInt32, preKeyID: UInt32?, signedPreKeyID: UInt32, baseKey: [UInt8], identityKey: [UInt8],
        message: SignalMessage
    ) {
        self.registrationID = registrationID
        self.preKeyID = preKeyID
        self.signedPreKeyID = signedPreKeyID
        self.baseKey = baseKey
        self.identityKey = identityKey
        self.message = message
    }

    init(_ bytes: [UInt8]) throws(SignalError) {
        guard bytes.count > 1 else { throw .invalidMessage("an empty prekey message") }
        guard bytes[0] >> 4 == 3 else { throw .unsupportedVersion(bytes[0] >> 4) }
        let wire: SignalWirePreKeyMessage
        do {
            wire = try SignalWirePreKeyMessage(serializedBytes: Array(bytes[1...]))
        } catch {
            throw .invalidMessage("the message is not a PreKeySignalMessage protobuf")
        }
        // libsignal requires the signed prekey id; a message without one cannot be set up.
        guard wire.hasBaseKey, wire.hasIdentityKey, wire.hasMessage, wire.hasSignedPreKeyID else {
            throw .invalidMessage("the prekey message lacks its base key, identity key, signed prekey id or message")
        }
        registrationID = wire.registrationID
        preKeyID = wire.hasPreKeyID ? wire.preKeyID : nil
        signedPreKeyID = wire.signedPreKeyID
        baseKey = try SignalKeys.deserialize(wire.baseKey)
        identityKey = try SignalKeys.deserialize(wire.identityKey)
        message = try SignalMessage(Array(wire.message))
    }

    var serialized: [UInt8] {
        var wire = SignalWirePreKeyMessage()
        wire.registrationID = registrationID
        if let preKeyID { wire.preKeyID = preKeyID }
        wire.signedPreKeyID = signedPreKeyID
        wire.baseKey = Data(SignalKeys.serialize(baseKey))
        wire.identityKey = Data(SignalKeys.serialize(identityKey))
        wire.message = Data(message.serialized)
        // Serializing a message of optional scalar and bytes fields cannot fail.
        return [signalVersionByte] + ((try? wire.serializedBytes() as [UInt8]) ?? [])
    }
}

/// An encrypted message on its way out: `pkmsg` until the other side has answered, then `msg`.
enum CiphertextMessage: Sendable, Equatable {
    case preKey(PreKeySignalMessage)
    case whisper(SignalMessage)

    /// The `<enc type>` WhatsApp gives it.
    var wireType: String {
        switch self {
        case .preKey: "pkmsg"
        case .whisper: "msg"
        }
    }

    var serialized: [UInt8] {
        switch self {
        case .preKey(let message): message.serialized
        case .whisper(let message): message.serialized
        }
    }
}
