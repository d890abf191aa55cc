import Foundation
import Hummingbird
import WharfCore
import WhatsAppProtocol

/// Contacts and presence of a session: whether numbers are on WhatsApp (with their ids, the push
/// name seen and the profile picture), presence subscriptions and the account's own availability.
/// Requests to WhatsApp answered at once; the session must be connected.
struct ContactController {
    let services: GatewayServices
    let lookup: Lookup
    static let batchLimit = 50

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("sessions/:sessionId/contacts/:phone", use: contact)
        group.post("sessions/:sessionId/contacts/check", use: check)
        group.post("sessions/:sessionId/presence/subscribe", use: subscribe)
        group.put("sessions/:sessionId/presence", use: availability)
    }

    @Sendable func contact(_ request: Request, context: AppRequestContext) async throws -> Response {
        let phone = try Self.phone(try context.parameters.require("phone"), field: "phone")
        let engine = try await engine(context)
        let found = try await engine.lookUpContacts([phone], withPicture: true)
        return try Response.json(found.first.map(Self.data) ?? .null)
    }

    @Sendable func check(_ request: Request, context: AppRequestContext) async throws -> Response {
        struct Input: Decodable { var phones: [String] }
        let input = try await request.decode(as: Input.self, context: context)
        guard (1...Self.batchLimit).contains(input.phones.count) else {
            throw Problem.unprocessable("field 'phones' must list 1 to \(Self.batchLimit) numbers", field: "phones")
        }
        let phones = try input.phones.enumerated().map { try Self.phone($1, field: "phones[\($0)]") }
        let engine = try await engine(context)
        let found = try await engine.lookUpContacts(phones, withPicture: false)
        return try Response.json(["results": .array(found.map(Self.data))])
    }

    @Sendable func subscribe(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        struct Input: Decodable { var chatId: String }
        let input = try await request.decode(as: Input.self, context: context)
        guard let chat = ChatAddress.normalize(input.chatId), !chat.isGroup else {
            throw Problem.unprocessable("field 'chatId': a person's chat (\(ChatAddress.acceptedForms), not a group)", field: "chatId")
        }
        let engine = try await engine(context)
        try await engine.subscribePresence(chat)
        return .noContent
    }

    @Sendable func availability(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        struct Input: Decodable { var available: Bool }
        let input = try await request.decode(as: Input.self, context: context)
        let engine = try await engine(context)
        try await engine.setAvailability(input.available)
        return .noContent
    }

    // MARK: Parts

    static func data(_ info: ContactInfo) -> JSONValue {
        [
            "phone": .string(info.phone), "on_whatsapp": .bool(info.isOnWhatsApp), "jid": info.jid.map(JSONValue.string) ?? .null,
            "lid": info.lid.map(JSONValue.string) ?? .null, "push_name": info.pushName.map(JSONValue.string) ?? .null,
            "picture_url": info.pictureURL.map(JSONValue.string) ?? .null,
        ]
    }

    static func phone(_ raw: String, field: String) throws -> String {
        guard let chat = ChatAddress.normalize(raw), chat.rawValue.hasSuffix("@s.whatsapp.net") else {
            throw Problem.unprocessable("field '\(field)': '\(raw)' is not a phone number in international form", field: field)
        }
        return chat.user
    }

    private func engine(_ context: AppRequestContext) async throws -> any Engine {
        try await lookup.runningEngine(context, can: \.hasContactLookups, "contact look-ups or presence")
    }
}
