/// WhatsApp's frame layer over WebSocket messages: each frame is a 3-byte big-endian length and the
/// payload, and the very first frame of a connection is preceded by the connection header.
///
/// WebSocket message boundaries mean nothing here: the server may pack several frames into one
/// message or split one frame (even its length) across several, so the reader buffers.
public struct FrameWriter: Sendable {
    /// Largest payload a 3-byte length can describe.
    public static let maximumPayload = (1 << 24) - 1
    private var pendingHeader: [UInt8]?

    /// `header` goes out once, in front of the first frame (`WA 06 03` on a real connection).
    public init(header: [UInt8]) {
        pendingHeader = header.isEmpty ? nil : header
    }

    public enum Failure: Error, Equatable {
        case payloadTooLarge(Int)
    }

    public mutating func frame(_ payload: [UInt8]) throws(Failure) -> [UInt8] {
        guard payload.count <= Self.maximumPayload else { throw .payloadTooLarge(payload.count) }
        var bytes = pendingHeader ?? []
        pendingHeader = nil
        bytes.reserveCapacity(bytes.count + 3 + payload.count)
        bytes += [UInt8(payload.count >> 16), UInt8(payload.count >> 8 & 0xFF), UInt8(payload.count & 0xFF)]
        bytes += payload
        return bytes
    }
}

public struct FrameReader: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes received but not yet returned as a frame.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's payload, or `nil` until enough bytes have arrived.
    public mutating func next() -> [UInt8]? {
        guard bufferedCount >= 3 else { return nil }
        let length = Int(buffer[start]) << 16 | Int(buffer[start + 1]) << 8 | Int(buffer[start + 2])
        guard bufferedCount >= 3 + length else { return nil }
        let payload = Array(buffer[(start + 3)..<(start + 3 + length)])
        start += 3 + length
        return payload
    }
}
