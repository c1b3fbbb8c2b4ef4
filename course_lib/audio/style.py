"""Adaptive instance normalisation (Huang & Belongie, 2017) on a codec's latents (day 15):
timbre transfer by swapping statistics.

Per channel d, over time t, the first and second moments of a latent sequence carry its
"style" (for audio: the timbre, loudness, spectral tilt) and the normalised sequence its
"content" (what happens when: the notes):

    AdaIN(c, s) = σ_s · (c − μ_c) / σ_c + μ_s,    μ_x[d] = mean_t x[t, d],  σ_x[d] = std_t x[t, d]

    z = adain(codec.latents(melody), codec.latents(other_instrument))   # (B, T, D)
    wave = codec.synthesize(z)
"""

from __future__ import annotations

from torch import Tensor

from course_lib.checks import check_shape

__all__ = ["channel_stats", "adain"]


def channel_stats(x: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """(mean, std) over time of x (B, T, D): each (B, 1, D); std = sqrt(var + eps)."""
    check_shape(x, "x", "B T D")
    mean = x.mean(dim=1, keepdim=True)
    std = (x.var(dim=1, keepdim=True, unbiased=False) + eps).sqrt()
    return mean, std


def adain(content: Tensor, style: Tensor, eps: float = 1e-5) -> Tensor:
    """content (B, T, D) with the per-channel mean and std over time of style (B, T', D):
    (B, T, D). T and T' may differ; B and D must match (or style's B is 1)."""
    check_shape(content, "content", "B T D")
    check_shape(style, "style", "B T D", D=content.shape[2])
    if style.shape[0] not in (1, content.shape[0]):
        raise ValueError(f"style must have batch 1 or {content.shape[0]} (content's); got {style.shape[0]}")
    mean_c, std_c = channel_stats(content, eps)
    mean_s, std_s = channel_stats(style, eps)
    return (content - mean_c) / std_c * std_s + mean_s
