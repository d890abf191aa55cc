import Foundation

extension Messenger {
    /// The name a contact last wrote under, by phone number.
    static func pushNameKey(_ phone: String) -> String { "web.pushname/\(phone)" }

    /// A usync `contact` query for the numbers (is each on WhatsApp, under which JID and LID),
    /// the push names seen, and optionally their profile pictures.
    func lookUp(_ phones: [String], withPicture: Bool, on socket: NoiseSocket) async throws -> [ContactInfo] {
        let answer = try await request(
            BinaryNode(
                "iq", ["to": .jid(.server), "xmlns": "usync", "type": "get"],
                children: [
                    BinaryNode(
                        "usync",
                        [
                            "sid": .string(Self.newRequestKey()), "mode": "query", "last": "true", "index": "0", "context": "interactive",
                        ],
                        children: [
                            BinaryNode("query", children: [BinaryNode("contact"), BinaryNode("lid")]),
                            BinaryNode(
                                "list",
                                children: phones.map { BinaryNode("user", children: [BinaryNode("contact", content: .bytes(Array("+\($0)".utf8)))]) }),
                        ])
                ]), on: socket)
        var found: [String: (jid: JID?, isIn: Bool, lid: String?)] = [:]
        var transaction = SignalTransaction(store: store)
        for user in answer.child("usync")?.child("list")?.children ?? [] where user.tag == "user" {
            guard let contact = user.child("contact") else { continue }
            let asked = String(decoding: contact.bytes ?? [], as: UTF8.self).filter(\.isNumber)
            let jid: JID? = if case .jid(let jid)? = user[attribute: "jid"] { jid } else { nil }
            var lid: String?
            if case .jid(let value)? = user.child("lid")?[attribute: "val"] { lid = value.user }
            if let jid, let lid, jid.server == JID.userServer { try await transaction.link(phone: jid.user, lid: lid) }
            found[asked] = (jid, contact.string("type") == "in", lid)
        }
        if !transaction.changes.isEmpty { try await store.apply(transaction.changes) }
        var results: [ContactInfo] = []
        for phone in phones {
            let entry = found[phone]
            let isIn = entry?.isIn ?? false
            let jid = isIn ? (entry?.jid?.account ?? JID(user: phone, server: JID.userServer)) : nil
            var lid = entry?.lid
            if lid == nil { lid = try await transaction.lid(ofPhone: phone) }
            let name = try await transaction.read(Self.pushNameKey(phone)).map { String(decoding: $0, as: UTF8.self) }
            var info = ContactInfo(phone: phone, isOnWhatsApp: isIn, jid: jid?.description, lid: lid.map { "\($0)@lid" }, pushName: name)
            if withPicture, let jid { info.pictureURL = try await pictureURL(of: jid, on: socket) }
            results.append(info)
        }
        return results
    }

    /// The profile picture's link, or `nil` when there is none (404) or privacy hides it (401).
    private func pictureURL(of jid: JID, on socket: NoiseSocket) async throws -> String? {
        do {
            let answer = try await request(
                BinaryNode(
                    "iq", ["to": .jid(.server), "xmlns": "w:profile:picture", "type": "get", "target": .jid(jid)],
                    children: [BinaryNode("picture", ["type": "image", "query": "url"])]), on: socket)
            return answer.child("picture")?.string("url")
        } catch EngineError.rejected(let text) where text.hasPrefix("404") || text.hasPrefix("401") {
            return nil
        }
    }
}
