"""2-D toy distributions: small enough to watch a generative model learn them."""

from __future__ import annotations

import math

import torch


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 1.0, std: float = 0.05,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 2) points from `modes` equal Gaussians (std `std`) evenly spaced on a circle."""
    if n < 1 or modes < 1:
        raise ValueError(f"n and modes must be >= 1; got n={n}, modes={modes}")
    which = torch.randint(0, modes, (n,), generator=generator)
    angle = 2 * math.pi * which / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return centres + std * torch.randn(n, 2, generator=generator)


def ring_centres(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """(modes, 2) centres of `ring_of_gaussians`."""
    angle = 2 * math.pi * torch.arange(modes) / modes
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, max_dist: float) -> tuple[float, int]:
    """Fraction of samples within `max_dist` of some centre, and how many centres got
    at least one such sample (a collapsed model covers few)."""
    d = torch.cdist(samples.float(), centres.float())          # (n, modes)
    nearest, which = d.min(dim=1)
    close = nearest < max_dist
    return close.float().mean().item(), int(which[close].unique().numel())
