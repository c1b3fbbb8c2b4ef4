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
# # Day 20 exercises: Provenance and safety
#
# Four pieces from the lesson ([../notebooks/day20_provenance.ipynb](../notebooks/day20_provenance.ipynb)),
# written by you this time:
#
# 1. the C2PA hard-binding hash, SHA-256 with exclusions, `data_hash`;
# 2. reading one JUMBF box header, `parse_box_header`;
# 3. embedding and detecting one spread-spectrum watermark bit, `embed_bit` / `detect_bit`;
# 4. prompt normalisation against evasion, `normalize_prompt`.
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. A check compares your function with `course_lib.provenance`
# on fixed inputs, and its message says what looks wrong. `course check day20` runs all
# checks and prints one line per check.
#
# **Run time:** a few seconds on a 2-core CPU.

# %%
import hashlib
import unicodedata

import numpy as np

from course_lib.provenance import c2pa, manifest, safety, watermark
from course_lib.runtime import seed_everything

seed_everything(0)
ca = c2pa.load_or_make_test_ca()                      # keys live in artifacts/ (git-ignored)
signed_png = c2pa.sign_bytes(c2pa.demo_asset("png"), "png", ca, title="exercise.png")
print("signed PNG:", len(signed_png), "bytes;",
      c2pa.report_text(c2pa.read_bytes(signed_png, "png", ca.ca_cert_pem)))

# %% [markdown]
# ## Exercise 1: a data hash with exclusions
#
# The manifest lives inside the file it protects, so the file's hash cannot cover it.
# The signer reserves the manifest's byte range and the `c2pa.hash.data` assertion
# records it as *exclusions*: a list of `(start, length)` pairs. The hash is SHA-256 over
# every byte **outside** them, in file order: for one exclusion, over
# `data[:start] + data[start + length:]`.
#
# Write `data_hash(data, exclusions)`. The exclusions may come in any order and do not
# overlap. Use `hashlib.sha256()` and its `update` method (no need to copy the file).

# %%
def data_hash(data: bytes, exclusions: list[tuple[int, int]]) -> bytes:
    """SHA-256 digest (32 bytes) of `data` without the (start, length) ranges."""
    ### BEGIN SOLUTION
    digest = hashlib.sha256()
    position = 0
    for start, length in sorted(exclusions):
        digest.update(data[position:start])
        position = start + length
    digest.update(data[position:])
    return digest.digest()
    ### END SOLUTION


# %% tags=["check"]
# Check: data_hash skips exactly the excluded byte ranges
rng = np.random.default_rng(20)
noise = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
ranges = [(2500, 300), (100, 50)]                                 # deliberately unsorted
got = data_hash(noise, ranges)
assert isinstance(got, bytes) and len(got) == 32, \
    "return the 32-byte digest (hashlib.sha256(...).digest()), not a hex string"
assert got != hashlib.sha256(noise).digest(), \
    "that is the hash of the whole file, manifest included: leave the exclusions out"
assert got != hashlib.sha256(noise[100:150] + noise[2500:2800]).digest(), \
    "that is the hash of the excluded ranges (the manifest itself); hash everything else"
expected = manifest.data_hash(noise, ranges)
near_misses = {"one byte too many left out at each end": [(s - 1, n + 2) for s, n in ranges],
               "one byte too few left out": [(s, n - 1) for s, n in ranges],
               "one byte too many left out (end treated as inclusive)": [(s, n + 1) for s, n in ranges],
               "ranges shifted by one byte": [(s + 1, n) for s, n in ranges]}
for what, wrong in near_misses.items():
    assert got != manifest.data_hash(noise, wrong) or got == expected, \
        f"off by one: your hash equals the one with {what}; skip exactly data[start:start + length]"
assert data_hash(noise, [(100, 50)]) == hashlib.sha256(noise[:100] + noise[150:]).digest(), \
    "with one exclusion (100, 50), hash data[:100] + data[150:]"
assert got == expected, \
    "with two exclusions, hash the three pieces around them in file order (sort the ranges)"
assert data_hash(noise, []) == hashlib.sha256(noise).digest(), "no exclusions: hash everything"
# on a real signed file, it must reproduce the hash the signer put in the manifest
store = manifest.parse_jumbf(manifest.find_manifest_store(signed_png).store)
hard = manifest.assertions(manifest.active_manifest(store))["c2pa.hash.data"]
exclusions = [(e["start"], e["length"]) for e in hard["exclusions"]]
assert data_hash(signed_png, exclusions) == hard["hash"], \
    "on the signed PNG your hash differs from the c2pa.hash.data assertion"
print("data_hash matches the manifest's hash; exclusions:", exclusions)

# %% [markdown]
# ## Exercise 2: parsing a JUMBF box header
#
# Every JUMBF (and MP4) box starts with a header:
#
# | bytes | field | meaning |
# |---|---|---|
# | 4 | `LBox` | big-endian unsigned size of the whole box, header included |
# | 4 | `TBox` | the type, four ASCII letters (`jumb`, `jumd`, `cbor`...) |
# | 8 | `XLBox` | only when `LBox == 1`: the real size, 64-bit big endian |
#
# `LBox == 0` means "the box runs to the end of the data". Write
# `parse_box_header(data, pos)` returning `(size, box_type, header_length)` for the box
# starting at `data[pos]`: size counts the header; header_length is 8 or 16. Raise a
# `ValueError` when the size is smaller than the header or runs past the end.

# %%
def parse_box_header(data: bytes, pos: int = 0) -> tuple[int, str, int]:
    """(box size including header, 4-letter type, header length) of the box at data[pos]."""
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %% tags=["check"]
# Check: parse_box_header reads LBox, TBox and XLBox
def parse_valid(data: bytes, pos: int = 0):
    try:
        return parse_box_header(data, pos)
    except ValueError as err:
        raise AssertionError(f"a valid box raised ValueError({err}): read LBox big-endian "
                             "and, when LBox == 1, the size from the 8-byte XLBox") from None


box = (300).to_bytes(4, "big") + b"jumb" + bytes(292)
got = parse_valid(box)
assert isinstance(got, tuple) and len(got) == 3, "return a tuple (size, box_type, header_length)"
assert got[0] != int.from_bytes(box[:4], "little"), "LBox is big-endian (int.from_bytes(..., 'big'))"
assert got[0] != 292, "size counts the whole box, header included (LBox as stored)"
assert got == (300, "jumb", 8), f"expected (300, 'jumb', 8); got {got}"
padded = b"xxxxx" + box
assert parse_valid(padded, 5) == (300, "jumb", 8), "read the header at data[pos], not at 0"
long_box = (1).to_bytes(4, "big") + b"cbor" + (40).to_bytes(8, "big") + bytes(24)
assert parse_valid(long_box) == (40, "cbor", 16), \
    "LBox == 1: the size is the 8-byte XLBox after the type, and the header is 16 bytes"
to_end = bytes(4) + b"jumd" + bytes(20)
assert parse_valid(to_end) == (28, "jumd", 8), "LBox == 0 means the box runs to the end"
for bad in [(4).to_bytes(4, "big") + b"jumb", (64).to_bytes(4, "big") + b"jumb" + bytes(8)]:
    try:
        parse_box_header(bad)
    except ValueError:
        pass
    else:
        raise AssertionError("a size smaller than the header or past the end must raise ValueError")
# walk the top level of the real manifest store with it
store_bytes = manifest.find_manifest_store(signed_png).store
size, box_type, header = parse_valid(store_bytes)
assert (size, box_type, header) == (len(store_bytes), "jumb", 8), \
    f"the manifest store is one 'jumb' box of {len(store_bytes)} bytes; got {(size, box_type, header)}"
inner, pos = [], header
while pos < size:
    child_size, child_type, _ = parse_valid(store_bytes, pos)
    inner.append(child_type)
    pos += child_size
assert inner == ["jumd", "jumb"], f"the store holds a description then one manifest; got {inner}"
print("the store:", size, "bytes, boxes inside:", inner)

# %% [markdown]
# ## Exercise 3: one watermark bit
#
# Spread spectrum with one bit: the key gives $n$ chips $c_i = \pm 1$
# (`watermark.chip_sequence(key, n)`); bit 1 is the sign $s = +1$, bit 0 is $s = -1$;
#
# $$y_i = x_i + \alpha\, s\, c_i \qquad \hat b = [\langle y, c\rangle > 0].$$
#
# Write `embed_bit(host, bit, key, strength)` (returns $y$, float64, shape of `host`)
# and `detect_bit(received, key)` (returns 0 or 1). The check hides bits in random
# "hosts" much louder than the mark and measures how often you read them back.

# %%
def embed_bit(host: np.ndarray, bit: int, key: int, strength: float) -> np.ndarray:
    """(n,) host -> (n,) marked, y = x + strength * (+1 or -1) * chips."""
    ### BEGIN SOLUTION
    host = np.asarray(host, np.float64)
    sign = 1.0 if bit else -1.0
    return host + strength * sign * watermark.chip_sequence(key, len(host))
    ### END SOLUTION


def detect_bit(received: np.ndarray, key: int) -> int:
    """0 or 1: the sign of the correlation with the key's chips."""
    ### BEGIN SOLUTION
    received = np.asarray(received, np.float64)
    return int(received @ watermark.chip_sequence(key, len(received)) > 0)
    ### END SOLUTION


# %% tags=["check"]
# Check: embed_bit adds +/- strength along the key's chips and detect_bit reads it back
host = np.random.default_rng(1).normal(0, 10.0, 4096)
marked = embed_bit(host, 1, key=7, strength=1.0)
assert isinstance(marked, np.ndarray) and marked.shape == host.shape, "return an array shaped like host"
change = marked - host
assert np.allclose(np.abs(change), 1.0), \
    "every sample must move by exactly the strength (times a chip of +/-1; no normalisation)"
assert np.allclose(change, watermark.chip_sequence(7, 4096)), \
    "bit 1 adds +strength * chips, with chips = watermark.chip_sequence(key, len(host))"
assert np.allclose(embed_bit(host, 0, 7, 1.0) - host, -watermark.chip_sequence(7, 4096)), \
    "bit 0 adds -strength * chips"
assert np.allclose(watermark.embed_bit(host, 1, 7, 1.0), marked)
assert detect_bit(watermark.embed_bit(host, 1, 7, 1.0), 7) == 1, "correlation > 0 means bit 1"
assert detect_bit(watermark.embed_bit(host, 0, 7, 1.0), 7) == 0, "correlation < 0 means bit 0"
rng = np.random.default_rng(2)
trials, right, wrong_key = 300, 0, 0
for t in range(trials):
    bit = int(rng.integers(0, 2))
    received = embed_bit(rng.normal(0, 10.0, 4096), bit, key=t, strength=1.0) \
        + rng.normal(0, 5.0, 4096)                                     # and an attack's noise
    right += detect_bit(received, t) == bit
    wrong_key += detect_bit(received, t + 10_000) == bit
assert right / trials >= 0.99, f"bit accuracy {right / trials:.1%} with the right key; expected >= 99%"
assert 0.35 < wrong_key / trials < 0.65, \
    f"with a wrong key detection should be a coin flip; got {wrong_key / trials:.1%}"
print(f"one bit in 4096 samples at 1/10 of the host's level: {right / trials:.1%} right; "
      f"wrong key {wrong_key / trials:.1%}")

# %% [markdown]
# ## Exercise 4: prompt normalisation
#
# A blocklist compares *skeletons*. Write `normalize_prompt(text)`, step by step:
#
# 1. `unicodedata.normalize("NFKC", text)` (fullwidth and math letters -> plain), then
#    `.casefold()`;
# 2. `unicodedata.normalize("NFKD", ...)` and drop combining marks
#    (`unicodedata.combining(ch)`) and format characters (`unicodedata.category(ch) == "Cf"`,
#    e.g. zero-width spaces);
# 3. map each character through `safety.CONFUSABLES` (Cyrillic/Greek look-alikes) and then
#    `safety.LEET` (`"3" -> "e"`, `"@" -> "a"`, and `"1"`, `"!"`, `"|"`, `"l"` all -> `"i"`);
# 4. keep only the letters `a`-`z`;
# 5. collapse runs of the same letter to one (`"deeep"` -> `"dep"`).

# %%
def normalize_prompt(text: str) -> str:
    """The skeleton of `text`: 'D3ep-Fâke!!' -> 'depfake'."""
    ### BEGIN SOLUTION
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    letters = []
    for ch in text:
        ch = safety.CONFUSABLES.get(ch, ch)
        ch = safety.LEET.get(ch, ch)
        if "a" <= ch <= "z" and (not letters or letters[-1] != ch):
            letters.append(ch)
    return "".join(letters)
    ### END SOLUTION


# %% tags=["check"]
# Check: normalize_prompt defeats case, spacing, leetspeak and Unicode tricks
cases = {                     # each isolates one trick; all should give "fake"
    "upper and lower case (casefold)": "FaKE",
    "spacing and punctuation (keep only a-z)": "f a-k.e",
    "leetspeak (safety.LEET)": "f4k3",
    "fullwidth letters (NFKC)": "ｆａｋｅ",
    "mathematical bold letters (NFKC)": "𝐟𝐚𝐤𝐞",
    "Cyrillic look-alikes (safety.CONFUSABLES)": "fаkе",
    "a zero-width space (category Cf)": "fa\u200bke",
    "accents (NFKD, then drop combining marks)": "fäkë",
    "stretched letters (collapse repeats)": "ffaaakkkee",
}
for what, text in cases.items():
    got = normalize_prompt(text)
    assert isinstance(got, str), "return a str"
    assert got == "fake", f"{what}: {text!r} should give 'fake'; got {got!r}"
assert normalize_prompt("d e e p") == "dep", \
    "collapse repeats after dropping non-letters: 'd e e p' -> 'dep'"
assert normalize_prompt("Marta Vel@squez") == safety.skeleton("Marta Velasquez") == "martaveiasquez", \
    "'l' and '1' both map to 'i' (safety.LEET): 'Marta Vel@squez' -> 'martaveiasquez'"
for prompt, _ in safety.EVASION_SET:
    assert normalize_prompt(prompt) == safety.skeleton(prompt), \
        f"{prompt!r}: expected {safety.skeleton(prompt)!r}, got {normalize_prompt(prompt)!r}"
blocked = ["deepfake", "marta velasquez"]
caught = [p for p, bad in safety.EVASION_SET
          if any(normalize_prompt(t) in normalize_prompt(p) for t in blocked)]
print(f"your skeletons put a blocked term inside {len(caught)} of the evasion prompts, e.g.:")
for prompt in caught[:4]:
    print("  ", repr(prompt), "->", normalize_prompt(prompt))

# %% [markdown]
# ## Going further
#
# - Make `data_hash` stream a file from disk in 1 MB chunks, and time it on a 1 GB file.
# - Extend your box parser into a recursive JUMBF walker and print the tree of a signed
#   JPEG; compare with `manifest.parse_jumbf`.
# - Spread 32 bits over one host with `embed_bit` on disjoint slices; how does bit
#   accuracy change with the slice length at a fixed strength? Plot it against the
#   prediction $\Phi(\alpha \sqrt{n} / \sigma)$.
# - The skeleton filter has a price: merging `l` and `i` makes "Ali" collide with "All".
#   Find a false positive in a list of real names, and propose a fix.
