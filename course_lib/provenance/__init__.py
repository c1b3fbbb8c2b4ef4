"""Provenance and safety (day 20).

- `c2pa`: a local test certificate chain; signing and reading Content Credentials
  through the official c2pa-python library.
- `manifest`: the same reading from scratch: the parts of a manifest, the hard-binding
  hashes (`data_hash`, `bmff_hash`) and `verify`; re-exports the three layers below.
- `jumbf`: ISO BMFF / JUMBF boxes, and where the manifest store sits in PNG, JPEG, WAV
  and MP4 files.
- `cbor`: the CBOR decoder and encoder that claims, assertions and signatures use.
- `cose`: the COSE_Sign1 (ES256) signature over the claim and its certificate chain.
- `watermark`: spread-spectrum watermarks for images, video and audio, and the attacks
  they survive.
- `safety`: a prompt filter that survives leetspeak and look-alike letters, scored on
  a held-out evasion set written apart from its rules (`HELD_OUT_SET`); a
  synthetic-media detector (`fit_detector`, a scikit-learn fit), ROC and AUC.
"""
