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

    /// Something a simulated contact did (a reaction, a place, a poll, a vote, an edit…), delivered
    /// as a real engine would; returns once it is stored.
    public func injectEvent(_ event: InboundEvent) async throws {
        _ = try connectedPhone()
        if case .message(let message) = event, message.chat.isGroup, try await !isMember(of: message.chat) {
            throw EngineError.rejected("the sandbox account is not a member of group '\(message.chat)'")
        }
        await withCheckedContinuation { (stored: CheckedContinuation<Void, Never>) in
            continuation.yield(.inbound([event], Acknowledgement(onFailure: { _ in stored.resume() }) { stored.resume() }))
        }
    }

    /// A simulated contact rings the account; returns once the event is stored.
    public func injectCall(from contact: String, video: Bool) async throws -> CallEvent {
        _ = try connectedPhone()
        let digits = contact.filter(\.isNumber)
        let call = CallEvent(
            kind: .received, callID: "SBXCALL" + String(Int.random(in: 100_000...999_999)), from: digits, callerDevice: "\(digits)@s.whatsapp.net",
            creator: "\(digits)@s.whatsapp.net", isVideo: video, timestamp: clock.now)
        await withCheckedContinuation { (stored: CheckedContinuation<Void, Never>) in
            continuation.yield(.inbound([.call(call)], Acknowledgement(onFailure: { _ in stored.resume() }) { stored.resume() }))
        }
        return call
    }

    public func rejectCall(_ call: CallEvent) async throws {
        _ = try connectedPhone()
        var record = SandboxRecord(step: .reject, chat: "\(call.from)@s.whatsapp.net", at: clock.now)
        record.target = call.callID
        note(record)
    }

    /// Whether the account is a member of `group` (sends to other groups are refused).
    func isMember(of group: ChatID) async throws -> Bool {
        let phone = try connectedPhone()
        return (try? await loadGroups().info(group, for: phone)) != nil
    }

    // MARK: Parts

    private func connectedPhone() throws -> String {
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

/// Contacts and presence in the sandbox: every number is on WhatsApp except those starting with
/// 999 (to try the "not on WhatsApp" path); subscriptions and availability are recorded.
extension SandboxEngine {
    public static let notOnWhatsAppPrefix = "999"

    public func lookUpContacts(_ phones: [String], withPicture: Bool) async throws -> [ContactInfo] {
        guard account != nil else { throw EngineError.notConnected }
        return phones.map { phone in
            let isIn = !phone.hasPrefix(Self.notOnWhatsAppPrefix)
            return ContactInfo(
                phone: phone, isOnWhatsApp: isIn, jid: isIn ? "\(phone)@s.whatsapp.net" : nil, pushName: nil,
                pictureURL: isIn && withPicture ? "https://sandbox.invalid/pictures/\(phone).jpg" : nil)
        }
    }

    public func subscribePresence(_ chat: ChatID) async throws {
        guard account != nil else { throw EngineError.notConnected }
        note(SandboxRecord(step: .subscribe, chat: chat.rawValue, at: clock.now))
    }

    public func setAvailability(_ available: Bool) async throws {
        guard account != nil else { throw EngineError.notConnected }
        var record = SandboxRecord(step: .availability, chat: "", at: clock.now)
        record.text = available ? "available" : "unavailable"
        note(record)
    }
}
