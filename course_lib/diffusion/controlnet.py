"""ControlNet for the DiT (Zhang et al. 2023; the Transformer variant of PixArt-δ): a
condition image (an edge map, a sketch) steers a frozen, trained diffusion model (day 07).

    frozen DiT:     tokens ─ block₀ ─(+)─ block₁ ─(+)─ ... ─ block_{L-1} ─ final ─> ε̂
                                      ↑            ↑
                                   zero₀         zero₁          (Linear D→D, zero-initialised)
                                      ↑            ↑
    trainable copy: tokens + zero_in(cond) ─ copy₀ ─ copy₁       (the first n blocks, copied)

The copy starts from the trained weights (it already understands noisy digits), and
every path from the condition into the frozen model goes through a zero-initialised
projection: before training, the ControlNet changes nothing, exactly, and training can
only add what helps. Only the control branch trains.

    control = ControlDiT(trained_dit, n_blocks=2)
    eps = control(x_t, t, labels, edge_map(x0))      # (B, C, H, W)
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.diffusion.dit import DiT
from course_lib.nn.embeddings import PatchEmbed2D

__all__ = ["sobel_magnitude", "edge_map", "ControlDiT"]

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_magnitude(images: Tensor) -> Tensor:
    """(B, 1, H, W) -> (B, 1, H, W) gradient magnitude √(G_x² + G_y²) of the Sobel
    filters (edges replicated at the border)."""
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be (B, 1, H, W); got {getattr(images, 'shape', type(images).__name__)}")
    kernels = torch.stack([_SOBEL_X, _SOBEL_X.T])[:, None].to(images)        # (2, 1, 3, 3)
    grads = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernels)   # (B, 2, H, W)
    return grads.pow(2).sum(1, keepdim=True).sqrt()


def edge_map(images: Tensor, threshold: float = 0.25) -> Tensor:
    """The ControlNet condition: (B, 1, H, W) images in [-1, 1] -> binary edges in
    {-1, 1} (1 where the Sobel magnitude exceeds `threshold` × its per-image maximum)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1); got {threshold}")
    mag = sobel_magnitude(images)
    peak = mag.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-8)
    return torch.where(mag > threshold * peak, 1.0, -1.0).to(images)


class ControlDiT(nn.Module):
    """A frozen DiT plus a trainable copy of its first `n_blocks` blocks fed by a
    condition image. forward(x (B,C,H,W), t (B,), labels (B,), cond (B,Cc,H,W)) -> ε̂."""

    def __init__(self, base: DiT, n_blocks: int = 2, cond_channels: int = 1):
        super().__init__()
        if not isinstance(base, DiT):
            raise TypeError(f"base must be a course_lib DiT; got {type(base).__name__}")
        depth = len(base.blocks)
        if not isinstance(n_blocks, int) or not 1 <= n_blocks <= depth:
            raise ValueError(f"n_blocks must be an int in [1, {depth}]; got {n_blocks!r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        cfg, d = base.config, base.config.dim
        self.cond_embed = PatchEmbed2D(cond_channels, d, cfg.patch)               # condition -> tokens
        self.zero_in = nn.Linear(d, d)
        self.copies = nn.ModuleList(copy.deepcopy(base.blocks[i]) for i in range(n_blocks))
        self.zero_out = nn.ModuleList(nn.Linear(d, d) for _ in range(n_blocks))
        for p in self.copies.parameters():
            p.requires_grad_(True)
        for layer in (self.zero_in, *self.zero_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def control_parameters(self) -> list[nn.Parameter]:
        """What a ControlNet fine-tune trains: everything but the frozen base."""
        return [p for name, p in self.named_parameters() if not name.startswith("base.")]

    def forward(self, x: Tensor, t: Tensor, labels: Tensor, cond: Tensor, scale: float = 1.0) -> Tensor:
        """ε̂ (B, C, H, W); `scale` multiplies every control residual (diffusers'
        `controlnet_conditioning_scale`: 0 is the base model, 1 as trained)."""
        if cond.shape[0] != x.shape[0] or cond.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"cond must be (B, C, H, W) matching x {tuple(x.shape)}; got {tuple(cond.shape)}")
        tokens, c = self.base.embed(x, t, labels)                                  # (B, N, D), (B, D)
        h = tokens + self.zero_in(self.cond_embed(cond))                           # the copy's input
        for i, block in enumerate(self.base.blocks):
            tokens = block(tokens, c)
            if i < len(self.copies):
                h = self.copies[i](h, c)
                tokens = tokens + scale * self.zero_out[i](h)                      # zero at first
        return self.base.head(tokens, c)
