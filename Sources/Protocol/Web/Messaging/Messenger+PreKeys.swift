import Foundation

/// Where one-time prekey ids stand.
struct PreKeyCounter: Codable, Sendable, Equatable {
    /// The id the next generated key gets (1…0xFFFFFF, wrapping).
    var next: UInt32 = 1
    /// How many keys were ever uploaded: the first upload is the large one.
    var uploaded: Int = 0

    mutating func take() -> UInt32 {
        let id = next
        next = next >= 0xFF_FFFF ? 1 : next + 1
        return id
    }
}

/// A signed prekey kept after a rotation, for `pkmsg`s that were set up with it.
struct SignedPreKeyRecord: Codable, Sendable, Equatable {
    var id: UInt32
    var keyPair: KeyPair
    var signature: Data
    var createdAt: Date
}

extension Messenger {
    /// Makes sure the server holds enough one-time prekeys (812 the first time, then 50 when fewer
    /// than 5 are left) and that the signed prekey is not older than 27 days. Run after login,
    /// before the connection goes active.
    ///
    /// - Returns: the device credentials with a rotated signed prekey, when it was rotated.
    func prepareKeys(credentials: DeviceCredentials, on socket: NoiseSocket) async throws -> DeviceCredentials? {
        let answer = try await request(
            BinaryNode("iq", ["to": .jid(.server), "xmlns": "encrypt", "type": "get"], children: [BinaryNode("count")]),
            on: socket)
        let count = answer.child("count")?.string("value").flatMap(Int.init) ?? 0
        if count < Self.minimumPreKeys { try await uploadPreKeys(serverCount: count, on: socket) }
        return try await rotateSignedPreKeyIfDue(credentials, on: socket)
    }

    /// `<notification type="encrypt"><count value/></notification>`: the server is running low.
    func topUpPreKeys(serverCount: Int, on socket: NoiseSocket) async {
        guard serverCount < Self.minimumPreKeys else { return }
        do {
            try await uploadPreKeys(serverCount: serverCount, on: socket)
        } catch {
            logger.debug("prekey top-up failed", metadata: ["error": "\(error)"])
        }
    }

    /// Generates keys, stores them (so a `pkmsg` naming one can be read even if the upload's answer
    /// is lost), then uploads them with our identity and signed prekey.
    private func uploadPreKeys(serverCount: Int, on socket: NoiseSocket) async throws {
        let keys: [(id: UInt32, key: KeyPair)] = try await lock.withLock {
            var transaction = SignalTransaction(store: store)
            var counter = try await transaction.decode(PreKeyCounter.self, SignalTransaction.Key.preKeyCounter) ?? PreKeyCounter()
            let wanted = serverCount == 0 && counter.uploaded == 0 ? Self.initialPreKeys : Self.preKeyBatch
            let keys = (0..<wanted).map { _ in (counter.take(), KeyPair()) }
            for (id, key) in keys { transaction.write(key.privateKey.rawRepresentation, SignalTransaction.Key.preKey(id)) }
            counter.uploaded += wanted
            try transaction.encode(counter, SignalTransaction.Key.preKeyCounter)
            try await store.apply(transaction.changes)
            return keys
        }
        let signature = account.signedPreKeySignature
        let list = keys.map { id, key in
            BinaryNode("key", children: [BinaryNode("id", bytes: Self.bigEndian(id, count: 3)), BinaryNode("value", bytes: key.publicKey)])
        }
        _ = try await request(
            BinaryNode(
                "iq", ["to": .jid(.server), "xmlns": "encrypt", "type": "set"],
                children: [
                    BinaryNode("registration", bytes: Self.bigEndian(account.identity.registrationID, count: 4)),
                    BinaryNode("type", bytes: [SignalKeys.djbType]),
                    BinaryNode("identity", bytes: account.identity.keyPair.publicKey),
                    BinaryNode("list", children: list),
                    signedPreKeyNode(signature: signature),
                ]), on: socket)
        logger.debug("uploaded prekeys", metadata: ["count": "\(keys.count)"])
    }

    /// A one-time prekey for a retry receipt: stored, never offered to the server.
    func makeUnlistedPreKey() async throws -> (id: UInt32, key: KeyPair) {
        var transaction = SignalTransaction(store: store)
        var counter = try await transaction.decode(PreKeyCounter.self, SignalTransaction.Key.preKeyCounter) ?? PreKeyCounter()
        let key = (counter.take(), KeyPair())
        transaction.write(key.1.privateKey.rawRepresentation, SignalTransaction.Key.preKey(key.0))
        try transaction.encode(counter, SignalTransaction.Key.preKeyCounter)
        try await store.apply(transaction.changes)
        return key
    }

    /// Replaces the signed prekey once it is 27 days old, keeping the last three old ones.
    private func rotateSignedPreKeyIfDue(_ credentials: DeviceCredentials, on socket: NoiseSocket) async throws -> DeviceCredentials? {
        let now = clock.now
        guard let created = credentials.signedPreKeyCreatedAt else {
            // Keys from before rotation existed: their age counts from now.
            var dated = credentials
            dated.signedPreKeyCreatedAt = now
            try await store.setValue(try JSONEncoder().encode(dated), forKey: DeviceCredentials.storageKey)
            return dated
        }
        guard now.timeIntervalSince(created) >= Self.signedPreKeyLifetime else { return nil }
        let fresh = KeyPair()
        let id = credentials.signedPreKeyID >= 0xFF_FFFF ? 1 : credentials.signedPreKeyID + 1
        let signature = try XEdDSA.sign(fresh.serializedPublicKey, privateKey: account.identity.keyPair.privateKey)
        var rotated = credentials
        rotated.signedPreKeyID = id
        rotated.signedPreKey = fresh
        rotated.signedPreKeySignature = Data(signature)
        rotated.signedPreKeyCreatedAt = now
        try await lock.withLock {
            var transaction = SignalTransaction(store: store)
            try transaction.encode(
                SignedPreKeyRecord(
                    id: credentials.signedPreKeyID, keyPair: credentials.signedPreKey, signature: credentials.signedPreKeySignature,
                    createdAt: created), SignalTransaction.Key.signedPreKey(credentials.signedPreKeyID))
            // Older than the last few rotations: a pkmsg still naming it is too old to matter.
            let expired =
                credentials.signedPreKeyID > UInt32(Self.keptSignedPreKeys) ? credentials.signedPreKeyID - UInt32(Self.keptSignedPreKeys) : 0
            if expired > 0 { transaction.write(nil, SignalTransaction.Key.signedPreKey(expired)) }
            try transaction.encode(rotated, DeviceCredentials.storageKey)
            try await store.apply(transaction.changes)
            account.signedPreKeyID = id
            account.signedPreKey = fresh
            account.signedPreKeySignature = signature
        }
        _ = try await request(
            BinaryNode(
                "iq", ["to": .jid(.server), "xmlns": "encrypt", "type": "set"],
                children: [BinaryNode("rotate", children: [signedPreKeyNode(signature: signature)])]), on: socket)
        logger.debug("rotated the signed prekey", metadata: ["id": "\(id)"])
        return rotated
    }

    private func signedPreKeyNode(signature: [UInt8]) -> BinaryNode {
        BinaryNode(
            "skey",
            children: [
                BinaryNode("id", bytes: Self.bigEndian(account.signedPreKeyID, count: 3)),
                BinaryNode("value", bytes: account.signedPreKey.publicKey), BinaryNode("signature", bytes: signature),
            ])
    }
}
