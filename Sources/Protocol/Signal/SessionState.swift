import Foundation

/// One Double Ratchet session with one device of a contact (libsignal's SessionStructure), as a
/// value: operations work on a copy, and only a copy that decrypted (or encrypted) is kept, so a
/// failed attempt leaves the stored state untouched.
struct SessionState: Codable, Sendable, Equatable {
    /// Past ratchet keys of the other side whose chains are kept for late messages.
    static let maximumReceiverChains = 5
    /// Keys of skipped messages kept per chain (libsignal's MAX_MESSAGE_KEYS).
    static let maximumSkippedKeys = 2000
    /// How far ahead of the chain a message may be (WhatsApp Web's signalFutureMessagesMax).
    static let maximumFutureMessages: UInt32 = 2000

    struct ReceiverChain: Codable, Sendable, Equatable {
        var ratchetKey: Data
        var chainKey: ChainKey
        /// Keys of messages of this chain that were skipped, oldest first.
        var skipped: [MessageKeys] = []
    }

    /// What a `pkmsg` must repeat until the other side answers: which of its prekeys we used.
    struct PendingPreKey: Codable, Sendable, Equatable {
        var preKeyID: UInt32?
        var signedPreKeyID: UInt32
        var baseKey: Data
    }

    var version: UInt8 = 3
    /// Our identity public key and theirs, 32 bytes each (MACs cover their serialized forms).
    var localIdentity: Data
    var remoteIdentity: Data
    var rootKey: RootKey
    var previousCounter: UInt32 = 0
    var senderRatchet: KeyPair
    var senderChain: ChainKey
    var receiverChains: [ReceiverChain] = []
    var pendingPreKey: PendingPreKey?
    var localRegistrationID: UInt32
    var remoteRegistrationID: UInt32
    /// The base key of the `pkmsg` that set this session up (ours when we started it): how a
    /// repeated `pkmsg` is recognised.
    var baseKey: Data

    func receiverChainIndex(for ratchetKey: [UInt8]) -> Int? {
        receiverChains.firstIndex { $0.ratchetKey.elementsEqual(ratchetKey) }
    }

    mutating func addReceiverChain(_ ratchetKey: [UInt8], _ chainKey: ChainKey) {
        receiverChains.append(ReceiverChain(ratchetKey: Data(ratchetKey), chainKey: chainKey))
        if receiverChains.count > Self.maximumReceiverChains { receiverChains.removeFirst() }
    }
}

/// Every session with one device: the current one and the previous ones (kept, as libsignal
/// does, so that messages encrypted under a session that was replaced still decrypt).
struct SessionRecord: Codable, Sendable, Equatable {
    static let maximumPreviousStates = 40

    var current: SessionState?
    /// Newest first.
    var previous: [SessionState] = []

    /// Whether some state (current or previous) was set up by the `pkmsg` with this base key.
    func hasState(baseKey: [UInt8]) -> Bool {
        ([current].compactMap { $0 } + previous).contains { $0.baseKey.elementsEqual(baseKey) }
    }

    /// Makes `state` current, keeping the one it replaces as the newest previous state.
    mutating func promote(_ state: SessionState) {
        if let current { previous.insert(current, at: 0) }
        current = state
        if previous.count > Self.maximumPreviousStates { previous.removeLast(previous.count - Self.maximumPreviousStates) }
    }
}
