/// Writes `BinaryNode`s in WhatsApp's binary XML.
///
/// Every string takes the first form that fits, in the order the official clients use, so a node
/// the server sent comes back out as the same bytes: a dictionary token, then four-bit "nibble"
/// packing for numbers, then hex packing, then raw UTF-8.
public struct BinaryEncoder: Sendable {
    public let dictionary: TokenDictionary
    /// Whether digit and hex strings are packed four bits a character, as the official clients do.
    /// Some older clients wrote them raw; turning packing off reproduces their frames exactly.
    public var packsStrings = true

    public init(dictionary: TokenDictionary = .current) {
        self.dictionary = dictionary
    }

    public func encode(_ node: BinaryNode) throws(BinaryCodecError) -> [UInt8] {
        var writer = Writer(dictionary: dictionary, packsStrings: packsStrings)
        try writer.write(node)
        return writer.bytes
    }

    /// A node as the payload of a transport frame: the flag byte (0, uncompressed), then the node.
    public func encodeFrame(_ node: BinaryNode) throws(BinaryCodecError) -> [UInt8] {
        var writer = Writer(dictionary: dictionary, packsStrings: packsStrings)
        writer.bytes.append(0)
        try writer.write(node)
        return writer.bytes
    }
}

private struct Writer {
    let dictionary: TokenDictionary
    let packsStrings: Bool
    var bytes: [UInt8] = []

    mutating func write(_ node: BinaryNode) throws(BinaryCodecError) {
        try writeListStart(1 + 2 * node.attributes.count + (node.content == nil ? 0 : 1))
        writeString(node.tag)
        for attribute in node.attributes {
            writeString(attribute.name)
            try writeValue(attribute.value)
        }
        switch node.content {
        case nil: break
        case .nodes(let children):
            try writeListStart(children.count)
            for child in children { try write(child) }
        case .bytes(let content): try writeBinary(content)
        case .text(let value): try writeValue(value)
        }
    }

    mutating func writeListStart(_ size: Int) throws(BinaryCodecError) {
        switch size {
        case 0: bytes.append(BinaryTag.listEmpty)
        case ..<256: bytes += [BinaryTag.list8, UInt8(size)]
        case ..<65536: bytes += [BinaryTag.list16, UInt8(size >> 8), UInt8(size & 0xFF)]
        default: throw .tooLarge("a list of \(size) items")
        }
    }

    mutating func writeValue(_ value: BinaryNode.Value) throws(BinaryCodecError) {
        switch value {
        case .string(let string): writeString(string)
        case .jid(let jid): try writeJID(jid)
        }
    }

    mutating func writeJID(_ jid: JID) throws(BinaryCodecError) {
        if let domain = jid.deviceDomain {
            guard jid.device <= UInt8.max else { throw .tooLarge("device \(jid.device) in a device JID") }
            bytes += [BinaryTag.adJID, domain, UInt8(jid.device)]
            writeString(jid.user)
        } else {
            bytes.append(BinaryTag.jidPair)
            writeString(jid.user)
            writeString(jid.server)
        }
    }

    mutating func writeString(_ string: String) {
        if string.isEmpty {
            bytes.append(BinaryTag.listEmpty)
            return
        }
        switch dictionary.token(for: string) {
        case .single(let index):
            bytes.append(index)
            return
        case .double(let table, let index):
            bytes += [BinaryTag.dictionary0 + table, index]
            return
        case nil: break
        }
        let utf8 = Array(string.utf8)
        if packsStrings, utf8.count <= BinaryTag.packedMax {
            if let codes = utf8.packedCodes(Nibble.code) {
                writePacked(codes, tag: BinaryTag.nibble8)
                return
            }
            if let codes = utf8.packedCodes(Hex.code) {
                writePacked(codes, tag: BinaryTag.hex8)
                return
            }
        }
        // Cannot fail: a string longer than 4 GiB is not something we build.
        try? writeBinary(utf8)
    }

    mutating func writePacked(_ codes: [UInt8], tag: UInt8) {
        let odd = codes.count % 2 == 1
        bytes.append(tag)
        bytes.append(UInt8((codes.count + 1) / 2) | (odd ? 0x80 : 0))
        var index = 0
        while index < codes.count {
            let low = index + 1 < codes.count ? codes[index + 1] : 0x0F
            bytes.append(codes[index] << 4 | low)
            index += 2
        }
    }

    mutating func writeBinary(_ content: [UInt8]) throws(BinaryCodecError) {
        let count = content.count
        switch count {
        case ..<256: bytes += [BinaryTag.binary8, UInt8(count)]
        case ..<(1 << 20): bytes += [BinaryTag.binary20, UInt8(count >> 16), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        case ...Int(UInt32.max):
            bytes.append(BinaryTag.binary32)
            bytes += (0..<4).reversed().map { UInt8(truncatingIfNeeded: count >> ($0 * 8)) }
        default: throw .tooLarge("\(count) bytes of content")
        }
        bytes += content
    }
}

/// The nibble alphabet: digits, '-' and '.'; 15 pads an odd length.
enum Nibble {
    static func code(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "-"): 10
        case UInt8(ascii: "."): 11
        default: nil
        }
    }

    static func character(_ code: UInt8) -> UInt8? {
        switch code {
        case 0...9: UInt8(ascii: "0") + code
        case 10: UInt8(ascii: "-")
        case 11: UInt8(ascii: ".")
        default: nil
        }
    }
}

/// The hex alphabet: upper-case only, so lower-case hex goes out raw.
enum Hex {
    static func code(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func character(_ code: UInt8) -> UInt8? {
        switch code {
        case 0...9: UInt8(ascii: "0") + code
        case 10...15: UInt8(ascii: "A") + code - 10
        default: nil
        }
    }
}

extension [UInt8] {
    fileprivate func packedCodes(_ code: (UInt8) -> UInt8?) -> [UInt8]? {
        var codes: [UInt8] = []
        codes.reserveCapacity(count)
        for character in self {
            guard let value = code(character) else { return nil }
            codes.append(value)
        }
        return codes
    }
}
