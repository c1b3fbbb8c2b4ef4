"""Noise schedules for DDPM-style diffusion: beta_t, alpha-bar_t and the posterior.

Conventions (as in Ho et al. 2020's code): timesteps are 0-indexed, t = 0 .. T-1, and

    alpha_t = 1 - beta_t,      alpha_bar_t = prod_{s <= t} alpha_s,
    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).

The posterior q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I) has

    beta~_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)
    mu~_t   = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
            + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t

with alpha_bar_{-1} = 1, so at t = 0 the posterior is exactly x_0 (beta~_0 = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LINEAR_BETA_START, LINEAR_BETA_END = 1e-4, 0.02   # for T = 1000 (Ho et al. 2020)
COSINE_OFFSET = 0.008                             # s in Nichol & Dhariwal 2021
MAX_BETA = 0.999


def linear_betas(num_steps: int) -> Tensor:
    """(T,) betas rising linearly from 1e-4 to 0.02, rescaled by 1000 / T for other T
    so that the total amount of noise stays comparable."""
    _check_steps(num_steps)
    scale = 1000.0 / num_steps
    return torch.linspace(scale * LINEAR_BETA_START, scale * LINEAR_BETA_END, num_steps,
                          dtype=torch.float64).clamp(max=MAX_BETA)


def cosine_alpha_bar(u: Tensor) -> Tensor:
    """alpha_bar(u) = cos^2((u + s) / (1 + s) * pi / 2) for u = t / T in [0, 1]."""
    return torch.cos((u + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2


def cosine_betas(num_steps: int) -> Tensor:
    """(T,) betas with beta_t = 1 - alpha_bar((t+1)/T) / alpha_bar(t/T), each capped at 0.999."""
    _check_steps(num_steps)
    u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    a = cosine_alpha_bar(u)
    return (1 - a[1:] / a[:-1]).clamp(max=MAX_BETA)


def _check_steps(num_steps: int) -> None:
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an int >= 2; got {num_steps!r}")


@dataclass
class NoiseSchedule:
    """Every per-timestep quantity a sampler needs, as (T,) float32 tensors."""

    betas: Tensor
    alphas: Tensor
    alpha_bars: Tensor
    alpha_bars_prev: Tensor          # alpha_bar_{t-1}, with alpha_bar_{-1} = 1
    posterior_variance: Tensor       # beta~_t (0 at t = 0)
    posterior_mean_coef_x0: Tensor   # coefficient of x_0 in mu~_t
    posterior_mean_coef_xt: Tensor   # coefficient of x_t in mu~_t

    @property
    def num_steps(self) -> int:
        return len(self.betas)

    def to(self, device) -> "NoiseSchedule":
        return NoiseSchedule(**{k: v.to(device) for k, v in vars(self).items()})


def make_schedule(kind: str = "linear", num_steps: int = 1000) -> NoiseSchedule:
    """The schedule of `kind` ("linear" or "cosine") with `num_steps` timesteps."""
    if kind == "linear":
        betas = linear_betas(num_steps)
    elif kind == "cosine":
        betas = cosine_betas(num_steps)
    else:
        raise ValueError(f"kind must be 'linear' or 'cosine'; got {kind!r}")
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]])
    parts = dict(
        betas=betas, alphas=alphas, alpha_bars=alpha_bars, alpha_bars_prev=alpha_bars_prev,
        posterior_variance=betas * (1 - alpha_bars_prev) / (1 - alpha_bars),
        posterior_mean_coef_x0=alpha_bars_prev.sqrt() * betas / (1 - alpha_bars),
        posterior_mean_coef_xt=alphas.sqrt() * (1 - alpha_bars_prev) / (1 - alpha_bars),
    )
    return NoiseSchedule(**{k: v.float() for k, v in parts.items()})
