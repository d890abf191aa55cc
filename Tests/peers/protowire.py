"""The protobuf wire format, just enough for the test peers: varints and length-delimited fields.

Kept deliberately tiny and separate from Wharf's generated Swift, so the peers read and write the
WhatsApp messages from the field numbers alone.
"""


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, value):
    """One field: ints as varints, bytes/str as length-delimited."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + bytes(value)


def message(*fields):
    """fields: (number, value) pairs; None values are left out."""
    return b"".join(field(n, v) for n, v in fields if v is not None)


def parse(data):
    """{field number: [values]}; varints as int, length-delimited as bytes."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = _read_varint(data, i)
        elif kind == 2:
            length, i = _read_varint(data, i)
            value = bytes(data[i:i + length])
            if len(value) != length:
                raise ValueError("truncated field")
            i += length
        elif kind == 5:
            value, i = bytes(data[i:i + 4]), i + 4
        elif kind == 1:
            value, i = bytes(data[i:i + 8]), i + 8
        else:
            raise ValueError(f"wire type {kind}")
        fields.setdefault(number, []).append(value)
    return fields


def first(fields, number, default=None):
    return fields.get(number, [default])[0]


def _read_varint(data, i):
    shift = value = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def field_span(data, number, start=0):
    """(begin, end) of the first length-delimited field `number`'s value in data[start:], or None.

    Lets a caller touch one byte of a nested message without re-serializing it (the fake server
    uses it to break the MAC inside a PreKeySignalMessage)."""
    i = start
    while i < len(data):
        key, i = _read_varint(data, i)
        kind = key & 7
        if kind == 0:
            _, i = _read_varint(data, i)
        elif kind == 2:
            length, i = _read_varint(data, i)
            if key >> 3 == number:
                return i, i + length
            i += length
        elif kind == 5:
            i += 4
        elif kind == 1:
            i += 8
        else:
            raise ValueError(f"wire type {kind}")
    return None
