import Foundation

/// The frames a WebSocket server sent, parsed from the bytes after its 101 response (RFC 6455
/// §5.2; a server's frames are not masked). A last frame that has not fully arrived is left out.
struct WebSocketFrames {
    struct Frame {
        var opcode: UInt8
        var payload: Data

        var text: String { String(decoding: payload, as: UTF8.self) }
        var isClose: Bool { opcode == 0x8 }
        /// A close frame's status code.
        var closeCode: UInt16? {
            guard isClose, payload.count >= 2 else { return nil }
            return UInt16(payload[payload.startIndex]) << 8 | UInt16(payload[payload.startIndex + 1])
        }
    }

    var frames: [Frame] = []

    init(_ bytes: Data) {
        let bytes = [UInt8](bytes)
        var index = 0
        while index + 2 <= bytes.count {
            let opcode = bytes[index] & 0x0F
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            } else if length == 127 {
                guard start + 8 <= bytes.count else { break }
                length = bytes[start..<start + 8].reduce(0) { $0 << 8 | Int($1) }
                start += 8
            }
            guard start + length <= bytes.count else { break }
            frames.append(Frame(opcode: opcode, payload: Data(bytes[start..<start + length])))
            index = start + length
        }
    }

    /// The text messages (events and notices), in order.
    var texts: [String] { frames.filter { $0.opcode == 0x1 }.map(\.text) }
    var close: Frame? { frames.first(where: \.isClose) }

    /// The request header lines of a WebSocket upgrade.
    static let upgradeHeaders = [
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
}
