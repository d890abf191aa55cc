import Foundation
import Hummingbird
import WharfCore
import WhatsAppProtocol

/// Groups of a session (`/v1/sessions/:sessionId/groups…`): listing, creating, changing and
/// leaving them, their members and invite links. These are requests to WhatsApp answered at once
/// (no job queue: nothing is sent to a chat), so the session must be connected. Messages to a
/// group go through the send routes with the group's id as `chatId`.
struct GroupController {
    let services: GatewayServices
    let lookup: Lookup

    /// The longest subject WhatsApp takes, in characters.
    static let subjectLimit = 25
    static let descriptionLimit = 2048
    static let participantLimit = 256
    static let inviteLinkPrefix = "https://chat.whatsapp.com/"

    struct CreateInput: Decodable {
        var subject: String
        var participants: [String]
    }

    /// Absent fields stay as they are; `description: null` removes the description.
    struct UpdateInput: Decodable {
        var subject: String?
        var description: String??
        var announce: Bool?
        var locked: Bool?

        enum CodingKeys: String, CodingKey { case subject, description, announce, locked }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            subject = try container.decodeIfPresent(String.self, forKey: .subject)
            announce = try container.decodeIfPresent(Bool.self, forKey: .announce)
            locked = try container.decodeIfPresent(Bool.self, forKey: .locked)
            description = container.contains(.description) ? .some(try container.decodeIfPresent(String.self, forKey: .description)) : nil
        }
    }

    struct ParticipantsInput: Decodable {
        var participants: [String]
    }

    struct JoinInput: Decodable {
        /// The invite code, or the whole `https://chat.whatsapp.com/…` link.
        var invite: String
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("sessions/:sessionId/groups", use: list)
        group.post("sessions/:sessionId/groups", use: create)
        group.post("sessions/:sessionId/groups/join", use: join)
        group.get("sessions/:sessionId/groups/:groupId", use: get)
        group.patch("sessions/:sessionId/groups/:groupId", use: update)
        group.post("sessions/:sessionId/groups/:groupId/participants/:action", use: participants)
        group.get("sessions/:sessionId/groups/:groupId/invite", use: invite)
        group.post("sessions/:sessionId/groups/:groupId/invite/revoke", use: revokeInvite)
        group.post("sessions/:sessionId/groups/:groupId/leave", use: leave)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let engine = try await groupEngine(context)
        let groups = try await engine.groups()
        return try Response.json(["groups": .array(groups.sorted { $0.id.rawValue < $1.id.rawValue }.map(EventEnvelope.groupInfoData))])
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let engine = try await groupEngine(context)
        let group = try Self.groupID(context)
        return try Response.json(EventEnvelope.groupInfoData(try await engine.groupInfo(group)))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await request.decode(as: CreateInput.self, context: context)
        let subject = try Self.subject(input.subject)
        guard !input.participants.isEmpty else {
            throw Problem.unprocessable("field 'participants': at least one person to add to the group", field: "participants")
        }
        let people = try Self.people(input.participants)
        let engine = try await groupEngine(context)
        let group = try await engine.createGroup(subject: subject, participants: people)
        return try Response.json(EventEnvelope.groupInfoData(group), status: .created)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await request.decode(as: UpdateInput.self, context: context)
        var settings: [GroupSetting] = []
        if let subject = input.subject { settings.append(.subject(try Self.subject(subject))) }
        if let description = input.description {
            if let text = description, text.count > Self.descriptionLimit {
                throw Problem.unprocessable(
                    "field 'description': at most \(Self.descriptionLimit) characters, not \(text.count)", field: "description")
            }
            settings.append(.description(description))
        }
        if let announce = input.announce { settings.append(.announce(announce)) }
        if let locked = input.locked { settings.append(.locked(locked)) }
        guard !settings.isEmpty else {
            throw Problem.unprocessable("nothing to change: give 'subject', 'description', 'announce' or 'locked'")
        }
        let engine = try await groupEngine(context)
        let group = try Self.groupID(context)
        for setting in settings { try await engine.updateGroup(group, setting) }
        return try Response.json(EventEnvelope.groupInfoData(try await engine.groupInfo(group)))
    }

    @Sendable func participants(_ request: Request, context: AppRequestContext) async throws -> Response {
        let name = try context.parameters.require("action")
        guard let action = GroupParticipantAction(rawValue: name) else {
            throw Problem.notFound("participant action '\(name)' (add, remove, promote or demote)")
        }
        let input = try await request.decode(as: ParticipantsInput.self, context: context)
        guard !input.participants.isEmpty else {
            throw Problem.unprocessable("field 'participants': at least one person", field: "participants")
        }
        let people = try Self.people(input.participants)
        let engine = try await groupEngine(context)
        let group = try Self.groupID(context)
        let results = try await engine.changeParticipants(group, action, people)
        let items: [JSONValue] = results.map { result in
            [
                "participant": .string(result.participant), "ok": .bool(result.succeeded),
                "error": result.error.map { .number(Double($0)) } ?? .null, "reason": result.reason.map(JSONValue.string) ?? .null,
                "invite_code": result.inviteCode.map(JSONValue.string) ?? .null,
            ]
        }
        return try Response.json(["action": .string(action.rawValue), "results": .array(items)])
    }

    @Sendable func invite(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await inviteAnswer(context, revoke: false)
    }

    @Sendable func revokeInvite(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await inviteAnswer(context, revoke: true)
    }

    @Sendable func join(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await request.decode(as: JoinInput.self, context: context)
        var code = input.invite.trimmingCharacters(in: .whitespaces)
        if code.hasPrefix(Self.inviteLinkPrefix) { code.removeFirst(Self.inviteLinkPrefix.count) }
        guard !code.isEmpty, code.count <= 64, code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            throw Problem.unprocessable(
                "field 'invite': an invite code or a link such as \(Self.inviteLinkPrefix)AbCdEf123", field: "invite")
        }
        let engine = try await groupEngine(context)
        let group = try await engine.joinGroup(inviteCode: code)
        return try Response.json(["id": .string(group.rawValue)])
    }

    @Sendable func leave(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let engine = try await groupEngine(context)
        let group = try Self.groupID(context)
        try await engine.leaveGroup(group)
        return .noContent
    }

    // MARK: Parts

    private func inviteAnswer(_ context: AppRequestContext, revoke: Bool) async throws -> Response {
        let engine = try await groupEngine(context)
        let group = try Self.groupID(context)
        let code = try await engine.inviteCode(of: group, revoke: revoke)
        return try Response.json(["code": .string(code), "url": .string(Self.inviteLinkPrefix + code)])
    }

    private func groupEngine(_ context: AppRequestContext) async throws -> any Engine {
        try await lookup.runningEngine(context, can: { $0.chatKinds.contains(.group) }, "groups")
    }

    static func groupID(_ context: AppRequestContext) throws -> ChatID {
        let raw = try context.parameters.require("groupId")
        let text = raw.contains("@") ? raw : "\(raw)@g.us"
        guard let chat = ChatAddress.normalize(text), chat.isGroup else {
            throw Problem.notFound("group '\(raw)'")
        }
        return chat
    }

    static func subject(_ raw: String) throws -> String {
        let subject = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !subject.isEmpty, subject.count <= subjectLimit else {
            throw Problem.unprocessable("field 'subject': 1 to \(subjectLimit) characters, not \(subject.count)", field: "subject")
        }
        return subject
    }

    static func people(_ raw: [String]) throws -> [ChatID] {
        guard raw.count <= participantLimit else {
            throw Problem.unprocessable("field 'participants': at most \(participantLimit) at once, not \(raw.count)", field: "participants")
        }
        return try raw.enumerated().map { index, text in
            guard let chat = ChatAddress.normalize(text), !chat.isGroup else {
                throw Problem.unprocessable(
                    "field 'participants[\(index)]': '\(text)' is not a person: \(ChatAddress.acceptedForms)", field: "participants")
            }
            return chat
        }
    }
}
