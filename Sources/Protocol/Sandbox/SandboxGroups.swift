import Foundation
import WharfCore

/// The sandbox account's groups, as a value with no I/O: each operation checks what WhatsApp
/// checks (membership, admin rights, the subject length, revoked codes), changes the groups and
/// returns the update every member would be told of. ``SandboxEngine`` stores it and emits the
/// updates as events.
struct SandboxGroups: Codable, Sendable, Equatable {
    static let subjectLimit = 25
    /// An invite code that starts with this joins a group made up on the spot (someone else's), so
    /// joining by link can be tried without a second account.
    static let simulatedInvitePrefix = "sandbox-"

    private(set) var groups: [String: GroupInfo] = [:]
    /// Invite codes by group id, and codes that were revoked.
    private var codes: [String: String] = [:]
    private var revoked: Set<String> = []
    private var counter = 0

    func info(_ id: ChatID, for phone: String) throws(EngineError) -> GroupInfo {
        guard let group = groups[id.rawValue] else { throw .notFound("the sandbox knows no group '\(id)'") }
        guard group.participants.contains(where: { $0.phone == phone }) else {
            throw .rejected("this account is not a member of the group (error 403)")
        }
        return group
    }

    func list(for phone: String) -> [GroupInfo] {
        groups.values.filter { $0.participants.contains { $0.phone == phone } }.sorted { $0.id.rawValue < $1.id.rawValue }
    }

    mutating func create(subject: String, owner: String, participants: [ChatID], at now: Date) throws(EngineError) -> GroupInfo {
        guard subject.count <= Self.subjectLimit else { throw .invalidRequest("WhatsApp refused the value (a subject is at most 25 characters)") }
        counter += 1
        let id = ChatID("120363\(String(format: "%012d", Int(now.timeIntervalSince1970) % 1_000_000 * 1000 + counter))@g.us")
        var members = [GroupMember(phone: owner, role: .superadmin)]
        for person in participants where !members.contains(where: { $0.phone == person.user }) {
            members.append(GroupMember(phone: person.user))
        }
        let group = GroupInfo(
            id: id, subject: subject, subjectOwner: owner, subjectTime: now, creator: owner, creation: now, participants: members)
        groups[id.rawValue] = group
        codes[id.rawValue] = Identifier.token(byteCount: 12)
        return group
    }

    mutating func update(_ id: ChatID, _ setting: GroupSetting, by phone: String, at now: Date) throws(EngineError) -> GroupUpdate {
        var group = try info(id, for: phone)
        let isAdmin = group.participants.contains { $0.phone == phone && $0.role != .member }
        var changes: [String: String] = [:]
        switch setting {
        case .subject(let subject):
            guard !group.isLocked || isAdmin else { throw .rejected("only the group's admins can do that (error 401)") }
            guard subject.count <= Self.subjectLimit else {
                throw .invalidRequest("WhatsApp refused the value (a subject is at most 25 characters)")
            }
            group.subject = subject
            group.subjectOwner = phone
            group.subjectTime = now
            changes["subject"] = subject
        case .description(let text):
            guard !group.isLocked || isAdmin else { throw .rejected("only the group's admins can do that (error 401)") }
            group.description = text?.isEmpty == false ? text : nil
            group.descriptionID = group.description == nil ? nil : Identifier.token(byteCount: 8)
            changes["description"] = group.description ?? ""
        case .announce(let on):
            guard isAdmin else { throw .rejected("only the group's admins can do that (error 401)") }
            group.isAnnounce = on
            changes["announce"] = on ? "true" : "false"
        case .locked(let on):
            guard isAdmin else { throw .rejected("only the group's admins can do that (error 401)") }
            group.isLocked = on
            changes["locked"] = on ? "true" : "false"
        }
        groups[id.rawValue] = group
        return GroupUpdate(kind: .updated, group: id, actor: phone, changes: changes, timestamp: now)
    }

    mutating func change(
        _ id: ChatID, _ action: GroupParticipantAction, _ people: [ChatID], by phone: String, at now: Date
    ) throws(EngineError) -> ([GroupParticipantResult], GroupUpdate?) {
        var group = try info(id, for: phone)
        guard group.participants.contains(where: { $0.phone == phone && $0.role != .member }) else {
            throw .rejected("only the group's admins can do that (error 401)")
        }
        var results: [GroupParticipantResult] = []
        var changed: [GroupMember] = []
        for person in people {
            let index = group.participants.firstIndex { $0.phone == person.user }
            var error: Int?
            switch (action, index) {
            case (.add, nil):
                group.participants.append(GroupMember(phone: person.user))
                changed.append(GroupMember(phone: person.user))
            case (.add, _?): error = 409
            case (_, nil): error = 404
            case (.remove, let index?):
                changed.append(group.participants.remove(at: index))
            case (.promote, let index?):
                group.participants[index].role = group.participants[index].role == .superadmin ? .superadmin : .admin
                changed.append(group.participants[index])
            case (.demote, let index?):
                if group.participants[index].role != .superadmin { group.participants[index].role = .member }
                changed.append(group.participants[index])
            }
            let reason = error.map { code in code == 409 ? "already a member" : "not a member of the group" }
            results.append(GroupParticipantResult(participant: person.rawValue, error: error, reason: reason))
        }
        groups[id.rawValue] = group
        guard !changed.isEmpty else { return (results, nil) }
        let verb = ["add": "added", "remove": "removed", "promote": "promoted", "demote": "demoted"][action.rawValue]
        return (results, GroupUpdate(kind: .participants, group: id, actor: phone, action: verb, participants: changed, timestamp: now))
    }

    mutating func inviteCode(_ id: ChatID, revoke: Bool, by phone: String, at now: Date) throws(EngineError) -> (String, GroupUpdate?) {
        let group = try info(id, for: phone)
        guard group.participants.contains(where: { $0.phone == phone && $0.role != .member }) else {
            throw .rejected("only the group's admins can do that (error 401)")
        }
        guard revoke else { return (codes[id.rawValue] ?? "", nil) }
        if let old = codes[id.rawValue] { revoked.insert(old) }
        let code = Identifier.token(byteCount: 12)
        codes[id.rawValue] = code
        return (code, GroupUpdate(kind: .updated, group: id, actor: phone, changes: ["invite_code": code], timestamp: now))
    }

    mutating func join(code: String, as phone: String, at now: Date) throws(EngineError) -> GroupUpdate {
        if revoked.contains(code) { throw .rejected("the invite link was revoked") }
        var id = codes.first { $0.value == code }?.key
        if id == nil, code.hasPrefix(Self.simulatedInvitePrefix) {
            let made = try create(subject: "Sandbox group", owner: "15550000001", participants: [], at: now)
            codes[made.id.rawValue] = code
            id = made.id.rawValue
        }
        guard let id, var group = groups[id] else { throw .notFound("WhatsApp knows no group for this invite code") }
        if !group.participants.contains(where: { $0.phone == phone }) { group.participants.append(GroupMember(phone: phone)) }
        groups[id] = group
        return GroupUpdate(kind: .joined, group: group.id, actor: phone, action: "joined", participants: [GroupMember(phone: phone)], timestamp: now)
    }

    mutating func leave(_ id: ChatID, as phone: String, at now: Date) throws(EngineError) -> GroupUpdate {
        var group = try info(id, for: phone)
        group.participants.removeAll { $0.phone == phone }
        if !group.participants.isEmpty, !group.participants.contains(where: { $0.role != .member }) {
            group.participants[0].role = .admin
        }
        groups[id.rawValue] = group
        return GroupUpdate(kind: .left, group: id, actor: phone, action: "left", participants: [GroupMember(phone: phone)], timestamp: now)
    }
}
