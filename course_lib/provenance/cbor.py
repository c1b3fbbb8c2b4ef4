"""CBOR (RFC 8949), the binary JSON that C2PA claims, assertions and COSE signatures are
written in: a decoder for every item C2PA uses and an encoder for what COSE needs.

Each item starts with a head byte: 3 bits of major type (0 unsigned int, 1 negative
int, 2 bytes, 3 text, 4 array, 5 map, 6 tag, 7 simple values and floats) and 5 bits of
additional information, the argument itself (< 24) or how many argument bytes follow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["CBORTag", "cbor_decode", "cbor_loads", "cbor_dumps"]


@dataclass(frozen=True)
class CBORTag:
    """A tagged CBOR item (major type 6), e.g. tag 18 = COSE_Sign1."""

    tag: int
    value: object


def _cbor_head(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """(major type, additional info, argument, new position) of the item head at data[pos].

    The head byte is 3 bits of major type and 5 bits of info; info < 24 is the argument
    itself, 24..27 say that 1, 2, 4 or 8 big-endian argument bytes follow.
    """
    first = data[pos]
    major, info = first >> 5, first & 0x1F
    pos += 1
    if info < 24:
        return major, info, info, pos
    if info in (24, 25, 26, 27):
        size = 1 << (info - 24)                           # 1, 2, 4 or 8 bytes follow
        return major, info, int.from_bytes(data[pos:pos + size], "big"), pos + size
    raise ValueError(f"unsupported CBOR additional info {info} at byte {pos - 1} "
                     "(indefinite lengths are not used by C2PA)")


def cbor_decode(data: bytes, pos: int = 0) -> tuple[object, int]:
    """Decode one CBOR item (RFC 8949) starting at data[pos]; return (item, end position).

    Maps -> dict, arrays -> list, byte strings -> bytes, tags -> CBORTag, and the simple
    values false/true/null plus half/single/double floats.
    """
    major, info, arg, pos = _cbor_head(data, pos)
    if major == 0:                                        # unsigned int
        return arg, pos
    if major == 1:                                        # negative int: -1 - arg
        return -1 - arg, pos
    if major == 2:                                        # byte string
        return bytes(data[pos:pos + arg]), pos + arg
    if major == 3:                                        # text string (UTF-8)
        return bytes(data[pos:pos + arg]).decode("utf-8"), pos + arg
    if major == 4:                                        # array of arg items
        items = []
        for _ in range(arg):
            item, pos = cbor_decode(data, pos)
            items.append(item)
        return items, pos
    if major == 5:                                        # map of arg pairs
        mapping = {}
        for _ in range(arg):
            key, pos = cbor_decode(data, pos)
            mapping[key], pos = cbor_decode(data, pos)
        return mapping, pos
    if major == 6:                                        # tag, then the tagged item
        value, pos = cbor_decode(data, pos)
        return CBORTag(arg, value), pos
    # major 7: simple values and floats (the argument holds the raw bits)
    simple = {20: False, 21: True, 22: None, 23: None}
    if info in simple:
        return simple[info], pos
    if info == 25:
        return struct.unpack(">e", arg.to_bytes(2, "big"))[0], pos
    if info == 26:
        return struct.unpack(">f", arg.to_bytes(4, "big"))[0], pos
    if info == 27:
        return struct.unpack(">d", arg.to_bytes(8, "big"))[0], pos
    raise ValueError(f"unsupported CBOR simple value {info}")


def cbor_loads(data: bytes) -> object:
    """Decode a byte string holding exactly one CBOR item."""
    item, end = cbor_decode(data, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} trailing bytes after the CBOR item")
    return item


def cbor_dumps(item) -> bytes:
    """Encode ints, bytes, str, lists and dicts (definite lengths): enough for COSE."""
    def head(major: int, arg: int) -> bytes:
        if arg < 24:
            return bytes([major << 5 | arg])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if arg < 1 << (8 * size):
                return bytes([major << 5 | info]) + arg.to_bytes(size, "big")
        raise ValueError("integer too large for CBOR")

    if isinstance(item, bool) or item is None:
        return bytes([0xF5 if item is True else 0xF4 if item is False else 0xF6])
    if isinstance(item, int):
        return head(0, item) if item >= 0 else head(1, -1 - item)
    if isinstance(item, (bytes, bytearray)):
        return head(2, len(item)) + bytes(item)
    if isinstance(item, str):
        raw = item.encode("utf-8")
        return head(3, len(raw)) + raw
    if isinstance(item, (list, tuple)):
        return head(4, len(item)) + b"".join(cbor_dumps(x) for x in item)
    if isinstance(item, dict):
        return head(5, len(item)) + b"".join(cbor_dumps(k) + cbor_dumps(v) for k, v in item.items())
    raise TypeError(f"cannot CBOR-encode {type(item).__name__}")
