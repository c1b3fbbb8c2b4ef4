"""Content Credentials (C2PA): a local test certificate chain, signing and verifying.

Signing and reading go through the official `c2pa-python` library (the Rust c2pa-rs SDK
underneath); `course_lib.provenance.manifest` re-does the reading from scratch to show
what is inside. Everything is offline: no timestamp authority, no remote manifests.

The certificate chain is a course CA (self-signed, ES256 = ECDSA P-256 with SHA-256)
and an end-entity leaf it issues. The C2PA rules refuse a self-signed signing
certificate, and they want the leaf to carry key usage digitalSignature, an allowed
extended key usage (here emailProtection) and key identifiers linking it to its issuer.
Keys are made at run time under `artifacts/provenance/keys/` and never committed.

Verdicts, as the reader reports them (`validation_state`):
- "Invalid": a signature, hash or structure check failed (failure codes say which);
- "Valid":   every check passed, but the signer is not in the trust list;
- "Trusted": valid and the chain ends in a configured trust anchor (our course CA).
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.runtime import artifacts_dir

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CLAIM_GENERATOR = "course_lib"
CLAIM_GENERATOR_VERSION = "0.1"
MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".wav": "audio/wav", ".mp4": "video/mp4"}
VALIDITY_DAYS = 3650


@dataclass
class TestCA:
    """PEM texts of the course chain. `chain_pem` = leaf then CA (what a signer embeds)."""

    ca_cert_pem: str
    leaf_cert_pem: str
    leaf_key_pem: str = field(repr=False)
    directory: Path | None = None

    @property
    def chain_pem(self) -> str:
        return self.leaf_cert_pem + self.ca_cert_pem


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Generative AV course"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "US")])


def _key_usage(**on):
    from cryptography import x509

    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False,
                 crl_sign=False, encipher_only=False, decipher_only=False)
    flags.update(on)
    return x509.KeyUsage(**flags)


def make_test_ca(valid_from: datetime.datetime | None = None) -> TestCA:
    """Generate a fresh course CA and an ES256 end-entity leaf it signs (in memory).

    CA: self-signed, BasicConstraints CA=true (path length 0), keyCertSign + cRLSign,
    SubjectKeyIdentifier. Leaf: CA=false, digitalSignature, EKU emailProtection,
    SubjectKeyIdentifier and an AuthorityKeyIdentifier equal to the CA's SKI.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    start = valid_from or (datetime.datetime.now(datetime.timezone.utc)
                           - datetime.timedelta(days=1))
    end = start + datetime.timedelta(days=VALIDITY_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_name = _name("Course Test Root CA")
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(_name("Course Content Signer")).issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return TestCA(
        ca_cert_pem=ca.public_bytes(pem).decode(),
        leaf_cert_pem=leaf.public_bytes(pem).decode(),
        leaf_key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode())


def _chain_is_usable(ca: TestCA) -> bool:
    """The three PEMs parse, belong together (the key is the leaf's, the CA issued the
    leaf) and the leaf is valid now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        root = x509.load_pem_x509_certificate(ca.ca_cert_pem.encode())
        leaf = x509.load_pem_x509_certificate(ca.leaf_cert_pem.encode())
        key = serialization.load_pem_private_key(ca.leaf_key_pem.encode(), password=None)
        leaf.verify_directly_issued_by(root)
    except Exception:                      # unreadable, mismatched or half-written files
        return False
    now = datetime.datetime.now(datetime.timezone.utc)
    same_key = key.public_key().public_numbers() == leaf.public_key().public_numbers()
    return same_key and leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc


def load_or_make_test_ca(directory: str | Path | None = None) -> TestCA:
    """The course chain from `directory` (default artifacts/provenance/keys), made on first use.

    A chain that has expired, does not parse or does not belong together is replaced by
    a fresh one. Files are written atomically (temporary file, then rename).
    """
    import os

    folder = Path(directory) if directory is not None else artifacts_dir("provenance", "keys")
    folder.mkdir(parents=True, exist_ok=True)
    names = {"ca_cert_pem": "ca.pem", "leaf_cert_pem": "leaf.pem", "leaf_key_pem": "leaf.key"}
    paths = {k: folder / v for k, v in names.items()}
    if all(p.exists() for p in paths.values()):
        found = TestCA(**{k: p.read_text() for k, p in paths.items()}, directory=folder)
        if _chain_is_usable(found):
            return found
    ca = make_test_ca()
    for key, path in paths.items():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(getattr(ca, key))
        if key == "leaf_key_pem":
            tmp.chmod(0o600)
        os.replace(tmp, path)
    ca.directory = folder
    return ca


def manifest_definition(title: str, author: str = "Generative AV course",
                        allow_training: bool = False) -> dict:
    """The manifest we sign: created by a trained algorithm, an author, a training opt-out.

    Assertions: `c2pa.actions` (one `c2pa.created` action with digitalSourceType
    trainedAlgorithmicMedia), `stds.schema-org.CreativeWork` (author) and
    `c2pa.training-mining` (may this asset be used to train or mine? here: not allowed).
    """
    use = "allowed" if allow_training else "notAllowed"
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": CLAIM_GENERATOR_VERSION}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions",
             "data": {"actions": [{"action": "c2pa.created",
                                   "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                                   "softwareAgent": {"name": CLAIM_GENERATOR}}]}},
            {"label": "stds.schema-org.CreativeWork",
             "data": {"@context": "https://schema.org", "@type": "CreativeWork",
                      "author": [{"@type": "Person", "name": author}]}},
            {"label": "c2pa.training-mining",
             "data": {"entries": {key: {"use": use} for key in (
                 "c2pa.ai_generative_training", "c2pa.ai_inference", "c2pa.ai_training",
                 "c2pa.data_mining")}}},
        ],
    }


def mime_type(path_or_format: str | Path) -> str:
    """'image/png' for 'x.png' or '.png' or 'png'; MIME strings pass through."""
    text = str(path_or_format).lower()
    if "/" in text and not text.startswith(".") and text in MIME_TYPES.values():
        return text
    suffix = Path(text).suffix or ("." + text.lstrip("."))
    if suffix not in MIME_TYPES:
        raise ValueError(f"format must be one of {sorted(MIME_TYPES)}; got {path_or_format!r}")
    return MIME_TYPES[suffix]


def sign_bytes(data: bytes, fmt: str, ca: TestCA, title: str = "generated",
               author: str = "Generative AV course", thumbnail: bool = False,
               definition: dict | None = None, ingredients: list[tuple[dict, bytes, str]] = ()) -> bytes:
    """Embed a signed manifest in `data` (PNG/JPEG/WAV/MP4 bytes); return the new bytes.

    fmt: a MIME type or extension. Offline: no timestamp authority (ta_url None).
    definition: the manifest to sign (default `manifest_definition(title, author)`).
    ingredients: (ingredient JSON, its bytes, its format) for each asset this one was
    made from (e.g. {"title": "product.png", "relationship": "componentOf"}).
    """
    import c2pa

    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    mime = mime_type(fmt)
    settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": bool(thumbnail)}}})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, ca.chain_pem.encode(), ca.leaf_key_pem.encode(), None))
    out = io.BytesIO()
    with c2pa.Context(settings=settings) as context, \
            c2pa.Builder(definition or manifest_definition(title, author), context=context) as builder:
        for ingredient, ingredient_data, ingredient_fmt in ingredients:
            builder.add_ingredient(ingredient, mime_type(ingredient_fmt), io.BytesIO(bytes(ingredient_data)))
        builder.sign(signer, mime, io.BytesIO(bytes(data)), out)
    signer.close()
    return out.getvalue()


def sign_file(src: str | Path, dst: str | Path, ca: TestCA, title: str | None = None,
              author: str = "Generative AV course") -> Path:
    """Sign the file at `src` and write the signed copy to `dst` (format from src suffix)."""
    data = Path(src).read_bytes()
    signed = sign_bytes(data, mime_type(src), ca, title or Path(src).name, author)
    Path(dst).write_bytes(signed)
    return Path(dst)


@dataclass
class Report:
    """What the official reader says about one asset.

    state: "Trusted", "Valid", "Invalid" or "NoManifest". failures: validation codes
    such as "assertion.dataHash.mismatch"; successes likewise ("claimSignature.validated").
    """

    state: str
    failures: list[str]
    successes: list[str]
    manifest: dict | None
    error: str | None = None

    @property
    def assertion_labels(self) -> list[str]:
        return [a["label"] for a in (self.manifest or {}).get("assertions", [])]


def _reader_settings(trust_anchors: str | None) -> dict:
    if trust_anchors is None:
        return {"verify": {"verify_trust": False}}
    return {"verify": {"verify_trust": True}, "trust": {"trust_anchors": trust_anchors}}


def read_bytes(data: bytes, fmt: str, trust_anchors: str | None = None) -> Report:
    """Read and verify the manifest embedded in `data` with the official reader.

    trust_anchors: PEM text of trusted roots (e.g. `ca.ca_cert_pem`); with it a good
    asset reads "Trusted", without it "Valid". A file with no (or unreadable) manifest
    store reads "NoManifest" with the reader's error message.
    """
    import c2pa

    mime = mime_type(fmt)
    try:
        with c2pa.Context(settings=c2pa.Settings.from_dict(_reader_settings(trust_anchors))) as ctx, \
                c2pa.Reader(mime, io.BytesIO(bytes(data)), context=ctx) as reader:
            state = reader.get_validation_state() or "Invalid"
            results = reader.get_validation_results() or {}
            try:
                manifest = reader.get_active_manifest()
            except KeyError:                     # a store whose active manifest is broken
                manifest = None
    except c2pa.C2paError as err:
        return Report("NoManifest", [], [], None, error=str(err))
    active = results.get("activeManifest", {})
    failures = [item["code"] for item in active.get("failure", [])]
    successes = [item["code"] for item in active.get("success", [])]
    return Report(state, failures, successes, manifest)


def read_file(path: str | Path, trust_anchors: str | None = None) -> Report:
    """`read_bytes` on a file; the format comes from its suffix."""
    return read_bytes(Path(path).read_bytes(), mime_type(path), trust_anchors)


def report_text(report: Report) -> str:
    """One short human-readable line per report (state, then failure codes if any)."""
    text = report.state
    if report.failures:
        text += "  failures: " + ", ".join(sorted(set(report.failures)))
    if report.error:
        text += f"  ({report.error})"
    return text


def manifest_json(report: Report) -> str:
    """The active manifest as indented JSON (for showing in a lesson)."""
    return json.dumps(report.manifest, indent=1)


def demo_asset(fmt: str, seed: int = 0) -> bytes:
    """A small generated asset to sign: a 64x64 gradient-and-noise picture (PNG/JPEG),
    a 0.5 s two-tone chord at 16 kHz (WAV) or 8 frames of a moving square (MP4)."""
    import numpy as np

    mime = mime_type(fmt)
    rng = np.random.default_rng(seed)
    if mime.startswith("image/"):
        from PIL import Image

        yy, xx = np.mgrid[0:64, 0:64] / 63.0
        rgb = np.stack([xx, yy, 1 - xx * yy], -1) * 200 + rng.uniform(0, 55, (64, 64, 3))
        buf = io.BytesIO()
        Image.fromarray(rgb.astype(np.uint8)).save(buf, "PNG" if mime == "image/png" else "JPEG",
                                                   **({} if mime == "image/png" else {"quality": 90}))
        return buf.getvalue()
    if mime == "audio/wav":
        import soundfile as sf

        t = np.arange(8000) / 16000
        wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
        buf = io.BytesIO()
        sf.write(buf, wave.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    from course_lib.viz import encode_video

    frames = np.zeros((8, 32, 32, 3), np.float32)
    for i in range(8):
        frames[i, 8:16, 2 + 3 * i: 10 + 3 * i] = 1.0
    return encode_video(frames, fps=8)
