"""What a neural codec is measured against (day 15), at a given bitrate.

- **Opus** (RFC 6716), the codec of WebRTC, Discord and WhatsApp voice: a classical
  transform/predictive codec with a psychoacoustic model. Encoded and decoded by ffmpeg's
  libopus (the ffmpeg binary of `imageio-ffmpeg`). libopus goes no lower than 6 kbps; below
  about 12 kbps it switches to SILK, its speech mode, which keeps only up to 4-6 kHz.
  The measured bitrate is the file's bits per second, Ogg container included.
- **Plain downsampling**: resample to `bitrate / bits` samples per second (librosa),
  quantize each sample with `bits`-bit µ-law (G.711's companding), then resample back —
  what you get by spending the bits on samples with no model at all.

    decoded, bits_per_second = opus_roundtrip(wave, kbps=6)
    decoded = mulaw_downsample(wave, bitrate=3200, bits=8)     # 400 samples/s, 8 bits each
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from course_lib.audio.io import read_wav, resample, write_wav

__all__ = ["opus_roundtrip", "opus_roundtrip_clips", "mulaw_encode", "mulaw_decode", "mulaw_downsample"]


def _check_wave(wave) -> None:
    if not isinstance(wave, Tensor) or wave.ndim != 1 or len(wave) < 2:
        raise ValueError(f"wave must be a 1-D tensor of samples; got "
                         f"{getattr(wave, 'shape', type(wave).__name__)}")


def opus_roundtrip(wave: Tensor, sample_rate: int = 16_000, kbps: float = 6.0) -> tuple[Tensor, float]:
    """Encode `wave` (T,) with libopus at `kbps` (6-510) and decode it back: (decoded (T,),
    measured bits per second of the .opus file). The decoder's start-up delay is removed by
    ffmpeg (Opus' pre-skip), so sample t of the output lines up with sample t of the input."""
    import imageio_ffmpeg

    _check_wave(wave)
    if not 6 <= kbps <= 510:
        raise ValueError(f"kbps must be in [6, 510] (libopus' range); got {kbps!r}")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        src, coded, back = Path(tmp) / "in.wav", Path(tmp) / "coded.opus", Path(tmp) / "out.wav"
        write_wav(src, wave.clamp(-1, 1), sample_rate)
        run = lambda *args: subprocess.run([ffmpeg, "-y", "-loglevel", "error", *args],  # noqa: E731
                                           check=True, capture_output=True)
        run("-i", str(src), "-c:a", "libopus", "-b:a", f"{kbps}k", str(coded))
        run("-i", str(coded), "-ar", str(sample_rate), str(back))
        decoded, _ = read_wav(back)
        bits_per_second = coded.stat().st_size * 8 / (len(wave) / sample_rate)
    decoded = decoded.mean(0) if decoded.ndim == 2 else decoded
    out = torch.zeros_like(wave)
    n = min(len(out), len(decoded))
    out[:n] = decoded[:n].to(out.dtype)
    return out, bits_per_second


def opus_roundtrip_clips(waves: Tensor, sample_rate: int = 16_000, kbps: float = 6.0) -> tuple[Tensor, float]:
    """`opus_roundtrip` of clips (N, T) in one ffmpeg call: the clips are played one after
    the other and cut apart again (two processes instead of 2N). Opus codes 20 ms frames
    independently of what the clips mean, so a clip whose length is a multiple of 20 ms
    is coded as it would be alone, up to the encoder's look-ahead across each boundary
    (the clips here start and end in silence). Returns (decoded (N, T), bits per second)."""
    if not isinstance(waves, Tensor) or waves.ndim != 2 or waves.shape[1] == 0:
        raise ValueError(f"waves must be a tensor (N, T); got {getattr(waves, 'shape', type(waves))}")
    decoded, bits_per_second = opus_roundtrip(waves.flatten(), sample_rate, kbps)
    return decoded.view_as(waves), bits_per_second


def mulaw_encode(wave: Tensor, bits: int = 8) -> Tensor:
    """µ-law codes in {0, ..., 2^bits − 1} of samples in [-1, 1], µ = 2^bits − 1:
    F(x) = sign(x) ln(1 + µ|x|) / ln(1 + µ), then uniform quantization of F(x)."""
    mu = 2 ** bits - 1
    f = torch.sign(wave) * torch.log1p(mu * wave.clamp(-1, 1).abs()) / math.log1p(mu)
    return torch.round((f + 1) / 2 * mu).long()


def mulaw_decode(codes: Tensor, bits: int = 8) -> Tensor:
    """The inverse of `mulaw_encode`: F⁻¹(y) = sign(y) ((1 + µ)^|y| − 1) / µ."""
    mu = 2 ** bits - 1
    y = codes.float() / mu * 2 - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


def mulaw_downsample(wave: Tensor, sample_rate: int = 16_000, bitrate: float = 3200.0, bits: int = 8) -> Tensor:
    """`wave` (T,) sent at `bitrate` bits/s as `bits`-bit µ-law samples at bitrate / bits Hz,
    resampled back to `sample_rate`: (T,)."""
    _check_wave(wave)
    if not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in [1, 16]; got {bits!r}")
    low_rate = int(round(bitrate / bits))
    if not 1 <= low_rate <= sample_rate:
        raise ValueError(f"bitrate / bits must be a sample rate in [1, {sample_rate}] Hz; got {low_rate}")
    low = resample(wave, sample_rate, low_rate)
    back = resample(mulaw_decode(mulaw_encode(low, bits), bits), low_rate, sample_rate)
    out = torch.zeros_like(wave)
    n = min(len(out), len(back))
    out[:n] = back[:n]
    return out
