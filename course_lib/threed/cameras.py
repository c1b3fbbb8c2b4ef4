"""Pinhole cameras and their rays (day 21): the geometry every 3D method shares.

Convention (OpenGL, NeRF, Blender): a camera looks down its own **−z** axis, **+x** is
right and **+y** is up. The 4×4 camera-to-world matrix `c2w` holds the camera's axes and
position as columns:

    c2w = [[r  u  b  e],       r = right, u = up, b = back (= −forward), e = eye
           [0  0  0  1]]       p_world = R p_cam + e,   p_cam = Rᵀ (p_world − e),   R = c2w[:3, :3]

Pixels are (x, y) = (column, row), x to the right and y **down**, row 0 at the top: pixel
(row i, column j) covers [j, j+1) × [i, i+1) and its centre is (j + ½, i + ½). The
principal point is the image centre (c_x, c_y) = (W/2, H/2). With the focal length f in
pixels, the ray through (x, y) and a camera-space point (X, Y, Z), Z < 0, are related by

    d_cam ∝ ((x − c_x) / f,  −(y − c_y) / f,  −1)            (the y flip: image down = camera −y)
    x = c_x + f X / (−Z),    y = c_y − f Y / (−Z)

Depth everywhere in `threed` is the distance t along the unit ray (p = o + t d), what a
ray tracer and NeRF's samples measure, not the z-depth −Z (t = −Z · |d_cam|).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.checks import check_positive, check_positive_int, check_range, check_shape

__all__ = ["Camera", "focal_from_fov", "look_at", "orbit_camera", "orbit_cameras",
           "camera_rays", "world_to_camera", "project"]


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera: `width` × `height` pixels, `focal` length in pixels, principal
    point at the image centre, and `c2w` (4, 4) its camera-to-world matrix."""

    width: int
    height: int
    focal: float
    c2w: Tensor

    def __post_init__(self):
        check_positive_int(self.width, "width")
        check_positive_int(self.height, "height")
        check_positive(self.focal, "focal")
        check_shape(self.c2w, "c2w", "4 4")
        if not self.c2w.is_floating_point():
            raise ValueError(f"c2w must be a floating-point tensor; got {self.c2w.dtype}")
        object.__setattr__(self, "focal", float(self.focal))

    @property
    def cx(self) -> float:
        return self.width / 2

    @property
    def cy(self) -> float:
        return self.height / 2

    @property
    def rotation(self) -> Tensor:
        """R (3, 3): columns are the camera's right, up and back axes in world space."""
        return self.c2w[:3, :3]

    @property
    def position(self) -> Tensor:
        """The eye e (3,) in world space."""
        return self.c2w[:3, 3]


def _vec3(v, name: str, dtype: torch.dtype | None = None) -> Tensor:
    """`v` (a tensor or a sequence of 3 numbers) as a float tensor (3,)."""
    if isinstance(v, Tensor):
        check_shape(v, name, "3")
        return v.to(dtype or (v.dtype if v.is_floating_point() else torch.get_default_dtype()))
    if not isinstance(v, Sequence) or len(v) != 3:
        raise ValueError(f"{name} must be 3 numbers (x, y, z); got {v!r}")
    return torch.tensor([float(c) for c in v], dtype=dtype or torch.get_default_dtype())


def focal_from_fov(width: int, fov_deg: float) -> float:
    """Focal length in pixels of a horizontal field of view: f = (W/2) / tan(fov/2)."""
    check_positive_int(width, "width")
    check_range(fov_deg, "fov_deg", 0, 180)
    if not 0 < fov_deg < 180:
        raise ValueError(f"fov_deg must be strictly between 0 and 180; got {fov_deg!r}")
    return 0.5 * width / math.tan(math.radians(fov_deg) / 2)


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)) -> Tensor:
    """Camera-to-world matrix (4, 4) of a camera at `eye` looking at `target`.

    OpenGL / NeRF convention: the camera looks down its −z axis, +y is up, +x right.

        forward f = (target − eye) / |target − eye|,    right r = f × up / |f × up|,
        true up u = r × f,                              c2w = [[r u −f eye], [0 0 0 1]]

    `up` only has to be roughly up (not parallel to the view direction)."""
    eye = _vec3(eye, "eye")
    target, up = _vec3(target, "target", eye.dtype), _vec3(up, "up", eye.dtype)
    forward = target - eye
    if not forward.norm() > 0:
        raise ValueError(f"target must differ from eye; both are {eye.tolist()}")
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    if not right.norm() > 1e-6 * max(up.norm().item(), 1e-30):
        raise ValueError(f"up must not be parallel to the view direction {forward.tolist()}; "
                         f"got {up.tolist()}")
    right = right / right.norm()
    true_up = torch.linalg.cross(right, forward)
    c2w = torch.eye(4, dtype=eye.dtype)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, true_up, -forward, eye
    return c2w


def orbit_camera(azimuth_deg: float, elevation_deg: float, radius: float, width: int,
                 height: int, fov_deg: float) -> Camera:
    """One camera on the sphere of `radius` about the origin, looking at the origin (y up).

        eye = radius · (cos el · sin az,  sin el,  cos el · cos az)

    azimuth 0 sits on +z, 90 on +x; elevation 0 is the equator, positive above it."""
    check_positive(radius, "radius")
    if not isinstance(elevation_deg, (int, float)) or not -90 < elevation_deg < 90:
        raise ValueError(f"elevation_deg must be strictly between -90 and 90 (the poles "
                         f"make 'up' ambiguous); got {elevation_deg!r}")
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    eye = (radius * math.cos(el) * math.sin(az), radius * math.sin(el),
           radius * math.cos(el) * math.cos(az))
    return Camera(width, height, focal_from_fov(width, fov_deg), look_at(eye))


def orbit_cameras(n: int, radius: float, elevation_deg: float | Sequence[float], width: int,
                  height: int, fov_deg: float, azimuth_offset_deg: float = 0.0) -> list[Camera]:
    """`n` cameras at azimuths offset + 360° k / n, k = 0..n−1, looking at the origin.

    elevation_deg: one number (a circle) or `n` numbers, one per camera (on the sphere)."""
    check_positive_int(n, "n")
    elevations = [elevation_deg] * n if isinstance(elevation_deg, (int, float)) else list(elevation_deg)
    if len(elevations) != n:
        raise ValueError(f"elevation_deg must be one number or n={n} numbers; got {len(elevations)}")
    return [orbit_camera(azimuth_offset_deg + 360.0 * k / n, el, radius, width, height, fov_deg)
            for k, el in enumerate(elevations)]


def camera_rays(camera: Camera) -> tuple[Tensor, Tensor]:
    """One ray per pixel centre: origins (H, W, 3) (all the eye) and unit directions (H, W, 3).

        d = R · normalize(((j + ½ − c_x) / f,  −(i + ½ − c_y) / f,  −1))     for row i, column j
    """
    R, kw = camera.rotation, dict(dtype=camera.c2w.dtype, device=camera.c2w.device)
    x = torch.arange(camera.width, **kw) + 0.5
    y = torch.arange(camera.height, **kw) + 0.5
    x, y = torch.meshgrid(x, y, indexing="xy")                         # (H, W) each
    d_cam = torch.stack([(x - camera.cx) / camera.focal, -(y - camera.cy) / camera.focal,
                         -torch.ones_like(x)], dim=-1)                 # (H, W, 3)
    directions = d_cam @ R.T
    directions = directions / directions.norm(dim=-1, keepdim=True)
    return camera.position.expand_as(directions), directions


def world_to_camera(points: Tensor, camera: Camera) -> Tensor:
    """World points (N, 3) in camera space (N, 3): p_cam = Rᵀ (p − e); in front when z < 0."""
    check_shape(points, "points", "N 3")
    return (points - camera.position) @ camera.rotation


def project(points: Tensor, camera: Camera) -> tuple[Tensor, Tensor]:
    """World points (N, 3) to pixels (N, 2) as (x, y) (x right, y down, pixel units) and
    depth (N,), the distance from the eye: the exact inverse of `camera_rays`, so the point
    o + t d of pixel (i, j)'s ray projects to (j + ½, i + ½) with depth t.

    A point behind the camera (or in its plane, Z ≥ 0) gets pixels nan and depth −|p − e|."""
    p = world_to_camera(points, camera)
    z = -p[:, 2]                                                       # z-depth, > 0 in front
    in_front = z > 0
    safe = torch.where(in_front, z, torch.ones_like(z))
    pixels = torch.stack([camera.cx + camera.focal * p[:, 0] / safe,
                          camera.cy - camera.focal * p[:, 1] / safe], dim=-1)
    pixels = torch.where(in_front[:, None], pixels, torch.full_like(pixels, math.nan))
    distance = p.norm(dim=-1)
    return pixels, torch.where(in_front, distance, -distance)
