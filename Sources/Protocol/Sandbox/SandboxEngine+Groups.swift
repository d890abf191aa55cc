import Foundation

/// The sandbox's groups: every request does what WhatsApp would (see ``SandboxGroups``), stores
/// the groups with the simulated account, and emits the events its members would get.
extension SandboxEngine {
    static let groupsKey = "sandbox.groups"

    public func groups() async throws -> [GroupInfo] {
        let phone = try connectedPhone()
        return try await loadGroups().list(for: phone)
    }

    public func groupInfo(_ group: ChatID) async throws -> GroupInfo {
        let phone = try connectedPhone()
        return try await loadGroups().info(group, for: phone)
    }

    public func createGroup(subject: String, participants: [ChatID]) async throws -> GroupInfo {
        try await changeGroups { groups, phone, now in
            let group = try groups.create(subject: subject, owner: phone, participants: participants, at: now)
            let joined = GroupUpdate(
                kind: .joined, group: group.id, actor: phone, action: "created", participants: group.participants, info: group, timestamp: now)
            return (group, [joined])
        }
    }

    public func updateGroup(_ group: ChatID, _ setting: GroupSetting) async throws {
        try await changeGroups { groups, phone, now in ((), [try groups.update(group, setting, by: phone, at: now)]) }
    }

    public func changeParticipants(
        _ group: ChatID, _ action: GroupParticipantAction, _ participants: [ChatID]
    ) async throws
        -> [GroupParticipantResult]
    {
        try await changeGroups { groups, phone, now in
            let (results, update) = try groups.change(group, action, participants, by: phone, at: now)
            return (results, update.map { [$0] } ?? [])
        }
    }

    public func inviteCode(of group: ChatID, revoke: Bool) async throws -> String {
        try await changeGroups { groups, phone, now in
            let (code, update) = try groups.inviteCode(group, revoke: revoke, by: phone, at: now)
            return (code, update.map { [$0] } ?? [])
        }
    }

    public func joinGroup(inviteCode: String) async throws -> ChatID {
        try await changeGroups { groups, phone, now in
            let update = try groups.join(code: inviteCode, as: phone, at: now)
            return (update.group, [update])
        }
    }

    public func leaveGroup(_ group: ChatID) async throws {
        try await changeGroups { groups, phone, now in ((), [try groups.leave(group, as: phone, at: now)]) }
    }

    /// Whether the account is a member of `group` (sends to other groups are refused).
    func isMember(of group: ChatID) async throws -> Bool {
        let phone = try connectedPhone()
        return (try? await loadGroups().info(group, for: phone)) != nil
    }

    // MARK: Parts

    func connectedPhone() throws -> String {
        guard let account else { throw EngineError.notConnected }
        return account.phone
    }

    private func loadGroups() async throws -> SandboxGroups {
        guard let data = try await credentials.value(forKey: Self.groupsKey) else { return SandboxGroups() }
        guard let groups = try? JSONDecoder().decode(SandboxGroups.self, from: data) else {
            throw EngineError.unreadableState("the sandbox's groups cannot be read; log out and link again")
        }
        return groups
    }

    /// Runs one change on the stored groups, stores them, then emits the updates.
    private func changeGroups<T: Sendable>(
        _ change: (inout SandboxGroups, String, Date) throws -> (T, [GroupUpdate])
    ) async throws -> T {
        let phone = try connectedPhone()
        var groups = try await loadGroups()
        let (answer, updates) = try change(&groups, phone, clock.now)
        try await credentials.setValue(try JSONEncoder().encode(groups), forKey: Self.groupsKey)
        if !updates.isEmpty { continuation.yield(.inbound(updates.map(InboundEvent.group), .none)) }
        return answer
    }
}
