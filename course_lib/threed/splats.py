"""3D Gaussian splatting (Kerbl et al. 2023) in plain PyTorch (day 21).

A scene is N anisotropic Gaussians, each a mean μ, a scale s (3,), a rotation quaternion
q, an opacity o and a colour c. Its covariance is

    Σ = R S Sᵀ Rᵀ,   S = diag(s),   R = rotation(q / |q|)     (positive semi-definite by construction)

Rendering projects each Gaussian to the image (EWA splatting, Zwicker et al. 2001): with
W the world-to-camera rotation and J the Jacobian of the pinhole projection at the
Gaussian's centre (camera looks down −z, z = −Z > 0 is the depth),

    x = c_x + f X / z,   y = c_y − f Y / z
    J = [[f / z,  0,     f X / z²],
         [0,     −f / z, −f Y / z²]]
    Σ' = J W Σ Wᵀ Jᵀ + 0.3 I       (2×2, in pixels²; 0.3 I: 3DGS's low-pass, a Gaussian never thinner than a pixel)

Each pixel p then gets α_i = min(0.99, o_i exp(−½ (p − μ'_i)ᵀ Σ'_i⁻¹ (p − μ'_i))), and the
Gaussians are composited front to back, sorted by depth, exactly as NeRF's samples are
(`volume.alpha_weights`: the weight of Gaussian i is T_i α_i); α is 0 outside the 3σ
ellipse. No ray marching and no network: a matrix of pixels × Gaussians — per 16 × 16
tile in 3DGS, each tile with only the Gaussians that touch it — which is why splats
render fast.

    splats = GaussianSplats.random(n=2000, radius=1.0, generator=g)
    image, alpha = render_splats(splats, camera, background=1.0)       # (H, W, 3), (H, W)
    image, alpha = render_splats(splats, camera, tile=8)               # the same image, tile by tile
    image, alpha = render_splats(splats.frozen(), camera, pairs=True)  # the same, from (pixel, Gaussian) pairs
    means2d, cov2d, depth = project_gaussians(splats.means, splats.covariances(), camera)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_positive_int, check_range, check_shape
from course_lib.threed.cameras import Camera, world_to_camera
from course_lib.threed.volume import alpha_weights

__all__ = ["quaternion_to_rotation", "covariance_3d", "project_gaussians", "GaussianSplats", "FrozenSplats", "render_splats",
           "LOW_PASS", "MAX_ALPHA"]

LOW_PASS = 0.3      # pixels², added to every projected covariance (3DGS's default)
MAX_ALPHA = 0.99    # no Gaussian is fully opaque (keeps gradients alive behind it)


def quaternion_to_rotation(q: Tensor) -> Tensor:
    """(N, 4) quaternions (w, x, y, z), any norm -> (N, 3, 3) rotation matrices."""
    check_shape(q, "q", "N 4")
    w, x, y, z = F.normalize(q, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(-1, 3, 3)


def covariance_3d(scales: Tensor, q: Tensor) -> Tensor:
    """Σ = R S Sᵀ Rᵀ (N, 3, 3) from scales (N, 3) > 0 and quaternions (N, 4)."""
    check_shape(scales, "scales", "N 3")
    m = quaternion_to_rotation(q) * scales[:, None, :]                      # R S: column j scaled by s_j
    return m @ m.transpose(1, 2)


def project_gaussians(means: Tensor, cov3d: Tensor, camera: Camera,
                      low_pass: float = LOW_PASS) -> tuple[Tensor, Tensor, Tensor]:
    """Means (N, 3) and covariances (N, 3, 3) in the world -> image means (N, 2) in
    pixels (x right, y down), 2D covariances (N, 2, 2) (+ `low_pass` I), depths (N,) along
    the camera's viewing axis (z = −Z; ≤ 0 means behind the camera)."""
    check_shape(means, "means", "N 3")
    check_shape(cov3d, "cov3d", "N 3 3", N=len(means))
    cam = world_to_camera(means, camera)                                   # (N, 3): X, Y, Z (Z < 0 in front)
    x, y, z = cam[:, 0], cam[:, 1], -cam[:, 2]
    f = camera.focal
    zs = z.clamp(min=1e-6)
    means2d = torch.stack([camera.cx + f * x / zs, camera.cy - f * y / zs], dim=-1)
    zero = torch.zeros_like(zs)
    jac = torch.stack([f / zs, zero, f * x / zs ** 2,
                       zero, -f / zs, -f * y / zs ** 2], dim=-1).reshape(-1, 2, 3)   # d(x, y) / d(X, Y, Z)
    w = camera.rotation.T.to(means)                                        # world -> camera rotation
    jw = jac @ w                                                           # (N, 2, 3)
    cov2d = jw @ cov3d @ jw.transpose(1, 2) + low_pass * torch.eye(2, dtype=means.dtype, device=means.device)
    return means2d, cov2d, z


class GaussianSplats(nn.Module):
    """N trainable Gaussians: means (N, 3), log scales (N, 3), quaternions (N, 4), opacity
    logits (N,), colour logits (N, 3); `scales`, `opacities`, `colors` apply exp and
    sigmoids. `low_pass` (pixels²) is added to every projected covariance when they are
    rendered: 3DGS's 0.3 keeps a splat at least a pixel wide, anti-aliasing large images;
    on tiny images with sharp one-ray-per-pixel edges, a smaller one fits the edges."""

    def __init__(self, means: Tensor, log_scales: Tensor, quats: Tensor, opacity_logits: Tensor,
                 color_logits: Tensor, low_pass: float = LOW_PASS):
        super().__init__()
        check_range(low_pass, "low_pass", low=0.0)
        self.low_pass = float(low_pass)
        n = len(means)
        for name, value, spec in (("means", means, "N 3"), ("log_scales", log_scales, "N 3"), ("quats", quats, "N 4"),
                                  ("opacity_logits", opacity_logits, "N"), ("color_logits", color_logits, "N 3")):
            check_shape(value, name, spec, N=n)
        self.means, self.log_scales, self.quats = nn.Parameter(means), nn.Parameter(log_scales), nn.Parameter(quats)
        self.opacity_logits, self.color_logits = nn.Parameter(opacity_logits), nn.Parameter(color_logits)

    @classmethod
    def random(cls, n: int, radius: float = 1.0, scale: float = 0.05, opacity: float = 0.1,
               generator: torch.Generator | None = None, low_pass: float = LOW_PASS) -> "GaussianSplats":
        """`n` small grey isotropic Gaussians uniform in a ball of `radius` (3DGS starts from
        a structure-from-motion point cloud; with none, a random cloud works for small scenes)."""
        check_positive_int(n, "n")
        direction = F.normalize(torch.randn(n, 3, generator=generator), dim=-1)
        means = direction * radius * torch.rand(n, 1, generator=generator) ** (1 / 3)
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        return cls(means, torch.full((n, 3), float(torch.tensor(scale).log())), quats,
                   torch.full((n,), float(torch.logit(torch.tensor(opacity)))), torch.zeros(n, 3), low_pass)

    def __len__(self) -> int:
        return len(self.means)

    def covariances(self) -> Tensor:
        return covariance_3d(self.log_scales.exp(), self.quats)

    @property
    def opacities(self) -> Tensor:
        return torch.sigmoid(self.opacity_logits)

    @property
    def colors(self) -> Tensor:
        return torch.sigmoid(self.color_logits)

    def render_inputs(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """What rendering needs: means (N, 3), covariances (N, 3, 3), opacities (N,), colours (N, 3)."""
        return self.means, self.covariances(), self.opacities, self.colors

    @torch.no_grad()
    def frozen(self) -> "FrozenSplats":
        """The camera-independent render inputs computed once, for a viewer: covariances
        from quaternions and scales, opacities and colours from their logits (what
        real-time splat viewers store; no gradients)."""
        return FrozenSplats(*(x.detach().clone() for x in self.render_inputs()), self.low_pass)

    @torch.no_grad()
    def pruned(self, min_opacity: float) -> "GaussianSplats":
        """A copy without the Gaussians of opacity below `min_opacity` (3DGS prunes these
        during training: nearly transparent, they cost render time and add almost nothing)."""
        check_range(min_opacity, "min_opacity", low=0.0, high=1.0)
        keep = self.opacities >= min_opacity
        return GaussianSplats(*(p[keep].clone() for p in (self.means, self.log_scales, self.quats,
                                                           self.opacity_logits, self.color_logits)), self.low_pass)


@dataclass(frozen=True)
class FrozenSplats:
    """Splats ready to view (`GaussianSplats.frozen`): means (N, 3), covariances (N, 3, 3),
    opacities (N,), colours (N, 3), low_pass."""
    means: Tensor
    covariances: Tensor
    opacities: Tensor
    colors: Tensor
    low_pass: float

    def __len__(self) -> int:
        return len(self.means)

    def render_inputs(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.means, self.covariances, self.opacities, self.colors


def render_splats(splats: GaussianSplats | FrozenSplats, camera: Camera, background: float | Tensor = 1.0,
                  near: float = 0.2, tile: int | None = None, pairs: bool = False) -> tuple[Tensor, Tensor]:
    """The image (H, W, 3) and its opacity (H, W) of `splats` seen by `camera`: every
    Gaussian in front of `near`, sorted by depth, evaluated at the pixel centres within
    its 3σ ellipse and alpha-composited; differentiable in every parameter but the sort.

    Three ways to the same image (tested equal):
    - default: one pixels × Gaussians matrix for the whole image (the formula, as is);
    - tile=k: 3DGS's tiles — the image in k × k blocks, each composited with only the
      Gaussians whose 3σ bounding box touches it;
    - pairs=True: only the (pixel, Gaussian) pairs inside each Gaussian's 3σ box, sorted by
      pixel then depth, each pixel's transmittance a cumulative sum of log(1 − α) restarted
      at the pixel — the work 3DGS's per-tile sorted lists do, per pixel, with no loop.
      The fastest here: the work grows with the pixels each Gaussian covers, not with
      pixels × Gaussians."""
    means, cov3d, opacities, colors = splats.render_inputs()
    means2d, cov2d, depth = project_gaussians(means, cov3d, camera, splats.low_pass)
    in_front = depth > near
    order = torch.argsort(torch.where(in_front, depth, torch.inf))[:int(in_front.sum())]    # front to back
    mu, cov, opacity, color = means2d[order], cov2d[order], opacities[order], colors[order]
    h, w = camera.height, camera.width
    background = torch.as_tensor(background, dtype=mu.dtype, device=mu.device)
    if pairs:
        rgb, coverage = _composite_pairs(mu, cov, opacity, color, background, h, w)
        return rgb.reshape(h, w, 3), coverage.reshape(h, w)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=mu.dtype) + 0.5, torch.arange(w, dtype=mu.dtype) + 0.5,
                            indexing="ij")
    pixels = torch.stack([xs, ys], dim=-1).to(mu.device)                   # (H, W, 2) as (x, y)
    if tile is None:
        rgb, coverage = _composite(pixels.reshape(-1, 2), mu, cov, opacity, color, background)
        return rgb.reshape(h, w, 3), coverage.reshape(h, w)
    check_positive_int(tile, "tile")
    lo, hi = _box(mu, cov)
    rgb, coverage = torch.empty(h, w, 3, dtype=mu.dtype), torch.empty(h, w, dtype=mu.dtype)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            near_tile = (hi[:, 0] >= x0) & (lo[:, 0] <= x1) & (hi[:, 1] >= y0) & (lo[:, 1] <= y1)
            block = pixels[y0:y1, x0:x1].reshape(-1, 2)
            c, a = _composite(block, mu[near_tile], cov[near_tile], opacity[near_tile], color[near_tile], background)
            rgb[y0:y1, x0:x1], coverage[y0:y1, x0:x1] = c.reshape(y1 - y0, x1 - x0, 3), a.reshape(y1 - y0, x1 - x0)
    return rgb, coverage


def _box(mu: Tensor, cov: Tensor) -> tuple[Tensor, Tensor]:
    """Corners lo, hi (N, 2) of each 2D Gaussian's 3σ bounding box: μ' ∓ 3 (√Σ'ₓₓ, √Σ'ᵧᵧ)."""
    half = 3 * torch.sqrt(torch.stack([cov[:, 0, 0], cov[:, 1, 1]], dim=-1))
    return mu - half, mu + half


def _alpha(d: Tensor, cov: Tensor, opacity: Tensor) -> Tensor:
    """α = min(0.99, o exp(−½ m)) inside the 3σ ellipse (m ≤ 9), else 0, of offsets
    d (..., 2) = p − μ' from Gaussians of covariances cov (..., 2, 2), opacities (...,)."""
    a, b, c = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    det = (a * c - b * b).clamp(min=1e-12)
    # m = (p − μ)ᵀ Σ'⁻¹ (p − μ) with Σ'⁻¹ = [[c, −b], [−b, a]] / det
    m = (c * d[..., 0] ** 2 - 2 * b * d[..., 0] * d[..., 1] + a * d[..., 1] ** 2) / det
    return torch.where(m <= 9, opacity * torch.exp(-0.5 * m), 0.0).clamp(max=MAX_ALPHA)


def _composite(pixels: Tensor, mu: Tensor, cov: Tensor, opacity: Tensor, color: Tensor,
               background: Tensor) -> tuple[Tensor, Tensor]:
    """Colours (P, 3) and coverage (P,) of pixel centres (P, 2) under N depth-sorted 2D
    Gaussians (means (N, 2), covariances (N, 2, 2)), all pairs at once."""
    alpha = _alpha(pixels[:, None, :] - mu[None], cov, opacity)            # (P, N)
    weights = alpha_weights(alpha)                                         # (P, N): T_i α_i
    coverage = weights.sum(-1)
    return weights @ color + (1 - coverage)[:, None] * background, coverage


def _composite_pairs(mu: Tensor, cov: Tensor, opacity: Tensor, color: Tensor, background: Tensor,
                     h: int, w: int) -> tuple[Tensor, Tensor]:
    """Colours (H W, 3) and coverage (H W,) from the (pixel, Gaussian) pairs within each
    depth-sorted Gaussian's 3σ box (K pairs)."""
    with torch.no_grad():                                                  # which pairs: integers, no gradient
        lo, hi = _box(mu, cov)
        first = torch.ceil(lo - 0.5).clamp(min=0).long()                   # (N, 2) first pixel (x, y) whose centre is in
        limit = torch.tensor([w - 1, h - 1], device=mu.device)
        size = (torch.minimum(torch.floor(hi - 0.5).long(), limit) - first + 1).clamp(min=0)   # (N, 2) across, down
        count = size[:, 0] * size[:, 1]
        g = torch.repeat_interleave(torch.arange(len(mu), device=mu.device), count)       # (K,) Gaussian of each pair
        k = torch.arange(len(g), device=mu.device) - torch.repeat_interleave(count.cumsum(0) - count, count)
        box = torch.cat([first, size[:, :1]], dim=1)[g]                    # (K, 3): first x, first y, width
        pixel = (box[:, 1] + k // box[:, 2]) * w + box[:, 0] + k % box[:, 2]
        pixel, order = torch.sort(pixel, stable=True)                      # by pixel; stable keeps depth order
        g = g[order]
        starts = torch.ones_like(pixel, dtype=torch.bool)
        starts[1:] = pixel[1:] != pixel[:-1]
        start = torch.cummax(torch.where(starts, torch.arange(len(g), device=mu.device), 0), 0).values  # (K,)
        centre = torch.stack([pixel % w, pixel // w], dim=-1).to(mu.dtype) + 0.5                     # (K, 2) x, y
    gathered = torch.cat([mu, cov.reshape(-1, 4), opacity[:, None], color], dim=1)[g]               # (K, 10)
    alpha = _alpha(centre - gathered[:, :2], gathered[:, 2:6].reshape(-1, 2, 2), gathered[:, 6])    # (K,)
    log_keep = torch.log1p(-alpha).double()                                # log(1 − α), float64: long sums
    before = log_keep.cumsum(0) - log_keep                                 # Σ over earlier pairs of the whole list
    transmittance = torch.exp(before - before[start]).to(alpha.dtype)      # ... restarted at the pixel: T_i
    weights = transmittance * alpha
    summed = torch.zeros(h * w, 4, dtype=mu.dtype, device=mu.device).index_add(
        0, pixel, weights[:, None] * torch.cat([gathered[:, 7:], torch.ones_like(alpha)[:, None]], dim=1))
    rgb, coverage = summed[:, :3], summed[:, 3]                            # Σ w c and Σ w per pixel
    return rgb + (1 - coverage)[:, None] * background, coverage
