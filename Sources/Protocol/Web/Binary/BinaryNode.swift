/// One element of WhatsApp's binary XML: a tag, ordered attributes and optional content.
///
/// Attributes keep their order because the order is part of the bytes: a recorded frame re-encodes
/// byte for byte only if the attributes go back out as they came in.
public struct BinaryNode: Sendable, Equatable, CustomStringConvertible {
    public var tag: String
    public var attributes: [Attribute]
    public var content: Content?

    public struct Attribute: Sendable, Equatable {
        public var name: String
        public var value: Value

        public init(_ name: String, _ value: Value) {
            self.name = name
            self.value = value
        }
    }

    /// Attribute values and text content are strings or JIDs; the encoding tells them apart.
    public enum Value: Sendable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
        case string(String)
        case jid(JID)

        public init(stringLiteral value: String) { self = .string(value) }

        public var description: String {
            switch self {
            case .string(let string): string
            case .jid(let jid): jid.description
            }
        }
    }

    public enum Content: Sendable, Equatable {
        case nodes([BinaryNode])
        case bytes([UInt8])
        case text(Value)
    }

    public init(_ tag: String, _ attributes: [Attribute] = [], content: Content? = nil) {
        self.tag = tag
        self.attributes = attributes
        self.content = content
    }

    public init(_ tag: String, _ attributes: KeyValuePairs<String, Value>, content: Content? = nil) {
        self.init(tag, attributes.map { Attribute($0.key, $0.value) }, content: content)
    }

    public init(_ tag: String, _ attributes: KeyValuePairs<String, Value> = [:], children: [BinaryNode]) {
        self.init(tag, attributes, content: .nodes(children))
    }

    public init(_ tag: String, _ attributes: KeyValuePairs<String, Value> = [:], bytes: [UInt8]) {
        self.init(tag, attributes, content: .bytes(bytes))
    }

    public subscript(attribute name: String) -> Value? {
        attributes.first { $0.name == name }?.value
    }

    /// The attribute as text, whichever form it arrived in.
    public func string(_ name: String) -> String? { self[attribute: name]?.description }

    public var children: [BinaryNode] {
        if case .nodes(let nodes) = content { return nodes }
        return []
    }

    public func child(_ tag: String) -> BinaryNode? { children.first { $0.tag == tag } }

    /// Binary content, or the UTF-8 of text content.
    public var bytes: [UInt8]? {
        switch content {
        case .bytes(let bytes): bytes
        case .text(let value): Array(value.description.utf8)
        default: nil
        }
    }

    /// XML-like text for logs and failure messages; binary content is shown as its length.
    public var description: String {
        var text = "<" + tag
        for attribute in attributes { text += " \(attribute.name)=\"\(attribute.value)\"" }
        switch content {
        case nil: return text + "/>"
        case .nodes(let nodes): return text + ">" + nodes.map(\.description).joined() + "</\(tag)>"
        case .bytes(let bytes): return text + ">[\(bytes.count) bytes]</\(tag)>"
        case .text(let value): return text + ">\(value)</\(tag)>"
        }
    }
}
