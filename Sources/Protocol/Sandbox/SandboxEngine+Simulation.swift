import Foundation

/// What simulated contacts do besides writing text (reactions, places, polls, votes, edits,
/// calls), delivered as a real engine delivers them.
extension SandboxEngine {
    /// Something a simulated contact did (a reaction, a place, a poll, a vote, an edit…), delivered
    /// as a real engine would; returns once it is stored.
    public func injectEvent(_ event: InboundEvent) async throws {
        _ = try connectedPhone()
        if case .message(let message) = event, message.chat.isGroup, try await !isMember(of: message.chat) {
            throw EngineError.rejected("the sandbox account is not a member of group '\(message.chat)'")
        }
        await deliverStored([event])
    }

    /// A simulated contact rings the account; returns once the event is stored.
    public func injectCall(from contact: String, video: Bool) async throws -> CallEvent {
        _ = try connectedPhone()
        let digits = contact.filter(\.isNumber)
        let call = CallEvent(
            kind: .received, callID: "SBXCALL" + String(Int.random(in: 100_000...999_999)), from: digits, callerDevice: "\(digits)@s.whatsapp.net",
            creator: "\(digits)@s.whatsapp.net", isVideo: video, timestamp: clock.now)
        await deliverStored([.call(call)])
        return call
    }

    public func rejectCall(_ call: CallEvent) async throws {
        _ = try connectedPhone()
        var record = SandboxRecord(step: .reject, chat: "\(call.from)@s.whatsapp.net", at: clock.now)
        record.target = call.callID
        note(record)
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
