import Foundation
import Testing
import WharfCore
import WhatsAppProtocol

@testable import Gateway

/// The served OpenAPI document and the router describe the same routes.
@Suite struct OpenAPITests {
    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        try await TestWharf.run { app in
            let reply = try await app.call(.get, "/openapi.json")
            #expect(reply.status == .ok)
            let paths = reply["paths"]?.objectValue ?? [:]
            var documented: Set<String> = []
            for (path, item) in paths {
                for method in (item.objectValue ?? [:]).keys where ["get", "put", "post", "delete", "patch"].contains(method) {
                    documented.insert("\(method.uppercased()) \(path)")
                }
            }
            // Hummingbird writes parameters as `:name`, OpenAPI as `{name}`.
            let served = Set(
                app.wharf.routes.map { route in
                    route.split(separator: "/", omittingEmptySubsequences: false).map { part in
                        part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
                    }.joined(separator: "/")
                })
            #expect(served.subtracting(documented).sorted() == [], "served but not documented")
            #expect(documented.subtracting(served).sorted() == [], "documented but not served")
        }
    }
}

/// The document's `webhooks` section and the envelopes Wharf writes describe the same events.
@Suite struct WebhookEventDocumentTests {
    static let document: JSONValue = {
        let json = try! OpenAPIDocument.bundled.get().json
        return try! JSONDecoder().decode(JSONValue.self, from: Data(json))
    }()

    static func schema(_ reference: JSONValue?) -> JSONValue? {
        guard let name = reference?["$ref"]?.stringValue?.split(separator: "/").last else { return nil }
        return document["components"]?["schemas"]?[String(name)]
    }

    @Test func everyEventTypeHasAWebhookEntryAndTheEnvelopeNamesThemAll() throws {
        let types = Set(EventType.allCases.map(\.rawValue))
        let documented = Set(Self.document["webhooks"]?.objectValue?.keys.map { $0 } ?? [])
        #expect(documented == types)
        let envelope = Self.document["components"]?["schemas"]?["EventEnvelope"]?["properties"]?["type"]?["enum"]
        #expect(Set(envelope?.arrayValue?.compactMap(\.stringValue) ?? []) == types)
    }

    /// For each kind of session event: its `data` has every member the document requires and no
    /// member the document does not describe.
    @Test func theDataOfEveryEventFitsItsDocumentedSchema() throws {
        let chat = ChatID("4915112345678@s.whatsapp.net")
        let now = Date(timeIntervalSince1970: 1_764_064_800)
        let job = JobRecord(
            id: "job_1", tenantId: "ten_1", sessionId: "ses_1", chatId: chat.rawValue, kind: .text, text: "Hi", status: .sent,
            clientMessageId: "3EB0AA", attempts: 1, createdAt: now, updatedAt: now, sentAt: now)
        let kinds: [SessionEvent.Kind] = [
            .message(InboundMessage(id: "M1", chat: chat, from: "4915112345678", text: "Hi", timestamp: now)),
            .message(
                InboundMessage(
                    id: "M2", chat: chat, from: "4915112345678", kind: "image", media: MediaInfo(mimeType: "image/png"), timestamp: now)),
            .status(.connected, detail: nil), .status(.disconnected, detail: "lost"), .qr("2@abc"), .pairingCode("ABCD-EFGH"),
            .receipt(MessageReceipt(messageID: "M1", chat: chat, level: .read, timestamp: now)),
            .presence(PresenceUpdate(chat: chat, from: "4915112345678", presence: "composing", timestamp: now)),
            .messageSent(job, messageID: "3EB0AA"), .messageFailed(job, reason: "no"),
            .deliveryFailed(messageID: "wamid.1", chat: chat, reason: "gone", code: 131026, job: nil),
            .undecryptable(
                UndecryptableMessage(id: "M3", origin: MessageOrigin(chat: chat, from: "4915112345678"), reason: "bad MAC", timestamp: now)),
            .identityChanged(
                IdentityChange(origin: MessageOrigin(chat: chat, from: "4915112345678"), device: "4915112345678:0@s.whatsapp.net", timestamp: now)),
            .edited(MessageEdit(id: "M1", origin: MessageOrigin(chat: chat, from: "4915112345678"), text: "Hi!", timestamp: now)),
            .revoked(MessageRevocation(id: "M1", origin: MessageOrigin(chat: chat, from: "4915112345678"), timestamp: now)),
        ]
        for kind in kinds {
            let (type, data) = EventEnvelope.describe(kind)
            let entry = Self.document["webhooks"]?[type]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"]
            let event = try #require(Self.schema(entry), "\(type) has a webhook entry")
            let dataSchema = try #require(Self.schema(event["allOf"]?.arrayValue?.last?["properties"]?["data"]), "\(type) has a data schema")
            let members = Set(data.objectValue?.keys.map { $0 } ?? [])
            let described = Set(dataSchema["properties"]?.objectValue?.keys.map { $0 } ?? [])
            let required = Set(dataSchema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(required.isSubset(of: members), "\(type) lacks \(required.subtracting(members).sorted())")
            #expect(members.isSubset(of: described), "\(type) has undocumented \(members.subtracting(described).sorted())")
        }
    }
}
