/// Why bytes did not decode (or a node could not be encoded). Every malformed input ends here,
/// never in a trap: the decoder reads bytes an untrusted server chose.
public enum BinaryCodecError: Error, Equatable, Sendable {
    case unexpectedEnd
    case trailingBytes(Int)
    case invalidTag(UInt8, at: Int)
    case tokenOutOfRange(UInt8, dictionary: Int?)
    case invalidPackedCharacter(UInt8)
    case emptyNode
    case expectedString(at: Int)
    case nestedTooDeep
    case tooLarge(String)
    case decompressionFailed
}
