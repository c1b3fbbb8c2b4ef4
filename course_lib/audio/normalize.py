"""Per-band normalisation of log-mel spectrograms, fitted on training data.

    norm = MelNormalizer(n_mels=80)
    norm.fit([mel_1, mel_2, ...])           # (n_mels, T_i) training mels
    z = norm(mel)                           # (.., n_mels, T): (mel - mean) / std per band
    mel = norm.inverse(z)

Acoustic models (Tacotron, FastSpeech) predict normalised mels: every band then has
mean 0 and std 1 over the training set, so a loss weights all bands alike. The
statistics are buffers, saved and loaded with the model's weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from course_lib.checks import check_positive_int


class MelNormalizer(nn.Module):
    """z = (mel - mean_f) / std_f for every mel band f; std floored at `min_std`."""

    def __init__(self, n_mels: int, min_std: float = 1e-3):
        super().__init__()
        check_positive_int(n_mels, "n_mels")
        self.min_std = min_std
        self.register_buffer("mean", torch.zeros(n_mels, 1))
        self.register_buffer("std", torch.ones(n_mels, 1))

    @torch.no_grad()
    def fit(self, mels: Sequence[Tensor]) -> "MelNormalizer":
        """Set mean and std per band from (n_mels, T_i) mels (all their frames pooled)."""
        if not len(mels) or any(m.ndim != 2 or m.shape[0] != self.mean.shape[0] for m in mels):
            raise ValueError(f"mels must be a non-empty list of ({self.mean.shape[0]}, frames) tensors")
        frames = torch.cat(list(mels), dim=1)                        # (n_mels, sum T)
        self.mean.copy_(frames.mean(1, keepdim=True))
        self.std.copy_(frames.std(1, keepdim=True).clamp_min(self.min_std))
        return self

    def forward(self, mel: Tensor) -> Tensor:
        """(..., n_mels, T) -> normalised, same shape."""
        return (mel - self.mean) / self.std

    def inverse(self, z: Tensor) -> Tensor:
        """Undo `forward`: (..., n_mels, T) in normalised units -> log-mel units."""
        return z * self.std + self.mean
