"""WhatsApp Web's binary XML nodes (dictionary version 3), written for the test peers from the format
description alone, independently of Wharf's Swift codec.

A node is (tag, attrs, content): attrs map names to str or JID in wire order; content is None, bytes,
a str, or a list of nodes. Decoding gives BINARY content as bytes and BINARY attribute values as str.
"""
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

LIST_EMPTY = 0
DICTIONARY_0 = 236
AD_JID = 247
LIST_8 = 248
LIST_16 = 249
JID_PAIR = 250
HEX_8 = 251
BINARY_8 = 252
BINARY_20 = 253
BINARY_32 = 254
NIBBLE_8 = 255
PACKED_MAX = 127

NIBBLE_ALPHABET = "0123456789-."
HEX_ALPHABET = "0123456789ABCDEF"

# AD_JID's domain byte and the server it stands for.
AD_DOMAINS = {0: "s.whatsapp.net", 1: "lid", 128: "hosted", 129: "hosted.lid"}
AD_DOMAIN_BYTES = {server: byte for byte, server in AD_DOMAINS.items()}

FLAG_COMPRESSED = 0x02


def _load_tokens():
    """The token lists from the committed Swift table: its string literals are valid JSON strings."""
    swift = (Path(__file__).resolve().parents[2] / "Sources/Protocol/Web/Binary/TokenTables.swift").read_text()

    def literal(name):
        match = re.search(rf"let {name}: [^=]+= (\[.*?\n\])\n", swift, re.S)
        return json.loads(re.sub(r",(\s*\])", r"\1", match.group(1)))

    return literal("singleByteV3"), literal("doubleByteV3")


SINGLE_BYTE, DOUBLE_BYTE = _load_tokens()
assert len(SINGLE_BYTE) == 236 and [len(d) for d in DOUBLE_BYTE] == [256] * 4, "unexpected token table shape"
# Index 0 is "", which is written as LIST_EMPTY rather than looked up.
_SINGLE_INDEX = {token: index for index, token in enumerate(SINGLE_BYTE) if index}
_DOUBLE_INDEX = {}
for _dictionary, _tokens in enumerate(DOUBLE_BYTE):
    for _index, _token in enumerate(_tokens):
        _DOUBLE_INDEX.setdefault(_token, (_dictionary, _index))


class JID:
    """A WhatsApp address; its text form is `user[.agent][:device]@server`, or just the server when
    there is no user."""

    def __init__(self, user, server="s.whatsapp.net", device=0, agent=0):
        self.user, self.server, self.device, self.agent = user, server, device, agent

    @classmethod
    def parse(cls, text):
        if "@" not in text:
            return cls("", text)
        user, server = text.rsplit("@", 1)
        user, _, device = user.partition(":")
        user, _, agent = user.partition(".")
        return cls(user, server, int(device or 0), int(agent or 0))

    def __str__(self):
        if not self.user:
            return self.server
        agent = f".{self.agent}" if self.agent else ""
        device = f":{self.device}" if self.device else ""
        return f"{self.user}{agent}{device}@{self.server}"

    def __repr__(self):
        return f"JID({str(self)!r})"

    def __eq__(self, other):
        return isinstance(other, JID) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


@dataclass
class Node:
    tag: str
    attrs: dict = field(default_factory=dict)
    content: object = None

    def children(self, tag=None):
        nodes = self.content if isinstance(self.content, list) else []
        return [node for node in nodes if tag is None or node.tag == tag]

    def child(self, tag):
        found = self.children(tag)
        return found[0] if found else None

    def __str__(self):
        """XML-ish text for logs and /state; bytes show as text when printable ASCII, else as hex."""
        attrs = "".join(f' {name}="{value}"' for name, value in self.attrs.items())
        if self.content is None:
            return f"<{self.tag}{attrs}/>"
        if isinstance(self.content, list):
            inner = "".join(str(node) for node in self.content)
        elif isinstance(self.content, bytes):
            printable = all(32 <= byte < 127 for byte in self.content)
            inner = self.content.decode() if printable else f"[{len(self.content)} bytes {self.content.hex()}]"
        else:
            inner = str(self.content)
        return f"<{self.tag}{attrs}>{inner}</{self.tag}>"


# Encoding


def encode(node):
    out = bytearray()
    _write_node(out, node)
    return bytes(out)


def _write_node(out, node):
    _write_list_header(out, 1 + 2 * len(node.attrs) + (node.content is not None))
    _write_string(out, node.tag)
    for name, value in node.attrs.items():
        _write_string(out, name)
        if isinstance(value, JID):
            _write_jid(out, value)
        else:
            _write_string(out, str(value))
    content = node.content
    if isinstance(content, list):
        _write_list_header(out, len(content))
        for child in content:
            _write_node(out, child)
    elif isinstance(content, (bytes, bytearray)):
        _write_bytes(out, bytes(content))
    elif isinstance(content, JID):
        _write_jid(out, content)
    elif content is not None:
        _write_string(out, content)


def _write_list_header(out, size):
    if size == 0:
        out.append(LIST_EMPTY)
    elif size < 256:
        out += bytes([LIST_8, size])
    else:
        out.append(LIST_16)
        out += size.to_bytes(2, "big")


def _write_string(out, text):
    if text == "":
        out.append(LIST_EMPTY)
    elif text in _SINGLE_INDEX:
        out.append(_SINGLE_INDEX[text])
    elif text in _DOUBLE_INDEX:
        dictionary, index = _DOUBLE_INDEX[text]
        out += bytes([DICTIONARY_0 + dictionary, index])
    elif len(text) <= PACKED_MAX and all(c in NIBBLE_ALPHABET for c in text):
        _write_packed(out, NIBBLE_8, NIBBLE_ALPHABET, text)
    elif len(text) <= PACKED_MAX and all(c in HEX_ALPHABET for c in text):
        _write_packed(out, HEX_8, HEX_ALPHABET, text)
    else:
        _write_bytes(out, text.encode("utf-8", "surrogateescape"))


def _write_packed(out, tag, alphabet, text):
    codes = [alphabet.index(c) for c in text]
    if len(codes) % 2:
        codes.append(15)
    out += bytes([tag, (len(codes) // 2) | (0x80 if len(text) % 2 else 0)])
    out += bytes(codes[i] << 4 | codes[i + 1] for i in range(0, len(codes), 2))


def _write_bytes(out, data):
    if len(data) < 1 << 8:
        out += bytes([BINARY_8, len(data)])
    elif len(data) < 1 << 20:
        out.append(BINARY_20)
        out += len(data).to_bytes(3, "big")
    else:
        out.append(BINARY_32)
        out += len(data).to_bytes(4, "big")
    out += data


def _write_jid(out, jid):
    if jid.device and jid.server in AD_DOMAIN_BYTES:
        out += bytes([AD_JID, AD_DOMAIN_BYTES[jid.server], jid.device])
        _write_string(out, jid.user)
    else:
        out.append(JID_PAIR)
        _write_string(out, jid.user)
        _write_string(out, jid.server)


# Decoding


def decode(data):
    reader = _Reader(bytes(data))
    node = reader.node()
    if reader.position != len(reader.data):
        raise ValueError(f"{len(reader.data) - reader.position} bytes left after the node")
    return node


class _Reader:
    def __init__(self, data):
        self.data, self.position = data, 0

    def take(self, count):
        if self.position + count > len(self.data):
            raise ValueError("truncated node")
        chunk = self.data[self.position:self.position + count]
        self.position += count
        return chunk

    def byte(self):
        return self.take(1)[0]

    def list_size(self, tag):
        if tag == LIST_EMPTY:
            return 0
        if tag == LIST_8:
            return self.byte()
        if tag == LIST_16:
            return int.from_bytes(self.take(2), "big")
        raise ValueError(f"expected a list, got tag {tag}")

    def node(self):
        size = self.list_size(self.byte())
        if size == 0:
            raise ValueError("empty node")
        tag = self.string(self.byte())
        if not isinstance(tag, str):
            raise ValueError("node tag is a JID")
        attrs = {}
        for _ in range((size - 1) // 2):
            name = self.string(self.byte())
            attrs[name] = self.string(self.byte())
        content = self.content() if size % 2 == 0 else None
        return Node(tag, attrs, content)

    def content(self):
        tag = self.byte()
        if tag in (LIST_EMPTY, LIST_8, LIST_16):
            return [self.node() for _ in range(self.list_size(tag))]
        if tag in (BINARY_8, BINARY_20, BINARY_32):
            return self.binary(tag)
        return self.string(tag)

    def binary(self, tag):
        if tag == BINARY_8:
            length = self.byte()
        elif tag == BINARY_20:
            length = int.from_bytes(self.take(3), "big") & 0xFFFFF
        else:
            length = int.from_bytes(self.take(4), "big")
        return self.take(length)

    def string(self, tag):
        """A str, or a JID for the JID tags."""
        if tag == LIST_EMPTY:
            return ""
        if 1 <= tag < DICTIONARY_0:
            return SINGLE_BYTE[tag]
        if DICTIONARY_0 <= tag < DICTIONARY_0 + 4:
            return DOUBLE_BYTE[tag - DICTIONARY_0][self.byte()]
        if tag in (BINARY_8, BINARY_20, BINARY_32):
            return self.binary(tag).decode("utf-8", "surrogateescape")
        if tag == NIBBLE_8:
            return self.packed(NIBBLE_ALPHABET)
        if tag == HEX_8:
            return self.packed(HEX_ALPHABET)
        if tag == AD_JID:
            domain, device = self.byte(), self.byte()
            if domain not in AD_DOMAINS:
                raise ValueError(f"unknown AD_JID domain {domain}")
            return JID(self.string(self.byte()), AD_DOMAINS[domain], device)
        if tag == JID_PAIR:
            user = self.string(self.byte())
            return JID(user, self.string(self.byte()))
        raise ValueError(f"unknown string tag {tag}")

    def packed(self, alphabet):
        header = self.byte()
        codes = [code for byte in self.take(header & 0x7F) for code in (byte >> 4, byte & 0x0F)]
        if header & 0x80:
            if codes.pop() != 15:
                raise ValueError("packed string without its padding nibble")
        if any(code >= len(alphabet) for code in codes):
            raise ValueError("bad packed character")
        return "".join(alphabet[code] for code in codes)


# Frame payloads: after Noise decryption, one flag byte and then the node.


def marshal(node, compress=False):
    data = encode(node)
    return bytes([FLAG_COMPRESSED]) + zlib.compress(data) if compress else b"\x00" + data


def unmarshal(payload):
    if not payload:
        raise ValueError("empty frame")
    data = payload[1:]
    return decode(zlib.decompress(data) if payload[0] & FLAG_COMPRESSED else data)


# JSON form, for control routes and drivers that hand stanzas over as text:
# {"tag", "attrs": {name: str}, "content": [nodes] | "text", "bytes": "hex"}. Attribute values
# with an "@" are sent as JIDs, as the real server sends addresses.


def node_from_json(obj):
    if not isinstance(obj, dict) or not isinstance(obj.get("tag"), str):
        raise ValueError("a node is an object with a string tag")
    attrs = {}
    for name, value in (obj.get("attrs") or {}).items():
        value = str(value)
        attrs[name] = JID.parse(value) if "@" in value else value
    if obj.get("bytes") is not None:
        content = bytes.fromhex(obj["bytes"])
    elif isinstance(obj.get("content"), list):
        content = [node_from_json(child) for child in obj["content"]]
    else:
        content = obj.get("content")
        content = None if content is None else str(content)
    return Node(obj["tag"], attrs, content)


def node_to_json(node):
    out = {"tag": node.tag, "attrs": {name: str(value) for name, value in node.attrs.items()}}
    if isinstance(node.content, list):
        out["content"] = [node_to_json(child) for child in node.content]
    elif isinstance(node.content, (bytes, bytearray)):
        out["bytes"] = bytes(node.content).hex()
    elif node.content is not None:
        out["content"] = str(node.content)
    return out
