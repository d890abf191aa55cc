import Crypto
import Foundation
import SwiftProtobuf

/// The client side of WhatsApp's Noise XX handshake, as a value without I/O: it makes the messages to
/// send and checks the ones received, and the connection moves the bytes.
///
///     -> e
///     <- e, ee, s, es        (+ the server's certificate chain)
///     -> s, se               (+ our ClientPayload)
///
/// One deviation from textbook Noise: after `-> e` WhatsApp does not mix the (empty) first payload
/// into the hash. The recorded handshake in the tests reproduces only without that step.
public struct ClientHandshake: Sendable {
    /// `W`, `A`, magic 6, dictionary version: the connection header, also the Noise prologue.
    public static func header(dictionaryVersion: UInt8 = TokenDictionary.current.version) -> [UInt8] {
        [0x57, 0x41, 6, dictionaryVersion]
    }

    private var state: SymmetricState
    private let ephemeral: Curve25519.KeyAgreement.PrivateKey
    private let staticKey: Curve25519.KeyAgreement.PrivateKey
    private let trust: ServerCertificateTrust
    private var serverEphemeral: Curve25519.KeyAgreement.PublicKey?
    public private(set) var serverStaticKey: [UInt8]?

    public init(
        staticKey: Curve25519.KeyAgreement.PrivateKey,
        ephemeral: Curve25519.KeyAgreement.PrivateKey = .init(),
        trust: ServerCertificateTrust = .init(),
        prologue: [UInt8] = header()
    ) {
        self.state = SymmetricState(prologue: prologue)
        self.ephemeral = ephemeral
        self.staticKey = staticKey
        self.trust = trust
    }

    /// The running handshake hash, exposed for the tests that replay recorded traces.
    public var hash: [UInt8] { state.hash }

    /// `-> e`: the serialized `HandshakeMessage{clientHello{ephemeral}}`.
    public mutating func clientHello() -> [UInt8] {
        let publicKey = Array(ephemeral.publicKey.rawRepresentation)
        state.mixHash(publicKey)
        var message = WAHandshakeMessage()
        message.clientHello.ephemeral = Data(publicKey)
        return try! Array(message.serializedBytes() as Data)
    }

    /// `<- e, ee, s, es`: reads the server hello, learns and authenticates the server's static key.
    public mutating func receiveServerHello(_ bytes: [UInt8], now: Date) throws(NoiseError) {
        guard let message = try? WAHandshakeMessage(serializedBytes: bytes), message.hasServerHello else {
            throw .malformedHandshake("expected a HandshakeMessage with a serverHello")
        }
        let hello = message.serverHello
        guard hello.ephemeral.count == 32, hello.static.count == 48, !hello.payload.isEmpty,
            let remoteEphemeral = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: hello.ephemeral)
        else { throw .malformedHandshake("the server hello lacks an ephemeral key, a static key or a payload") }
        state.mixHash(hello.ephemeral)
        try state.mixKey(Self.agree(ephemeral, remoteEphemeral))
        let remoteStatic = try state.decryptAndHash(Array(hello.static))
        guard let remoteStaticKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: remoteStatic) else {
            throw .malformedHandshake("the server's static key is not a Curve25519 key")
        }
        try state.mixKey(Self.agree(ephemeral, remoteStaticKey))
        let certificates = try state.decryptAndHash(Array(hello.payload))
        try trust.verify(chain: certificates, serverStaticKey: remoteStatic, now: now)
        serverEphemeral = remoteEphemeral
        serverStaticKey = remoteStatic
    }

    /// `-> s, se` carrying `payload` (a serialized ClientPayload); returns the message and the
    /// transport keys for everything after it.
    public mutating func clientFinish(payload: [UInt8]) throws(NoiseError) -> (message: [UInt8], transport: NoiseTransport) {
        guard let serverEphemeral else { throw .notReady }
        let encryptedStatic = try state.encryptAndHash(Array(staticKey.publicKey.rawRepresentation))
        try state.mixKey(Self.agree(staticKey, serverEphemeral))
        let encryptedPayload = try state.encryptAndHash(payload)
        var message = WAHandshakeMessage()
        message.clientFinish.static = Data(encryptedStatic)
        message.clientFinish.payload = Data(encryptedPayload)
        let keys = state.split()
        return (try! Array(message.serializedBytes() as Data), NoiseTransport(send: keys.initiator, receive: keys.responder))
    }

    private static func agree(
        _ privateKey: Curve25519.KeyAgreement.PrivateKey, _ publicKey: Curve25519.KeyAgreement.PublicKey
    ) throws(NoiseError) -> SharedSecret {
        // swift-crypto refuses low-order points (an all-zero result), which a hostile server could send.
        guard let secret = try? privateKey.sharedSecretFromKeyAgreement(with: publicKey) else {
            throw .malformedHandshake("key agreement with the server's key failed")
        }
        return secret
    }
}

/// The two directions of an established connection. Each frame is one AES-GCM message with no
/// associated data; the counters make replayed or reordered frames fail to decrypt.
public struct NoiseTransport: Sendable {
    /// The halves can go separate ways: the read loop owns `receiver`, the sending actor `sender`.
    public var sender: CipherState
    public var receiver: CipherState

    public init(send: CipherState, receive: CipherState) {
        self.sender = send
        self.receiver = receive
    }

    public mutating func encrypt(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        try sender.seal(plaintext)
    }

    public mutating func decrypt(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        try receiver.open(ciphertext)
    }
}
