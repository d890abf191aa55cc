import Foundation
import WhatsAppProtocol

/// Turns what callers write for a chat into a WhatsApp JID.
///
/// Accepted: a phone number in international form (`+49 151 1234-5678`, `4915112345678`), the seed's
/// `…@c.us`, `…@s.whatsapp.net`, a group `…@g.us`, and a hidden-number `…@lid`.
enum ChatAddress {
    static let acceptedForms =
        "a phone number in international form (+4915112345678), 4915112345678@c.us, 4915112345678@s.whatsapp.net, a group id …@g.us or a …@lid id"

    static func normalize(_ raw: String) -> ChatID? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        if let at = text.firstIndex(of: "@") {
            let user = String(text[..<at])
            let server = String(text[text.index(after: at)...]).lowercased()
            switch server {
            case "c.us", "s.whatsapp.net":
                guard let digits = phoneDigits(user) else { return nil }
                return ChatID("\(digits)@s.whatsapp.net")
            case "g.us":
                let valid = !user.isEmpty && user.count <= 64 && user.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-") }
                return valid ? ChatID("\(user)@g.us") : nil
            case "lid":
                let valid = !user.isEmpty && user.count <= 32 && user.allSatisfy { $0.isASCII && $0.isNumber }
                return valid ? ChatID("\(user)@lid") : nil
            default:
                return nil
            }
        }
        guard text.allSatisfy({ $0.isNumber || " +-().".contains($0) }), let digits = phoneDigits(text) else { return nil }
        return ChatID("\(digits)@s.whatsapp.net")
    }

    /// 7 to 15 digits (E.164), without a leading zero.
    private static func phoneDigits(_ text: String) -> String? {
        let digits = text.filter { $0.isASCII && $0.isNumber }
        guard (7...15).contains(digits.count), !digits.hasPrefix("0"),
            text.allSatisfy({ ($0.isASCII && $0.isNumber) || " +-().".contains($0) })
        else { return nil }
        return digits
    }
}
