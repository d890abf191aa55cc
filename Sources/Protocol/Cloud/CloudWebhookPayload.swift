import Foundation

// Meta's webhook JSON, as far as Wharf reads it. Every field is optional: Meta adds fields freely,
// and a missing one must not cost the rest of the notification. Names follow Meta's snake_case.

struct CloudPayload: Decodable {
    var object: String?
    var entry: [Entry]?

    struct Entry: Decodable {
        var id: String?
        var changes: [Change]?
    }

    struct Change: Decodable {
        var field: String?
        var value: Value?
    }

    struct Value: Decodable {
        var metadata: Metadata?
        var contacts: [Contact]?
        var messages: [CloudMessage]?
        var statuses: [StatusUpdate]?
    }

    struct Metadata: Decodable {
        var display_phone_number: String?
        var phone_number_id: String?
    }

    struct Contact: Decodable {
        struct Profile: Decodable { var name: String? }
        var profile: Profile?
        var wa_id: String?
    }

    struct StatusUpdate: Decodable {
        var id: String?
        var status: String?
        var timestamp: String?
        var recipient_id: String?
        var errors: [GraphErrorObject]?
    }
}

struct CloudMessage: Decodable {
    struct Text: Decodable { var body: String? }
    struct Media: Decodable {
        var id: String?
        var mime_type: String?
        var caption: String?
        var filename: String?
        var voice: Bool?
    }
    struct Location: Decodable {
        var latitude: Double?
        var longitude: Double?
        var name: String?
        var address: String?
    }
    struct Reaction: Decodable {
        var message_id: String?
        var emoji: String?
    }
    struct Button: Decodable {
        var text: String?
        var payload: String?
    }
    struct Interactive: Decodable {
        struct Reply: Decodable {
            var id: String?
            var title: String?
        }
        var type: String?
        var button_reply: Reply?
        var list_reply: Reply?
    }
    struct Context: Decodable { var id: String? }

    var from: String?
    var id: String?
    var timestamp: String?
    var type: String?
    var group_id: String?
    var context: Context?
    var text: Text?
    var image: Media?
    var video: Media?
    var audio: Media?
    var document: Media?
    var sticker: Media?
    var location: Location?
    var reaction: Reaction?
    var button: Button?
    var interactive: Interactive?

    /// Our flat message; a type we do not model keeps its id, sender and time as `unsupported`.
    func normalized(name: String?) -> InboundMessage {
        let from = self.from ?? ""
        let chat = group_id.map { ChatID("\($0)@g.us") } ?? ChatID("\(from)@s.whatsapp.net")
        var message = InboundMessage(
            id: id ?? "", chat: chat, from: from, fromName: name, kind: "unsupported", replyTo: context?.id,
            timestamp: CloudWebhook.date(timestamp))
        func media(_ kind: String, _ media: Media?) {
            guard let media else { return }
            message.kind = kind
            message.media = MediaInfo(
                mimeType: media.mime_type ?? "application/octet-stream", caption: media.caption,
                fileName: media.filename, id: media.id)
            message.text = media.caption
        }
        switch type {
        case "text":
            message.kind = "text"
            message.text = text?.body
        case "image": media("image", image)
        case "video": media("video", video)
        case "audio": media(audio?.voice == true ? "voice" : "audio", audio)
        case "document": media("document", document)
        case "sticker": media("sticker", sticker)
        case "location":
            if let location, let latitude = location.latitude, let longitude = location.longitude {
                message.kind = "location"
                message.text = ([location.name, location.address].compactMap { $0 } + ["\(latitude),\(longitude)"]).joined(separator: "\n")
            }
        case "reaction":
            if let reaction {
                message.kind = "reaction"
                message.text = reaction.emoji
                message.replyTo = reaction.message_id
            }
        case "button":
            message.kind = "button"
            message.text = button?.text
        case "interactive":
            let reply = interactive?.button_reply ?? interactive?.list_reply
            message.kind = "interactive"
            message.text = reply?.title
        default:
            break
        }
        return message
    }
}

/// An error object as Meta writes it, in webhooks (`title`) and in Graph answers (`type`).
struct GraphErrorObject: Decodable {
    struct Data: Decodable { var details: String? }
    var code: Int?
    var title: String?
    var type: String?
    var message: String?
    var error_data: Data?

    /// `nil` without a code: a guessed code would name a wrong reason.
    var graphError: GraphError? {
        code.map { GraphError(code: $0, title: title ?? type, message: message, details: error_data?.details) }
    }
}
