"""Prosody features of speech: pitch (YIN), frame energy, and their averages per token.

    f0, voiced = frame_pitch(wave16k)          # Hz per mel frame, 0 where unvoiced
    energy = frame_energy(log_mel)             # log ||mel frame||_2 per frame
    per_token = token_average(f0, durations, voiced)

The frames are those of the speech corpus' mel (`data.speech.log_mel`): 50 ms windows
every 12.5 ms at 16 kHz, centred, so frame m of the pitch track is frame m of the mel.
FastSpeech 2 (day 11) predicts the per-token averages and conditions its decoder on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.checks import check_shape

__all__ = ["frame_pitch", "frame_energy", "token_average"]


def frame_pitch(wave16k: Tensor, fmin: float = 60.0, fmax: float = 500.0, threshold: float = 0.25,
                frame_length: int = 800, hop_length: int = 200,
                sample_rate: int = 16_000) -> tuple[Tensor, Tensor]:
    """YIN pitch (de Cheveigné & Kawahara, 2002) per mel frame: (f0 Hz (M,), voiced (M,) bool).

    Frames are centred like the mel (M = 1 + T // hop). For each frame x and lag tau:
        d(tau) = sum_{j < W} (x_j - x_{j+tau})^2,  W = frame_length - tau_max,
        d'(tau) = d(tau) / ((1 / tau) sum_{k=1}^{tau} d(k)),   d'(0) = 1,
    the period is the first lag in [sr / fmax, sr / fmin] where d' dips below
    `threshold` (its local minimum), else the global minimum; parabolic interpolation
    refines it. voiced = d' at the period < threshold and the frame is not silent.
    f0 is 0 where unvoiced. Same method as `librosa.yin` (which has no voicing).
    """
    x = check_shape(wave16k, "wave16k", "T").float()
    x = F.pad(x[None, None], (frame_length // 2, frame_length // 2), mode="reflect")[0, 0]
    frames = x.unfold(0, frame_length, hop_length)                          # (M, N)
    tau_min, tau_max = int(sample_rate / fmax), int(sample_rate / fmin)
    W = frame_length - tau_max
    n = 2 ** math.ceil(math.log2(frame_length + W))
    spec_a = torch.fft.rfft(frames[:, :W], n)
    spec_b = torch.fft.rfft(frames, n)
    r = torch.fft.irfft(spec_b * spec_a.conj(), n)[:, :tau_max + 1]       # r(tau) = sum x_j x_{j+tau}
    sq = F.pad(frames ** 2, (1, 0)).cumsum(-1)                              # prefix sums of x^2
    taus = torch.arange(tau_max + 1)
    energy_shift = sq[:, taus + W] - sq[:, taus]                            # sum_{j<W} x_{j+tau}^2
    d = (sq[:, W:W + 1] + energy_shift - 2 * r).clamp_min(0)                # (M, tau_max + 1)
    cum = d[:, 1:].cumsum(-1) / taus[1:]
    cmnd = torch.cat([torch.ones_like(d[:, :1]), d[:, 1:] / cum.clamp_min(1e-12)], -1)
    band = cmnd[:, tau_min:tau_max + 1]
    below = band < threshold
    local_min = torch.ones_like(below)
    local_min[:, 1:-1] = (band[:, 1:-1] <= band[:, :-2]) & (band[:, 1:-1] <= band[:, 2:])
    first = below & local_min
    idx = torch.where(first.any(-1), first.float().argmax(-1), band.argmin(-1))
    tau = (idx + tau_min).clamp(1, tau_max - 1)
    rows = torch.arange(len(tau))
    a, b, c = cmnd[rows, tau - 1], cmnd[rows, tau], cmnd[rows, tau + 1]
    denom = a - 2 * b + c
    shift = torch.where(denom.abs() > 1e-12, 0.5 * (a - c) / denom, torch.zeros_like(denom))
    period = tau.float() + shift.clamp(-1, 1)
    loud = frames.pow(2).mean(-1) > 1e-6 * frames.pow(2).mean(-1).max().clamp_min(1e-12)
    voiced = (b < threshold) & loud
    f0 = torch.where(voiced, sample_rate / period, torch.zeros_like(period))
    return f0.float(), voiced


def frame_energy(mel: Tensor) -> Tensor:
    """Log energy per frame of a natural-log mel (n_mels, M): log ||exp(mel)||_2 -> (M,)."""
    return 0.5 * torch.logsumexp(2 * mel, dim=0)


def token_average(values: Tensor, durations: Sequence[int], mask: Tensor | None = None) -> Tensor:
    """Mean of per-frame `values` (M,) over each token's frames -> (len(durations),).

    mask (M,) bool: average only those frames (e.g. voiced); a token without any gets 0.
    """
    d = torch.as_tensor(list(durations))
    if int(d.sum()) != values.shape[0]:
        raise ValueError(f"durations sum to {int(d.sum())} but values has {values.shape[0]} frames")
    m = torch.ones_like(values, dtype=torch.bool) if mask is None else mask
    token = torch.repeat_interleave(torch.arange(len(d)), d)                 # (M,) token of each frame
    total = torch.zeros(len(d)).index_add_(0, token, (values * m).float())
    count = torch.zeros(len(d)).index_add_(0, token, m.float())
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))
