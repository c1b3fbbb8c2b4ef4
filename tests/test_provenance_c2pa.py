"""C2PA signing and reading: the official c2pa-python reader is the oracle; the
from-scratch reader in course_lib.provenance.manifest must reach the same verdicts."""

import hashlib

import numpy as np
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from course_lib.provenance import c2pa as C
from course_lib.provenance import manifest as M

FORMATS = ["png", "jpg", "wav", "mp4"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return C.load_or_make_test_ca(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def signed(ca):
    return {f: C.sign_bytes(C.demo_asset(f), f, ca, title=f"demo.{f}") for f in FORMATS}


def _exclusions(data: bytes) -> list[tuple[int, int]]:
    found = M.assertions(M.active_manifest(M.parse_jumbf(M.find_manifest_store(data).store)))
    return [(e["start"], e["length"]) for e in found["c2pa.hash.data"]["exclusions"]]


def _flip(data: bytes, pos: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 0x01
    return bytes(out)


def test_chain_is_an_es256_end_entity_leaf_under_the_ca(ca, tmp_path):
    root = x509.load_pem_x509_certificate(ca.ca_cert_pem.encode())
    leaf = x509.load_pem_x509_certificate(ca.leaf_cert_pem.encode())
    assert leaf.issuer == root.subject and leaf.subject != leaf.issuer
    leaf.verify_directly_issued_by(root)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.public_key().curve.name == "secp256r1"


def test_keys_are_made_once_and_reused(tmp_path):
    first = C.load_or_make_test_ca(tmp_path)
    second = C.load_or_make_test_ca(tmp_path)
    assert first.leaf_key_pem == second.leaf_key_pem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.pem", "leaf.key", "leaf.pem"]
    (tmp_path / "leaf.key").write_text(C.make_test_ca().leaf_key_pem)       # a mismatched key
    third = C.load_or_make_test_ca(tmp_path)
    assert third.leaf_key_pem != first.leaf_key_pem and C._chain_is_usable(third)
    assert C.read_bytes(C.sign_bytes(C.demo_asset("png"), "png", third), "png",
                        third.ca_cert_pem).state == "Trusted"


def test_default_key_folder_is_under_artifacts():
    import inspect

    assert 'artifacts_dir("provenance", "keys")' in inspect.getsource(C.load_or_make_test_ca)


@pytest.mark.parametrize("fmt", FORMATS)
def test_signed_assets_read_valid_and_trusted_with_the_course_anchor(fmt, ca, signed):
    assert C.read_bytes(C.demo_asset(fmt), fmt).state == "NoManifest"
    valid = C.read_bytes(signed[fmt], fmt)
    assert valid.state == "Valid" and not valid.failures, C.report_text(valid)
    trusted = C.read_bytes(signed[fmt], fmt, trust_anchors=ca.ca_cert_pem)
    assert trusted.state == "Trusted", C.report_text(trusted)
    assert "signingCredential.trusted" in trusted.successes
    labels = trusted.assertion_labels
    assert "c2pa.actions.v2" in labels and "c2pa.training-mining" in labels
    assert "stds.schema-org.CreativeWork" in labels
    action = next(a for a in trusted.manifest["assertions"] if a["label"] == "c2pa.actions.v2")
    assert action["data"]["actions"][0]["action"] == "c2pa.created"
    assert action["data"]["actions"][0]["digitalSourceType"] == C.TRAINED_ALGORITHMIC_MEDIA
    assert "thumbnail" not in trusted.manifest            # thumbnails are off by default


def test_another_ca_as_anchor_does_not_make_it_trusted(signed):
    stranger = C.make_test_ca()
    report = C.read_bytes(signed["png"], "png", trust_anchors=stranger.ca_cert_pem)
    assert report.state == "Valid"
    assert "signingCredential.untrusted" in report.failures
    assert M.verify(signed["png"], stranger.ca_cert_pem).state == "Valid"


@pytest.mark.parametrize("fmt", ["png", "jpg", "wav"])
def test_flipping_any_hashed_byte_is_rejected_by_both_readers_alike(fmt, ca, signed):
    """A flip in the hashed bytes never reads Valid. Most read Invalid (data hash
    mismatch); a flip in a container header (a RIFF chunk size, say) can hide the
    manifest store from both readers ("NoManifest")."""
    data = signed[fmt]
    (start, length), = _exclusions(data)
    outside = np.r_[0:start, start + length:len(data)]
    positions = np.random.default_rng(0).choice(outside, 40, replace=False)
    invalid = 0
    for pos in positions:
        tampered = _flip(data, int(pos))
        official = C.read_bytes(tampered, fmt, ca.ca_cert_pem)
        ours = M.verify(tampered, ca.ca_cert_pem)
        assert official.state in ("Invalid", "NoManifest"), (pos, C.report_text(official))
        assert ours.state == official.state, (pos, ours.failures, C.report_text(official))
        if official.state == "Invalid":
            invalid += 1
            assert "assertion.dataHash.mismatch" in official.failures
            assert ours.data_hash_ok is False and ours.signature_ok
    assert invalid >= 35


def _media_payload(data: bytes, fmt: str) -> tuple[int, int]:
    """(start, end) of the samples/pixels: WAV 'data' chunk, PNG first IDAT, JPEG scan."""
    if fmt == "wav":
        pos = data.index(b"data") + 8
        return pos, pos + int.from_bytes(data[pos - 4:pos], "little")
    if fmt == "png":
        pos = data.index(b"IDAT") + 4
        return pos, pos + int.from_bytes(data[pos - 8:pos - 4], "big")
    pos = data.index(b"\xff\xda")
    return pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big"), len(data) - 2


@pytest.mark.parametrize("fmt", ["png", "jpg", "wav"])
def test_flipping_media_payload_bytes_is_invalid(fmt, ca, signed):
    data = signed[fmt]
    start, end = _media_payload(data, fmt)
    for pos in np.linspace(start, end - 1, 20).astype(int):
        tampered = _flip(data, int(pos))
        official = C.read_bytes(tampered, fmt, ca.ca_cert_pem)
        assert official.state == "Invalid", (pos, C.report_text(official))
        assert M.verify(tampered, ca.ca_cert_pem).state == "Invalid"


def test_mp4_bmff_hash_flips_in_boxes_and_excluded_boxes(ca, signed):
    data = signed["mp4"]
    boxes = {b.type: b for b in M.iter_boxes(data)}
    assert M.verify(data).data_hash_ok is True
    for box_type in ("mdat", "moov"):
        box = boxes[box_type]
        for pos in np.linspace(box.offset + box.header, box.offset + box.size - 1, 8).astype(int):
            tampered = _flip(data, int(pos))
            official = C.read_bytes(tampered, "mp4", ca.ca_cert_pem).state
            assert official in ("Invalid", "NoManifest"), (box_type, pos)
            assert M.verify(tampered, ca.ca_cert_pem).state == "Invalid", (box_type, pos)
    # ftyp is excluded from the v3 hash: a flip there is invisible to both readers
    tampered = _flip(data, boxes["ftyp"].offset + 9)
    assert C.read_bytes(tampered, "mp4", ca.ca_cert_pem).state == "Trusted"
    assert M.verify(tampered, ca.ca_cert_pem).state == "Trusted"
    with pytest.raises(ValueError, match="top-level"):
        M.bmff_hash(data, [{"xpath": "/moov/trak"}])


@pytest.mark.parametrize("fmt", FORMATS)
def test_from_scratch_reader_agrees_on_valid_assets(fmt, ca, signed):
    for anchors in (None, ca.ca_cert_pem):
        ours = M.verify(signed[fmt], anchors)
        assert ours.state == C.read_bytes(signed[fmt], fmt, anchors).state, ours
        assert ours.signature_ok and ours.assertion_hashes_ok
    assert M.verify(C.demo_asset(fmt)).state == "NoManifest"


def test_claim_and_signature_tampering_is_caught(ca, signed):
    data = signed["png"]
    store = M.find_manifest_store(data).store
    claim = M.claim_box(M.active_manifest(M.parse_jumbf(store)))
    payload = next(b for b in claim.contents if b.type == "cbor").payload
    # change one character of the title inside the claim (same length, still valid CBOR)
    pos = data.index(b"demo.png", data.index(payload[:16]))
    tampered = data[:pos] + b"dEmo.png" + data[pos + 8:]
    ours = M.verify(tampered, ca.ca_cert_pem)
    assert ours.state == "Invalid" and not ours.signature_ok
    assert C.read_bytes(tampered, "png", ca.ca_cert_pem).state == "Invalid"


def test_manifest_structure(signed):
    store = M.parse_jumbf(M.find_manifest_store(signed["jpg"]).store)
    assert store.label == "c2pa"
    manifest = M.active_manifest(store)
    assert manifest.label.startswith("urn:c2pa:")
    assert [c.label for c in manifest.children] == ["c2pa.assertions", "c2pa.claim.v2",
                                                    "c2pa.signature"]
    cose = manifest.child("c2pa.signature").cbor()
    assert isinstance(cose, M.CBORTag) and cose.tag == 18
    assert M.cbor_loads(cose.value[0])[M.COSE_ALG] == M.ES256


def test_data_hash_skips_exactly_the_exclusions(signed):
    data = signed["png"]
    (start, length), = _exclusions(data)
    expected = hashlib.sha256(data[:start] + data[start + length:]).digest()
    assert M.data_hash(data, [(start, length)]) == expected
    assert M.data_hash(data, [(start, length + 1)]) != expected
    assert M.data_hash(data, [(start - 1, length)]) != expected
    # shifting the window keeps the byte count; it shows only where bytes differ
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()
    base = M.data_hash(noise, [(100, 50), (500, 10)])
    assert base == hashlib.sha256(noise[:100] + noise[150:500] + noise[510:]).digest()
    assert M.data_hash(noise, [(500, 10), (100, 50)]) == base      # order does not matter
    assert M.data_hash(noise, [(101, 50), (500, 10)]) != base
    with pytest.raises(ValueError):
        M.data_hash(data, [(len(data) - 2, 5)])


@pytest.mark.parametrize("hexdata, value", [
    ("00", 0), ("17", 23), ("1818", 24), ("1903e8", 1000), ("1a000f4240", 1_000_000),
    ("1b000000e8d4a51000", 1_000_000_000_000), ("20", -1), ("3903e7", -1000),
    ("f93c00", 1.0), ("fb3ff199999999999a", 1.1), ("fa47c35000", 100000.0),
    ("f4", False), ("f5", True), ("f6", None), ("4401020304", b"\x01\x02\x03\x04"),
    ("6449455446", "IETF"), ("83010203", [1, 2, 3]), ("a201020304", {1: 2, 3: 4}),
    ("c11a514b67b0", M.CBORTag(1, 1363896240)),
    ("a26161016162820203", {"a": 1, "b": [2, 3]}),
])
def test_cbor_decoder_on_rfc8949_examples(hexdata, value):
    assert M.cbor_loads(bytes.fromhex(hexdata)) == value


def test_cbor_round_trip_and_errors():
    item = ["Signature1", b"\xa1\x01&", b"", {"x": [1, -2, 300, "é"]}, 2**40, -(2**33)]
    assert M.cbor_loads(M.cbor_dumps(item)) == item
    with pytest.raises(ValueError, match="trailing"):
        M.cbor_loads(bytes.fromhex("0000"))
    with pytest.raises(ValueError, match="indefinite"):
        M.cbor_loads(bytes.fromhex("9f01ff"))


def test_box_header_parsing():
    assert M.parse_box_header(b"\x00\x00\x00\x10jumbxxxxxxxx") == (16, "jumb", 8)
    long_box = b"\x00\x00\x00\x01jumb" + (24).to_bytes(8, "big") + b"y" * 8
    assert M.parse_box_header(long_box) == (24, "jumb", 16)
    with pytest.raises(ValueError, match="bad size"):
        M.parse_box_header(b"\x00\x00\x00\x40jumb" + b"z" * 8)


def test_manifest_reexports_its_layers():
    """The reader is split by layer (cbor, jumbf, cose, manifest); `manifest` re-exports the
    layers' names so the lesson can say `manifest.parse_jumbf`, and each module stays small."""
    from pathlib import Path

    from course_lib.provenance import cbor, cose, jumbf

    for layer in (cbor, jumbf, cose):
        for name in layer.__all__:
            assert getattr(M, name) is getattr(layer, name) and name in M.__all__, name
    for module in (cbor, jumbf, cose, M):
        assert len(Path(module.__file__).read_text().splitlines()) <= 450, module.__name__


def test_bad_format_is_refused():
    with pytest.raises(ValueError, match="format"):
        C.mime_type("x.gif")
    with pytest.raises(TypeError, match="bytes"):
        C.sign_bytes("not bytes", "png", C.make_test_ca())
