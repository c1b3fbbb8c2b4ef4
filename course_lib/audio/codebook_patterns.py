"""How a token language model lays out K parallel codebooks (day 15; MusicGen, Copet et
al. 2023, section 2.2). A codec gives codes (B, K, T): K tokens per audio frame. A
decoder-only LM predicts one position at a time, so the K streams must be interleaved:

    flattened   c[0,0] c[1,0] … c[K-1,0] c[0,1] …       T·K steps: exact, K times slower
    delay       step s holds c[k, s − k] for every k      T + K − 1 steps: all K at once

With the delay pattern, codebook k is shifted right by k steps; one step predicts all K
codebooks (K output heads), and codebook k of frame t is predicted after codebook k − 1 of
the same frame was already produced one step earlier — most of the dependency the flat
pattern models, at almost 1/K of the steps. Positions outside the clip hold `pad`.

    seq = delay(codes, pad=K_SIZE)        # (B, K, T + K - 1)
    assert torch.equal(undelay(seq), codes)
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.checks import check_shape

__all__ = ["delay", "undelay", "flatten_codes", "unflatten_codes", "pattern_steps"]


def delay(codes: Tensor, pad: int) -> Tensor:
    """codes (B, K, T) -> (B, K, T + K - 1): out[:, k, s] = codes[:, k, s - k], `pad` elsewhere."""
    check_shape(codes, "codes", "B K T")
    b, k, t = codes.shape
    out = torch.full((b, k, t + k - 1), pad, dtype=codes.dtype, device=codes.device)
    for q in range(k):
        out[:, q, q:q + t] = codes[:, q]
    return out


def undelay(delayed: Tensor) -> Tensor:
    """The inverse of `delay`: (B, K, S) -> (B, K, S - K + 1) with codes[:, k, t] = delayed[:, k, t + k]."""
    check_shape(delayed, "delayed", "B K S")
    b, k, s = delayed.shape
    t = s - k + 1
    if t < 1:
        raise ValueError(f"delayed has {s} steps, fewer than its {k} codebooks need (K - 1 + at least 1)")
    return torch.stack([delayed[:, q, q:q + t] for q in range(k)], dim=1)


def flatten_codes(codes: Tensor) -> Tensor:
    """codes (B, K, T) -> (B, T·K), frame by frame: [c[0,0], c[1,0], …, c[K-1,0], c[0,1], …]."""
    check_shape(codes, "codes", "B K T")
    return codes.transpose(1, 2).reshape(codes.shape[0], -1)


def unflatten_codes(sequence: Tensor, num_codebooks: int) -> Tensor:
    """The inverse of `flatten_codes`: (B, T·K) -> (B, K, T)."""
    check_shape(sequence, "sequence", "B S")
    if sequence.shape[1] % num_codebooks:
        raise ValueError(f"sequence length {sequence.shape[1]} is not a multiple of num_codebooks={num_codebooks}")
    return sequence.reshape(sequence.shape[0], -1, num_codebooks).transpose(1, 2)


def pattern_steps(pattern: str, frames: int, num_codebooks: int) -> int:
    """Sequential LM steps to generate `frames` frames: "flattened" T·K, "delay" T + K − 1."""
    if pattern == "flattened":
        return frames * num_codebooks
    if pattern == "delay":
        return frames + num_codebooks - 1
    raise ValueError(f"pattern must be 'flattened' or 'delay'; got {pattern!r}")
