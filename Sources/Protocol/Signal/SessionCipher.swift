import Foundation

/// Encrypts and decrypts with a device's session record (libsignal's SessionCipher), as pure
/// functions of the record: the caller stores the record it gets back, together with whatever the
/// message produced, or nothing at all.
enum SessionCipher {
    /// What our side holds for answering a `pkmsg`: our signed prekeys and one-time prekeys by id.
    struct LocalKeys {
        var identity: LocalIdentity
        var signedPreKey: (UInt32) -> KeyPair?
        var oneTimePreKey: (UInt32) -> KeyPair?
    }

    static func encrypt(_ plaintext: [UInt8], record: inout SessionRecord) throws(SignalError) -> CiphertextMessage {
        guard var state = record.current else { throw .noSession }
        let keys = state.senderChain.messageKeys
        let ciphertext = try SignalCrypto.encrypt(plaintext, key: Array(keys.cipherKey), iv: Array(keys.iv))
        let message = try SignalMessage(
            ratchetKey: state.senderRatchet.publicKey, counter: state.senderChain.index, previousCounter: state.previousCounter,
            ciphertext: ciphertext, macKey: keys.macKey, senderIdentity: state.localIdentity, receiverIdentity: state.remoteIdentity)
        let result: CiphertextMessage
        if let pending = state.pendingPreKey {
            result = .preKey(
                PreKeySignalMessage(
                    registrationID: state.localRegistrationID, preKeyID: pending.preKeyID, signedPreKeyID: pending.signedPreKeyID,
                    baseKey: Array(pending.baseKey), identityKey: Array(state.localIdentity), message: message))
        } else {
            result = .whisper(message)
        }
        state.senderChain = state.senderChain.next
        record.current = state
        return result
    }

    /// Decrypts a `msg` with the current state, else with a previous one (which then becomes current).
    static func decrypt(_ message: SignalMessage, record: inout SessionRecord) throws(SignalError) -> [UInt8] {
        guard record.current != nil || !record.previous.isEmpty else { throw .noSession }
        var firstFailure: SignalError?
        if var state = record.current {
            do {
                let plaintext = try decrypt(message, state: &state)
                record.current = state
                return plaintext
            } catch .duplicateMessage(let counter) {
                throw .duplicateMessage(counter: counter)
            } catch {
                firstFailure = error
            }
        }
        for index in record.previous.indices {
            var state = record.previous[index]
            guard let plaintext = try? decrypt(message, state: &state) else { continue }
            record.previous.remove(at: index)
            record.promote(state)
            return plaintext
        }
        throw firstFailure ?? .noSession
    }

    /// Decrypts a `pkmsg`, setting the session up unless a state from the same `pkmsg` exists.
    ///
    /// - Returns: the plaintext and the one-time prekey it used up (to delete with the new record).
    static func decrypt(
        _ message: PreKeySignalMessage, record: inout SessionRecord, keys: LocalKeys
    ) throws(SignalError)
        -> (plaintext: [UInt8], usedPreKey: UInt32?)
    {
        if record.hasState(baseKey: message.baseKey) {
            // The same pkmsg again (or a later one of that session): no new session, no prekey.
            return (try decrypt(message.message, record: &record), nil)
        }
        guard let signedPreKey = keys.signedPreKey(message.signedPreKeyID) else {
            throw .unknownSignedPreKey(message.signedPreKeyID)
        }
        var oneTimePreKey: KeyPair?
        if let id = message.preKeyID {
            guard let key = keys.oneTimePreKey(id) else { throw .unknownPreKey(id) }
            oneTimePreKey = key
        }
        var state = try SessionBuilder.respond(
            to: message, identity: keys.identity, signedPreKey: signedPreKey, oneTimePreKey: oneTimePreKey)
        let plaintext = try decrypt(message.message, state: &state)
        record.promote(state)
        return (plaintext, message.preKeyID)
    }

    private static func decrypt(_ message: SignalMessage, state: inout SessionState) throws(SignalError) -> [UInt8] {
        guard state.version == 3 else { throw .unsupportedVersion(state.version) }
        let chainKey = try receiverChainKey(for: message.ratchetKey, state: &state)
        let keys = try messageKeys(for: message, chainKey: chainKey, state: &state)
        guard message.hasValidMAC(macKey: keys.macKey, senderIdentity: state.remoteIdentity, receiverIdentity: state.localIdentity)
        else { throw .invalidMessage("bad MAC") }
        let plaintext = try SignalCrypto.decrypt(message.ciphertext, key: Array(keys.cipherKey), iv: Array(keys.iv))
        state.pendingPreKey = nil
        return plaintext
    }

    /// The chain for the sender's ratchet key, stepping the DH ratchet when the key is new.
    private static func receiverChainKey(for ratchetKey: [UInt8], state: inout SessionState) throws(SignalError) -> ChainKey {
        if let index = state.receiverChainIndex(for: ratchetKey) { return state.receiverChains[index].chainKey }
        let (receiverRoot, receiverChain) = try state.rootKey.step(theirRatchetKey: ratchetKey, ourRatchetKey: state.senderRatchet)
        let ourNewRatchet = KeyPair()
        let (senderRoot, senderChain) = try receiverRoot.step(theirRatchetKey: ratchetKey, ourRatchetKey: ourNewRatchet)
        state.rootKey = senderRoot
        state.addReceiverChain(ratchetKey, receiverChain)
        state.previousCounter = state.senderChain.index > 0 ? state.senderChain.index - 1 : 0
        state.senderRatchet = ourNewRatchet
        state.senderChain = senderChain
        return receiverChain
    }

    /// The keys of the message's counter: a kept skipped key, or the chain moved forward to it
    /// (keeping the keys it passes, within bounds).
    private static func messageKeys(
        for message: SignalMessage, chainKey: ChainKey, state: inout SessionState
    ) throws(SignalError)
        -> MessageKeys
    {
        guard let index = state.receiverChainIndex(for: message.ratchetKey) else { throw .noSession }
        let counter = message.counter
        if chainKey.index > counter {
            guard let position = state.receiverChains[index].skipped.firstIndex(where: { $0.counter == counter }) else {
                throw .duplicateMessage(counter: counter)
            }
            return state.receiverChains[index].skipped.remove(at: position)
        }
        guard counter - chainKey.index <= SessionState.maximumFutureMessages else {
            throw .invalidMessage("message \(counter) is more than \(SessionState.maximumFutureMessages) ahead of the chain")
        }
        var chain = chainKey
        while chain.index < counter {
            state.receiverChains[index].skipped.append(chain.messageKeys)
            chain = chain.next
        }
        let overflow = state.receiverChains[index].skipped.count - SessionState.maximumSkippedKeys
        if overflow > 0 { state.receiverChains[index].skipped.removeFirst(overflow) }
        state.receiverChains[index].chainKey = chain.next
        return chain.messageKeys
    }
}
