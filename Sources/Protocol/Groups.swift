import Foundation

/// A group as the engine knows it: its subject, description, settings and members.
public struct GroupInfo: Sendable, Codable, Equatable {
    public var id: ChatID
    public var subject: String
    /// Who last set the subject, and when.
    public var subjectOwner: String?
    public var subjectTime: Date?
    public var creator: String?
    public var creation: Date?
    public var description: String?
    /// The description's version: changing it again must name this one.
    public var descriptionID: String?
    /// Only admins can send.
    public var isAnnounce: Bool
    /// Only admins can change the subject, description and picture.
    public var isLocked: Bool
    /// Disappearing messages, in seconds; `nil` when off.
    public var ephemeralSeconds: Int?
    /// `pn` or `lid`: how members are named in the group's messages.
    public var addressingMode: String
    public var participants: [GroupMember]

    public init(
        id: ChatID, subject: String, subjectOwner: String? = nil, subjectTime: Date? = nil, creator: String? = nil, creation: Date? = nil,
        description: String? = nil, descriptionID: String? = nil, isAnnounce: Bool = false, isLocked: Bool = false,
        ephemeralSeconds: Int? = nil, addressingMode: String = "pn", participants: [GroupMember] = []
    ) {
        self.id = id
        self.subject = subject
        self.subjectOwner = subjectOwner
        self.subjectTime = subjectTime
        self.creator = creator
        self.creation = creation
        self.description = description
        self.descriptionID = descriptionID
        self.isAnnounce = isAnnounce
        self.isLocked = isLocked
        self.ephemeralSeconds = ephemeralSeconds
        self.addressingMode = addressingMode
        self.participants = participants
    }
}

/// One member of a group: their phone number and LID as far as known, and their role.
public struct GroupMember: Sendable, Codable, Equatable {
    public enum Role: String, Sendable, Codable { case member, admin, superadmin }

    /// The phone number (digits), or the LID user when no number is known.
    public var phone: String
    public var lid: String?
    public var role: Role

    public init(phone: String, lid: String? = nil, role: Role = .member) {
        self.phone = phone
        self.lid = lid
        self.role = role
    }
}

/// What can be done to a group's members.
public enum GroupParticipantAction: String, Sendable, Codable, CaseIterable {
    case add, remove, promote, demote
}

/// What became of one member in an add, remove, promote or demote.
public struct GroupParticipantResult: Sendable, Codable, Equatable {
    /// The person as asked (a phone number or a JID).
    public var participant: String
    /// WhatsApp's error code; `nil` when it worked.
    public var error: Int?
    /// A readable reason for the error.
    public var reason: String?
    /// For a person whose privacy settings refuse direct adds: the code of an invitation to send.
    public var inviteCode: String?

    public init(participant: String, error: Int? = nil, reason: String? = nil, inviteCode: String? = nil) {
        self.participant = participant
        self.error = error
        self.reason = reason
        self.inviteCode = inviteCode
    }

    public var succeeded: Bool { error == nil }
}

/// A change to a group's subject, description or settings.
public enum GroupSetting: Sendable, Equatable {
    case subject(String)
    /// `nil` removes the description.
    case description(String?)
    case announce(Bool)
    case locked(Bool)
}

/// Something that happened to a group, as WhatsApp told it (a `w:gp2` notification).
public struct GroupUpdate: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// This account was added, joined by a link, or the group was made with it.
        case joined
        /// This account left or was removed.
        case left
        /// Members were added, removed, promoted or demoted.
        case participants
        /// The subject, description, settings, invite link or picture changed.
        case updated
    }

    public var kind: Kind
    public var group: ChatID
    /// Who did it: phone number (or LID user) and LID, when WhatsApp said.
    public var actor: String?
    public var actorLID: String?
    /// For ``Kind/participants`` (and joined/left): `added`, `removed`, `promoted`, `demoted`.
    public var action: String?
    public var participants: [GroupMember]
    /// For ``Kind/updated``: the new values by name (`subject`, `description`, `announce`,
    /// `locked`, `invite_code`, `picture_id`); a removed description is an empty string.
    public var changes: [String: String]
    /// The group, when WhatsApp sent it whole (a group made with this account).
    public var info: GroupInfo?
    public var timestamp: Date

    public init(
        kind: Kind, group: ChatID, actor: String? = nil, actorLID: String? = nil, action: String? = nil, participants: [GroupMember] = [],
        changes: [String: String] = [:], info: GroupInfo? = nil, timestamp: Date
    ) {
        self.kind = kind
        self.group = group
        self.actor = actor
        self.actorLID = actorLID
        self.action = action
        self.participants = participants
        self.changes = changes
        self.info = info
        self.timestamp = timestamp
    }
}
