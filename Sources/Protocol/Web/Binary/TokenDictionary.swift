/// WhatsApp's binary-XML dictionary: common strings sent as one byte (or two) instead of their text.
///
/// The dictionary is versioned (the fourth byte of the connection header says which one the client
/// speaks) and both ends must use the same one, so it is a value the codec is given rather than a
/// global: the tests decode a frame recorded under version 2 with the old tables.
public struct TokenDictionary: Sendable {
    public let version: UInt8
    let singleByte: [String]
    let doubleByte: [[String]]
    private let index: [String: Token]

    enum Token: Equatable {
        case single(UInt8)
        case double(dictionary: UInt8, index: UInt8)
    }

    public init(version: UInt8, singleByte: [String], doubleByte: [[String]]) {
        precondition(singleByte.count <= Int(BinaryTag.dictionary0), "single-byte tokens collide with tags")
        precondition(doubleByte.count <= 4 && doubleByte.allSatisfy { $0.count <= 256 })
        self.version = version
        self.singleByte = singleByte
        self.doubleByte = doubleByte
        var index: [String: Token] = [:]
        // Index 0 is the empty string, which the encoder writes as LIST_EMPTY instead.
        for (position, token) in singleByte.enumerated().dropFirst() where index[token] == nil {
            index[token] = .single(UInt8(position))
        }
        for (dictionary, tokens) in doubleByte.enumerated() {
            for (position, token) in tokens.enumerated() where index[token] == nil {
                index[token] = .double(dictionary: UInt8(dictionary), index: UInt8(position))
            }
        }
        self.index = index
    }

    func token(for string: String) -> Token? { index[string] }
}
