"""Radiance fields (day 21): a network F(p) -> (σ, c) that, volume-rendered along camera
rays (`volume`), reproduces the views it was trained on — NeRF (Mildenhall et al. 2020).

Two ways to feed a point p to the network, same head after them:

    FrequencyEncoding   NeRF's positional encoding, eq. 4:
                        γ(p) = (p, sin(2⁰πp), cos(2⁰πp), …, sin(2^{L−1}πp), cos(2^{L−1}πp))
                        — an MLP of raw coordinates learns only smooth functions (spectral
                        bias); sines of rising frequency let it fit sharp edges.
    HashGridEncoding    Instant-NGP's multiresolution hash grid (`hashgrid`): trainable
                        features at the corners of grids of rising resolution, trilinearly
                        interpolated — the detail lives in tables, so the MLP can be tiny.

    field = RadianceField(FrequencyEncoding(6), hidden=64, depth=3)
    sigma, rgb = field(points (..., 3))            # (...,) >= 0 and (..., 3) in [0, 1]
    out = render_rays(field, origins (R, 3), directions (R, 3), near, far, samples=32)
    out.rgb (R, 3), out.depth (R,), out.opacity (R,)
    image = render_image(field, camera, near, far)   # (H, W, 3), in chunks of rays

With an occupancy grid (`occupancy`, Instant-NGP's), `render_rays` sends only the samples
in occupied cells to the network (`evaluate_field`); the rest get σ = 0.

Our scenes are matte (Lambertian): a point looks the same from every side, so the field
takes no view direction (NeRF's does, for highlights); `hierarchical` sampling (NeRF's
fine pass) re-samples where the coarse weights are large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_positive_int, check_shape
from course_lib.threed.cameras import Camera, camera_rays
from course_lib.threed.occupancy import OccupancyGrid
from course_lib.threed.volume import composite, ray_points, render_weights, sample_pdf, stratified_samples

__all__ = ["FrequencyEncoding", "RadianceField", "RayRender", "evaluate_field", "render_rays", "render_image"]


class FrequencyEncoding(nn.Module):
    """γ(p): (..., 3) -> (..., 3 + 6L), frequencies 2^k π for k = 0 … L − 1 (`n_freqs` = L)."""

    def __init__(self, n_freqs: int):
        super().__init__()
        check_positive_int(n_freqs, "n_freqs", allow_zero=True)
        self.register_buffer("freqs", (2.0 ** torch.arange(n_freqs)) * math.pi, persistent=False)   # (L,)
        self.out_dim = 3 + 6 * n_freqs

    def forward(self, p: Tensor) -> Tensor:
        angles = (p[..., None, :] * self.freqs[:, None]).flatten(-2)          # (..., 3L): 2^k π p per axis
        return torch.cat([p, torch.sin(angles), torch.cos(angles)], dim=-1)


class RadianceField(nn.Module):
    """encoding -> MLP (`depth` layers of `hidden`, ReLU) -> σ = softplus(·) ≥ 0 and
    c = sigmoid(·) ∈ [0, 1]³. `encoding` is any module with an `out_dim`; `occupancy`, an
    optional `OccupancyGrid` the renderer uses to skip empty space."""

    def __init__(self, encoding: nn.Module, hidden: int = 64, depth: int = 3,
                 occupancy: OccupancyGrid | None = None):
        super().__init__()
        self.occupancy = occupancy          # with a grid, render_rays evaluates only occupied samples
        check_positive_int(hidden, "hidden")
        check_positive_int(depth, "depth")
        self.encoding = encoding
        layers, width = [], encoding.out_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 4))

    def forward(self, points: Tensor) -> tuple[Tensor, Tensor]:
        out = self.mlp(self.encoding(points))                                  # (..., 4)
        return F.softplus(out[..., 0] - 1.0), torch.sigmoid(out[..., 1:])      # σ starts small: empty space


def evaluate_field(field: nn.Module, points: Tensor) -> tuple[Tensor, Tensor]:
    """σ (...,) and colour (..., 3) of `field` at `points` (..., 3). With the field's
    occupancy grid, only the points in occupied cells are evaluated (σ = 0, colour 0
    elsewhere: the composite gives them no weight), as Instant-NGP skips empty space."""
    grid = getattr(field, "occupancy", None)
    if grid is None:
        return field(points)
    keep = grid(points)                                                     # (...,) bool
    sigma, rgb = field(points[keep])                                        # (K,), (K, 3): K occupied
    full_sigma = sigma.new_zeros(points.shape[:-1]).index_put((keep,), sigma)
    full_rgb = rgb.new_zeros(*points.shape[:-1], 3).index_put((keep,), rgb)
    return full_sigma, full_rgb


@dataclass
class RayRender:
    """What `render_rays` returns for R rays: rgb (R, 3), depth (R,) = Σ w t, opacity
    (R,) = Σ w; and the final samples' t (R, S) and weights (R, S)."""
    rgb: Tensor
    depth: Tensor
    opacity: Tensor
    t: Tensor
    weights: Tensor


def render_rays(field: nn.Module, origins: Tensor, directions: Tensor, near: float, far: float, samples: int = 32,
                hierarchical: int = 0, background: float | Tensor | None = 1.0, perturb: bool = False,
                generator: torch.Generator | None = None) -> RayRender:
    """Volume-render `field` along rays (origins, directions: (R, 3), unit directions):
    `samples` stratified samples in [near, far] (jittered within their strata with
    `perturb`, as in training); with `hierarchical` = k > 0, k more samples drawn from
    the coarse weights (`sample_pdf`) and the field re-evaluated at all of them (one
    field for both passes, as Mip-NeRF does). Colours composite over `background`."""
    check_shape(origins, "origins", "R 3")
    check_shape(directions, "directions", "R 3", R=len(origins))
    check_positive_int(hierarchical, "hierarchical", allow_zero=True)
    t = stratified_samples(origins, directions, near, far, samples, generator=generator, perturb=perturb)  # (R, S)
    sigma, rgb = evaluate_field(field, ray_points(origins, directions, t))   # (R, S), (R, S, 3)
    weights = render_weights(sigma, t)
    if hierarchical:
        mids = 0.5 * (t[:, 1:] + t[:, :-1])                                  # (R, S - 1) bin edges
        fine = sample_pdf(mids, weights[:, 1:-1], hierarchical, deterministic=not perturb, generator=generator)
        t, _ = torch.sort(torch.cat([t, fine], dim=-1), dim=-1)              # (R, S + k)
        sigma, rgb = evaluate_field(field, ray_points(origins, directions, t))
        weights = render_weights(sigma, t)
    color, depth, opacity = composite(weights, rgb, t, background=background)
    return RayRender(color, depth, opacity, t, weights)


@torch.no_grad()
def render_image(field: nn.Module, camera: Camera, near: float, far: float, samples: int = 32,
                 hierarchical: int = 0, background: float | Tensor | None = 1.0,
                 chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """The image (H, W, 3) and expected depth (H, W) `camera` sees, rendered `chunk` rays
    at a time (deterministic samples)."""
    check_positive_int(chunk, "chunk")
    origins, directions = camera_rays(camera)                               # (H, W, 3) each
    h, w = origins.shape[:2]
    device = next(field.parameters()).device
    o, d = origins.reshape(-1, 3).to(device), directions.reshape(-1, 3).to(device)
    parts = [render_rays(field, o[i:i + chunk], d[i:i + chunk], near, far, samples, hierarchical, background)
             for i in range(0, len(o), chunk)]
    rgb = torch.cat([p.rgb for p in parts]).reshape(h, w, 3).cpu()
    depth = torch.cat([p.depth for p in parts]).reshape(h, w).cpu()
    return rgb, depth
