import Foundation

/// A symmetric-key ratchet chain: each step gives one message's keys and the next chain key.
struct ChainKey: Codable, Sendable, Equatable {
    var key: Data
    var index: UInt32

    /// The keys of the message at `index`.
    var messageKeys: MessageKeys {
        let seed = SignalCrypto.mac(Array(key), [0x01])
        let derived = SignalCrypto.derive(seed, info: "WhisperMessageKeys", count: 80)
        return MessageKeys(
            cipherKey: Data(derived[0..<32]), macKey: Data(derived[32..<64]), iv: Data(derived[64..<80]), counter: index)
    }

    var next: ChainKey { ChainKey(key: Data(SignalCrypto.mac(Array(key), [0x02])), index: index + 1) }
}

/// What one message is encrypted and authenticated with.
struct MessageKeys: Codable, Sendable, Equatable {
    var cipherKey: Data
    var macKey: Data
    var iv: Data
    var counter: UInt32
}

/// The root of the Double Ratchet: each DH ratchet step mixes a new shared secret into it.
struct RootKey: Codable, Sendable, Equatable {
    var key: Data

    /// The next root key and a new chain from `their` ratchet key and `ours`.
    func step(theirRatchetKey: [UInt8], ourRatchetKey: KeyPair) throws(SignalError) -> (RootKey, ChainKey) {
        let shared = try SignalCrypto.agreement(ourRatchetKey.privateKey, theirRatchetKey)
        let derived = SignalCrypto.derive(shared, salt: Array(key), info: "WhisperRatchet", count: 64)
        return (RootKey(key: Data(derived[0..<32])), ChainKey(key: Data(derived[32..<64]), index: 0))
    }
}
