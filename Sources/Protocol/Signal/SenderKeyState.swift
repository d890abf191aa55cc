import Foundation

/// One sender's chain in a group (libsignal's SenderKeyState): the chain that gives each of its
/// messages' keys, the key its messages are signed with, and keys of messages skipped on the way.
/// A value, like ``SessionState``: a copy that decrypted is stored, a failed attempt leaves the
/// stored one as it was.
struct SenderKeyState: Codable, Sendable, Equatable {
    /// Skipped message keys kept (libsignal's MAX_MESSAGE_KEYS).
    static let maximumSkippedKeys = 2000
    /// How far ahead of the chain a message may be.
    static let maximumFutureMessages: UInt32 = 2000

    var keyID: UInt32
    var chain: SenderChainKey
    /// The 32-byte key the sender's messages are signed with.
    var signingPublicKey: Data
    /// Its private half: only in our own state, the one we send with.
    var signingPrivateKey: KeyPair?
    /// Keys of messages that were skipped, oldest first.
    var skipped: [SenderMessageKey] = []

    /// The keys of the message at `iteration`, advancing the chain (and keeping the keys passed)
    /// or taking a skipped key out.
    mutating func messageKey(at iteration: UInt32) throws(SignalError) -> SenderMessageKey {
        if iteration < chain.iteration {
            guard let index = skipped.firstIndex(where: { $0.iteration == iteration }) else {
                throw .duplicateMessage(counter: iteration)
            }
            return skipped.remove(at: index)
        }
        guard iteration - chain.iteration <= Self.maximumFutureMessages else {
            throw .invalidMessage("group message \(iteration) is over \(Self.maximumFutureMessages) ahead of the chain at \(chain.iteration)")
        }
        while chain.iteration < iteration {
            skipped.append(chain.messageKey)
            chain = chain.next
        }
        if skipped.count > Self.maximumSkippedKeys { skipped.removeFirst(skipped.count - Self.maximumSkippedKeys) }
        let key = chain.messageKey
        chain = chain.next
        return key
    }
}

/// The symmetric chain of a sender key: HMAC-SHA256 with 0x01 gives a message's seed, with 0x02
/// the next chain key.
struct SenderChainKey: Codable, Sendable, Equatable {
    var iteration: UInt32
    var seed: Data

    var messageKey: SenderMessageKey {
        SenderMessageKey(iteration: iteration, seed: Data(SignalCrypto.mac(Array(seed), [0x01])))
    }

    var next: SenderChainKey { SenderChainKey(iteration: iteration + 1, seed: Data(SignalCrypto.mac(Array(seed), [0x02]))) }
}

/// One group message's keys: HKDF("WhisperGroup") of its seed gives the IV and the AES key.
struct SenderMessageKey: Codable, Sendable, Equatable {
    var iteration: UInt32
    var seed: Data

    var ivAndKey: (iv: [UInt8], key: [UInt8]) {
        let derived = SignalCrypto.derive(Array(seed), info: "WhisperGroup", count: 48)
        return (Array(derived[0..<16]), Array(derived[16..<48]))
    }
}

/// Every chain one sender has used in one group, newest first: a sender that starts a new key
/// (after a member left) may still have messages under the old one in flight.
struct SenderKeyRecord: Codable, Sendable, Equatable {
    static let maximumStates = 5

    var states: [SenderKeyState] = []

    var isEmpty: Bool { states.isEmpty }

    /// Adds a sender's chain from its distribution message, unless we hold that chain already (a
    /// distribution message sent again must not wind an advanced chain back).
    mutating func add(_ distribution: SenderKeyDistributionMessage) {
        if states.contains(where: { $0.keyID == distribution.keyID && $0.signingPublicKey.elementsEqual(distribution.signingKey) }) {
            return
        }
        states.insert(
            SenderKeyState(
                keyID: distribution.keyID, chain: SenderChainKey(iteration: distribution.iteration, seed: Data(distribution.chainKey)),
                signingPublicKey: Data(distribution.signingKey)), at: 0)
        if states.count > Self.maximumStates { states.removeLast(states.count - Self.maximumStates) }
    }
}
