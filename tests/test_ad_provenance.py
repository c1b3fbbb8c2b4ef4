"""Day 22's provenance stage on a composited test ad: the watermark survives one more
re-encode, the manifest names the stages, declares the watermark and the product still,
reads Trusted with the course CA (Valid without it) and Invalid once a byte changes."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from course_lib.ad import compose
from course_lib.ad import provenance as ad_provenance
from course_lib.provenance import c2pa
from course_lib.provenance.watermark import bit_accuracy, random_bits
from course_lib.video.subtitles import Cue
from course_lib.viz import encode_video

SR = 16000
STAGES = ["gate", "product", "voiceover", "avatar", "soundtrack", "compose", "subtitles"]


def _reencode(mp4: bytes, crf: int = 28) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "a.mp4", Path(tmp) / "b.mp4"
        src.write_bytes(mp4)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), "-c:v", "libx264",
                        "-crf", str(crf), "-c:a", "aac", "-b:a", "64k", str(out)], check=True)
        return out.read_bytes()


@pytest.fixture(scope="module")
def ad():
    """A 3 s composited ad (256 x 256): a textured product, a flat avatar, a voice-like
    tone over music; its watermarked and signed versions."""
    t = np.arange(3 * SR) / SR
    voice = (0.4 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) ** 2).astype(np.float32)
    music = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    rng = np.random.default_rng(0)
    product = encode_video(rng.random((24, 32, 32, 3)).astype(np.float32) * 0.5 + 0.25, fps=8)
    avatar = encode_video(np.full((24, 32, 32), 0.8, np.float32), fps=8)
    mp4 = compose.composite(product, avatar, voice, music, SR, [Cue(0.0, 3.0, "BUY NOW")],
                            compose.Layout(width=256, height=256))
    png = io.BytesIO()
    Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(png, "PNG")
    bits = random_bits(32, 1)
    marked = ad_provenance.watermark_mp4(mp4, bits)
    ca = c2pa.load_or_make_test_ca()
    signed = ad_provenance.sign_ad(marked, ca, "ad.mp4", STAGES, png.getvalue(), bits)
    return {"bits": bits, "marked": marked, "signed": signed, "ca": ca}


def test_the_watermark_survives_one_more_reencode(ad):
    video, audio = ad_provenance.read_watermark(_reencode(ad["signed"]), len(ad["bits"]))
    assert bit_accuracy(ad["bits"], video) >= 0.9, bit_accuracy(ad["bits"], video)     # measured 0.97
    assert bit_accuracy(ad["bits"], audio) >= 0.9, bit_accuracy(ad["bits"], audio)     # measured 1.00
    assert compose.probe_mp4(ad["signed"])["audio"] == "aac"


def test_the_signed_ad_reads_trusted_and_names_its_stages(ad):
    report = c2pa.read_bytes(ad["signed"], "mp4", ad["ca"].ca_cert_pem)
    assert report.state == "Trusted", (report.failures, report.error)
    assert c2pa.read_bytes(ad["signed"], "mp4").state == "Valid"                 # no trust anchor given
    actions = next(a for a in report.manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.edited", "c2pa.edited", "c2pa.watermarked"]
    assert actions[0]["digitalSourceType"] == c2pa.TRAINED_ALGORITHMIC_MEDIA
    assert all(stage in actions[0]["description"] for stage in STAGES)
    binding = next(a for a in report.manifest["assertions"] if a["label"] == "c2pa.soft-binding")["data"]
    assert binding["alg"] == ad_provenance.SOFT_BINDING_ALG
    assert [i["title"] for i in report.manifest["ingredients"]] == ["product.png"]


def test_a_changed_byte_reads_invalid_and_a_reencode_loses_the_manifest(ad):
    tampered = bytearray(ad["signed"])
    tampered[len(tampered) // 2] ^= 0xFF                                          # inside the media data
    assert c2pa.read_bytes(bytes(tampered), "mp4", ad["ca"].ca_cert_pem).state == "Invalid"
    assert c2pa.read_bytes(_reencode(ad["signed"]), "mp4", ad["ca"].ca_cert_pem).state == "NoManifest"
