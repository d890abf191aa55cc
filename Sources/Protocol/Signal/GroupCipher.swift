import Foundation

/// Encrypts and decrypts group messages with a sender key record (libsignal's GroupCipher and
/// GroupSessionBuilder), as pure functions of the record, like ``SessionCipher``.
enum GroupCipher {
    /// Our own chain for a group, made on the first message to it: a random 31-bit id, a random
    /// chain key and a new signing key.
    static func makeOwnState() -> SenderKeyState {
        var random = SystemRandomNumberGenerator()
        let seed = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        let signing = KeyPair()
        return SenderKeyState(
            keyID: UInt32.random(in: 1...UInt32(Int32.max), using: &random), chain: SenderChainKey(iteration: 0, seed: Data(seed)),
            signingPublicKey: Data(signing.publicKey), signingPrivateKey: signing)
    }

    /// The distribution message for our current chain, at its next iteration.
    static func distribution(of record: SenderKeyRecord) throws(SignalError) -> SenderKeyDistributionMessage {
        guard let state = record.states.first, state.signingPrivateKey != nil else { throw .noSession }
        return SenderKeyDistributionMessage(
            keyID: state.keyID, iteration: state.chain.iteration, chainKey: Array(state.chain.seed), signingKey: Array(state.signingPublicKey))
    }

    /// Encrypts with our current chain and advances it.
    static func encrypt(_ plaintext: [UInt8], record: inout SenderKeyRecord) throws(SignalError) -> SenderKeyMessage {
        guard var state = record.states.first, let signing = state.signingPrivateKey else { throw .noSession }
        let key = state.chain.messageKey
        let (iv, cipherKey) = key.ivAndKey
        let ciphertext = try SignalCrypto.encrypt(plaintext, key: cipherKey, iv: iv)
        let message = try SenderKeyMessage(keyID: state.keyID, iteration: key.iteration, ciphertext: ciphertext, signingKey: signing)
        state.chain = state.chain.next
        record.states[0] = state
        return message
    }

    /// Decrypts with the sender's chain of the message's key id, after checking its signature.
    static func decrypt(_ message: SenderKeyMessage, record: inout SenderKeyRecord) throws(SignalError) -> [UInt8] {
        guard let index = record.states.firstIndex(where: { $0.keyID == message.keyID }) else { throw .noSession }
        var state = record.states[index]
        guard message.hasValidSignature(signingKey: state.signingPublicKey) else {
            throw .invalidMessage("the group message's signature does not verify")
        }
        let key = try state.messageKey(at: message.iteration)
        let (iv, cipherKey) = key.ivAndKey
        let plaintext = try SignalCrypto.decrypt(message.ciphertext, key: cipherKey, iv: iv)
        record.states[index] = state
        return plaintext
    }
}
