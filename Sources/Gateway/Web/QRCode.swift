import CQRencode
import Foundation

/// A QR code's module grid, drawn by Debian's libqrencode, and its SVG rendering.
///
/// Linking QR strings (WhatsApp's `ref,noiseKey,identityKey,advSecret`) carry commas, slashes and
/// `+`, so the text is always encoded in 8-bit mode: what a scanner reads back is byte for byte
/// what the engine produced.
public struct QRCode: Sendable, Equatable {
    /// Modules per side.
    public let size: Int
    /// Row-major; `true` is a dark module.
    public let modules: [Bool]

    public enum Failure: Error, Equatable {
        case empty
        /// libqrencode refused the text (too long for version 40, or out of memory).
        case notEncodable(errno: Int32)
    }

    public init(text: String) throws {
        guard !text.isEmpty else { throw Failure.empty }
        guard let code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M) else {
            throw Failure.notEncodable(errno: errno)
        }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        size = width
        // Bit 0 of each byte is the module's colour; the other bits say which part of the symbol it is.
        modules = (0..<(width * width)).map { code.pointee.data[$0] & 1 == 1 }
    }

    public func isDark(x: Int, y: Int) -> Bool { modules[y * size + x] }

    /// The code as a standalone SVG: one path of unit squares, a white quiet zone of `border`
    /// modules, scaled by the viewer (`shape-rendering="crispEdges"` keeps edges sharp).
    public func svg(border: Int = 4, pixelsPerModule: Int = 6) -> String {
        let side = size + 2 * border
        var path = ""
        path.reserveCapacity(size * size * 4)
        for y in 0..<size {
            var x = 0
            while x < size {
                guard isDark(x: x, y: y) else {
                    x += 1
                    continue
                }
                // Runs of dark modules become one rectangle.
                var run = 1
                while x + run < size, isDark(x: x + run, y: y) { run += 1 }
                path += "M\(x + border) \(y + border)h\(run)v1h-\(run)z"
                x += run
            }
        }
        let pixels = side * pixelsPerModule
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(side) \(side)" width="\(pixels)" height="\(pixels)" \
            shape-rendering="crispEdges" role="img" aria-label="QR code">\
            <rect width="\(side)" height="\(side)" fill="#fff"/><path fill="#000" d="\(path)"/></svg>
            """
    }
}
