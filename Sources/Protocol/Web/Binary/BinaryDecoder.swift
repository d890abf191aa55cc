/// Reads WhatsApp's binary XML into `BinaryNode`s.
///
/// The input comes from the network, so every length and index is checked before it is used, nesting
/// is bounded, and anything malformed throws `BinaryCodecError`; nothing here traps.
public struct BinaryDecoder: Sendable {
    public let dictionary: TokenDictionary
    /// Deepest nesting accepted; real stanzas go a handful of levels deep.
    public var maximumDepth = 64
    /// Largest node a compressed frame may inflate to (a frame is at most 16 MiB on the wire).
    public var maximumInflatedSize = 1 << 24

    public init(dictionary: TokenDictionary = .current) {
        self.dictionary = dictionary
    }

    /// Decodes one node that must span all of `bytes`.
    public func decode(_ bytes: [UInt8]) throws(BinaryCodecError) -> BinaryNode {
        var reader = Reader(bytes: bytes, dictionary: dictionary, maximumDepth: maximumDepth)
        let node = try reader.readNode(depth: 0)
        guard reader.position == bytes.count else { throw .trailingBytes(bytes.count - reader.position) }
        return node
    }

    /// Decodes a transport frame's payload: a flag byte (bit 1: zlib-compressed), then a node.
    public func decodeFrame(_ payload: [UInt8]) throws(BinaryCodecError) -> BinaryNode {
        guard let flag = payload.first else { throw .unexpectedEnd }
        let body = Array(payload.dropFirst())
        if flag & 0x02 != 0 {
            return try decode(Zlib.inflate(body, limit: maximumInflatedSize))
        }
        return try decode(body)
    }
}

private struct Reader {
    let bytes: [UInt8]
    let dictionary: TokenDictionary
    let maximumDepth: Int
    var position = 0

    init(bytes: [UInt8], dictionary: TokenDictionary, maximumDepth: Int) {
        self.bytes = bytes
        self.dictionary = dictionary
        self.maximumDepth = maximumDepth
    }

    /// What a tag byte introduced.
    enum Item {
        case string(String)
        case jid(JID)
        case bytes([UInt8])
        case nodes([BinaryNode])
    }

    mutating func byte() throws(BinaryCodecError) -> UInt8 {
        guard position < bytes.count else { throw .unexpectedEnd }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func take(_ count: Int) throws(BinaryCodecError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw .unexpectedEnd }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func integer(bytes count: Int) throws(BinaryCodecError) -> Int {
        var value = 0
        for byte in try take(count) { value = value << 8 | Int(byte) }
        return value
    }

    mutating func listSize(_ tag: UInt8) throws(BinaryCodecError) -> Int {
        switch tag {
        case BinaryTag.listEmpty: return 0
        case BinaryTag.list8: return Int(try byte())
        case BinaryTag.list16: return try integer(bytes: 2)
        default: throw .invalidTag(tag, at: position - 1)
        }
    }

    mutating func readNode(depth: Int) throws(BinaryCodecError) -> BinaryNode {
        guard depth < maximumDepth else { throw .nestedTooDeep }
        let size = try listSize(try byte())
        guard size > 0 else { throw .emptyNode }
        let tag = try readString()
        guard !tag.isEmpty else { throw .emptyNode }
        var attributes: [BinaryNode.Attribute] = []
        attributes.reserveCapacity((size - 1) / 2)
        for _ in 0..<(size - 1) / 2 {
            let name = try readString()
            switch try readItem(depth: depth) {
            case .string(let value): attributes.append(.init(name, .string(value)))
            case .jid(let value): attributes.append(.init(name, .jid(value)))
            case .bytes(let value): attributes.append(.init(name, .string(String(decoding: value, as: UTF8.self))))
            case .nodes: throw .expectedString(at: position)
            }
        }
        var content: BinaryNode.Content?
        if size % 2 == 0 {
            switch try readItem(depth: depth, listEmptyIsList: true) {
            case .string(let value): content = .text(.string(value))
            case .jid(let value): content = .text(.jid(value))
            case .bytes(let value): content = .bytes(value)
            case .nodes(let value): content = .nodes(value)
            }
        }
        return BinaryNode(tag, attributes, content: content)
    }

    /// A string where only a string may stand: tags, attribute names, JID parts. JID and list
    /// tags are refused before they are read, so a JID inside a JID cannot recurse.
    mutating func readString() throws(BinaryCodecError) -> String {
        let start = position
        guard position < bytes.count else { throw .unexpectedEnd }
        switch bytes[position] {
        case BinaryTag.jidPair, BinaryTag.adJID, BinaryTag.fbJID, BinaryTag.interopJID, BinaryTag.list8, BinaryTag.list16:
            throw .expectedString(at: start)
        default: break
        }
        switch try readItem(depth: 0) {
        case .string(let string): return string
        case .bytes(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .jid, .nodes: throw .expectedString(at: start)
        }
    }

    mutating func readItem(depth: Int, listEmptyIsList: Bool = false) throws(BinaryCodecError) -> Item {
        let tag = try byte()
        switch tag {
        case BinaryTag.listEmpty:
            return listEmptyIsList ? .nodes([]) : .string("")
        case 1..<BinaryTag.dictionary0:
            guard Int(tag) < dictionary.singleByte.count else { throw .tokenOutOfRange(tag, dictionary: nil) }
            return .string(dictionary.singleByte[Int(tag)])
        case BinaryTag.dictionary0...BinaryTag.dictionary3:
            let table = Int(tag - BinaryTag.dictionary0)
            let index = try byte()
            guard table < dictionary.doubleByte.count, Int(index) < dictionary.doubleByte[table].count else {
                throw .tokenOutOfRange(index, dictionary: table)
            }
            return .string(dictionary.doubleByte[table][Int(index)])
        case BinaryTag.list8, BinaryTag.list16:
            guard listEmptyIsList else { throw .expectedString(at: position - 1) }
            let count = try listSize(tag)
            var nodes: [BinaryNode] = []
            for _ in 0..<count { nodes.append(try readNode(depth: depth + 1)) }
            return .nodes(nodes)
        case BinaryTag.jidPair:
            let user = try readString()
            let server = try readString()
            return .jid(JID(user: user, server: server))
        case BinaryTag.adJID:
            let domain = try byte()
            let device = try byte()
            let user = try readString()
            return .jid(JID(user: user, deviceDomain: domain, device: UInt16(device)))
        case BinaryTag.nibble8:
            return .string(try readPacked(Nibble.character))
        case BinaryTag.hex8:
            return .string(try readPacked(Hex.character))
        case BinaryTag.binary8:
            return .bytes(Array(try take(Int(try byte()))))
        case BinaryTag.binary20:
            return .bytes(Array(try take(try integer(bytes: 3) & 0xF_FFFF)))
        case BinaryTag.binary32:
            return .bytes(Array(try take(try integer(bytes: 4))))
        case BinaryTag.fbJID:
            // Messenger users: kept readable (user, device, server) so such a stanza does not end the
            // connection; we never write this form.
            let user = try readString()
            let device = try integer(bytes: 2)
            let server = try readString()
            return .jid(JID(user: user, device: UInt16(device), server: server))
        case BinaryTag.interopJID:
            let user = try readString()
            let device = try integer(bytes: 2)
            _ = try integer(bytes: 2)  // the integrator, which nothing here uses
            let server = try readString()
            return .jid(JID(user: user, device: UInt16(device), server: server))
        default:
            throw .invalidTag(tag, at: position - 1)
        }
    }

    mutating func readPacked(_ character: (UInt8) -> UInt8?) throws(BinaryCodecError) -> String {
        let header = try byte()
        let packed = try take(Int(header & 0x7F))
        let odd = header & 0x80 != 0
        var characters: [UInt8] = []
        characters.reserveCapacity(packed.count * 2)
        for (offset, byte) in packed.enumerated() {
            let last = offset == packed.count - 1
            guard let high = character(byte >> 4) else { throw .invalidPackedCharacter(byte >> 4) }
            characters.append(high)
            if last && odd { continue }  // the low nibble is padding
            guard let low = character(byte & 0x0F) else { throw .invalidPackedCharacter(byte & 0x0F) }
            characters.append(low)
        }
        return String(decoding: characters, as: UTF8.self)
    }
}
