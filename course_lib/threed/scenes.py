"""Analytic scenes, ray-traced exactly (day 21): the ground truth a NeRF learns to imitate.

A `Scene` is a few spheres and axis-aligned boxes, each one RGB colour in [0, 1], on a
background colour. Every ray (origin o, unit direction d) is intersected in closed form:

    sphere (c, r):  |o + t d − c|² = r²  →  t = −b ± √(b² − (|o − c|² − r²)),  b = (o − c)·d
    box [lo, hi]:   slabs, t_near = maxₖ min(t₁ₖ, t₂ₖ), t_far = minₖ max(t₁ₖ, t₂ₖ),
                    tᵢₖ = (boundᵢₖ − oₖ) / dₖ; hit when t_near ≤ t_far and t_far > 0

The nearest hit wins. Its colour is flat, or shaded by a Lambertian light from the fixed
direction l (towards the light; no shadows): c · (a + (1 − a) · max(0, n·l)), a = ambient.
Depth is the distance t along the ray (inf on the background), as in `cameras`.

`make_views` films a scene from an orbit: training cameras at even azimuths (elevations
drawn from `seed`) and held-out cameras half-way between two training ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.checks import check_positive, check_positive_int, check_range, check_shape
from course_lib.threed.cameras import Camera, camera_rays, orbit_camera

__all__ = ["Sphere", "Box", "Scene", "default_scene", "ray_sphere", "ray_box", "trace",
           "render_scene", "Views", "SceneViews", "make_views"]

_EPS = 1e-6          # hits closer than this are the surface the ray starts on


def _check_color(color, name: str) -> None:
    if len(color) != 3:
        raise ValueError(f"{name} must be 3 numbers (r, g, b); got {color!r}")
    for c in color:
        check_range(c, name, 0.0, 1.0)


@dataclass(frozen=True)
class Sphere:
    center: tuple[float, float, float]
    radius: float
    color: tuple[float, float, float]

    def __post_init__(self):
        if len(self.center) != 3:
            raise ValueError(f"center must be 3 numbers (x, y, z); got {self.center!r}")
        check_positive(self.radius, "radius")
        _check_color(self.color, "color")


@dataclass(frozen=True)
class Box:
    """The axis-aligned box lo ≤ p ≤ hi."""
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    color: tuple[float, float, float]

    def __post_init__(self):
        if len(self.lo) != 3 or len(self.hi) != 3 or not all(a < b for a, b in zip(self.lo, self.hi)):
            raise ValueError(f"hi must exceed lo on every axis; got lo={self.lo}, hi={self.hi}")
        _check_color(self.color, "color")


@dataclass(frozen=True)
class Scene:
    """Spheres and boxes on a `background`; `light` (towards the light, any length) or
    None for flat colours; `ambient` the light every surface gets."""
    objects: tuple[Sphere | Box, ...]
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    light: tuple[float, float, float] | None = (0.4, 0.8, 0.45)
    ambient: float = 0.35

    def __post_init__(self):
        object.__setattr__(self, "objects", tuple(self.objects))
        if not all(isinstance(o, (Sphere, Box)) for o in self.objects):
            raise ValueError(f"objects must be Spheres and Boxes; got {self.objects!r}")
        _check_color(self.background, "background")
        check_range(self.ambient, "ambient", 0.0, 1.0)
        if self.light is not None and (len(self.light) != 3 or not any(self.light)):
            raise ValueError(f"light must be a non-zero direction (x, y, z) or None; got {self.light!r}")

    @property
    def radius(self) -> float:
        """Radius of a sphere about the origin holding every object (for near / far)."""
        def extent(o):
            if isinstance(o, Sphere):
                return math.dist(o.center, (0, 0, 0)) + o.radius
            return max(math.dist((x, y, z), (0, 0, 0)) for x in (o.lo[0], o.hi[0])
                       for y in (o.lo[1], o.hi[1]) for z in (o.lo[2], o.hi[2]))
        return max((extent(o) for o in self.objects), default=0.0)


def default_scene() -> Scene:
    """Three objects within radius 1 of the origin: a red and a blue sphere, a green box."""
    return Scene((Sphere((-0.4, 0.1, 0.0), 0.4, (0.9, 0.15, 0.1)),
                  Sphere((0.45, -0.15, 0.4), 0.25, (0.15, 0.3, 0.9)),
                  Box((0.05, -0.5, -0.55), (0.55, 0.0, -0.05), (0.15, 0.75, 0.2))))


def ray_sphere(origins: Tensor, directions: Tensor, center, radius: float) -> tuple[Tensor, Tensor]:
    """Nearest hits t (R,) (inf on a miss) and outward unit normals (R, 3) of rays
    (origins (R, 3), unit directions (R, 3)) with the sphere |p − center| = radius."""
    c = torch.as_tensor(center, dtype=origins.dtype, device=origins.device)
    oc = origins - c
    b = (oc * directions).sum(-1)
    disc = b ** 2 - ((oc ** 2).sum(-1) - radius ** 2)
    root = disc.clamp(min=0).sqrt()
    near, far = -b - root, -b + root
    inf = torch.full_like(b, math.inf)
    t = torch.where(near > _EPS, near, torch.where(far > _EPS, far, inf))
    t = torch.where(disc >= 0, t, inf)
    normals = (origins + torch.nan_to_num(t, posinf=0.0)[:, None] * directions - c) / radius
    return t, normals


def ray_box(origins: Tensor, directions: Tensor, lo, hi) -> tuple[Tensor, Tensor]:
    """Nearest hits t (R,) (inf on a miss) and outward unit normals (R, 3) of rays with
    the axis-aligned box lo ≤ p ≤ hi, by the slab method (module docstring)."""
    kw = dict(dtype=origins.dtype, device=origins.device)
    lo, hi = torch.as_tensor(lo, **kw), torch.as_tensor(hi, **kw)
    d = torch.where(directions == 0, torch.full_like(directions, 1e-30), directions)
    t1, t2 = (lo - origins) / d, (hi - origins) / d                    # (R, 3) each
    t_in, t_out = torch.minimum(t1, t2), torch.maximum(t1, t2)
    t_near, axis_near = t_in.max(-1)
    t_far, axis_far = t_out.min(-1)
    hit = (t_near <= t_far) & (t_far > _EPS)
    outside = t_near > _EPS                                             # else the ray starts inside
    t = torch.where(hit, torch.where(outside, t_near, t_far), torch.full_like(t_near, math.inf))
    axis = torch.where(outside, axis_near, axis_far)
    sign = torch.where(outside, -1.0, 1.0).to(d.dtype) * d.gather(1, axis[:, None])[:, 0].sign()
    normals = torch.nn.functional.one_hot(axis, 3).to(d.dtype) * sign[:, None]
    return t, normals


def trace(scene: Scene, origins: Tensor, directions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Exact colour (R, 3), depth t (R,) (inf on the background) and mask (R,) (bool, an
    object was hit) of rays with origins (R, 3) and unit directions (R, 3)."""
    check_shape(origins, "origins", "R 3")
    check_shape(directions, "directions", "R 3", R=origins.shape[0])
    R, kw = origins.shape[0], dict(dtype=origins.dtype, device=origins.device)
    depth = torch.full((R,), math.inf, **kw)
    normals = torch.zeros(R, 3, **kw)
    color = torch.as_tensor(scene.background, **kw).expand(R, 3).clone()
    for obj in scene.objects:
        if isinstance(obj, Sphere):
            t, n = ray_sphere(origins, directions, obj.center, obj.radius)
        else:
            t, n = ray_box(origins, directions, obj.lo, obj.hi)
        closer = t < depth
        depth = torch.where(closer, t, depth)
        normals = torch.where(closer[:, None], n, normals)
        color = torch.where(closer[:, None], torch.as_tensor(obj.color, **kw), color)
    mask = depth < math.inf
    if scene.light is not None:
        light = torch.as_tensor(scene.light, **kw)
        lambert = (normals @ (light / light.norm())).clamp(min=0)
        shade = scene.ambient + (1 - scene.ambient) * lambert
        color = torch.where(mask[:, None], color * shade[:, None], color)
    return color, depth, mask


def render_scene(scene: Scene, camera: Camera) -> tuple[Tensor, Tensor, Tensor]:
    """The camera's image: rgb (H, W, 3) in [0, 1], depth (H, W) (inf on the background),
    mask (H, W) bool."""
    origins, directions = camera_rays(camera)
    H, W = camera.height, camera.width
    rgb, depth, mask = trace(scene, origins.reshape(-1, 3), directions.reshape(-1, 3))
    return rgb.reshape(H, W, 3), depth.reshape(H, W), mask.reshape(H, W)


@dataclass(frozen=True, eq=False)
class Views:
    """Cameras with what they see: images (N, H, W, 3), depths (N, H, W), masks (N, H, W)."""
    cameras: list[Camera]
    azimuths: list[float]
    elevations: list[float]
    images: Tensor
    depths: Tensor
    masks: Tensor

    def rays(self) -> tuple[Tensor, Tensor, Tensor]:
        """Every pixel of every view as a ray: origins (N·H·W, 3), directions (N·H·W, 3),
        colours (N·H·W, 3), in the order of `images.reshape(-1, 3)`."""
        if not self.cameras:
            return torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, 3)
        origins, directions = zip(*(camera_rays(c) for c in self.cameras))
        return (torch.stack(origins).reshape(-1, 3), torch.stack(directions).reshape(-1, 3),
                self.images.reshape(-1, 3))


@dataclass(frozen=True, eq=False)
class SceneViews:
    """A multi-view data set: `train` views, held-out `test` views, the `scene` and the
    `near` / `far` bounds (orbit radius ∓ the scene's radius) every ray crosses it within."""
    scene: Scene
    train: Views
    test: Views
    near: float
    far: float


def _film(scene, azimuths, elevations, radius, size, fov_deg) -> Views:
    cameras = [orbit_camera(a, e, radius, size, size, fov_deg) for a, e in zip(azimuths, elevations)]
    shots = [render_scene(scene, c) for c in cameras]
    if not shots:
        return Views([], [], [], torch.zeros(0, size, size, 3), torch.zeros(0, size, size),
                     torch.zeros(0, size, size, dtype=torch.bool))
    images, depths, masks = (torch.stack(x) for x in zip(*shots))
    return Views(cameras, list(azimuths), list(elevations), images, depths, masks)


def make_views(scene: Scene, n_train: int, n_test: int, size: int = 32, radius: float = 4.0,
               seed: int = 0, elevation_deg: tuple[float, float] = (10.0, 40.0),
               fov_deg: float = 40.0) -> SceneViews:
    """Film `scene` from an orbit of `radius`: `n_train` training views at azimuths 360° k /
    n_train with elevations uniform in `elevation_deg` (drawn from `seed`), and `n_test`
    held-out views at the midpoints of `n_test` of the `n_train` gaps (spread evenly, at
    the middle elevation), so no held-out camera is where a training camera was.

    Images are `size` × `size`, horizontal field of view `fov_deg`; deterministic."""
    check_positive_int(n_train, "n_train")
    check_positive_int(n_test, "n_test", allow_zero=True)
    if n_test > n_train:
        raise ValueError(f"n_test must be at most n_train={n_train} (one per gap); got {n_test}")
    check_positive_int(size, "size")
    check_positive(radius, "radius")
    if radius <= scene.radius:
        raise ValueError(f"radius must exceed the scene's radius {scene.radius:.3g}; got {radius!r}")
    if len(elevation_deg) != 2 or not -90 < elevation_deg[0] <= elevation_deg[1] < 90:
        raise ValueError(f"elevation_deg must be (low, high) with -90 < low <= high < 90; got {elevation_deg!r}")
    low, high = elevation_deg
    step = 360.0 / n_train
    g = torch.Generator().manual_seed(seed)
    train_el = (low + (high - low) * torch.rand(n_train, generator=g, dtype=torch.float64)).tolist()
    gaps = [k * n_train // n_test for k in range(n_test)]
    train = _film(scene, [k * step for k in range(n_train)], train_el, radius, size, fov_deg)
    test = _film(scene, [(k + 0.5) * step for k in gaps], [(low + high) / 2] * n_test,
                 radius, size, fov_deg)
    return SceneViews(scene, train, test, near=radius - scene.radius, far=radius + scene.radius)
