import Foundation

/// WhatsApp pads every plaintext before Signal encrypts it: n bytes of value n at the end.
enum WhatsAppPadding {
    /// 1 to 16 bytes, as WhatsApp Web pads (`(random & 0x0F) + 1`).
    static func pad(_ plaintext: [UInt8], using random: inout some RandomNumberGenerator) -> [UInt8] {
        let count = Int(UInt8.random(in: 0...255, using: &random) & 0x0F) + 1
        return plaintext + [UInt8](repeating: UInt8(count), count: count)
    }

    static func pad(_ plaintext: [UInt8]) -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        return pad(plaintext, using: &random)
    }

    /// The plaintext without its padding; every pad byte is checked, not just the last.
    static func unpad(_ padded: [UInt8]) throws(SignalError) -> [UInt8] {
        guard let last = padded.last else { throw .invalidMessage("an empty plaintext has no padding") }
        let count = Int(last)
        guard count >= 1, count <= padded.count else { throw .invalidMessage("padding of \(count) bytes does not fit") }
        guard padded.suffix(count).allSatisfy({ $0 == last }) else { throw .invalidMessage("the padding bytes differ") }
        return Array(padded.dropLast(count))
    }
}
