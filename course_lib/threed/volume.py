"""Volume rendering (day 21): a ray through a field of density σ and colour c, as NeRF
renders it (Mildenhall et al. 2020, eq. 3; Max 1995).

Along a ray p(t) = o + t d (d a unit vector, so t is distance) take sorted samples
t_1 < ... < t_S in [near, far]. Each sample stands for the interval up to the next one:

    δ_i = t_{i+1} − t_i          (δ_S = 1e10: the last sample reaches to infinity)
    α_i = 1 − exp(−σ_i δ_i)      (how much of the light the interval stops)
    T_i = Π_{j<i} (1 − α_j)      (transmittance: light that reaches sample i; T_1 = 1 —
                                  an *exclusive* product, sample i does not hide itself)
    w_i = T_i α_i                (Σ w_i = 1 − T_{S+1} ≤ 1)

    colour  Ĉ = Σ w_i c_i + (1 − Σ w_i) · background
    depth   D̂ = Σ w_i t_i,       opacity  Â = Σ w_i

Sampling: `stratified_samples` spreads S samples over [near, far], one per stratum;
`sample_pdf` draws more where the weights are large (inverse-transform sampling of the
piecewise-constant pdf the weights define), NeRF's hierarchical "fine" samples.
Shapes: R rays, S samples per ray. The same `alpha_weights` composites Gaussian splats,
whose α comes from a projected Gaussian instead of σ δ.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.checks import check_positive_int, check_range, check_shape

__all__ = ["stratified_samples", "ray_points", "transmittance", "alpha_weights",
           "render_weights", "composite", "sample_pdf", "LAST_DELTA"]

LAST_DELTA = 1e10          # δ of the last sample, as in NeRF: it stops whatever is left


def stratified_samples(origins: Tensor, directions: Tensor, near: float, far: float,
                       n_samples: int, generator: torch.Generator | None = None,
                       perturb: bool = True) -> Tensor:
    """Sample distances t (R, S) along rays with origins (R, 3) and directions (R, 3).

    Without `perturb`: t = linspace(near, far, S) on every ray (both ends included). With
    it, as NeRF: t_i uniform in [m_{i−1}, m_i], the interval between the midpoints m of
    neighbouring linspace points (m_0 = near, m_S = far), drawn independently per ray from
    `generator`; the samples stay sorted and cover [near, far] with one per stratum."""
    check_shape(origins, "origins", "R 3")
    check_shape(directions, "directions", "R 3", R=origins.shape[0])
    check_positive_int(n_samples, "n_samples")
    check_range(near, "near", low=0.0)
    check_range(far, "far")
    if not far > near:
        raise ValueError(f"far must exceed near={near!r}; got {far!r}")
    R, kw = origins.shape[0], dict(dtype=origins.dtype, device=origins.device)
    t = torch.linspace(near, far, n_samples, **kw).expand(R, n_samples)
    if not perturb:
        return t.contiguous()
    mids = (t[:, 1:] + t[:, :-1]) / 2
    lower = torch.cat([torch.full((R, 1), near, **kw), mids], dim=-1)
    upper = torch.cat([mids, torch.full((R, 1), far, **kw)], dim=-1)
    u = torch.rand(R, n_samples, generator=generator, **kw)
    return lower + (upper - lower) * u


def ray_points(origins: Tensor, directions: Tensor, t: Tensor) -> Tensor:
    """The sample points p = o + t d (R, S, 3) of rays (R, 3), (R, 3) at distances t (R, S)."""
    check_shape(origins, "origins", "R 3")
    check_shape(directions, "directions", "R 3", R=origins.shape[0])
    check_shape(t, "t", "R S", R=origins.shape[0])
    return origins[:, None, :] + t[..., None] * directions[:, None, :]


def transmittance(alpha: Tensor) -> Tensor:
    """T (R, S) from alphas (R, S): T_i = Π_{j<i} (1 − α_j), an exclusive cumulative
    product (T_1 = 1): the light that reaches sample i, before sample i stops any of it."""
    check_shape(alpha, "alpha", "R S")
    ones = torch.ones_like(alpha[:, :1])
    return torch.cumprod(torch.cat([ones, 1 - alpha[:, :-1]], dim=-1), dim=-1)


def alpha_weights(alpha: Tensor) -> Tensor:
    """Front-to-back compositing weights w_i = T_i α_i (R, S) of alphas (R, S) in [0, 1]."""
    return transmittance(alpha) * alpha


def render_weights(sigma: Tensor, t: Tensor) -> Tensor:
    """Weights w (R, S) of densities σ ≥ 0 (R, S) at sorted distances t (R, S).

    δ_i = t_{i+1} − t_i (δ_S = LAST_DELTA), α_i = 1 − exp(−σ_i δ_i) (as −expm1, exact for
    small σδ), w_i = T_i α_i with T exclusive (`transmittance`). Distances are along unit
    directions; with unnormalised ones NeRF scales δ by |d|. σ is not clamped: apply a
    ReLU or softplus to a network's raw output first."""
    check_shape(sigma, "sigma", "R S")
    check_shape(t, "t", "R S", R=sigma.shape[0], S=sigma.shape[1])
    delta = torch.cat([t[:, 1:] - t[:, :-1], torch.full_like(t[:, :1], LAST_DELTA)], dim=-1)
    alpha = -torch.expm1(-sigma * delta)
    return alpha_weights(alpha)


def composite(weights: Tensor, rgb: Tensor, t: Tensor,
              background: float | Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Expected colour (R, 3), depth (R,) and opacity (R,) of weights (R, S), sample colours
    rgb (R, S, 3) and distances t (R, S):

        Ĉ = Σ w_i c_i (+ (1 − Σ w_i) · background),   D̂ = Σ w_i t_i,   Â = Σ w_i

    background: None (black, nothing added), a number, a colour (3,) or one per ray (R, 3).
    D̂ is not divided by Â: a ray that half-misses has half the depth (divide for the
    depth of what was hit)."""
    check_shape(weights, "weights", "R S")
    R, S = weights.shape
    check_shape(rgb, "rgb", "R S 3", R=R, S=S)
    check_shape(t, "t", "R S", R=R, S=S)
    color = (weights[..., None] * rgb).sum(dim=1)
    depth = (weights * t).sum(dim=1)
    opacity = weights.sum(dim=1)
    if background is not None:
        bg = torch.as_tensor(background, dtype=color.dtype, device=color.device)
        if bg.shape not in ((), (3,), (R, 3)):
            raise ValueError(f"background must be a number, (3,) or (R={R}, 3); got {tuple(bg.shape)}")
        color = color + (1 - opacity)[:, None] * bg
    return color, depth, opacity


def sample_pdf(bins: Tensor, weights: Tensor, n: int, deterministic: bool = False,
               generator: torch.Generator | None = None) -> Tensor:
    """`n` sorted samples (R, n) per ray from the piecewise-constant pdf of `weights` (R, B)
    over the intervals between increasing `bins` edges (R, B + 1), by inverse transform:

        p_k = (w_k + 1e-5) / Σ_j (w_j + 1e-5),   F_0 = 0,  F_{k+1} = F_k + p_k,
        u ~ U[0, 1) sorted (or u = (m + ½) / n with `deterministic`),
        k with F_k ≤ u < F_{k+1},   sample = bins_k + (u − F_k) / p_k · (bins_{k+1} − bins_k)

    i.e. the inverse of the piecewise-linear CDF through (bins_k, F_k), so about a fraction
    p_k of the samples lands in interval k. The 1e-5 keeps every interval reachable (and
    an all-zero row uniform); no gradient flows through the weights (NeRF's fine network
    does not train its coarse weights through resampling).

    NeRF's fine pass: bins = midpoints of the coarse t (R, S − 1), weights = coarse w[:, 1:-1]."""
    check_shape(weights, "weights", "R B")
    R, B = weights.shape
    check_shape(bins, "bins", "R edges", R=R, edges=B + 1)
    check_positive_int(n, "n")
    w = weights.detach() + 1e-5
    pdf = w / w.sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=-1)], dim=-1)
    kw = dict(dtype=bins.dtype, device=bins.device)
    if deterministic:
        u = ((torch.arange(n, **kw) + 0.5) / n).expand(R, n).contiguous()
    else:
        u = torch.rand(R, n, generator=generator, **kw).sort(dim=-1).values
    k = (torch.searchsorted(cdf.contiguous(), u.to(cdf.dtype), right=True) - 1).clamp(0, B - 1)
    frac = ((u - cdf.gather(1, k)) / pdf.gather(1, k)).clamp(0, 1)
    lo, hi = bins.detach().gather(1, k), bins.detach().gather(1, k + 1)
    return lo + frac * (hi - lo)
