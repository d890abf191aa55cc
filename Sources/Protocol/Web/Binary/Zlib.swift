import CZlib

/// zlib inflation for the frames the server marks compressed (flag bit 1).
enum Zlib {
    /// Inflates `input`, refusing output beyond `limit` bytes: a small frame must not be allowed to
    /// inflate without bound.
    static func inflate(_ input: [UInt8], limit: Int) throws(BinaryCodecError) -> [UInt8] {
        var stream = z_stream()
        guard wharf_inflate_init(&stream) == Z_OK else { throw .decompressionFailed }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        var input = input
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    output += target[0..<(target.count - Int(stream.avail_out))]
                }
            } while status == Z_OK && output.count <= limit && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END, output.count <= limit else { throw .decompressionFailed }
        return output
    }
}
