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

Layers, bottom up: `cbor` (the encoding of claims and assertions), `jumbf` (the box tree
of the store, and where it sits in PNG / JPEG / WAV / MP4), `cose` (the signature and
its certificate chain), and this module: the parts of a manifest, the hard-binding
hashes and `verify`, which walks the chain above and returns a `Verdict`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# The layers below the verifier; their names are re-exported here, so
# `manifest.parse_jumbf`, `manifest.cbor_loads` and `manifest.verify` all work.
from course_lib.provenance.cbor import CBORTag, cbor_decode, cbor_dumps, cbor_loads
from course_lib.provenance.cose import (COSE_ALG, COSE_X5CHAIN, ES256, SIGNATURE1_CONTEXT,
                                        chain_is_trusted, sig_structure, verify_cose_sign1)
from course_lib.provenance.jumbf import (C2PA_MP4_UUID, Box, Embedded, Jumbf, find_manifest_store,
                                         iter_boxes, parse_box_header, parse_jumbf, parse_jumd)

__all__ = [
    # this module: the parts of a manifest, the hashes, the verdict
    "active_manifest", "claim_box", "assertions", "data_hash", "bmff_hash", "Verdict",
    "hashed_uri_target", "verify",
    # re-exported layers: cbor, jumbf, cose
    "CBORTag", "cbor_decode", "cbor_loads", "cbor_dumps",
    "C2PA_MP4_UUID", "Box", "parse_box_header", "iter_boxes", "Jumbf", "parse_jumd", "parse_jumbf",
    "Embedded", "find_manifest_store",
    "SIGNATURE1_CONTEXT", "COSE_ALG", "COSE_X5CHAIN", "ES256", "sig_structure", "verify_cose_sign1",
    "chain_is_trusted",
]


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
