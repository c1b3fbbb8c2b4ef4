"""Boxes: the ISO BMFF / JUMBF boxes a C2PA manifest store is made of, and where the store
sits inside PNG, JPEG, WAV and MP4 files.

A box is LBox (4-byte big-endian size, header included), TBox (4 ASCII bytes), payload.
A JUMBF superbox ('jumb') holds a description box ('jumd': content-type UUID and a
label such as "c2pa" or "c2pa.claim.v2") followed by content boxes ('cbor', 'json')
and nested superboxes: the manifest store is one tree of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from course_lib.provenance.cbor import cbor_loads

__all__ = ["C2PA_MP4_UUID", "Box", "parse_box_header", "iter_boxes", "Jumbf", "parse_jumd",
           "parse_jumbf", "Embedded", "find_manifest_store"]

C2PA_MP4_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


@dataclass
class Box:
    """One ISO BMFF-style box: `size` bytes from `offset` (header included) in its buffer."""

    type: str
    offset: int
    size: int
    header: int                 # 8, or 16 with the 64-bit XLBox
    payload: bytes = field(repr=False)


def parse_box_header(data: bytes, pos: int = 0) -> tuple[int, str, int]:
    """(box size in bytes including header, 4-char type, header length) at data[pos].

    LBox (4 bytes, big endian) then TBox (4 ASCII bytes). LBox == 1 means a 64-bit
    XLBox follows; LBox == 0 means "to the end of the data".
    """
    if pos + 8 > len(data):
        raise ValueError(f"box header at {pos} runs past the end ({len(data)} bytes)")
    size = int.from_bytes(data[pos:pos + 4], "big")
    box_type = data[pos + 4:pos + 8].decode("latin-1")
    header = 8
    if size == 1:
        size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
    elif size == 0:
        size = len(data) - pos
    if size < header or pos + size > len(data):
        raise ValueError(f"box {box_type!r} at {pos} has bad size {size}")
    return size, box_type, header


def iter_boxes(data: bytes, start: int = 0, end: int | None = None):
    """Yield the consecutive boxes in data[start:end]."""
    pos, end = start, len(data) if end is None else end
    while pos < end:
        size, box_type, header = parse_box_header(data, pos)
        yield Box(box_type, pos, size, header, bytes(data[pos + header:pos + size]))
        pos += size


@dataclass
class Jumbf:
    """A JUMBF superbox ('jumb'): its description ('jumd') and its content boxes.

    label: e.g. "c2pa", "urn:c2pa:...", "c2pa.claim.v2"; uuid: 16-byte content type.
    children: nested superboxes; contents: the other boxes ('cbor', 'json', ...).
    raw: the superbox's payload (description box + contents), what hashed URIs hash.
    """

    label: str
    uuid: bytes
    children: list["Jumbf"]
    contents: list[Box]
    raw: bytes = field(repr=False)

    def child(self, label: str) -> "Jumbf":
        for c in self.children:
            if c.label == label:
                return c
        raise KeyError(f"no JUMBF box labelled {label!r} in {self.label!r}; "
                       f"have {[c.label for c in self.children]}")

    def cbor(self):
        box = next(b for b in self.contents if b.type == "cbor")
        return cbor_loads(box.payload)


def parse_jumd(payload: bytes) -> tuple[bytes, str]:
    """(uuid, label) from a description box payload: UUID(16), toggles(1), label\\0, ..."""
    uuid, toggles = payload[:16], payload[16]
    label = ""
    if toggles & 0x02:                                    # label present
        end = payload.index(b"\x00", 17)
        label = payload[17:end].decode("utf-8")
    return uuid, label


def parse_jumbf(data: bytes, pos: int = 0) -> Jumbf:
    """Parse the 'jumb' superbox at data[pos] into a Jumbf tree."""
    size, box_type, header = parse_box_header(data, pos)
    if box_type != "jumb":
        raise ValueError(f"expected a 'jumb' superbox at {pos}; got {box_type!r}")
    boxes = list(iter_boxes(data, pos + header, pos + size))
    if not boxes or boxes[0].type != "jumd":
        raise ValueError("a JUMBF superbox must start with a 'jumd' description box")
    uuid, label = parse_jumd(boxes[0].payload)
    children = [parse_jumbf(data, b.offset) for b in boxes[1:] if b.type == "jumb"]
    contents = [b for b in boxes[1:] if b.type != "jumb"]
    return Jumbf(label, uuid, children, contents, bytes(data[pos + header:pos + size]))


# ---------------------------------------------------------------- finding the store
@dataclass
class Embedded:
    """The manifest store found in an asset and where it sits.

    store: the JUMBF bytes (for JPEG, reassembled from its APP11 segments);
    container: "png", "jpeg", "wav" or "mp4".
    """

    store: bytes
    container: str


def find_manifest_store(data: bytes) -> Embedded:
    """Extract the JUMBF manifest store from PNG, JPEG, WAV or MP4 bytes."""
    data = bytes(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":                 # chunks: length, type, data, CRC
        pos = 8
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos:pos + 4], "big")
            if data[pos + 4:pos + 8] == b"caBX":
                return Embedded(data[pos + 8:pos + 8 + length], "png")
            pos += 12 + length
    elif data[:2] == b"\xff\xd8":                        # segments: FF marker, length
        pieces, pos = [], 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
            length = int.from_bytes(data[pos + 2:pos + 4], "big")
            body = data[pos + 4:pos + 2 + length]
            # APP11 segment: "JP", box instance (2), sequence number (4), box bytes.
            # Every segment after the first repeats the 8-byte LBox/TBox header.
            if data[pos + 1] == 0xEB and body[:2] == b"JP":
                sequence = int.from_bytes(body[4:8], "big")
                pieces.append(body[8:] if sequence == 1 else body[16:])
            pos += 2 + length
        if pieces:
            return Embedded(b"".join(pieces), "jpeg")
    elif data[:4] == b"RIFF" and data[8:12] == b"WAVE":  # chunks: id, size (LE), data
        pos = 12
        while pos + 8 <= len(data):
            size = int.from_bytes(data[pos + 4:pos + 8], "little")
            if data[pos:pos + 4] == b"C2PA":
                return Embedded(data[pos + 8:pos + 8 + size], "wav")
            pos += 8 + size + (size & 1)
    elif data[4:8] == b"ftyp":                           # top-level ISO BMFF boxes
        for box in iter_boxes(data):
            if box.type == "uuid" and box.payload[:16] == C2PA_MP4_UUID:
                # uuid(16), version+flags(4), purpose "manifest\0", merkle offset (8)
                rest = box.payload[20:]
                purpose_end = rest.index(b"\x00")
                if rest[:purpose_end] == b"manifest":
                    return Embedded(rest[purpose_end + 1 + 8:], "mp4")
    raise ValueError("no C2PA manifest store found (PNG caBX, JPEG APP11, WAV C2PA or MP4 uuid)")
