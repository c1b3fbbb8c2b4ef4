# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Day 20: Provenance and safety
#
# Everything this course has built can fake something: a face, a voice, a news clip.
# Today is about the three tools that let people tell what is real, and the one that
# stops some fakes before they are made:
#
# - **Content Credentials (C2PA)**: a signed manifest inside the file that says who made
#   it and how ("created by a trained algorithm"). Any change to the bytes breaks it.
# - **Watermarks**: a keyed message hidden in the pixels or samples themselves, which
#   survives re-encoding that strips the manifest away.
# - **Detectors**: a classifier that guesses "generated or real" when nothing else is
#   there, with the limits that come with guessing.
# - **Prompt filters**: a blocklist that refuses some requests, and how people evade it.
#
# **What you will build:** a local test certificate authority; signed PNG, JPEG, WAV and
# MP4 files read by the official `c2pa-python` reader; the same verdicts reached by a
# from-scratch reader (JUMBF boxes, CBOR, COSE signature, data hash); spread-spectrum
# watermarks for images, video and audio with a robustness table; a fake-digit detector
# with its ROC curve; a prompt filter that survives leetspeak and look-alike letters.
#
# **Prerequisites:** Day 01 (audio, resampling), Day 09 (eSpeak speech). Hashes and
# public-key signatures are explained as we go.
#
# **Run time:** about 15 s on a 2-core CPU.

# %%
import inspect
import io
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from PIL import Image

from course_lib.audio.io import resample
from course_lib.provenance import c2pa, manifest, safety, watermark
from course_lib.runtime import get_device, seed_everything
from course_lib.speech import espeak
from course_lib.viz import play_audio, show_images, show_video

DEVICE = get_device()
generator = seed_everything(20)
plt.rcParams["figure.dpi"] = 72
print("device:", DEVICE)

# %% [markdown]
# One config cell holds the sizes. Nothing here trains long, so the GPU setting only
# enlarges the tamper sweep.

# %%
SAMPLE_RATE = 16_000            # Hz, speech
N_BITS_IMAGE = 32               # watermark message length for pictures
N_BITS_AUDIO = 16               # ... and for a 5 s speech clip
KEY = 2020                      # the secret watermark key (a seed)
SWEEP_FLIPS = 1000 if DEVICE.type == "cuda" else 200  # tampered copies per format

# %% [markdown]
# ## 1. Why provenance matters
#
# Some scenarios, all of which have happened with real generators:
# - a cloned voice of a company's CFO asks an employee, on a call, to wire money;
# - a fake picture of an explosion near a government building moves a stock market for
#   minutes before it is debunked;
# - a politician's voice tells voters, in robocalls, not to vote;
# - a real recording is dismissed as "AI" (the *liar's dividend*): once anything can be
#   faked, proof of what is real becomes valuable too.
#
# Provenance answers "where did this come from?" with cryptography rather than with
# guesses: the generator signs what it made, and anyone can check the signature.
#
# ## 2. A certificate authority of our own
#
# A signature proves that the holder of a private key signed; a **certificate** binds
# that key to a name, and is itself signed by a **certificate authority** (CA). A reader
# *trusts* a signature when the chain of certificates ends in a CA on its trust list.
#
# Real C2PA signers buy certificates from CAs on the C2PA trust list. We make a test CA
# and a leaf certificate (ES256 = ECDSA on the P-256 curve with SHA-256). The rules the
# official library enforces: the leaf must not be self-signed, must allow
# `digitalSignature`, must carry an allowed extended key usage (we use emailProtection)
# and key identifiers linking it to its CA. The keys are made at run time in
# `artifacts/provenance/keys/` (git-ignored), never committed.

# %%
from cryptography import x509

ca = c2pa.load_or_make_test_ca()
leaf = x509.load_pem_x509_certificate(ca.leaf_cert_pem.encode())
root = x509.load_pem_x509_certificate(ca.ca_cert_pem.encode())
print("keys in   :", ca.directory.relative_to(ca.directory.parents[2]))
print("leaf      :", leaf.subject.rfc4514_string())
print("issued by :", leaf.issuer.rfc4514_string())
print("valid     :", leaf.not_valid_before_utc.date(), "to", leaf.not_valid_after_utc.date())
for ext in leaf.extensions:
    print("  leaf extension:", ext.oid._name, "(critical)" if ext.critical else "")
leaf.verify_directly_issued_by(root)                     # raises if the CA did not sign it
assert leaf.issuer == root.subject and leaf.subject != leaf.issuer

# %% [markdown]
# ## 3. Signing a generated image and a generated voice
#
# Our "generated" picture is a procedural test image (a diffusion sample from day 04
# works the same way, only bigger), and our generated voice is eSpeak NG text-to-speech.
# The manifest we sign states:
# - `c2pa.actions`: one action, `c2pa.created`, with digitalSourceType
#   **trainedAlgorithmicMedia** (the IPTC term for "made by a generative model");
# - `stds.schema-org.CreativeWork`: the author;
# - `c2pa.training-mining`: may this file be used to train models? Here: not allowed.
#
# Signing goes through the official `c2pa-python` library, offline (no timestamp
# authority) and without a thumbnail.

# %%
import json

definition = c2pa.manifest_definition("generated.png")          # the dict we hand to c2pa.Builder
print("title:", definition["title"], "| generator:", definition["claim_generator_info"])
for assertion in definition["assertions"]:
    print(f"{assertion['label']:30s} {json.dumps(assertion['data'])[:110]}")

# %%
picture = watermark.demo_image(256, seed=0)                      # (256, 256, 3) uint8
buffer = io.BytesIO()
Image.fromarray(picture).save(buffer, "PNG")
png = buffer.getvalue()

speech = espeak.synthesize("This voice was generated by a machine. "
                           "Check its content credentials before you trust it.")
voice = resample(torch.as_tensor(speech.wave), speech.sample_rate, SAMPLE_RATE).numpy()
voice = 0.8 * voice / np.abs(voice).max()
import soundfile as sf

buffer = io.BytesIO()
sf.write(buffer, voice, SAMPLE_RATE, format="WAV", subtype="PCM_16")
wav = buffer.getvalue()

started = time.process_time()
signed = {"png": c2pa.sign_bytes(png, "png", ca, title="generated.png"),
          "wav": c2pa.sign_bytes(wav, "wav", ca, title="generated.wav"),
          "jpg": c2pa.sign_bytes(c2pa.demo_asset("jpg"), "jpg", ca, title="generated.jpg"),
          "mp4": c2pa.sign_bytes(c2pa.demo_asset("mp4"), "mp4", ca, title="generated.mp4")}
print(f"signed 4 files in {time.process_time() - started:.2f} s CPU")
for fmt, data in signed.items():
    plain = {"png": png, "wav": wav}.get(fmt, c2pa.demo_asset(fmt))
    print(f"{fmt}: {len(plain):6d} -> {len(data):6d} bytes (+{len(data) - len(plain)} manifest)")
display(play_audio(voice, SAMPLE_RATE))

# %% [markdown]
# Now read them back with the official reader, once with the default trust list (our
# CA is on no one's list: the signature checks out, so **Valid**) and once with our
# course CA as a trust anchor (**Trusted**).

# %%
verdicts = {}
for fmt, data in signed.items():
    plain_report = c2pa.read_bytes(data, fmt)
    trusted_report = c2pa.read_bytes(data, fmt, trust_anchors=ca.ca_cert_pem)
    verdicts[fmt] = (plain_report.state, trusted_report.state)
    print(f"{fmt}: without anchor {c2pa.report_text(plain_report):8s} "
          f"with course anchor {c2pa.report_text(trusted_report)}")
assert all(v == ("Valid", "Trusted") for v in verdicts.values()), verdicts
print("an unsigned file:", c2pa.report_text(c2pa.read_bytes(png, "png")))

# %%
report = c2pa.read_bytes(signed["wav"], "wav", trust_anchors=ca.ca_cert_pem)
actions = next(a for a in report.manifest["assertions"] if a["label"] == "c2pa.actions.v2")
print("assertions :", report.assertion_labels)
print("action     :", actions["data"]["actions"][0]["action"], "/",
      actions["data"]["actions"][0]["digitalSourceType"].rsplit("/", 1)[-1])
print("signed by  :", report.manifest["signature_info"]["common_name"])
print("checks     :", sorted(set(report.successes)))

# %% [markdown]
# ## 4. Anatomy of a manifest, from scratch
#
# The reader above is a black box. `course_lib.provenance.manifest` opens it, on top of
# three small modules, one per layer: `jumbf` (boxes, and where the store sits in each
# file format), `cbor` (the encoding) and `cose` (the signature); `manifest` re-exports
# their functions, so `manifest.parse_jumbf` below is `jumbf.parse_jumbf`.
#
# 1. **Where is it?** PNG keeps the store in a `caBX` chunk, JPEG in APP11 segments, WAV
#    in a `C2PA` RIFF chunk, MP4 in a `uuid` box.
# 2. **JUMBF** (JPEG universal metadata box format): nested boxes, each `LBox` (4-byte
#    big-endian size) + `TBox` (4-letter type) + payload. A superbox `jumb` starts with a
#    description `jumd` (a type UUID and a label).
# 3. Inside: the store `c2pa` -> one manifest `urn:c2pa:...` -> `c2pa.assertions`,
#    `c2pa.claim.v2` and `c2pa.signature`. Payloads are **CBOR** (binary JSON).
#
# ![The signed PNG as a byte strip (signature, IHDR, the caBX chunk holding the manifest store, the pixel data, IEND) and the JUMBF tree inside caBX: the store superbox holds one manifest, which holds the assertion store (actions, CreativeWork, training-mining, hash.data), the claim listing each assertion's hash, and the COSE signature over the claim](figures/day20_c2pa_manifest.svg)
#
# Read the figure from the top: the manifest store is one PNG chunk (`caBX`, green)
# among the image's own chunks. Everything outside that chunk is hashed, and the hash is
# stored in the `c2pa.hash.data` assertion (red arrow). The claim (green) lists every
# assertion with the SHA-256 of its box (dashed arrows), and the signature (red) signs
# the claim. So one signature protects the claim, the claim protects the assertions, and
# one assertion protects the pixels. The yellow box is the order in which a reader checks.

# %%
store_bytes = manifest.find_manifest_store(signed["png"]).store
print("first box header:", store_bytes[:8], "->", manifest.parse_box_header(store_bytes))


def print_tree(node: manifest.Jumbf, depth: int = 0) -> None:
    kinds = ",".join(b.type for b in node.contents)
    print("  " * depth + f"{node.label}  [{len(node.raw)} bytes{'; ' + kinds if kinds else ''}]")
    for child in node.children:
        print_tree(child, depth + 1)


store = manifest.parse_jumbf(store_bytes)
print_tree(store)

# %% [markdown]
# The **claim** lists each assertion by a *hashed URI*: its JUMBF path and the SHA-256
# of its box. The hard-binding assertion `c2pa.hash.data` holds the SHA-256 of the file
# itself, with **exclusions**: the byte range where the manifest sits (a hash cannot
# contain itself, so the signer reserves that space and hashes the rest).

# %%
active = manifest.active_manifest(store)
claim_bytes = next(b for b in manifest.claim_box(active).contents if b.type == "cbor").payload
claim = manifest.cbor_loads(claim_bytes)
for key, value in claim.items():
    print(f"{key:22s}", value if not isinstance(value, list)
          else [ref["url"].split("/")[-1] + " #" + ref["hash"][:4].hex() for ref in value])
hard = manifest.assertions(active)["c2pa.hash.data"]
print("\nc2pa.hash.data:", {k: (v.hex()[:16] + "..." if isinstance(v, bytes) else v)
                            for k, v in hard.items()})

# %% [markdown]
# The data hash with its exclusion is one line of `hashlib`: hash the bytes before the
# manifest, then the bytes after it. We build it, then compare with `course_lib`'s
# `manifest.data_hash` (which also accepts several sorted ranges) and with the hash the
# signer stored.

# %%
import hashlib


def our_data_hash(data: bytes, start: int, length: int) -> bytes:
    """SHA-256 of every byte of `data` outside [start, start + length)."""
    digest = hashlib.sha256()
    digest.update(data[:start])                 # before the manifest store
    digest.update(data[start + length:])        # after it
    return digest.digest()


(start, length), = [(e["start"], e["length"]) for e in hard["exclusions"]]
print(f"the manifest occupies bytes [{start}, {start + length}) of {len(signed['png'])}")
recomputed = our_data_hash(signed["png"], start, length)
library_hash = manifest.data_hash(signed["png"], [(start, length)])
print("ours      :", recomputed.hex()[:32], "\ncourse_lib:", library_hash.hex()[:32],
      "\nin claim  :", hard["hash"].hex()[:32])
print("whole file, no exclusion:", hashlib.sha256(signed["png"]).hexdigest()[:32], "(differs)")
assert recomputed == library_hash == hard["hash"]

# %% [markdown]
# The **signature** is a COSE_Sign1 structure (CBOR tag 18): `[protected header,
# unprotected header, payload, signature]`. The protected header names the algorithm
# (ES256 = -7) and carries the certificate chain (`x5chain`, label 33). The payload is
# *detached*: it is the claim's bytes. What is signed is the CBOR encoding of
# `["Signature1", protected, b"", claim]`, with the leaf's private key.

# %%
cose = active.child("c2pa.signature").cbor()
protected = manifest.cbor_loads(cose.value[0])
print("COSE tag:", cose.tag, "| alg:", protected[manifest.COSE_ALG],
      "| certificates in chain:", len(protected[manifest.COSE_X5CHAIN]),
      "| signature bytes:", len(cose.value[3]))

# %% [markdown]
# Verifying it by hand takes five steps: rebuild the to-be-signed bytes, take the leaf
# certificate from `x5chain`, split the 64-byte signature into the two numbers $r, s$ of
# ECDSA, and ask the leaf's public key whether they sign those bytes. We check that our
# to-be-signed bytes are the ones `course_lib.provenance.cose.sig_structure` builds and
# that our verdict is the library's, then change one byte of the claim.

# %%
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from course_lib.provenance import cose as cose_lib
from course_lib.provenance.cbor import cbor_dumps


def our_verify(cose_sign1, payload: bytes) -> bool:
    protected_bytes, _, _, signature = cose_sign1.value
    to_be_signed = cbor_dumps(["Signature1", protected_bytes, b"", payload])     # detached payload
    chain = manifest.cbor_loads(protected_bytes)[manifest.COSE_X5CHAIN]
    leaf_der = chain if isinstance(chain, bytes) else chain[0]
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        x509.load_der_x509_certificate(leaf_der).public_key().verify(
            encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


same_bytes = cbor_dumps(["Signature1", cose.value[0], b"", claim_bytes]) == \
    cose_lib.sig_structure(cose.value[0], claim_bytes)
library_ok = cose_lib.verify_cose_sign1(cose, claim_bytes)[0] == leaf      # raises if it fails
forged_claim = claim_bytes.replace(b"generated.png", b"Generated.png")
print(f"to-be-signed bytes as course_lib's: {same_bytes}; ours verifies: {our_verify(cose, claim_bytes)} "
      f"(course_lib: {library_ok}); one letter of the title changed: {our_verify(cose, forged_claim)}")
assert same_bytes and library_ok and our_verify(cose, claim_bytes) and not our_verify(cose, forged_claim)

# %%
ours = {fmt: (manifest.verify(data).state, manifest.verify(data, ca.ca_cert_pem).state)
        for fmt, data in signed.items()}
for fmt in signed:
    print(f"{fmt}: official {verdicts[fmt]}  from scratch {ours[fmt]}")
assert ours == verdicts

# %% [markdown]
# MP4 is a tree of boxes too, and its hard binding (`c2pa.hash.bmff.v3`) works on whole
# top-level boxes instead of byte ranges: every box not excluded, each preceded by its
# file offset (8 bytes, so boxes cannot be swapped). The exclusions name box paths:
# `/ftyp`, `/free`, and the `uuid` box holding the manifest.

# %%
mp4_hard = manifest.assertions(manifest.active_manifest(manifest.parse_jumbf(
    manifest.find_manifest_store(signed["mp4"]).store)))["c2pa.hash.bmff.v3"]
print("top-level boxes:", [(b.type, b.offset, b.size) for b in manifest.iter_boxes(signed["mp4"])])
print("excluded paths :", [rule["xpath"] for rule in mp4_hard["exclusions"]])
mp4_match = manifest.bmff_hash(signed["mp4"], mp4_hard["exclusions"]) == mp4_hard["hash"]
print("bmff hash matches:", mp4_match)
assert mp4_match

# %% [markdown]
# ## 5. Tamper and watch the verdict change
#
# Flip one bit of one pixel byte, far from the manifest:

# %%
def flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


pixel_byte = len(signed["png"]) - 200                    # inside the image data
tampered = flip(signed["png"], pixel_byte)
official = c2pa.read_bytes(tampered, "png", ca.ca_cert_pem)
scratch = manifest.verify(tampered, ca.ca_cert_pem)
print("official    :", c2pa.report_text(official))
print("from scratch:", scratch.state, scratch.failures)
assert official.state == scratch.state == "Invalid"

# %% [markdown]
# A sweep: for each format, flip a bit at many random positions of the *hashed* bytes
# (for PNG, WAV and JPEG everything outside the exclusion; for MP4 every top-level box
# that is not excluded). Most flips break the hard binding ("Invalid"). A flip in a
# container header, such as a chunk's size field, can even make the manifest unfindable
# ("NoManifest"). A tampered file should never read Valid, and our reader should reject
# exactly when the official one does.

# %%
def hashed_positions(data: bytes, fmt: str) -> np.ndarray:
    found = manifest.assertions(manifest.active_manifest(
        manifest.parse_jumbf(manifest.find_manifest_store(data).store)))
    if fmt == "mp4":
        skip = {rule["xpath"][1:] for rule in found["c2pa.hash.bmff.v3"]["exclusions"]}
        return np.concatenate([np.arange(b.offset, b.offset + b.size)
                               for b in manifest.iter_boxes(data) if b.type not in skip])
    (start, length), = [(e["start"], e["length"]) for e in found["c2pa.hash.data"]["exclusions"]]
    return np.r_[0:start, start + length:len(data)]


rng = np.random.default_rng(0)
sweep = {}
for fmt in ("png", "wav", "jpg", "mp4"):
    data = signed[fmt]
    positions = hashed_positions(data, fmt)
    n_flips = min(SWEEP_FLIPS, len(positions))
    counts = {"flips": n_flips, "Invalid": 0, "NoManifest": 0, "Valid/Trusted": 0,
              "same verdict": 0, "both reject": 0}
    for position in rng.choice(positions, n_flips, replace=False):
        copy = flip(data, int(position))
        state = c2pa.read_bytes(copy, fmt, ca.ca_cert_pem).state
        mine = manifest.verify(copy, ca.ca_cert_pem).state
        counts["Valid/Trusted" if state in ("Valid", "Trusted") else state] += 1
        counts["same verdict"] += mine == state
        accepted = ("Valid", "Trusted")
        counts["both reject"] += mine not in accepted and state not in accepted
    sweep[fmt] = counts
    print(f"{fmt}: {counts}")
assert all(c["Valid/Trusted"] == 0 and c["both reject"] == c["flips"] for c in sweep.values())
assert all(sweep[fmt]["same verdict"] == sweep[fmt]["flips"] for fmt in ("png", "wav", "jpg"))
assert all(c["Invalid"] >= 0.8 * c["flips"] for c in sweep.values())

# %% [markdown]
# In MP4 a few flips land in the `moov` box's inner structure; the official reader
# parses that tree, gives up and reports "NoManifest", where ours (which reads only the
# top level) reports a hash mismatch: a different reason for the same rejection.

# %% [markdown]
# Changing the claim (here, one letter of the title) leaves the data hash intact but
# breaks the signature. And the weak spot: simply re-saving the picture drops the
# manifest. A missing manifest proves nothing; that is why watermarks exist.

# %%
position = signed["png"].index(b"generated.png")
retitled = signed["png"][:position] + b"Generated.png" + signed["png"][position + 13:]
print("claim edited :", c2pa.report_text(c2pa.read_bytes(retitled, "png", ca.ca_cert_pem)))
print("  from scratch: signature ok?", manifest.verify(retitled).signature_ok)
buffer = io.BytesIO()
Image.open(io.BytesIO(signed["png"])).save(buffer, "PNG")
print("re-saved     :", c2pa.read_bytes(buffer.getvalue(), "png").state)

# %% [markdown]
# ## 6. Watermarks
#
# **Spread spectrum.** Bit $k$ becomes a sign $s_k = \pm 1$. A keyed pseudo-random
# pattern $p_k$ of $\pm 1$ chips is added with a small strength $\alpha$:
# $y = x + \alpha \sum_k s_k p_k$. The detector correlates with the pattern:
# $\hat s_k = \operatorname{sign}\langle y, p_k \rangle$. Spread over $n$ chips, the mark
# contributes $\alpha n$ and the host only about $\sqrt{n}\,\sigma_x$.
#
# **Images:** the chips live on ten low-frequency coefficients of every 8x8 block DCT
# of the luma: frequencies JPEG keeps and a 2x downscale does not remove. The embedder
# also knows the host's own correlation with each pattern and subtracts it ("improved
# spread spectrum"), so the image content does not blur the bits.
#
# ![Embedding: the luma's 8x8 block DCT gives 10 low-frequency coefficients per block (the slots); the key assigns every slot a bit and a chip of plus or minus 1; each slot moves by (alpha s_k minus lambda times the host's correlation) times its chip, and the inverse DCT adds the change to R, G and B. Detecting: the same DCT on the received image, the sum of coefficient times chip over each bit's slots, and the sign of that score](figures/day20_watermark.svg)
#
# In the figure, the top row embeds and the bottom row detects. Only the key (green)
# links them: the detector regenerates the same slot-to-bit layout and chips from the
# key, multiplies each received coefficient by its chip and adds them up per bit. The
# image content is a large but unrelated signal, so it mostly cancels in that sum; the
# mark, aligned with the chips, adds up. The detector is short enough to write here, and
# we check it against `watermark.image_scores` below.

# %%
DCT8 = watermark.dct_matrix()                                    # (8, 8) orthonormal DCT-II


def our_scores(image: np.ndarray, n_bits: int, key: int) -> np.ndarray:
    """(n_bits,) correlation scores of an (H, W, 3) uint8 image, H and W multiples of 8."""
    y = image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])     # luma (H, W)
    h, w = y.shape
    blocks = y.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)              # (H/8, W/8, 8, 8)
    coeffs = DCT8 @ blocks @ DCT8.T                                              # block DCT
    picked = np.stack([coeffs[:, :, u, v] for u, v in watermark.IMAGE_COEFFS], -1)  # (H/8, W/8, 10)
    rng = np.random.default_rng(key)                                             # the key's layout:
    owner = rng.permutation(np.arange(picked.size) % n_bits).reshape(picked.shape)  # slot -> bit
    chips = rng.choice([-1.0, 1.0], size=picked.shape)                           # slot -> chip
    return np.bincount(owner.ravel(), weights=(picked * chips).ravel(), minlength=n_bits)

# %%
message = watermark.random_bits(N_BITS_IMAGE, seed=1)
marked = watermark.embed_image(picture, message, KEY)
image_psnr = watermark.psnr(picture, marked)
print(f"message {''.join(map(str, message))}  PSNR {image_psnr:.1f} dB")
ours, library_scores = our_scores(marked, N_BITS_IMAGE, KEY), watermark.image_scores(marked, N_BITS_IMAGE, KEY)
print(f"our detector vs watermark.image_scores: max |difference| {np.abs(ours - library_scores).max():.1e}")
np.testing.assert_allclose(ours, library_scores, rtol=1e-9, atol=1e-6)
for name, key in [("the key", KEY), ("a wrong key", KEY + 1)]:
    read = (our_scores(marked, N_BITS_IMAGE, key) > 0).astype(int)
    print(f"read back with {name:12s}: bit accuracy {watermark.bit_accuracy(message, read):.0%}")
wrong_key_accuracy = watermark.bit_accuracy(message, watermark.extract_image(marked, N_BITS_IMAGE, KEY + 1))
difference = np.abs(marked.astype(int) - picture.astype(int)).sum(-1)
stretched = np.repeat(difference[..., None] / difference.max(), 3, axis=-1)
show_images(np.stack([picture / 255, marked / 255, stretched]), nrow=3, scale=2.0,
            titles=["original", f"marked ({image_psnr:.0f} dB)", "difference (stretched)"])

# %% [markdown]
# **Why does a wrong key read more than half the bits?** With the wrong key the chips
# are unrelated to the mark, so each bit is a coin toss. But 32 coin tosses are a small
# sample: the share of heads has a standard deviation of $0.5/\sqrt{32} \approx 8.8\%$,
# so 69 % (22 of 32) is about two standard deviations above 50 %: the binomial tail
# says 2.5 % of wrong keys should do at least that well by chance. Measure it over 200 wrong keys, and compare the *size* of the
# scores, which is what a detector should look at:

# %%
wrong_keys = range(KEY + 1, KEY + 201)
wrong = np.array([watermark.bit_accuracy(message, watermark.extract_image(marked, N_BITS_IMAGE, k))
                  for k in wrong_keys])
print(f"key {KEY + 1}: {wrong_key_accuracy:.1%}; over {len(wrong)} wrong keys: mean {wrong.mean():.1%}, "
      f"std {wrong.std():.1%} (coin tosses: {0.5 / np.sqrt(N_BITS_IMAGE):.1%}), "
      f"{np.mean(wrong >= wrong_key_accuracy):.1%} of them at {wrong_key_accuracy:.0%} or more")
right_size = np.abs(watermark.image_scores(marked, N_BITS_IMAGE, KEY)).mean()
wrong_size = np.mean([np.abs(watermark.image_scores(marked, N_BITS_IMAGE, k)).mean() for k in wrong_keys[:20]])
print(f"mean |score|: right key {right_size:.0f}, wrong keys {wrong_size:.0f}")
assert abs(wrong.mean() - 0.5) < 0.05 and right_size > 2 * wrong_size

# %% [markdown]
# The wrong key is right on about half the bits on average, as it should be; key
# 2021 is simply one of the lucky draws. Bit accuracy on a short message is a noisy
# test for "is there a mark?". A real detector asks a different question: are the
# scores much larger than chance would make them (the right key's scores are several
# times the wrong keys'), or does a known part of the message (a header) match. With
# more bits, chance agreement also narrows as $1/\sqrt{n}$.
#
# **Strength against quality.** The strength $\alpha$ trades invisibility (PSNR) for
# robustness. Below, precomputed over a grid of strengths: the PSNR of the marked
# picture, and the bits read back after JPEG at quality 10 and after Gaussian noise
# ($\sigma = 40$), attacks harsher than the table's so that the weak marks visibly fail. Move the slider to see the marked picture at each strength.

# %%
import ipywidgets as widgets

STRENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
noise_rng = np.random.default_rng(7)
strength_grid = {}
for alpha in STRENGTHS:
    marked_alpha = watermark.embed_image(picture, message, KEY, strength=alpha)
    noisy = np.clip(marked_alpha + noise_rng.normal(0, 40, marked_alpha.shape), 0, 255).astype(np.uint8)
    strength_grid[alpha] = {
        "image": marked_alpha, "psnr": watermark.psnr(picture, marked_alpha),
        "jpeg 10": watermark.bit_accuracy(message, watermark.extract_image(watermark.jpeg(marked_alpha, 10),
                                                                           N_BITS_IMAGE, KEY)),
        "noise 40": watermark.bit_accuracy(message, watermark.extract_image(noisy, N_BITS_IMAGE, KEY))}
for alpha, row in strength_grid.items():
    print(f"strength {alpha:3.1f}: PSNR {row['psnr']:5.1f} dB, bits after JPEG 10 {row['jpeg 10']:6.1%}, "
          f"after noise 40 {row['noise 40']:6.1%}")


def show_strength(strength=watermark.IMAGE_STRENGTH):
    row = strength_grid[strength]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
    axes[0].plot(STRENGTHS, [strength_grid[a]["psnr"] for a in STRENGTHS], "o-", color="C0")
    axes[0].set(xlabel="strength α (DCT units)", ylabel="PSNR (dB)")
    twin = axes[0].twinx()
    for attack, color in (("jpeg 10", "C1"), ("noise 40", "C2")):
        twin.plot(STRENGTHS, [strength_grid[a][attack] for a in STRENGTHS], "s--", color=color,
                  label=f"bits after {attack}")
    twin.set(ylabel="bit accuracy", ylim=(0.4, 1.02))
    twin.legend(fontsize=7, loc="lower right")
    axes[0].axvline(strength, color="r", lw=1)
    axes[1].imshow(row["image"])
    axes[1].set(title=f"α = {strength}: {row['psnr']:.1f} dB", xticks=[], yticks=[])
    fig.tight_layout()
    plt.show()


widgets.interact(show_strength, strength=widgets.SelectionSlider(options=STRENGTHS,
                                                                 value=watermark.IMAGE_STRENGTH));

# %% [markdown]
# The robustness table: each attack, then the bits read back, averaged over three
# pictures with different keys. The last three rows go past what the mark was built
# for, to show where it breaks.

# %%
image_table = {}
for seed in range(3):
    host = watermark.demo_image(256, seed)
    bits = watermark.random_bits(N_BITS_IMAGE, seed=10 + seed)
    marked_host = watermark.embed_image(host, bits, KEY + seed)
    attacks = {**watermark.image_attacks(seed), **watermark.image_limit_attacks()}
    for name, attack in attacks.items():
        recovered = watermark.attack_and_extract(marked_host, attack, N_BITS_IMAGE, KEY + seed)
        image_table.setdefault(name, []).append(watermark.bit_accuracy(bits, recovered))
for name, accuracies in image_table.items():
    limit = "  (past the design)" if name in watermark.image_limit_attacks() else ""
    print(f"{name:20s} bit accuracy {np.mean(accuracies):6.1%}{limit}")
assert min(image_table["none"]) >= 0.99
assert min(image_table["jpeg 50"]) >= 0.90

# %% [markdown]
# **Video** is frames: each frame carries the same keyed message, and the detector adds
# the evidence of all frames before deciding. To see the gain, we use a fainter mark
# (strength 0.75 instead of 3) on a small 96x96 clip.

# %%
clip = np.stack([np.roll(watermark.demo_image(96, 5), 6 * t, axis=1) for t in range(8)])
video_bits = watermark.random_bits(16, seed=3)
marked_clip = watermark.embed_video(clip, video_bits, KEY, strength=0.75)
recompressed = np.stack([watermark.jpeg(frame, 50) for frame in marked_clip])
pooled = watermark.bit_accuracy(video_bits, watermark.extract_video(recompressed, 16, KEY))
one_frame = np.mean([watermark.bit_accuracy(video_bits, watermark.extract_image(f, 16, KEY))
                     for f in recompressed])
print(f"video PSNR {watermark.psnr(clip, marked_clip):.1f} dB; after JPEG 50 per frame: "
      f"one frame alone {one_frame:.1%} on average, all 8 frames pooled {pooled:.0%}")
assert pooled >= 0.99 and pooled > one_frame
display(show_video(marked_clip / 255, fps=8, scale=2))

# %% [markdown]
# **Audio:** the pattern is band-limited noise (300-3000 Hz, what MP3, AAC and a phone
# line keep) whose loudness follows the voice's, so silences stay silent. The detector
# searches a few thousand samples of delay, since codecs shift the signal.

# %%
voice_bits = watermark.random_bits(N_BITS_AUDIO, seed=4)
marked_voice = watermark.embed_audio(voice, SAMPLE_RATE, voice_bits, KEY)
voice_snr = watermark.snr(voice, marked_voice)
print(f"audio SNR {voice_snr:.1f} dB ({len(voice) / SAMPLE_RATE:.1f} s, {N_BITS_AUDIO} bits)")
display(play_audio(marked_voice, SAMPLE_RATE))
audio_table = {}
for name, attack in watermark.audio_attacks(SAMPLE_RATE).items():
    attacked = attack(marked_voice)
    recovered = watermark.extract_audio(attacked, SAMPLE_RATE, N_BITS_AUDIO, KEY,
                                        length=len(marked_voice))
    audio_table[name] = watermark.bit_accuracy(voice_bits, recovered)
    print(f"{name:20s} bit accuracy {audio_table[name]:6.1%}")
assert audio_table["none"] >= 0.99 and min(audio_table.values()) >= 0.9

# %% [markdown]
# ## 7. Detection and its limits
#
# With no manifest and no watermark, all that is left is to *guess* from the content.
# A toy version: "real" = scikit-learn's handwritten digits, "generated" = samples of a
# small generative model (a Gaussian per digit class in PCA space, rounded to the same
# 17 grey levels as the real data). The detector is logistic regression on pixels, the
# differences between neighbouring pixels (sharpness) and the grey-level histogram,
# fitted by scikit-learn in a fraction of a second (`safety.fit_detector`: a convex fit,
# not a network trained step by step, so no recipe or presets).

# %%
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

digits = load_digits()
order = np.random.default_rng(0).permutation(len(digits.data))
train_idx, test_idx = order[:1200], order[1200:]
real_train, real_test = digits.data[train_idx], digits.data[test_idx]
fakes = safety.fake_digits(1200 + len(test_idx), n_components=8, seed=1,
                           train=real_train, train_labels=digits.target[train_idx])
fake_train, fake_test = fakes[:1200], fakes[1200:]
detector = safety.fit_detector(real_train, fake_train)
labels = np.r_[np.zeros(len(real_test)), np.ones(len(fake_test))]
scores = safety.detector_scores(detector, np.concatenate([real_test, fake_test]))
detector_auc = safety.auc(labels, scores)
print(f"held-out AUC {detector_auc:.3f} (scikit-learn: {roc_auc_score(labels, scores):.3f})")
assert detector_auc >= 0.9 and abs(detector_auc - roc_auc_score(labels, scores)) < 1e-9
show_images(np.concatenate([real_test[:8], fake_test[:8]]).reshape(-1, 8, 8) / 16, nrow=8, scale=0.8,
            titles=["real"] * 8 + ["generated"] * 8)

# %% [markdown]
# The ROC curve plots, for every threshold, the fraction of fakes caught (true positive
# rate) against the fraction of real digits wrongly flagged (false positive rate). The
# AUC is the area under it: the chance that a random fake scores above a random real.

# %%
def our_roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr): lower the threshold through the scores, highest first."""
    order = np.argsort(-scores, kind="stable")
    y = labels[order]
    distinct = np.r_[np.diff(scores[order]) != 0, True]         # one point per distinct score
    tpr = np.r_[0.0, np.cumsum(y == 1)[distinct] / (y == 1).sum()]
    fpr = np.r_[0.0, np.cumsum(y == 0)[distinct] / (y == 0).sum()]
    return fpr, tpr


fpr, tpr = our_roc(labels, scores)
library_fpr, library_tpr, _ = safety.roc_curve(labels, scores)
print(f"our ROC vs safety.roc_curve: {len(fpr)} points, max |difference| "
      f"{max(np.abs(fpr - library_fpr).max(), np.abs(tpr - library_tpr).max()):.1e}")
assert np.array_equal(fpr, library_fpr) and np.array_equal(tpr, library_tpr)

# Limits: a generator the detector never saw (the average of two real digits of a class)
rng = np.random.default_rng(5)
pairs = [rng.choice(np.flatnonzero(digits.target[train_idx] == c), 2)
         for c in rng.integers(0, 10, len(test_idx))]
unseen = np.stack([np.round(real_train[list(p)].mean(0)) for p in pairs])
unseen_scores = safety.detector_scores(detector, np.concatenate([real_test, unseen]))
unseen_auc = safety.auc(labels, unseen_scores)
# ... and real digits that were blurred (a resized or re-encoded real photo)
shifted = np.roll(real_test.reshape(-1, 8, 8), 1, axis=2).reshape(-1, 64)
blurred = np.round(0.5 * real_test + 0.5 * shifted)
blurred_scores = safety.detector_scores(detector, np.concatenate([blurred, fake_test]))
blurred_auc = safety.auc(labels, blurred_scores)
fig, ax = plt.subplots(figsize=(4, 3.5))
ax.plot(fpr, tpr, label=f"same generator (AUC {detector_auc:.2f})")
ax.plot(*safety.roc_curve(labels, unseen_scores)[:2], label=f"unseen generator ({unseen_auc:.2f})")
ax.plot(*safety.roc_curve(labels, blurred_scores)[:2], label=f"blurred real photos ({blurred_auc:.2f})")
ax.plot([0, 1], [0, 1], "k:", lw=0.8)
ax.set_xlabel("false positive rate (real flagged)")
ax.set_ylabel("true positive rate (fakes caught)")
ax.legend(fontsize=7)
plt.show()
print(f"AUC: same generator {detector_auc:.3f}, unseen generator {unseen_auc:.3f}, "
      f"against blurred real digits {blurred_auc:.3f}")
assert unseen_auc < detector_auc

# %% [markdown]
# A detector learns *one generator's* fingerprints. A new generator, or innocent
# processing of real media, moves the scores; at a false-positive rate low enough to
# accuse nobody wrongly, far fewer fakes are caught. Detection is a hint, not proof.
#
# ## 8. The prompt filter
#
# Upstream of all this, a service can refuse prompts that name real people or ask for
# abuse. A plain substring test is evaded in seconds ("d33pf4k3", "ｄｅｅｐｆａｋｅ",
# "dеepfake" with a Cyrillic е, a zero-width space). The filter compares **skeletons**:
# NFKC, casefold, accents stripped, invisible characters dropped, look-alikes and
# leetspeak mapped, non-letters removed, repeats collapsed; and it requires matches to
# start and end on word boundaries, so "denuded hills" does not match "nude".

# %%
print(inspect.getsource(safety.skeleton_chars).split('"""')[-1])

# %%
prompt_filter = safety.PromptFilter()
print({term: skel for term, skel in prompt_filter.terms.items()})
mistakes = []
for prompt, should_block in safety.EVASION_SET:
    result = prompt_filter.check(prompt)
    mark = "BLOCK" if result.blocked else "allow"
    print(f"{mark}  {prompt!r:48s} skeleton {safety.skeleton(prompt)!r}")
    if result.blocked != should_block:
        mistakes.append(prompt)
naive = sum((any(t.lower() in p.lower() for t in safety.DEFAULT_BLOCKLIST)) == b
            for p, b in safety.EVASION_SET)
print(f"\nskeleton filter right on {len(safety.EVASION_SET) - len(mistakes)}/{len(safety.EVASION_SET)}; "
      f"naive lower-case substring test right on {naive}/{len(safety.EVASION_SET)}")
assert not mistakes, mistakes

# %% [markdown]
# Those prompts are the very ones the rules were written against, so 100 % on them says
# little. `safety.HELD_OUT_SET` was written apart from the rules, from the filter's
# purpose alone (refuse deepfakes and sexual images of real people, voice fraud), before
# reading the blocklist: paraphrases, misspellings, plurals, other languages, and
# harmless prompts that share words. Precision is the share of blocked prompts that
# should be blocked; recall the share of harmful prompts that were blocked.

# %%
held_out = safety.filter_scores(prompt_filter, safety.HELD_OUT_SET)
tuned = safety.filter_scores(prompt_filter, safety.EVASION_SET)
print(f"tuning set  ({len(safety.EVASION_SET)}): precision {tuned['precision']:.0%}, recall {tuned['recall']:.0%}")
print(f"held-out set ({len(safety.HELD_OUT_SET)}): precision {held_out['precision']:.0%}, "
      f"recall {held_out['recall']:.0%}  ({held_out['tp']} caught, {held_out['fn']} missed, "
      f"{held_out['fp']} harmless blocked)")
for prompt, should_block in safety.HELD_OUT_SET:
    if prompt_filter(prompt) != should_block:
        print(("missed   " if should_block else "wrongly blocked ") + repr(prompt))
assert held_out["recall"] < tuned["recall"]          # the honest gap: a blocklist does not generalise

# %% [markdown]
# The held-out recall is far below the tuning set's. The failures teach three things.
# A blocklist only knows **words**, not intent: "make a fake video of the president",
# "remove the clothes from this picture" and "clone the voice of my CEO" use none of its
# terms. It only knows **one language**: German, Spanish (and the paraphrases) pass.
# And the word-boundary rule that spares "denuded" also misses the plural
# "deepfakes", "nud3s" and a misspelt "deeepfak"; in the other direction, "nude
# colour lipstick" is blocked. Production systems therefore put a learned classifier
# (trained on many phrasings and languages) behind the blocklist, and check the
# generated output too.

# %% [markdown]
# ## In production
#
# - **C2PA / Content Credentials** is shipped by OpenAI (DALL-E, Sora), Adobe Firefly,
#   Google, Microsoft, Leica/Sony/Nikon cameras and LinkedIn; the `c2pa-python` and
#   `c2pa-rs` libraries used here are the reference implementation. Real signers use
#   certificates from CAs on the C2PA trust list, keep keys in an HSM or cloud KMS and
#   add an RFC 3161 timestamp so signatures outlive their certificates. Failure modes:
#   platforms strip metadata on upload; screenshots and re-encodes drop the manifest; a
#   valid signature only says *who* signed, not that the content is true.
# - **Watermarks:** Google SynthID (images, audio, video, text), Meta's AudioSeal and
#   Video Seal, Stable Signature (a watermark trained into the diffusion decoder). They
#   survive compression but not every attack: crops with rescaling, regeneration by
#   another diffusion model, or averaging many marked images to estimate the pattern.
#   A leaked key lets anyone forge or remove marks.
# - **Detectors** exist for images (trained on many generators) and voices (ASVspoof
#   countermeasures); all lose accuracy on new generators and on compressed media, and
#   their false positives land on real people.
# - **Prompt filters** are one layer among several (classifiers on prompts and outputs,
#   rate limits, human review); blocklists catch the lazy cases and must be normalised
#   exactly as here, or they catch nothing.
#
# Sources: the [C2PA specifications](https://c2pa.org/specifications/) and the
# reference libraries [c2pa-python](https://github.com/contentauth/c2pa-python) and
# [c2pa-rs](https://github.com/contentauth/c2pa-rs); the watermarks
# [AudioSeal](https://arxiv.org/abs/2401.17264) (code:
# [facebookresearch/audioseal](https://github.com/facebookresearch/audioseal)) and
# [Stable Signature](https://arxiv.org/abs/2303.15435); Google's
# [SynthID](https://deepmind.google/technologies/synthid/).
#
# Signing and reading with `c2pa-python` is what `course_lib.provenance.c2pa` does (same
# calls; in production the certificate comes from a CA on the C2PA trust list and a
# timestamp authority URL is set), and AudioSeal marks speech with a learned generator
# and detector instead of our keyed noise (not run here: it needs its weights):
#
# ```python
# import c2pa
#
# signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
#     c2pa.C2paSigningAlg.ES256, chain_pem, private_key_pem, b"http://timestamp.digicert.com"))
# with c2pa.Builder(manifest_definition) as builder, open("out.png", "rb") as src, \
#         open("signed.png", "wb") as dst:
#     builder.sign(signer, "image/png", src, dst)
# with open("signed.png", "rb") as f, c2pa.Reader("image/png", f) as reader:
#     print(reader.get_validation_state(), reader.json())
#
# from audioseal import AudioSeal                      # wav: (batch, 1, samples) at 16 kHz
# generator = AudioSeal.load_generator("audioseal_wm_16bits")
# marked = wav + generator.get_watermark(wav, 16000)
# detector = AudioSeal.load_detector("audioseal_detector_16bits")
# probability, message = detector.detect_watermark(marked, 16000)
# ```

# %% [markdown]
# ## Summary
#
# - A C2PA manifest = JUMBF boxes holding CBOR assertions, a claim listing their hashes,
#   and a COSE_Sign1 ES256 signature over the claim by a certificate chained to a CA.
# - Hard binding: SHA-256 over the file minus the manifest's own byte range (MP4: over
#   the boxes not excluded, each with its offset). Every copy with a flipped hashed
#   byte (200 per format on CPU) read Invalid (or NoManifest), never Valid; our
#   from-scratch reader gave the same verdict on every PNG, WAV and JPEG copy and
#   rejected every MP4 copy the official reader rejected.
# - Valid = checks pass; Trusted = the chain ends in a trust anchor (our course CA).
# - Spread-spectrum watermarks: 32 bits in a picture at about 46 dB PSNR survive JPEG 50,
#   halving, cropping, noise and brightness, but not a 4-pixel shift of the block grid
#   (no resynchronisation here); 16 bits in 5 s of speech at about 20 dB SNR
#   survive resampling, AAC, MP3, noise and a low-pass.
# - A detector separates one generator's fakes well and a new generator's less well.
# - A prompt filter must normalise (Unicode, case, accents, leetspeak, look-alikes,
#   spacing) and respect word boundaries; even then a blocklist caught only 5 of the 18
#   harmful prompts of a held-out set written apart from its rules (paraphrases, other
#   languages, plurals), so it is one layer, not the safeguard.
# - A wrong watermark key reads about half the bits, with a spread of about 9 % on 32
#   bits: judge a mark by the size of its scores, not by one bit accuracy.
#
# Everything is in `course_lib.provenance` (`c2pa`, `manifest`, `watermark`, `safety`);
# day 22's capstone signs its video with it.
#
# **Exercises:** [../exercises/day20_provenance.ipynb](../exercises/day20_provenance.ipynb):
# a data hash with exclusions, parsing a JUMBF box header, embedding and detecting one
# watermark bit, and prompt normalisation.
