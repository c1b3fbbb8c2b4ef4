"""Instant-NGP's multiresolution hash encoding (Müller et al. 2022), in plain PyTorch (day 21).

L grids of rising resolution over the box [−bound, bound]³; grid l has N_l cells per
side,

    N_l = ⌊N_min · b^l⌋,   b = exp((ln N_max − ln N_min) / (L − 1)),

and a table of T trainable feature vectors (F numbers each). A point x (mapped to
[0, 1]³) falls in the voxel whose corners are v = ⌊x N_l⌋ + {0, 1}³; each corner's
features are looked up in the table at

    dense:   v_x + v_y (N_l + 1) + v_z (N_l + 1)²            when (N_l + 1)³ ≤ T (a plain grid)
    hashed:  (v_x · 1 ⊕ v_y · 2654435761 ⊕ v_z · 805459861) mod T   otherwise

(⊕: bitwise xor; the primes are the paper's). Colliding corners share a row; the
gradients of the surfaces that matter dominate it. The 8 corners are interpolated
trilinearly and the L levels concatenated: (N, 3) -> (N, L · F). The fine levels carry
the detail, so the MLP after it can be tiny, and every training step touches only 8 L
rows per point — why Instant-NGP trains in seconds where NeRF took hours (their CUDA
kernels do the rest; this is the same arithmetic, slower).

    encoding = HashGridEncoding(levels=8, table_size=2**12, features=2, min_res=4, max_res=64, bound=1.3)
    features = encoding(points (N, 3))          # (N, 16)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib.checks import check_positive, check_positive_int

__all__ = ["PRIMES", "HashGridEncoding", "corner_index"]

PRIMES = (1, 2654435761, 805459861)
CORNERS = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])   # (8, 3)


def corner_index(corners: Tensor, resolution: int, table_size: int) -> Tensor:
    """Table rows (...,) of integer grid corners (..., 3) at a level of `resolution`
    cells per side: dense indexing if the (resolution + 1)³ corners fit in the table,
    else the spatial hash."""
    if (resolution + 1) ** 3 <= table_size:
        side = resolution + 1
        return corners[..., 0] + corners[..., 1] * side + corners[..., 2] * side * side
    hashed = corners[..., 0] * PRIMES[0]
    for axis in (1, 2):
        hashed = hashed ^ (corners[..., axis] * PRIMES[axis])
    return hashed % table_size


class HashGridEncoding(nn.Module):
    """(N, 3) points in [−bound, bound]³ (clamped) -> (N, levels · features)."""

    def __init__(self, levels: int = 8, table_size: int = 2 ** 12, features: int = 2, min_res: int = 4,
                 max_res: int = 64, bound: float = 1.3):
        super().__init__()
        for name, value in (("levels", levels), ("table_size", table_size), ("features", features),
                            ("min_res", min_res), ("max_res", max_res)):
            check_positive_int(value, name)
        check_positive(bound, "bound")
        if max_res < min_res:
            raise ValueError(f"max_res ({max_res}) must be >= min_res ({min_res})")
        growth = math.exp((math.log(max_res) - math.log(min_res)) / (levels - 1)) if levels > 1 else 1.0
        self.resolutions = [math.floor(min_res * growth ** level) for level in range(levels)]
        self.table_size, self.bound = table_size, bound
        self.tables = nn.Parameter(torch.empty(levels, table_size, features).uniform_(-1e-4, 1e-4))
        self.out_dim = levels * features

    def forward(self, points: Tensor) -> Tensor:
        if points.ndim == 0 or points.shape[-1] != 3:
            raise ValueError(f"points must be (..., 3); got {tuple(points.shape)}")
        x = ((points + self.bound) / (2 * self.bound)).clamp(0, 1).reshape(-1, 3)   # (N, 3) in [0, 1]
        out = []
        for level, resolution in enumerate(self.resolutions):
            scaled = x * resolution
            base = scaled.floor().clamp(max=resolution - 1)                   # (N, 3): the voxel's low corner
            frac = scaled - base                                              # (N, 3) in [0, 1]
            corners = base.long()[:, None] + CORNERS.to(points.device)       # (N, 8, 3)
            rows = self.tables[level][corner_index(corners, resolution, self.table_size)]   # (N, 8, F)
            # trilinear weights: Π over axes of frac (corner bit 1) or 1 − frac (bit 0)
            weights = torch.where(CORNERS.to(points.device).bool(), frac[:, None], 1 - frac[:, None]).prod(-1)
            out.append((weights[..., None] * rows).sum(1))                   # (N, F)
        return torch.cat(out, dim=-1).reshape(*points.shape[:-1], self.out_dim)
