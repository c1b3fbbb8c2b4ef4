"""A C2PA manifest read from scratch: JUMBF boxes -> CBOR claim -> assertions -> verdict.

This module exists to understand what the official reader (`course_lib.provenance.c2pa`)
does. It covers what our signer writes: ES256 signatures, SHA-256 hashes, manifests
embedded in PNG, JPEG and WAV (hard binding `c2pa.hash.data`, byte-range exclusions)
and MP4 (`c2pa.hash.bmff.v3` with top-level box exclusions; nested box paths and
Merkle trees for fragmented MP4 are not handled and raise/report so).

The chain of trust, bottom to top:
1. asset bytes  --SHA-256 over everything outside the exclusions-->  `c2pa.hash.data`
2. each assertion box --SHA-256-->  a hashed URI in the claim
3. claim CBOR bytes  --ECDSA P-256 (COSE_Sign1)-->  signature, by the leaf certificate
4. leaf certificate  --issued by-->  ... a trust anchor (our course CA)
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

C2PA_MP4_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
SIGNATURE1_CONTEXT = "Signature1"
COSE_ALG, COSE_X5CHAIN, ES256 = 1, 33, -7


# ----------------------------------------------------------------------------- CBOR
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


# ----------------------------------------------------------------------------- JUMBF
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


# ----------------------------------------------------------------- finding the store
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


# ------------------------------------------------------------------------ the parts
def active_manifest(store: Jumbf) -> Jumbf:
    """The last manifest in the store is the active one (the asset's current state)."""
    if store.label != "c2pa" or not store.children:
        raise ValueError(f"not a C2PA manifest store (label {store.label!r})")
    return store.children[-1]


def claim_box(manifest: Jumbf) -> Jumbf:
    for label in ("c2pa.claim.v2", "c2pa.claim"):
        try:
            return manifest.child(label)
        except KeyError:
            continue
    raise KeyError("manifest has no claim box")


def assertions(manifest: Jumbf) -> dict[str, object]:
    """{label: decoded CBOR (or JSON text)} for every assertion box of a manifest."""
    import json

    out = {}
    for box in manifest.child("c2pa.assertions").children:
        content = box.contents[0]
        out[box.label] = (cbor_loads(content.payload) if content.type == "cbor"
                          else json.loads(content.payload) if content.type == "json"
                          else content.payload)
    return out


def data_hash(data: bytes, exclusions: list[tuple[int, int]]) -> bytes:
    """SHA-256 of `data` with each (start, length) exclusion range left out.

    The manifest store lives inside the asset, so it cannot hash itself: the signer
    first reserves space for it, then hashes every byte *outside* that space.
    """
    digest = hashlib.sha256()
    pos = 0
    for start, length in sorted(exclusions):
        if start < pos or start + length > len(data):
            raise ValueError(f"exclusion ({start}, {length}) overlaps or runs past the data")
        digest.update(data[pos:start])
        pos = start + length
    digest.update(data[pos:])
    return digest.digest()


def bmff_hash(data: bytes, exclusions: list[dict]) -> bytes:
    """The MP4 hard binding `c2pa.hash.bmff.v3` for top-level exclusions.

    SHA-256 over every top-level box that is not excluded, each preceded by its file
    offset as 8 big-endian bytes (so boxes cannot be reordered). An exclusion names a
    box path ("/free") and optionally bytes it must contain ({"offset", "value"}), which
    is how only *our* `uuid` box (the manifest) is skipped, not every uuid box.
    """
    rules = []
    for rule in exclusions:
        path = rule["xpath"]
        if path.count("/") != 1:
            raise ValueError(f"only top-level box exclusions are handled; got {path!r}")
        rules.append((path[1:], rule.get("data") or []))

    def excluded(box: Box) -> bool:
        for box_type, constraints in rules:
            raw = data[box.offset:box.offset + box.size]
            if box.type == box_type and all(raw[c["offset"]:c["offset"] + len(c["value"])] == c["value"]
                                            for c in constraints):
                return True
        return False

    digest = hashlib.sha256()
    for box in iter_boxes(data):
        if not excluded(box):
            digest.update(box.offset.to_bytes(8, "big"))
            digest.update(data[box.offset:box.offset + box.size])
    return digest.digest()


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """COSE_Sign1 to-be-signed bytes: CBOR ["Signature1", protected, external_aad, payload]."""
    return cbor_dumps([SIGNATURE1_CONTEXT, protected, external_aad, payload])


def verify_cose_sign1(cose: CBORTag, payload: bytes):
    """Verify an ES256 COSE_Sign1 (tag 18) with a detached payload. Returns the leaf cert
    and the chain (list of x509.Certificate); raises InvalidSignature when it fails."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if not isinstance(cose, CBORTag) or cose.tag != 18 or len(cose.value) != 4:
        raise ValueError("signature box must hold a COSE_Sign1: tag 18, array of 4")
    protected_bytes, unprotected, _, signature = cose.value
    protected = cbor_loads(protected_bytes) if protected_bytes else {}
    if protected.get(COSE_ALG) != ES256:
        raise ValueError(f"only ES256 (alg -7) is handled; got {protected.get(COSE_ALG)}")
    chain = protected.get(COSE_X5CHAIN, unprotected.get(COSE_X5CHAIN))
    chain = [chain] if isinstance(chain, bytes) else list(chain)
    certs = [x509.load_der_x509_certificate(der) for der in chain]
    # COSE carries r || s (32 bytes each); `cryptography` wants DER.
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    certs[0].public_key().verify(encode_dss_signature(r, s),
                                 sig_structure(protected_bytes, payload),
                                 ec.ECDSA(hashes.SHA256()))
    return certs


def chain_is_trusted(certs, trust_anchors_pem: str | None) -> bool:
    """Does each certificate issue the one before it, and the last come from an anchor?"""
    from cryptography import x509

    if not trust_anchors_pem:
        return False
    anchors = x509.load_pem_x509_certificates(trust_anchors_pem.encode())
    try:
        for child, parent in zip(certs, certs[1:]):
            child.verify_directly_issued_by(parent)
    except Exception:
        return False
    top = certs[-1]
    for anchor in anchors:
        if top == anchor:
            return True
        try:
            top.verify_directly_issued_by(anchor)
            return True
        except Exception:
            continue
    return False


@dataclass
class Verdict:
    """Our from-scratch reading: state plus the checks behind it."""

    state: str                           # "Trusted", "Valid", "Invalid" or "NoManifest"
    signature_ok: bool = False
    assertion_hashes_ok: bool = False
    data_hash_ok: bool | None = None     # None: no hard binding this module recomputes
    trusted: bool = False
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    claim: dict | None = None


def hashed_uri_target(manifest: Jumbf, url: str) -> Jumbf:
    """The assertion box a hashed URI like 'self#jumbf=c2pa.assertions/c2pa.hash.data' names."""
    path = url.split("#jumbf=", 1)[-1]
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "c2pa":                      # absolute: /c2pa/urn:.../...
        parts = parts[2:]
    node = manifest
    for part in parts:
        node = node.child(part)
    return node


def verify(data: bytes, trust_anchors: str | None = None) -> Verdict:
    """Read and verify an asset's active manifest from scratch (see the module doc)."""
    try:
        embedded = find_manifest_store(data)
        store = parse_jumbf(embedded.store)
        manifest = active_manifest(store)
        claim_bytes = next(b for b in claim_box(manifest).contents if b.type == "cbor").payload
        claim = cbor_loads(claim_bytes)
    except (ValueError, KeyError, StopIteration, IndexError, UnicodeDecodeError) as err:
        return Verdict("NoManifest", failures=[f"manifest.unreadable: {err}"])
    verdict = Verdict("Invalid", claim=claim)

    # 1. the signature over the claim
    try:
        cose = manifest.child("c2pa.signature").cbor()
        certs = verify_cose_sign1(cose, claim_bytes)
        verdict.signature_ok = True
        verdict.trusted = chain_is_trusted(certs, trust_anchors)
    except Exception as err:               # InvalidSignature, bad structure, bad cert
        verdict.failures.append(f"claimSignature.mismatch: {type(err).__name__}")

    # 2. every assertion the claim lists must hash to the value the claim recorded
    refs = claim.get("created_assertions", []) + claim.get("gathered_assertions", []) \
        + claim.get("assertions", [])
    verdict.assertion_hashes_ok = True
    for ref in refs:
        try:
            box = hashed_uri_target(manifest, ref["url"])
            ok = hashlib.sha256(box.raw).digest() == ref["hash"]
        except KeyError:
            ok = False
        if not ok:
            verdict.assertion_hashes_ok = False
            verdict.failures.append(f"assertion.hashedURI.mismatch: {ref['url']}")

    # 3. the hard binding: the asset bytes outside the exclusions
    try:
        found = assertions(manifest)
    except (ValueError, KeyError, IndexError, UnicodeDecodeError) as err:
        found = {}
        verdict.failures.append(f"assertion.unreadable: {err}")
        verdict.assertion_hashes_ok = False
    if "c2pa.hash.data" in found:
        hard = found["c2pa.hash.data"]
        try:
            exclusions = [(e["start"], e["length"]) for e in hard.get("exclusions", [])]
            verdict.data_hash_ok = data_hash(bytes(data), exclusions) == hard["hash"]
        except (ValueError, KeyError, TypeError, AttributeError):
            verdict.data_hash_ok = False
        if not verdict.data_hash_ok:
            verdict.failures.append("assertion.dataHash.mismatch")
    elif "c2pa.hash.bmff.v3" in found:
        hard = found["c2pa.hash.bmff.v3"]
        try:
            verdict.data_hash_ok = bmff_hash(bytes(data), hard.get("exclusions", [])) == hard["hash"]
        except (ValueError, KeyError, TypeError):
            verdict.data_hash_ok = False
        if not verdict.data_hash_ok:
            verdict.failures.append("assertion.bmffHash.mismatch")
    else:
        verdict.notes.append("hard binding " + ", ".join(k for k in found if "hash" in k)
                             + " not recomputed here")

    if verdict.signature_ok and verdict.assertion_hashes_ok and verdict.data_hash_ok is not False:
        verdict.state = "Trusted" if verdict.trusted else "Valid"
    return verdict
