"""3D Gaussian splatting (Kerbl et al. 2023) in plain PyTorch, tile-free (day 21).

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
    means2d, cov2d, depth = project_gaussians(splats.means, splats.covariances(), camera)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_positive_int, check_shape
from course_lib.threed.cameras import Camera, world_to_camera
from course_lib.threed.volume import alpha_weights

__all__ = ["quaternion_to_rotation", "covariance_3d", "project_gaussians", "GaussianSplats", "render_splats",
           "LOW_PASS", "MAX_ALPHA"]

LOW_PASS = 0.3      # pixels², added to every projected covariance
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


def project_gaussians(means: Tensor, cov3d: Tensor, camera: Camera) -> tuple[Tensor, Tensor, Tensor]:
    """Means (N, 3) and covariances (N, 3, 3) in the world -> image means (N, 2) in
    pixels (x right, y down), 2D covariances (N, 2, 2) (+ `LOW_PASS`), depths (N,) along
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
    cov2d = jw @ cov3d @ jw.transpose(1, 2) + LOW_PASS * torch.eye(2, dtype=means.dtype, device=means.device)
    return means2d, cov2d, z


class GaussianSplats(nn.Module):
    """N trainable Gaussians: means (N, 3), log scales (N, 3), quaternions (N, 4), opacity
    logits (N,), colour logits (N, 3); `scales`, `opacities`, `colors` apply exp and
    sigmoids."""

    def __init__(self, means: Tensor, log_scales: Tensor, quats: Tensor, opacity_logits: Tensor,
                 color_logits: Tensor):
        super().__init__()
        n = len(means)
        for name, value, spec in (("means", means, "N 3"), ("log_scales", log_scales, "N 3"), ("quats", quats, "N 4"),
                                  ("opacity_logits", opacity_logits, "N"), ("color_logits", color_logits, "N 3")):
            check_shape(value, name, spec, N=n)
        self.means, self.log_scales, self.quats = nn.Parameter(means), nn.Parameter(log_scales), nn.Parameter(quats)
        self.opacity_logits, self.color_logits = nn.Parameter(opacity_logits), nn.Parameter(color_logits)

    @classmethod
    def random(cls, n: int, radius: float = 1.0, scale: float = 0.05, opacity: float = 0.1,
               generator: torch.Generator | None = None) -> "GaussianSplats":
        """`n` small grey isotropic Gaussians uniform in a ball of `radius` (3DGS starts from
        a structure-from-motion point cloud; with none, a random cloud works for small scenes)."""
        check_positive_int(n, "n")
        direction = F.normalize(torch.randn(n, 3, generator=generator), dim=-1)
        means = direction * radius * torch.rand(n, 1, generator=generator) ** (1 / 3)
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        return cls(means, torch.full((n, 3), float(torch.tensor(scale).log())), quats,
                   torch.full((n,), float(torch.logit(torch.tensor(opacity)))), torch.zeros(n, 3))

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


def render_splats(splats: GaussianSplats, camera: Camera, background: float | Tensor = 1.0,
                  near: float = 0.2, tile: int | None = None) -> tuple[Tensor, Tensor]:
    """The image (H, W, 3) and its opacity (H, W) of `splats` seen by `camera`: every
    Gaussian in front of `near`, sorted by depth, evaluated at the pixel centres within
    its 3σ ellipse and alpha-composited; differentiable in every parameter but the sort.

    tile=None: one pixels × Gaussians matrix for the whole image. tile=k: 3DGS's tiles —
    the image in k × k blocks, each block composited with only the Gaussians whose 3σ
    bounding box touches it (the same image, far less work when each Gaussian covers a
    few pixels)."""
    means2d, cov2d, depth = project_gaussians(splats.means, splats.covariances(), camera)
    keep = depth > near
    order = torch.argsort(depth[keep])                                     # front to back
    mu, cov = means2d[keep][order], cov2d[keep][order]
    opacity, color = splats.opacities[keep][order], splats.colors[keep][order]
    h, w = camera.height, camera.width
    ys, xs = torch.meshgrid(torch.arange(h, dtype=mu.dtype) + 0.5, torch.arange(w, dtype=mu.dtype) + 0.5,
                            indexing="ij")
    pixels = torch.stack([xs, ys], dim=-1).to(mu.device)                   # (H, W, 2) as (x, y)
    background = torch.as_tensor(background, dtype=mu.dtype, device=mu.device)
    if tile is None:
        rgb, coverage = _composite(pixels.reshape(-1, 2), mu, cov, opacity, color, background)
        return rgb.reshape(h, w, 3), coverage.reshape(h, w)
    check_positive_int(tile, "tile")
    half = 3 * torch.sqrt(torch.stack([cov[:, 0, 0], cov[:, 1, 1]], dim=-1))      # (N, 2): the 3σ box's half sides
    lo, hi = mu - half, mu + half
    rgb, coverage = torch.empty(h, w, 3, dtype=mu.dtype), torch.empty(h, w, dtype=mu.dtype)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            near_tile = (hi[:, 0] >= x0) & (lo[:, 0] <= x1) & (hi[:, 1] >= y0) & (lo[:, 1] <= y1)
            block = pixels[y0:y1, x0:x1].reshape(-1, 2)
            c, a = _composite(block, mu[near_tile], cov[near_tile], opacity[near_tile], color[near_tile], background)
            rgb[y0:y1, x0:x1], coverage[y0:y1, x0:x1] = c.reshape(y1 - y0, x1 - x0, 3), a.reshape(y1 - y0, x1 - x0)
    return rgb, coverage


def _composite(pixels: Tensor, mu: Tensor, cov: Tensor, opacity: Tensor, color: Tensor,
               background: Tensor) -> tuple[Tensor, Tensor]:
    """Colours (P, 3) and coverage (P,) of pixel centres (P, 2) under N depth-sorted 2D
    Gaussians: α = min(0.99, o exp(−½ m)) inside the 3σ ellipse (m ≤ 9), else 0."""
    d = pixels[:, None, :] - mu[None]                                      # (P, N, 2)
    a, b, c = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
    det = (a * c - b * b).clamp(min=1e-12)
    # m = (p − μ)ᵀ Σ'⁻¹ (p − μ) with Σ'⁻¹ = [[c, −b], [−b, a]] / det
    m = (c * d[..., 0] ** 2 - 2 * b * d[..., 0] * d[..., 1] + a * d[..., 1] ** 2) / det
    alpha = torch.where(m <= 9, opacity * torch.exp(-0.5 * m), 0.0).clamp(max=MAX_ALPHA)   # (P, N)
    weights = alpha_weights(alpha)                                         # (P, N): T_i α_i
    coverage = weights.sum(-1)
    return weights @ color + (1 - coverage)[:, None] * background, coverage
