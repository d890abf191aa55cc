import Foundation
import Logging
import WharfCore

/// An engine that can link by phone number: the user types a code on the phone instead of
/// scanning a QR code.
public protocol PhoneNumberPairing: Sendable {
    /// Starts code pairing for `phone` (international digits) and returns the code to show, `XXXX-XXXX`.
    func requestPairingCode(phone: String) async throws -> String
}

/// The native WhatsApp Web multi-device engine: this process is a linked device of the tenant's phone.
///
/// Part 1 links (QR or phone code), logs in with stored credentials, keeps the connection alive and
/// maps the server's verdicts to session events. Sending and receiving messages need the Signal
/// layer, which comes next; until then `send` reports that it is not supported.
public actor WebEngine: Engine, PhoneNumberPairing {
    public nonisolated let kind = EngineKind.web
    /// Linked by QR or phone code; text, media and stickers to people (by phone number or LID);
    /// groups come next.
    public static let capabilities = EngineCapabilities(
        textLimit: 65_536, chatKinds: [.person, .lid, .group], mediaSource: .file,
        messageTypes: MessageType.basic.union([.sticker]).union(MessageType.rich),
        linking: .linkedDevice(phoneCode: true), voiceNotesMustBeOggOpus: true, hasContactLookups: true)
    public nonisolated let events: AsyncStream<EngineEvent>
    private let continuation: AsyncStream<EngineEvent>.Continuation
    private let configuration: WebEngineConfiguration
    private let store: any CredentialsStore
    private let clock: any WharfClock
    private let logger: Logger
    private var connection: WebConnection?
    private var runner: Task<Void, Never>?
    private var stopping = false
    private var finished = false
    /// Set while `connect()` loads credentials, so a second call does not start a second runner.
    private var starting = false

    public init(
        configuration: WebEngineConfiguration, credentials: any CredentialsStore, clock: any WharfClock,
        logger: Logger = Logger(label: "wharf.web")
    ) {
        (events, continuation) = AsyncStream.makeStream(of: EngineEvent.self)
        self.configuration = configuration
        self.store = credentials
        self.clock = clock
        self.logger = logger
    }

    public func connect() async throws {
        guard !finished else { throw EngineError.notConnected }
        guard runner == nil, !starting else { return }
        starting = true
        defer { starting = false }
        let credentials = try await loadCredentials()
        // `shutdown()` may have run while the credentials loaded.
        guard !finished, runner == nil else { return }
        stopping = false
        runner = Task { await self.runConnections(credentials) }
    }

    /// Connection after connection while the server asks for restarts (as it does right after
    /// pairing); any other end is reported and leaves reconnecting to the session manager.
    private func runConnections(_ initial: DeviceCredentials) async {
        var credentials = initial
        while !stopping {
            continuation.yield(.status(.connecting))
            let connection = WebConnection(
                configuration: configuration, credentials: credentials, store: store, clock: clock, logger: logger,
                emit: { [continuation] status in continuation.yield(.status(status)) },
                deliver: { [continuation] event in continuation.yield(event) },
                save: { [store] updated in try await store.setValue(try JSONEncoder().encode(updated), forKey: DeviceCredentials.storageKey) })
            self.connection = connection
            let end = await connection.run()
            credentials = await connection.currentCredentials
            self.connection = nil
            // A stop we asked for is reported by `disconnect()` or `logout()` instead.
            guard !stopping else { break }
            switch end {
            case .restart:
                continue
            case .dropped(let reason):
                continuation.yield(.status(.disconnected(reason: reason)))
            case .replaced(let reason):
                continuation.yield(.status(.stopped(reason: reason)))
            case .loggedOut(let reason):
                do {
                    try await store.removeAll()
                } catch {
                    logger.debug("device keys not removed after the logout", metadata: ["error": "\(error)"])
                }
                continuation.yield(.status(.loggedOut(reason: reason)))
            }
            break
        }
        runner = nil
    }

    private func loadCredentials() async throws -> DeviceCredentials {
        // Keys that do not read are an error to report, not a reason to make new ones: that would
        // silently unlink the session and leave the old device on the phone.
        let stored: Data?
        do {
            stored = try await store.value(forKey: DeviceCredentials.storageKey)
        } catch {
            throw EngineError.unreadableState("the stored device keys cannot be read (\(error)); log out and link again")
        }
        if let data = stored {
            do {
                return try JSONDecoder().decode(DeviceCredentials.self, from: data)
            } catch {
                throw EngineError.unreadableState("the stored device keys cannot be read (\(error)); log out and link again")
            }
        }
        // Keys are made once and kept, so every QR code of this session names the same device.
        let credentials = try DeviceCredentials.generate()
        try await store.setValue(try JSONEncoder().encode(credentials), forKey: DeviceCredentials.storageKey)
        return credentials
    }

    public func disconnect() async {
        guard let runner else { return }
        stopping = true
        await connection?.close("disconnected")
        await runner.value
        continuation.yield(.status(.disconnected(reason: "disconnected")))
    }

    /// Unlinks the device on WhatsApp's side when connected, and forgets the keys in any case.
    /// Throws when WhatsApp could not be told (after forgetting the keys), so the caller can say so.
    public func logout() async throws {
        var failure: (any Error)? = EngineError.notConnected
        if let connection {
            stopping = true
            do {
                try await connection.logout()
                failure = nil
            } catch {
                failure = error
            }
            await connection.close("logged out")
            await runner?.value
        }
        try await store.removeAll()
        continuation.yield(.status(.loggedOut(reason: failure == nil ? "logged out" : "logged out here only")))
        if let failure { throw failure }
    }

    public func shutdown() async {
        await disconnect()
        finished = true
        continuation.finish()
    }

    public func requestPairingCode(phone: String) async throws -> String {
        let digits = phone.filter(\.isNumber)
        guard digits.count > 6, !digits.hasPrefix("0") else {
            throw EngineError.invalidRequest("the phone number must be in international format, without a leading 0")
        }
        guard let connection else { throw EngineError.notConnected }
        return try await connection.requestPairingCode(phone: digits)
    }

    public func send(_ message: OutboundMessage) async throws -> SentMessage {
        guard let connection else { throw EngineError.notConnected }
        return try await connection.send(message)
    }

    public func setPresence(_ presence: ChatPresence, in chat: ChatID, answering messageID: String?) async throws {
        guard let connection else { throw EngineError.notConnected }
        try await connection.setPresence(presence, in: chat)
    }

    public func markRead(chat: ChatID, messageIDs: [String]) async throws {
        guard let connection else { throw EngineError.notConnected }
        try await connection.markRead(chat: chat, messageIDs: messageIDs)
    }

    public func probe() async throws {
        guard let connection else { throw EngineError.notConnected }
        try await connection.probe()
    }

    // MARK: Groups

    private func messaging<T: Sendable>(_ body: @Sendable (Messenger, NoiseSocket) async throws -> T) async throws -> T {
        guard let connection else { throw EngineError.notConnected }
        return try await connection.messaging(body)
    }

    private static func groupJID(_ chat: ChatID) throws -> JID {
        guard let jid = JID(chat.rawValue), jid.server == JID.groupServer else {
            throw EngineError.invalidRequest("'\(chat)' is not a group id (…@g.us)")
        }
        return jid
    }

    public func groups() async throws -> [GroupInfo] { try await messaging { try await $0.groups(on: $1) } }

    public func groupInfo(_ group: ChatID) async throws -> GroupInfo {
        let jid = try Self.groupJID(group)
        return try await messaging { try await $0.groupInfo(jid, on: $1) }
    }

    public func createGroup(subject: String, participants: [ChatID]) async throws -> GroupInfo {
        let members = try participants.map { chat -> JID in
            guard let jid = JID(chat.rawValue), jid.server != JID.groupServer else { throw EngineError.invalidRequest("'\(chat)' is not a person") }
            return jid
        }
        return try await messaging { try await $0.createGroup(subject: subject, participants: members, on: $1) }
    }

    public func updateGroup(_ group: ChatID, _ setting: GroupSetting) async throws {
        let jid = try Self.groupJID(group)
        try await messaging { try await $0.updateGroup(jid, setting, on: $1) }
    }

    public func changeParticipants(
        _ group: ChatID, _ action: GroupParticipantAction, _ participants: [ChatID]
    ) async throws
        -> [GroupParticipantResult]
    {
        let jid = try Self.groupJID(group)
        let members = participants.compactMap { JID($0.rawValue) }
        return try await messaging { try await $0.changeParticipants(jid, action, members, on: $1) }
    }

    public func inviteCode(of group: ChatID, revoke: Bool) async throws -> String {
        let jid = try Self.groupJID(group)
        return try await messaging { try await $0.inviteCode(of: jid, revoke: revoke, on: $1) }
    }

    public func joinGroup(inviteCode: String) async throws -> ChatID {
        try await messaging { try await $0.joinGroup(inviteCode: inviteCode, on: $1) }
    }

    public func lookUpContacts(_ phones: [String], withPicture: Bool) async throws -> [ContactInfo] {
        try await messaging { try await $0.lookUp(phones, withPicture: withPicture, on: $1) }
    }

    public func subscribePresence(_ chat: ChatID) async throws {
        guard let jid = JID(chat.rawValue), jid.server != JID.groupServer else {
            throw EngineError.invalidRequest("'\(chat)' is not a person's chat")
        }
        try await messaging { try await $1.send(BinaryNode("presence", ["type": "subscribe", "to": .jid(jid.account)])) }
    }

    public func setAvailability(_ available: Bool) async throws {
        try await messaging { messenger, socket in
            try await socket.send(BinaryNode("presence", ["type": available ? "available" : "unavailable"]))
        }
    }

    public func rejectCall(_ call: CallEvent) async throws {
        try await messaging { try await $0.reject(call, on: $1) }
    }

    public func leaveGroup(_ group: ChatID) async throws {
        let jid = try Self.groupJID(group)
        try await messaging { try await $0.leaveGroup(jid, on: $1) }
    }

    public func downloadMedia(_ reference: MediaReference, to file: URL) async throws -> MediaReference? {
        guard let connection else { throw MediaDownloadError(EngineError.notConnected.description, isRetryable: true) }
        return try await connection.downloadMedia(reference, to: file)
    }
}
