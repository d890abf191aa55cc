// libFuzzer entry point for the binary node decoder: `make fuzz` builds it together with the codec's
// sources and runs it for a while. Any input may fail to decode; none may crash, and whatever
// decodes must encode to a canonical form that is stable from then on.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBinaryDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var decoder = BinaryDecoder()
    decoder.maximumInflatedSize = 1 << 20
    guard let node = try? decoder.decodeFrame(bytes) else { return 0 }
    let encoder = BinaryEncoder()
    guard let canonical = try? encoder.encode(node) else { return 0 }  // only "too large" can throw
    guard let again = try? decoder.decode(canonical) else {
        fatalError("a decoded node's encoding does not decode: \(node)")
    }
    guard (try? encoder.encode(again)) == canonical else {
        fatalError("the canonical encoding is not stable for \(node)")
    }
    return 0
}
