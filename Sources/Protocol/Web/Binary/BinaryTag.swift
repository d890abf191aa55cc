/// The tag bytes of WhatsApp's binary-XML encoding. Values below `dictionary0` are single-byte tokens.
enum BinaryTag {
    static let listEmpty: UInt8 = 0
    static let dictionary0: UInt8 = 236
    static let dictionary3: UInt8 = 239
    static let interopJID: UInt8 = 245
    static let fbJID: UInt8 = 246
    static let adJID: UInt8 = 247
    static let list8: UInt8 = 248
    static let list16: UInt8 = 249
    static let jidPair: UInt8 = 250
    static let hex8: UInt8 = 251
    static let binary8: UInt8 = 252
    static let binary20: UInt8 = 253
    static let binary32: UInt8 = 254
    static let nibble8: UInt8 = 255

    /// Longest string the encoder packs (nibble and hex forms), as the other clients do; the length
    /// byte's seven low bits count packed bytes and its top bit marks an odd number of characters.
    static let packedMax = 127
}
