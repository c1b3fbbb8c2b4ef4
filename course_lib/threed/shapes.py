"""Point clouds of four shape families (day 21's text-to-3D data) and the Chamfer distance.

`sample_shape(word, n, generator)` draws n points uniformly by area on the SURFACE of a
shape centred at the origin (the middle of its bounding box), +y up:

    sphere  radius 0.8                       (normalised Gaussians)
    cube    half-side 0.52                   (a face by area, all equal; uniform on it)
    torus   R = 0.55, r = 0.22, in the x-z plane, axis y
            (θ round the tube, φ round the axis; the area element r (R + r cos θ) dθ dφ
             is not uniform in θ: accept θ with probability (R + r cos θ) / (R + r))
    cone    height 1.2, base radius 0.6, apex up, base disc included
            (lateral surface or disc in proportion to their areas; on the lateral surface
             the distance from the apex is s = sqrt(u) of the slant, as area grows as s²)

then, with `transform`, a pose (`random_pose`): a rotation by a uniform angle about the
vertical y axis and a scale in [0.9, 1.1] (`apply_pose`), so a family is not one point
set, and optional Gaussian `jitter`. Every posed point lies in the unit ball (the cube's
corner reaches 0.52 · √3 · 1.1 = 0.99), so each coordinate lies in [-1, 1] as a
diffusion model's clipped x0 assumes.

Chamfer distance (the convention of Fan et al. 2017 and PyTorch3D's `chamfer_distance`,
squared distances, means over points, the two directions summed):

    CD(A, B) = 1/|A| Σ_a min_b |a − b|²  +  1/|B| Σ_b min_a |a − b|²
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib.checks import check_choice, check_positive_int, check_range, check_shape

__all__ = ["SHAPES", "SPHERE_RADIUS", "CUBE_HALF", "TORUS_RING", "TORUS_TUBE", "CONE_HEIGHT", "CONE_RADIUS",
           "SCALE_RANGE", "cone_areas", "sample_shape", "random_pose", "apply_pose", "word_labels",
           "shape_dataset", "chamfer_distance", "family_distance"]

SHAPES = ("sphere", "cube", "torus", "cone")          # label k is SHAPES[k]
SPHERE_RADIUS = 0.8
CUBE_HALF = 0.52
TORUS_RING, TORUS_TUBE = 0.55, 0.22                   # R (ring radius), r (tube radius)
CONE_HEIGHT, CONE_RADIUS = 1.2, 0.6
SCALE_RANGE = (0.9, 1.1)


def _uniform(n: int, g: torch.Generator | None, low: float = 0.0, high: float = 1.0) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _sphere(n: int, g) -> Tensor:
    p = torch.randn(n, 3, generator=g)
    return SPHERE_RADIUS * p / p.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _cube(n: int, g) -> Tensor:
    face = torch.randint(0, 6, (n,), generator=g)              # 6 faces of equal area
    p = _uniform(3 * n, g, -CUBE_HALF, CUBE_HALF).reshape(n, 3)
    axis, sign = face // 2, (face % 2) * 2.0 - 1.0
    p[torch.arange(n), axis] = sign * CUBE_HALF                 # pin the face's coordinate
    return p


def _torus(n: int, g) -> Tensor:
    thetas: list[Tensor] = []
    while sum(len(t) for t in thetas) < n:                      # rejection on the area element
        theta = _uniform(2 * n, g, 0.0, 2 * math.pi)
        accept = (TORUS_RING + TORUS_TUBE * torch.cos(theta)) / (TORUS_RING + TORUS_TUBE)
        keep = _uniform(2 * n, g) < accept
        thetas.append(theta[keep])
    theta = torch.cat(thetas)[:n]
    phi = _uniform(n, g, 0.0, 2 * math.pi)
    ring = TORUS_RING + TORUS_TUBE * torch.cos(theta)           # distance from the y axis
    return torch.stack([ring * torch.cos(phi), TORUS_TUBE * torch.sin(theta), ring * torch.sin(phi)], dim=-1)


def cone_areas() -> tuple[float, float]:
    """(lateral area π r l with slant l = sqrt(h² + r²), base disc area π r²)."""
    slant = math.hypot(CONE_HEIGHT, CONE_RADIUS)
    return math.pi * CONE_RADIUS * slant, math.pi * CONE_RADIUS ** 2


def _cone(n: int, g) -> Tensor:
    lateral, base = cone_areas()
    on_side = _uniform(n, g) < lateral / (lateral + base)
    s = _uniform(n, g).sqrt()                                    # fraction of the slant from the apex
    u = _uniform(n, g).sqrt()                                    # fraction of the disc's radius
    phi = _uniform(n, g, 0.0, 2 * math.pi)
    radius = CONE_RADIUS * torch.where(on_side, s, u)
    y = torch.where(on_side, CONE_HEIGHT / 2 - s * CONE_HEIGHT, torch.full_like(s, -CONE_HEIGHT / 2))
    return torch.stack([radius * torch.cos(phi), y, radius * torch.sin(phi)], dim=-1)


_SAMPLERS = {"sphere": _sphere, "cube": _cube, "torus": _torus, "cone": _cone}


def random_pose(generator: torch.Generator | None = None) -> tuple[float, float]:
    """(angle in [0, 2π) about the y axis, scale in SCALE_RANGE), drawn from `generator`."""
    angle, u = torch.rand(2, generator=generator).tolist()
    return 2 * math.pi * angle, SCALE_RANGE[0] + (SCALE_RANGE[1] - SCALE_RANGE[0]) * u


def apply_pose(points: Tensor, angle: float, scale: float) -> Tensor:
    """points (..., 3) rotated by `angle` about +y (x → x cos + z sin, z → −x sin + z cos)
    and scaled by `scale` about the origin."""
    if not isinstance(points, Tensor) or points.ndim not in (2, 3) or points.shape[-1] != 3:
        got = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
        raise ValueError(f"points must be (N, 3) or (B, N, 3); got {got}")
    c, s = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]], dtype=points.dtype)
    return scale * points @ rotation.to(points.device)


def sample_shape(word: str, n_points: int, generator: torch.Generator | None = None, jitter: float = 0.0,
                 transform: bool = True) -> Tensor:
    """(n_points, 3) float32 points uniform by area on the surface of the shape `word`.

    transform: pose the shape (`random_pose` drawn from `generator` after the surface
    points, then `apply_pose`); False leaves it as the module docstring describes it.
    jitter: the std of Gaussian noise added to every coordinate (after the pose)."""
    check_choice(word, "word", SHAPES)
    check_positive_int(n_points, "n_points")
    check_range(jitter, "jitter", low=0.0)
    points = _SAMPLERS[word](n_points, generator)
    if transform:
        points = apply_pose(points, *random_pose(generator))
    if jitter > 0:
        points = points + jitter * torch.randn(points.shape, generator=generator)
    return points


def word_labels(words) -> Tensor:
    """Shape words (a sequence of SHAPES' names) → (B,) int64 labels, index into SHAPES."""
    words = [words] if isinstance(words, str) else list(words)
    for word in words:
        check_choice(word, "words", SHAPES)
    return torch.tensor([SHAPES.index(w) for w in words], dtype=torch.int64)


def shape_dataset(n_per_shape: int, n_points: int, seed: int, jitter: float = 0.0) -> tuple[Tensor, Tensor]:
    """`n_per_shape` posed clouds of every shape: points (N, n_points, 3) and labels (N,)
    (index into SHAPES), N = 4 n_per_shape, label-major (all spheres first); the same
    `seed` gives the same tensors."""
    check_positive_int(n_per_shape, "n_per_shape")
    check_positive_int(n_points, "n_points")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int; got {seed!r}")
    g = torch.Generator().manual_seed(seed)
    points = torch.stack([sample_shape(word, n_points, g, jitter) for word in SHAPES for _ in range(n_per_shape)])
    labels = torch.arange(len(SHAPES)).repeat_interleave(n_per_shape)
    return points, labels


def chamfer_distance(a: Tensor, b: Tensor, chunk: int = 64) -> Tensor:
    """Chamfer distance (B,) between clouds a (B, N, 3) and b (B, M, 3), pair by pair:
    mean over a of the squared distance to the nearest point of b, plus the same from b
    to a (module docstring). 0 for identical sets, symmetric. Exact differences, not the
    |a|² + |b|² − 2ab expansion; `chunk` clouds at a time bound the (chunk, N, M) memory."""
    check_shape(a, "a", "B N 3")
    check_shape(b, "b", "B M 3", B=a.shape[0])
    check_positive_int(chunk, "chunk")
    out = []
    for i in range(0, len(a), chunk):
        d = (a[i:i + chunk, :, None, :] - b[i:i + chunk, None, :, :]).pow(2).sum(-1)     # (c, N, M)
        out.append(d.min(dim=2).values.mean(dim=1) + d.min(dim=1).values.mean(dim=1))
    return torch.cat(out) if out else a.new_zeros(0)


def family_distance(points: Tensor, references: Tensor) -> Tensor:
    """Chamfer distance (B,) of each cloud of `points` (B, N, 3) to the nearest of
    `references` (K, M, 3), real clouds of one family: how far a sample is from the
    family (poses included) rather than from one member."""
    check_shape(points, "points", "B N 3")
    check_shape(references, "references", "K M 3")
    B, K = len(points), len(references)
    pairs = chamfer_distance(points.repeat_interleave(K, dim=0), references.repeat(B, 1, 1))
    return pairs.reshape(B, K).min(dim=1).values
