import Foundation

/// The engine's Signal state as one operation sees it: reads go to the credentials store but see
/// the writes made earlier in the same operation, and the writes are collected, to be stored in one
/// transaction (with the inbound events they belong to, or before a message goes out).
struct SignalTransaction {
    let store: any CredentialsStore
    private(set) var changes = CredentialChanges()

    init(store: any CredentialsStore) { self.store = store }

    // MARK: Keys

    enum Key {
        static func session(_ address: SignalAddress) -> String { "signal.session/\(address)" }
        static func identity(_ address: SignalAddress) -> String { "signal.identity/\(address)" }
        static func preKey(_ id: UInt32) -> String { "signal.prekey/\(id)" }
        static let preKeyCounter = "signal.prekeys"
        static func signedPreKey(_ id: UInt32) -> String { "signal.signed/\(id)" }
        static func senderKey(group: String, sender: SignalAddress) -> String { "signal.senderkey/\(group)/\(sender)" }
        static func lid(ofPhone user: String) -> String { "web.lid/\(user)" }
        static func phone(ofLID user: String) -> String { "web.pn/\(user)" }
        static func sent(_ id: String) -> String { "web.sent/\(id)" }
        static let sentIndex = "web.sent.index"
    }

    // MARK: Raw reads and writes

    func read(_ key: String) async throws -> Data? {
        if let pending = changes.value(forKey: key) { return pending }
        return try await store.value(forKey: key)
    }

    mutating func write(_ value: Data?, _ key: String) { changes.set(value, forKey: key) }

    func decode<T: Decodable>(_ type: T.Type, _ key: String) async throws -> T? {
        guard let data = try await read(key) else { return nil }
        // A damaged entry of one contact is as good as none: the session is set up again.
        return try? JSONDecoder().decode(T.self, from: data)
    }

    mutating func encode(_ value: some Encodable, _ key: String) throws {
        write(try JSONEncoder().encode(value), key)
    }

    // MARK: Typed state

    func record(_ address: SignalAddress) async throws -> SessionRecord {
        try await decode(SessionRecord.self, Key.session(address)) ?? SessionRecord()
    }

    mutating func setRecord(_ record: SessionRecord, _ address: SignalAddress) throws {
        try encode(record, Key.session(address))
    }

    func identity(_ address: SignalAddress) async throws -> [UInt8]? {
        try await read(Key.identity(address)).map(Array.init)
    }

    mutating func setIdentity(_ key: [UInt8], _ address: SignalAddress) { write(Data(key), Key.identity(address)) }

    func preKey(_ id: UInt32) async throws -> KeyPair? {
        guard let bytes = try await read(Key.preKey(id)) else { return nil }
        return try? KeyPair(privateKey: bytes)
    }

    mutating func removePreKey(_ id: UInt32) { write(nil, Key.preKey(id)) }

    /// A sender's chains in a group. Versions before group messaging kept the distribution
    /// message itself under the key; it is read as the record it starts.
    func senderKeys(group: String, sender: SignalAddress) async throws -> SenderKeyRecord {
        guard let data = try await read(Key.senderKey(group: group, sender: sender)) else { return SenderKeyRecord() }
        if let record = try? JSONDecoder().decode(SenderKeyRecord.self, from: data) { return record }
        var record = SenderKeyRecord()
        if let distribution = try? SenderKeyDistributionMessage(data) { record.add(distribution) }
        return record
    }

    mutating func setSenderKeys(_ record: SenderKeyRecord, group: String, sender: SignalAddress) throws {
        try encode(record, Key.senderKey(group: group, sender: sender))
    }

    /// The LID user of a phone-number user, when known.
    func lid(ofPhone user: String) async throws -> String? {
        try await read(Key.lid(ofPhone: user)).map { String(decoding: $0, as: UTF8.self) }
    }

    func phone(ofLID user: String) async throws -> String? {
        try await read(Key.phone(ofLID: user)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Remembers that `phone` and `lid` (users) are the same account; `true` when it is news.
    @discardableResult
    mutating func link(phone: String, lid: String) async throws -> Bool {
        guard !phone.isEmpty, !lid.isEmpty, try await self.lid(ofPhone: phone) != lid else { return false }
        write(Data(lid.utf8), Key.lid(ofPhone: phone))
        write(Data(phone.utf8), Key.phone(ofLID: lid))
        return true
    }
}
