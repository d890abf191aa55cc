import Foundation
import Yams

/// The API's contract: `openapi.yaml` next to this file, edited by hand and compiled into the
/// binary. Wharf serves it as it is at `/openapi.yaml` and as JSON at `/openapi.json`, converted
/// once, with its members in the file's order.
///
/// The conversion is strict so that every YAML reader sees the same document: a plain scalar is
/// null, a boolean, a number or a string as YAML 1.1 resolves it (quote a string that looks like
/// something else); timestamps, anchors and repeated keys are refused.
struct OpenAPIDocument: Sendable {
    let yaml: String
    /// The same document as JSON (UTF-8).
    let json: [UInt8]

    /// The document compiled into the binary, read once per process.
    static let bundled = Result { try OpenAPIDocument(yaml: String(decoding: PackageResources.openapi_yaml, as: UTF8.self)) }

    init(yaml: String) throws {
        guard let root = try Yams.compose(yaml: yaml) else { throw OpenAPIDocumentError(line: 1, problem: "the document is empty") }
        var json: [UInt8] = []
        json.reserveCapacity(yaml.utf8.count)
        try Self.write(root, into: &json)
        self.yaml = yaml
        self.json = json
    }

    private static func write(_ node: Node, into json: inout [UInt8]) throws {
        switch node {
        case .mapping(let mapping):
            json.append(UInt8(ascii: "{"))
            var keys: Set<String> = []
            for (index, (key, value)) in mapping.enumerated() {
                guard case .scalar(let scalar) = key else { throw OpenAPIDocumentError(key, "a key must be a plain string") }
                guard keys.insert(scalar.string).inserted else { throw OpenAPIDocumentError(key, "'\(scalar.string)' appears twice") }
                if index > 0 { json.append(UInt8(ascii: ",")) }
                writeString(scalar.string, into: &json)
                json.append(UInt8(ascii: ":"))
                try write(value, into: &json)
            }
            json.append(UInt8(ascii: "}"))
        case .sequence(let sequence):
            json.append(UInt8(ascii: "["))
            for (index, item) in sequence.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                try write(item, into: &json)
            }
            json.append(UInt8(ascii: "]"))
        case .scalar(let scalar):
            switch Resolver.default.resolveTag(of: node) {
            case .str:
                writeString(scalar.string, into: &json)
            case .null:
                json.append(contentsOf: "null".utf8)
            case .bool:
                guard let value = node.bool else { throw OpenAPIDocumentError(node, "'\(scalar.string)' is not a boolean") }
                json.append(contentsOf: (value ? "true" : "false").utf8)
            case .int:
                guard let value = node.int else { throw OpenAPIDocumentError(node, "'\(scalar.string)' is not an integer") }
                json.append(contentsOf: String(value).utf8)
            case .float:
                guard let value = node.float, value.isFinite else {
                    throw OpenAPIDocumentError(node, "'\(scalar.string)' is not a number JSON can hold")
                }
                json.append(contentsOf: "\(value)".utf8)
            default:
                throw OpenAPIDocumentError(node, "'\(scalar.string)' would not read as a string everywhere; quote it")
            }
        case .alias:
            throw OpenAPIDocumentError(node, "anchors and aliases are not used in this document")
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    private static func writeString(_ text: String, into json: inout [UInt8]) {
        json.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): json.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): json.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): json.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): json.append(contentsOf: #"\t"#.utf8)
            case ..<0x20:
                let hex = String(byte, radix: 16)
                json.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }
}

/// Where the OpenAPI document cannot be read, and why.
struct OpenAPIDocumentError: Error, CustomStringConvertible {
    var line: Int
    var problem: String

    init(line: Int, problem: String) {
        self.line = line
        self.problem = problem
    }

    init(_ node: Node, _ problem: String) {
        self.init(line: node.mark?.line ?? 0, problem: problem)
    }

    var description: String { "openapi.yaml, line \(line): \(problem)" }
}
