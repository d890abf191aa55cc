import Foundation

/// What a device publishes so that others can start a session with it without it being online.
struct PreKeyBundle: Sendable, Equatable {
    var registrationID: UInt32
    /// 32-byte public keys.
    var identityKey: [UInt8]
    var signedPreKeyID: UInt32
    var signedPreKey: [UInt8]
    /// XEdDSA by the identity key over the serialized signed prekey.
    var signedPreKeySignature: [UInt8]
    var preKeyID: UInt32?
    var preKey: [UInt8]?
}

/// Our side of X3DH: what a session needs from us.
struct LocalIdentity: Sendable {
    var keyPair: KeyPair
    var registrationID: UInt32
}

/// Sets sessions up (libsignal's SessionBuilder and RatchetingSession): from another device's
/// bundle when we write first, from its `pkmsg` when it did.
enum SessionBuilder {
    private static let discontinuity = [UInt8](repeating: 0xFF, count: 32)

    /// Our state for a session we start from `bundle` (X3DH as the initiator). Its first
    /// messages are `pkmsg`s naming the prekeys used.
    static func initiate(with bundle: PreKeyBundle, identity: LocalIdentity) throws(SignalError) -> SessionState {
        let signed = SignalKeys.serialize(bundle.signedPreKey)
        guard XEdDSA.verify(bundle.signedPreKeySignature, of: signed, publicKey: bundle.identityKey) else {
            throw .invalidKey("the signed prekey's signature does not verify under the identity key")
        }
        let baseKey = KeyPair()
        var secrets = discontinuity
        secrets += try SignalCrypto.agreement(identity.keyPair.privateKey, bundle.signedPreKey)
        secrets += try SignalCrypto.agreement(baseKey.privateKey, bundle.identityKey)
        secrets += try SignalCrypto.agreement(baseKey.privateKey, bundle.signedPreKey)
        if let preKey = bundle.preKey { secrets += try SignalCrypto.agreement(baseKey.privateKey, preKey) }
        let (root, chain) = derive(secrets)
        let sendingRatchet = KeyPair()
        let (nextRoot, sendingChain) = try root.step(theirRatchetKey: bundle.signedPreKey, ourRatchetKey: sendingRatchet)
        var state = SessionState(
            localIdentity: Data(identity.keyPair.publicKey), remoteIdentity: Data(bundle.identityKey), rootKey: nextRoot,
            senderRatchet: sendingRatchet, senderChain: sendingChain,
            pendingPreKey: .init(
                preKeyID: bundle.preKey == nil ? nil : bundle.preKeyID, signedPreKeyID: bundle.signedPreKeyID,
                baseKey: Data(baseKey.publicKey)),
            localRegistrationID: identity.registrationID, remoteRegistrationID: bundle.registrationID, baseKey: Data(baseKey.publicKey))
        state.addReceiverChain(bundle.signedPreKey, chain)
        return state
    }

    /// Our state for a session another device started with `message` (X3DH as the responder).
    static func respond(
        to message: PreKeySignalMessage, identity: LocalIdentity, signedPreKey: KeyPair, oneTimePreKey: KeyPair?
    ) throws(SignalError) -> SessionState {
        var secrets = discontinuity
        secrets += try SignalCrypto.agreement(signedPreKey.privateKey, message.identityKey)
        secrets += try SignalCrypto.agreement(identity.keyPair.privateKey, message.baseKey)
        secrets += try SignalCrypto.agreement(signedPreKey.privateKey, message.baseKey)
        if let oneTimePreKey { secrets += try SignalCrypto.agreement(oneTimePreKey.privateKey, message.baseKey) }
        let (root, chain) = derive(secrets)
        return SessionState(
            localIdentity: Data(identity.keyPair.publicKey), remoteIdentity: Data(message.identityKey), rootKey: root,
            senderRatchet: signedPreKey, senderChain: chain, localRegistrationID: identity.registrationID,
            remoteRegistrationID: message.registrationID, baseKey: Data(message.baseKey))
    }

    private static func derive(_ secrets: [UInt8]) -> (RootKey, ChainKey) {
        let derived = SignalCrypto.derive(secrets, info: "WhisperText", count: 64)
        return (RootKey(key: Data(derived[0..<32])), ChainKey(key: Data(derived[32..<64]), index: 0))
    }
}
