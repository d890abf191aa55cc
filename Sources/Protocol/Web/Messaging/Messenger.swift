import Foundation
import Logging
import WharfCore

/// Messaging on one logged-in connection: decrypting what arrives, encrypting what goes out,
/// receipts, retries, prekeys and device lists.
///
/// The Signal state lives in the credentials store only (nothing is cached but device lists), and
/// one lock serialises every operation on it: a stanza is decrypted, its events and the state they
/// produced are handed to the gateway, and the next operation starts only once the gateway has
/// committed both (or failed to, in which case nothing was written and WhatsApp delivers again).
/// An outgoing message's ratchet step is written before the message leaves. So the stored state
/// always matches what was stored as events and what WhatsApp was sent.
actor Messenger {
    /// Who we are on WhatsApp, from the device's credentials.
    struct Account: Sendable {
        /// Our device (`phone:device@s.whatsapp.net`).
        var jid: JID
        /// Our LID device, once the server or the phone told us.
        var lid: JID?
        var identity: LocalIdentity
        var signedPreKeyID: UInt32
        var signedPreKey: KeyPair
        var signedPreKeySignature: [UInt8]
        /// ADVSignedDeviceIdentity (with the account signature key), sent with `pkmsg`s.
        var signedIdentity: [UInt8]
        /// The phone's identity key, the Signal identity of our device 0.
        var primaryIdentity: [UInt8]

        func isOurs(_ jid: JID) -> Bool { jid.user == self.jid.user || (lid.map { jid.user == $0.user } ?? false) }
    }

    /// Retry receipts we send for one message before reporting it undecryptable (whatsmeow's 1…4).
    static let maximumRetries = 4
    /// Sent messages kept for answering retry receipts.
    static let sentLogSize = 256
    /// Below this many one-time prekeys on the server we upload more.
    static let minimumPreKeys = 5
    static let initialPreKeys = 812
    static let preKeyBatch = 50
    /// How often the signed prekey is replaced (WhatsApp Web: 27 days), and how many old ones stay.
    static let signedPreKeyLifetime: TimeInterval = 27 * 24 * 3600
    static let keptSignedPreKeys = 3

    let store: any CredentialsStore
    let clock: any WharfClock
    let logger: Logger
    let deliver: @Sendable (EngineEvent) -> Void
    let requestTimeout: Duration
    var account: Account
    /// One Signal operation at a time, held by an inbound stanza until its events are committed.
    let lock = AsyncLock()
    /// Device lists by account (`user@server`), as usync gave them.
    var devices: [String: [JID]] = [:]
    /// Group metadata by group JID, until a notification about the group arrives.
    var groupInfos: [String: GroupInfo] = [:]
    /// Retry receipts sent, by sender device and message id.
    var retries: [String: Int] = [:]
    /// Texts of recent messages by id, so a reply can quote them (best effort, not stored).
    var recentTexts = RecentTexts(capacity: 500)
    /// Who wrote recent group messages (device JIDs) by id: a read receipt in a group names them.
    var groupAuthors = RecentTexts(capacity: 2000)
    var random = SystemRandomNumberGenerator()
    /// Set once the gateway could not store a stanza: later stanzas of this connection are left
    /// unacknowledged too, so that WhatsApp delivers them again in order after the reconnect.
    var isHalted = false
    /// The media hosts, until they expire.
    var mediaHosts: MediaConnection?
    /// Media retries waiting for the phone's answer, by message id.
    var mediaRetries: [String: OneShot<BinaryNode?>] = [:]
    /// Fetches and uploads media files (the gateway's libcurl client).
    nonisolated let http: (any HTTPTransport)?
    nonisolated let mediaDownloadLimit: Int
    nonisolated let mediaDownloadTimeout: Duration

    init(
        account: Account, store: any CredentialsStore, clock: any WharfClock, requestTimeout: Duration, logger: Logger,
        media: WebEngineConfiguration.Media = .init(), deliver: @escaping @Sendable (EngineEvent) -> Void
    ) {
        self.http = media.transport
        self.mediaDownloadLimit = media.maximumBytes
        self.mediaDownloadTimeout = media.timeout
        self.account = account
        self.store = store
        self.clock = clock
        self.requestTimeout = requestTimeout
        self.logger = logger
        self.deliver = deliver
    }

    /// Learns our LID (from `<success lid>`).
    func setLID(_ lid: JID) {
        account.lid = lid
    }

    var localKeysIdentity: LocalIdentity { account.identity }

    // MARK: Addresses

    /// Where a device's Signal state is kept: under its LID whenever one is known.
    func address(of device: JID, in transaction: SignalTransaction) async throws -> SignalAddress {
        switch device.server {
        case JID.hiddenUserServer, JID.hostedLIDServer:
            return SignalAddress(user: device.user, isLID: true, device: device.device)
        default:
            if let lid = try await transaction.lid(ofPhone: device.user) {
                return SignalAddress(user: lid, isLID: true, device: device.device)
            }
            if account.isOursByPhone(device), let ownLID = account.lid {
                return SignalAddress(user: ownLID.user, isLID: true, device: device.device)
            }
            return SignalAddress(user: device.user, isLID: false, device: device.device)
        }
    }

    /// The chat and sender as events name them: the phone number when one is known, else the LID.
    func origin(chat: JID, sender: JID, isFromMe: Bool, in transaction: SignalTransaction) async throws -> MessageOrigin {
        let chatJID = try await phoneForm(of: chat, in: transaction)
        let (phone, lid) = try await identities(of: sender, in: transaction)
        return MessageOrigin(
            chat: ChatID(chatJID.description), from: phone ?? lid ?? sender.user, fromLID: lid.map { "\($0)@lid" },
            isFromMe: isFromMe)
    }

    /// A user's phone number and LID users, as far as known.
    func identities(of jid: JID, in transaction: SignalTransaction) async throws -> (phone: String?, lid: String?) {
        if jid.server == JID.hiddenUserServer {
            let phone = try await transaction.phone(ofLID: jid.user) ?? (account.lid?.user == jid.user ? account.jid.user : nil)
            return (phone, jid.user)
        }
        let lid = try await transaction.lid(ofPhone: jid.user) ?? (jid.user == account.jid.user ? account.lid?.user : nil)
        return (jid.user, lid)
    }

    /// A chat JID in its phone-number form when its LID is one we can map.
    func phoneForm(of chat: JID, in transaction: SignalTransaction) async throws -> JID {
        guard chat.server == JID.hiddenUserServer else { return chat.account }
        if let phone = try await identities(of: chat, in: transaction).phone {
            return JID(user: phone, server: JID.userServer)
        }
        return chat.account
    }

    // MARK: Sending stanzas

    func send(_ node: BinaryNode, on socket: NoiseSocket) async {
        do {
            try await socket.send(node)
        } catch {
            logger.debug("stanza not sent", metadata: ["tag": "\(node.tag)", "error": "\(error)"])
        }
    }

    func request(_ iq: BinaryNode, on socket: NoiseSocket) async throws -> BinaryNode {
        try await socket.request(iq, timeout: requestTimeout, clock: clock)
    }
}

extension Messenger.Account {
    func isOursByPhone(_ jid: JID) -> Bool { jid.server == JID.userServer && jid.user == self.jid.user }
}

/// A bounded map of recent message texts, oldest dropped first.
struct RecentTexts: Sendable {
    let capacity: Int
    private var texts: [String: String] = [:]
    private var order: [String] = []

    init(capacity: Int) { self.capacity = capacity }

    subscript(id: String) -> String? { texts[id] }

    mutating func remember(_ text: String?, for id: String) {
        guard let text, texts[id] == nil else { return }
        texts[id] = text
        order.append(id)
        if order.count > capacity { texts[order.removeFirst()] = nil }
    }
}
