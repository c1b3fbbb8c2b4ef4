"""Vocoders: from a log-mel spectrogram back to a waveform.

The baseline is Griffin-Lim (`audio.dsp.griffin_lim`): undo the log, undo the mel
filterbank as well as a least-squares fit allows (`mel_to_linear`), then let
Griffin-Lim find phases that fit the magnitudes. It needs no training, and it is the
"robotic, phasey" sound of early TTS demos; Day 11 compares neural vocoders with it.

    wave = griffin_lim_vocoder(mel)        # mel (80, frames) from data.speech.log_mel
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from course_lib.audio import dsp
from course_lib.data.speech import F_MAX, HOP_LENGTH, N_FFT, SAMPLE_RATE

__all__ = ["mel_to_linear", "griffin_lim_vocoder"]


@functools.lru_cache(maxsize=4)
def _pseudo_inverse(sample_rate: int, n_fft: int, n_mels: int, f_max: float) -> Tensor:
    bank = dsp.mel_filterbank(sample_rate, n_fft, n_mels, f_max=f_max, dtype=torch.float64)
    return torch.linalg.pinv(bank).float()                               # (F, n_mels)


def mel_to_linear(log_mel: Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT,
                  f_max: float = F_MAX) -> Tensor:
    """Linear-frequency magnitude (F, frames) from a natural-log mel magnitude (n_mels, frames).

    |X| ~ max(0, pinv(W) exp(log_mel)): the least-squares inverse of the filterbank W,
    clipped at 0 (magnitudes cannot be negative). Also (B, n_mels, frames) -> (B, F, frames).
    """
    if log_mel.ndim not in (2, 3):
        raise ValueError(f"log_mel must be (n_mels, frames) or (B, n_mels, frames); "
                         f"got {tuple(log_mel.shape)}")
    inverse = _pseudo_inverse(sample_rate, n_fft, log_mel.shape[-2], float(f_max))
    return (inverse.to(log_mel.device) @ log_mel.float().exp()).clamp_min(0.0)


def griffin_lim_vocoder(log_mel: Tensor, n_iter: int = 32, sample_rate: int = SAMPLE_RATE,
                        n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, f_max: float = F_MAX,
                        power: float = 1.2, seed: int = 0) -> Tensor:
    """Wave (T,) at sample_rate from a log-mel (n_mels, frames), T = (frames - 1) * hop_length.

    power > 1 sharpens the estimated magnitudes before phase recovery (Tacotron 1 used
    1.5), which makes Griffin-Lim's output less buzzy. Seeded: same input, same wave.
    """
    if not isinstance(log_mel, torch.Tensor) or log_mel.ndim != 2 or log_mel.shape[1] < 2:
        raise ValueError(f"log_mel must be a (n_mels, frames) tensor with frames >= 2; "
                         f"got {getattr(log_mel, 'shape', type(log_mel).__name__)}")
    magnitude = mel_to_linear(log_mel, sample_rate, n_fft, f_max) ** power
    generator = torch.Generator().manual_seed(seed)
    wave = dsp.griffin_lim(magnitude, n_fft, hop_length, n_iter=n_iter, generator=generator)
    peak = wave.abs().max().clamp_min(1e-8)
    return (wave / peak * 0.9).cpu()
