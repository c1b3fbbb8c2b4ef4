"""Instant-NGP's occupancy grid (Müller et al. 2022, §4; NerfAcc's `OccGridEstimator`):
skip the empty space (day 21).

Most samples along a ray fall in air, where a trained field says σ ≈ 0 and the
composite ignores them — but every one of them costs a full field evaluation. A coarse
G³ grid of booleans over the box [−bound, bound]³ remembers where the density is not
negligible; `render_rays` then evaluates the field only at samples in occupied cells and
sets σ = 0 elsewhere, so a step costs (occupied fraction) × the samples.

The grid learns from the field as it trains: every few steps (`update`), each cell's
density is re-read at one random point inside it (one field call on G³ points), and its
estimate decays towards it,

    d ← max(decay · d, σ(random point in the cell)),      occupied = d > threshold,

so a cell that was ever dense stays occupied for a while and a cell the field has
emptied drops out after a few updates. Before the first update every cell is occupied
(a fresh field's σ is not yet informative). Points outside the box are empty.

    grid = OccupancyGrid(resolution=32, bound=1.3)
    grid.update(field)                 # every k training steps (field_train's on_step)
    keep = grid(points (..., 3))       # (...,) bool: in an occupied cell
    grid.fraction()                    # share of occupied cells
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.checks import check_positive, check_positive_int, check_range

__all__ = ["OccupancyGrid"]


class OccupancyGrid(nn.Module):
    """A `resolution`³ grid of density estimates over [−bound, bound]³ (buffers, saved with
    the field); a cell is occupied while its estimate exceeds `threshold`."""

    def __init__(self, resolution: int = 32, bound: float = 1.3, threshold: float = 0.05, decay: float = 0.95):
        super().__init__()
        check_positive_int(resolution, "resolution")
        check_positive(bound, "bound")
        check_positive(threshold, "threshold")
        check_range(decay, "decay", low=0.0, high=1.0)
        self.resolution, self.bound, self.threshold, self.decay = resolution, bound, threshold, decay
        self.register_buffer("density", torch.full((resolution,) * 3, float("inf")))   # inf: not yet read

    def cells(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Integer cells (..., 3) of `points` (..., 3) and whether each is inside the box (...,)."""
        x = (points + self.bound) / (2 * self.bound) * self.resolution                  # [0, G) inside
        inside = ((x >= 0) & (x < self.resolution)).all(-1)
        return x.floor().long().clamp(0, self.resolution - 1), inside

    def forward(self, points: Tensor) -> Tensor:
        """Whether each of `points` (..., 3) lies in an occupied cell: (...,) bool."""
        idx, inside = self.cells(points)
        return inside & (self.density[idx[..., 0], idx[..., 1], idx[..., 2]] > self.threshold)

    @torch.no_grad()
    def update(self, field: nn.Module, generator: torch.Generator | None = None) -> None:
        """Read `field`'s σ at one uniform random point in every cell and update the
        estimates (the first update replaces the initial 'occupied everywhere')."""
        g = self.resolution
        device = self.density.device
        corner = torch.stack(torch.meshgrid(*(torch.arange(g, device=device),) * 3, indexing="ij"), -1)  # (G,G,G,3)
        jitter = torch.rand(g, g, g, 3, generator=generator).to(device)
        points = (corner + jitter) / g * (2 * self.bound) - self.bound
        sigma, _ = field(points.reshape(-1, 3))
        sigma = sigma.reshape(g, g, g).float()
        first = torch.isinf(self.density)
        self.density.copy_(torch.where(first, sigma, torch.maximum(self.density * self.decay, sigma)))

    def fraction(self) -> float:
        """The share of cells now occupied."""
        return float((self.density > self.threshold).float().mean())
