import Foundation
import Testing
import WharfCore

@testable import WhatsAppProtocol

@Suite struct BinaryCodecTests {
    let encoder = BinaryEncoder()
    let decoder = BinaryDecoder()

    @Test func recordedSuccessNodeDecodesAndEncodesBackByteForByte() throws {
        let vector = try Fixture.json("binary-success-node.json")
        let bytes = vector[hex: "hex"]
        let node = try decoder.decode(bytes)
        let expected = vector.object("expected")
        #expect(node.tag == expected["tag"] as? String)
        let order = vector["attr_order_on_wire"] as! [String]
        #expect(node.attributes.map(\.name) == order)
        let attributes = expected.object("attrs") as! [String: String]
        for name in order {
            #expect(node.string(name) == attributes[name], "attribute \(name)")
        }
        #expect(node[attribute: "lid"] == .jid(JID(user: "100000000000001", device: 42, server: "lid")))
        #expect(node.content == nil)
        #expect(try encoder.encode(node) == bytes)
    }

    /// A frame recorded while the client spoke dictionary version 2. It decodes only with the
    /// tables it was written with, which shows the codec reads the dictionary it is given.
    @Test func recordedVersionTwoFrameDecodesOnlyWithItsOwnDictionary() throws {
        let vector = try Fixture.json("binary-ib-dirty-v2.json")
        let tables =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixture.directory.appendingPathComponent("tokens-v2.json"))) as! [String: Any]
        let v2 = TokenDictionary(
            version: 2, singleByte: tables["single_byte"] as! [String], doubleByte: tables["double_byte"] as! [[String]])
        let frame = vector[hex: "hex"]
        #expect(frame.first == 0)

        let node = try BinaryDecoder(dictionary: v2).decodeFrame(frame)
        #expect(node.tag == "ib")
        #expect(node.string("from") == "@s.whatsapp.net")
        #expect(node[attribute: "from"] == .jid(JID(user: "", server: JID.userServer)))
        #expect(node.children.count == 1)
        let dirty = try #require(node.child("dirty"))
        #expect(dirty.attributes == [.init("type", "account_sync"), .init("timestamp", "1744381049")])

        let misread = try decoder.decodeFrame(frame)
        #expect(misread.children.first?.tag != "dirty")

        // Its sender wrote the timestamp raw where today's clients pack digits: without packing the
        // frame comes back byte for byte; the canonical bytes differ but read back to the same node.
        var unpacked = BinaryEncoder(dictionary: v2)
        unpacked.packsStrings = false
        #expect(try unpacked.encodeFrame(node) == frame)
        let canonical = try BinaryEncoder(dictionary: v2).encodeFrame(node)
        #expect(canonical != frame)
        #expect(try BinaryDecoder(dictionary: v2).decodeFrame(canonical) == node)
    }

    @Test func everyStringFormRoundTrips() throws {
        let node = BinaryNode(
            "message",
            [
                "id": "3EB0A1B2C3D4E5F6",  // hex packing
                "t": "1752021890",  // nibble packing, even
                "phone": "+1-555.0",  // raw: '+' is not in the nibble alphabet
                "n": "12345",  // nibble packing, odd
                "type": "text",  // single-byte token
                "v": "27",  // double-byte token
                "notify": "Zoë 🚢",  // raw UTF-8
                "empty": "",
                "from": .jid(JID(user: "491701234567", server: JID.userServer)),
                "participant": .jid(JID(user: "491701234567", device: 3, server: JID.userServer)),
                "lid": .jid(JID(user: "100000000000001", device: 42, server: JID.hiddenUserServer)),
                "hosted": .jid(JID(user: "4915", device: 0, server: JID.hostedServer)),
                "group": .jid(JID(user: "120363025246125486", server: JID.groupServer)),
            ],
            children: [
                BinaryNode("enc", ["v": "2", "type": "pkmsg"], bytes: Array(repeating: 0xAB, count: 300)),
                BinaryNode("body", bytes: Array(repeating: 7, count: 1 << 20)),  // BINARY_32
                BinaryNode("list", children: []),
                BinaryNode("text", content: .text("composing")),
                BinaryNode("to", content: .text(.jid(JID(user: "1", server: JID.groupServer)))),
            ])
        let bytes = try encoder.encode(node)
        #expect(try decoder.decode(bytes) == node)
        let header: [UInt8] = [BinaryTag.list8, 28]  // tag, 13 attribute pairs, content
        #expect(Array(bytes.prefix(2)) == header)
    }

    @Test func messengerAndInteropJIDsAreReadNotFatal() throws {
        // <message from=FB_JID(user "42", device 3, server "msgr")/>
        let fb: [UInt8] = [0xF8, 0x03, 0x13, 0x06, BinaryTag.fbJID, 0xFC, 0x02, 0x34, 0x32, 0x00, 0x03, 0xFC, 0x04] + Array("msgr".utf8)
        #expect(try decoder.decode(fb)[attribute: "from"] == .jid(JID(user: "42", device: 3, server: "msgr")))
        let interop: [UInt8] =
            [0xF8, 0x03, 0x13, 0x06, BinaryTag.interopJID, 0xFC, 0x01, 0x37, 0x00, 0x01, 0x00, 0x02, 0xFC, 0x07] + Array("interop".utf8)
        #expect(try decoder.decode(interop)[attribute: "from"] == .jid(JID(user: "7", device: 1, server: "interop")))
    }

    @Test func jidTextFormParsesAndPrints() {
        for text in [
            "491701234567@s.whatsapp.net", "491701234567:3@s.whatsapp.net", "1.2:3@s.whatsapp.net",
            "100000000000001:42@lid", "120363025246125486@g.us", "@s.whatsapp.net", "status@broadcast",
        ] {
            #expect(JID(text)?.description == text)
        }
        #expect(JID("no-at-sign") == nil)
        #expect(JID("1:x@s.whatsapp.net") == nil)
    }

    @Test(arguments: 0..<200)
    func randomNodeTreesRoundTrip(seed: Int) throws {
        var random = SeededRandom(seed: UInt64(seed) &* 7919)
        let node = RandomNode.make(&random, depth: 0)
        let bytes = try encoder.encode(node)
        #expect(try decoder.decode(bytes) == node)
        #expect(try encoder.encode(try decoder.decode(bytes)) == bytes)
    }

    // The long loops yield now and then: a test that holds one of the cooperative pool's two
    // threads for seconds starves the in-process servers of the tests running beside it.
    @Test func everyTruncationThrowsInsteadOfCrashing() async throws {
        var random = SeededRandom(seed: 42)
        for _ in 0..<20 {
            await Task.yield()
            let bytes = try encoder.encode(RandomNode.make(&random, depth: 0))
            for length in 0..<bytes.count {
                #expect(throws: BinaryCodecError.self) { try decoder.decode(Array(bytes[0..<length])) }
            }
        }
    }

    @Test func mutatedBytesDecodeOrThrowButNeverTrap() async throws {
        var random = SeededRandom(seed: 7)
        for round in 0..<2000 {
            if round % 20 == 0 { await Task.yield() }
            var bytes = try encoder.encode(RandomNode.make(&random, depth: 0))
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            _ = try? decoder.decode(bytes)
        }
    }

    @Test func malformedInputsNameTheirFault() {
        #expect(throws: BinaryCodecError.invalidTag(240, at: 2)) { try decoder.decode([0xF8, 0x01, 240]) }
        #expect(throws: BinaryCodecError.emptyNode) { try decoder.decode([0x00]) }
        #expect(throws: BinaryCodecError.trailingBytes(1)) { try decoder.decode([0xF8, 0x01, 0x13, 0x00]) }
        #expect(throws: BinaryCodecError.unexpectedEnd) { try decoder.decode([0xF8, 0x01, BinaryTag.binary32, 0xFF, 0xFF, 0xFF, 0xFF]) }
        #expect(throws: BinaryCodecError.invalidPackedCharacter(12)) { try decoder.decode([0xF8, 0x01, BinaryTag.nibble8, 0x01, 0xC0]) }
        // A JID where a string must stand (a tag, or a JID's own parts) is refused before it is read:
        // a run of JID_PAIR bytes must not recurse until the stack overflows.
        #expect(throws: BinaryCodecError.expectedString(at: 2)) { try decoder.decode([0xF8, 0x01, BinaryTag.jidPair]) }
        let jids: [UInt8] = [0xF8, 0x03, 0x13, 0x04] + [UInt8](repeating: BinaryTag.jidPair, count: 200_000)
        #expect(throws: BinaryCodecError.expectedString(at: 5)) { try decoder.decode(jids) }
        // An attribute whose value is a list.
        #expect(throws: BinaryCodecError.expectedString(at: 4)) { try decoder.decode([0xF8, 0x03, 0x13, 0x04, 0xF8, 0x00]) }
        // Lists nested past the limit, the shape of a stack-exhaustion attack.
        let level: [UInt8] = [0xF8, 0x02, 0x13, 0xF8, 0x01]
        let deep = Array(repeating: level, count: 100).flatMap { $0 }
        #expect(throws: BinaryCodecError.nestedTooDeep) { try decoder.decode(deep) }
    }

    /// The compressed frame was made by Python's zlib (`zlib.compress(success_node, 9)`).
    @Test func compressedFramesInflateWithinTheirLimit() throws {
        let compressed = [UInt8](
            hex:
                "78dafbc1ef23f59f553c88496242cc3b16db3fcc6945c965df19b5fe7708308081bcf79b2d3660150c8e6f9efdd149318d4c320daff0d1ce360df50ef408f3344b2a750b720f74cd32708f72344d2dabb248320b33aac84e29b70500e0171f8b"
        )!
        let node = try decoder.decodeFrame([0x02] + compressed)
        #expect(node.tag == "success")
        #expect(try encoder.encode(node) == (try Fixture.json("binary-success-node.json"))[hex: "hex"])

        var strict = BinaryDecoder()
        strict.maximumInflatedSize = 64
        #expect(throws: BinaryCodecError.decompressionFailed) { try strict.decodeFrame([0x02] + compressed) }
        #expect(throws: BinaryCodecError.decompressionFailed) { try decoder.decodeFrame([0x02, 0x78, 0xDA, 0x01]) }
    }
}

/// Random but canonical node trees: the shapes the encoder produces, so decoding gives them back.
enum RandomNode {
    static let tokens = ["message", "receipt", "iq", "type", "id", "to", "from", "result", "27", "read-self"]

    static func string(_ random: inout SeededRandom) -> String {
        switch Int.random(in: 0..<6, using: &random) {
        case 0: return tokens.randomElement(using: &random)!
        case 1: return String((0..<Int.random(in: 1...40, using: &random)).map { _ in "0123456789-.".randomElement(using: &random)! })
        case 2: return String((0..<Int.random(in: 1...40, using: &random)).map { _ in "0123456789ABCDEF".randomElement(using: &random)! })
        case 3: return ""
        case 4: return String(repeating: "9", count: 128)  // one past the packed maximum: raw
        default:
            let alphabet = Array("abcxyzÄ🚢 _:/+=")
            return String((0..<Int.random(in: 1...30, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
        }
    }

    static func jid(_ random: inout SeededRandom) -> JID {
        let user = String((0..<Int.random(in: 0...15, using: &random)).map { _ in "0123456789".randomElement(using: &random)! })
        switch Int.random(in: 0..<5, using: &random) {
        case 0: return JID(user: user, device: UInt16.random(in: 0...255, using: &random), server: JID.userServer)
        case 1: return JID(user: user, device: UInt16.random(in: 1...255, using: &random), server: JID.hiddenUserServer)
        case 2: return JID(user: user, agent: 2, device: 1, server: JID.userServer)
        case 3: return JID(user: user, server: JID.groupServer)
        default: return JID(user: user, device: UInt16.random(in: 0...9, using: &random), server: JID.hostedLIDServer)
        }
    }

    static func value(_ random: inout SeededRandom) -> BinaryNode.Value {
        Bool.random(using: &random) ? .string(string(&random)) : .jid(jid(&random))
    }

    static func make(_ random: inout SeededRandom, depth: Int) -> BinaryNode {
        var tag = string(&random)
        if tag.isEmpty { tag = "x" }
        let attributes = (0..<Int.random(in: 0...5, using: &random)).map { _ in
            BinaryNode.Attribute(string(&random), value(&random))
        }
        let content: BinaryNode.Content?
        switch Int.random(in: 0..<(depth < 4 ? 5 : 3), using: &random) {
        case 0: content = nil
        case 1: content = .bytes((0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
        case 2: content = .text(Bool.random(using: &random) ? .string(tokens.randomElement(using: &random)!) : .jid(jid(&random)))
        default: content = .nodes((0..<Int.random(in: 0...4, using: &random)).map { _ in make(&random, depth: depth + 1) })
        }
        return BinaryNode(tag, attributes, content: content)
    }
}
