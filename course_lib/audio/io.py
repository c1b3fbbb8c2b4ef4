"""Reading, writing and resampling audio: thin wrappers over soundfile and librosa.

Infrastructure is not reinvented here: soundfile (libsndfile) does the file formats and
librosa (soxr) does band-limited resampling. Waves are float32 torch tensors, (T,) for
mono and (C, T) for several channels, values in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def _check_rate(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int (Hz); got {value!r}")


def _check_wave(wave) -> None:
    if not isinstance(wave, torch.Tensor):
        raise TypeError(f"wave must be a torch.Tensor; got {type(wave).__name__}")
    if wave.ndim not in (1, 2) or not wave.is_floating_point():
        raise ValueError(f"wave must be (T,) or (C, T) float tensor; "
                         f"got {tuple(wave.shape)} {wave.dtype}")


def read_wav(path: str | Path) -> tuple[Tensor, int]:
    """Read an audio file. Returns (wave, sample_rate): wave (T,) if mono, else (C, T)."""
    import soundfile as sf

    data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)  # (T, C)
    wave = torch.from_numpy(np.ascontiguousarray(data.T))                  # (C, T)
    return (wave[0] if wave.shape[0] == 1 else wave), int(sample_rate)


def write_wav(path: str | Path, wave: Tensor, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write wave (T,) or (C, T), values in [-1, 1], to a WAV file; returns the path.

    Integer formats (the default 16-bit PCM) would clip louder samples silently, so
    they are refused: scale the wave first (e.g. wave / wave.abs().max()).
    """
    import soundfile as sf

    _check_wave(wave)
    _check_rate(sample_rate, "sample_rate")
    data = wave.detach().to("cpu", torch.float32).numpy()
    peak = float(np.abs(data).max()) if data.size else 0.0
    if subtype.startswith("PCM") and peak > 1.0:
        raise ValueError(f"wave must lie in [-1, 1] for {subtype}; got peak {peak:.3f}")
    sf.write(str(path), data.T if data.ndim == 2 else data, sample_rate, subtype=subtype)
    return Path(path)


def resample(wave: Tensor, orig_sr: int, target_sr: int) -> Tensor:
    """Band-limited resampling along the last axis (librosa, soxr 'high quality').

    wave: (T,) or (C, T) float. Returns (T',) or (C, T') with
    T' = ceil(T * target_sr / orig_sr), same dtype and device.
    """
    import librosa

    _check_wave(wave)
    _check_rate(orig_sr, "orig_sr")
    _check_rate(target_sr, "target_sr")
    if orig_sr == target_sr:
        return wave.clone()
    data = wave.detach().to("cpu", torch.float32).numpy()
    out = librosa.resample(data, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
    return torch.from_numpy(np.ascontiguousarray(out)).to(wave.device, wave.dtype)
