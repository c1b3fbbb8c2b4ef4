"""DDPM and DDIM: the forward process, the training loss, samplers and guidance.

A denoiser is any function `model_fn(x_t, t) -> prediction` with x_t (B, ...) and
t (B,) int64 timesteps; the prediction is eps (the noise, default), x0 or v. Schedules
come from `course_lib.diffusion.schedules`; their equations are in its docstring.

    x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps                    (a_t = alpha_bar_t)
    v   = sqrt(a_t) eps - sqrt(1 - a_t) x_0                    (Salimans & Ho 2022)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from course_lib.diffusion.schedules import NoiseSchedule

PREDICTIONS = ("eps", "x0", "v")
ModelFn = Callable[[Tensor, Tensor], Tensor]


def extract(values: Tensor, t: Tensor, x_shape: torch.Size) -> Tensor:
    """values[t] reshaped to (B, 1, 1, ...) so it broadcasts against x of shape x_shape.

    The range of `t` is checked only on the CPU: reading a GPU tensor's min and max
    would stall the GPU at every sampling step (there, indexing fails loudly instead)."""
    if t.ndim != 1 or t.dtype != torch.int64:
        raise ValueError(f"t must be a (B,) int64 tensor of timesteps; got {tuple(t.shape)} {t.dtype}")
    if t.device.type == "cpu" and len(t) and (t.min() < 0 or t.max() >= len(values)):
        raise ValueError(f"t must lie in [0, {len(values) - 1}]; got range [{int(t.min())}, {int(t.max())}]")
    return values.to(t.device)[t].reshape(len(t), *([1] * (len(x_shape) - 1)))


# ---------------------------------------------------------------- forward process

def q_sample(x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Sample x_t ~ q(x_t | x_0) = N(sqrt(a_t) x_0, (1 - a_t) I). x0, noise: (B, ...)."""
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have x0's shape {tuple(x0.shape)}; got {tuple(noise.shape)}")
    a = extract(schedule.alpha_bars, t, x0.shape)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_posterior(x0: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule) -> tuple[Tensor, Tensor]:
    """Mean (B, ...) and variance (B, 1, ...) of q(x_{t-1} | x_t, x_0)."""
    mean = (extract(schedule.posterior_mean_coef_x0, t, x_t.shape) * x0
            + extract(schedule.posterior_mean_coef_xt, t, x_t.shape) * x_t)
    return mean, extract(schedule.posterior_variance, t, x_t.shape)


# ---------------------------------------------------------------- parameterisations

def x0_from_eps(x_t: Tensor, t: Tensor, eps: Tensor, schedule: NoiseSchedule) -> Tensor:
    """x_0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)."""
    a = extract(schedule.alpha_bars, t, x_t.shape)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()


def eps_from_x0(x_t: Tensor, t: Tensor, x0: Tensor, schedule: NoiseSchedule) -> Tensor:
    """eps = (x_t - sqrt(a_t) x_0) / sqrt(1 - a_t)."""
    a = extract(schedule.alpha_bars, t, x_t.shape)
    return (x_t - a.sqrt() * x0) / (1 - a).sqrt()


def v_from_eps(x0: Tensor, eps: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """v = sqrt(a_t) eps - sqrt(1 - a_t) x_0."""
    a = extract(schedule.alpha_bars, t, x0.shape)
    return a.sqrt() * eps - (1 - a).sqrt() * x0


def x0_from_v(x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule) -> Tensor:
    """x_0 = sqrt(a_t) x_t - sqrt(1 - a_t) v."""
    a = extract(schedule.alpha_bars, t, x_t.shape)
    return a.sqrt() * x_t - (1 - a).sqrt() * v


def to_x0_eps(prediction: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule,
              kind: str = "eps") -> tuple[Tensor, Tensor]:
    """Turn a model's prediction of `kind` ("eps", "x0" or "v") into (x0_hat, eps_hat)."""
    if kind == "eps":
        return x0_from_eps(x_t, t, prediction, schedule), prediction
    if kind == "x0":
        return prediction, eps_from_x0(x_t, t, prediction, schedule)
    if kind == "v":
        x0 = x0_from_v(x_t, t, prediction, schedule)
        return x0, eps_from_x0(x_t, t, x0, schedule)
    raise ValueError(f"kind must be one of {PREDICTIONS}; got {kind!r}")


# ---------------------------------------------------------------- training

def diffusion_loss(model_fn: ModelFn, x0: Tensor, schedule: NoiseSchedule, kind: str = "eps",
                   generator: torch.Generator | None = None) -> Tensor:
    """The simple DDPM loss: MSE between the model's prediction and its target at a
    uniformly random timestep. x0: (B, ...) clean data."""
    if kind not in PREDICTIONS:
        raise ValueError(f"kind must be one of {PREDICTIONS}; got {kind!r}")
    t = torch.randint(0, schedule.num_steps, (len(x0),), device=x0.device, generator=generator)
    noise = torch.randn(x0.shape, device=x0.device, generator=generator)
    x_t = q_sample(x0, t, noise, schedule)
    if kind == "eps":
        target = noise
    elif kind == "x0":
        target = x0
    else:
        target = v_from_eps(x0, noise, t, schedule)
    return F.mse_loss(model_fn(x_t, t), target)


def conditional_loss(model: Callable[[Tensor, Tensor, Tensor], Tensor], batch: tuple[Tensor, Tensor],
                     schedule: NoiseSchedule, kind: str = "eps") -> Tensor:
    """`diffusion_loss` for a label-conditional `model(x_t, t, labels)`; batch = (x0, labels).
    Ready for `train.fit`: fit(model, lambda m, b: conditional_loss(m, b, schedule), ...)."""
    x0, labels = batch
    return diffusion_loss(lambda x, t: model(x, t, labels), x0, schedule.to(x0.device), kind)


# ---------------------------------------------------------------- sampling steps

def ancestral_step(prediction: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule,
                   noise: Tensor, variance: str = "small", kind: str = "eps",
                   clip_x0: bool = True) -> Tensor:
    """One DDPM step x_t -> x_{t-1}: the posterior mean at the predicted x_0, plus noise.

    variance "small" uses beta~_t (the true posterior variance given x_0), "large" uses
    beta_t (at t = 0 no noise is added either way). clip_x0 keeps x0_hat in [-1, 1].
    """
    if variance not in ("small", "large"):
        raise ValueError(f"variance must be 'small' or 'large'; got {variance!r}")
    x0, _ = to_x0_eps(prediction, x_t, t, schedule, kind)
    if clip_x0:
        x0 = x0.clamp(-1, 1)
    mean, small = q_posterior(x0, x_t, t, schedule)
    var = small if variance == "small" else extract(schedule.betas, t, x_t.shape)
    not_last = (t > 0).float().reshape(-1, *([1] * (x_t.ndim - 1)))
    return mean + not_last * var.sqrt() * noise


def ddim_timesteps(num_steps: int, sample_steps: int, spacing: str = "trailing") -> list[int]:
    """The `sample_steps` timesteps a DDIM sampler visits, in decreasing order.

    "trailing" ends at T-1 (t = T-1, ..., down to about T/sample_steps - 1), "leading"
    starts from 0 upward (DDIM's original choice; it never visits T-1), "linspace"
    rounds an even grid over [0, T-1]. See Lin et al. 2024 on why trailing is better.
    """
    if not 1 <= sample_steps <= num_steps:
        raise ValueError(f"sample_steps must be in [1, {num_steps}]; got {sample_steps}")
    if spacing == "trailing":
        steps = [round(num_steps - 1 - i * num_steps / sample_steps) for i in range(sample_steps)]
    elif spacing == "leading":
        stride = num_steps // sample_steps
        steps = [i * stride for i in range(sample_steps)][::-1]
    elif spacing == "linspace":
        steps = torch.linspace(0, num_steps - 1, sample_steps).round().long().tolist()[::-1]
    else:
        raise ValueError(f"spacing must be 'trailing', 'leading' or 'linspace'; got {spacing!r}")
    return steps


def alpha_bar_or_one(t: Tensor, schedule: NoiseSchedule, x_shape: torch.Size) -> Tensor:
    """alpha_bar_t broadcastable to x_shape, where t = -1 means "clean data" (alpha_bar = 1)."""
    padded = torch.cat([torch.ones(1, device=schedule.alpha_bars.device), schedule.alpha_bars])
    return extract(padded, t + 1, x_shape)


def ddim_step(prediction: Tensor, x_t: Tensor, t: Tensor, t_prev: Tensor, schedule: NoiseSchedule,
              eta: float = 0.0, noise: Tensor | None = None, kind: str = "eps",
              clip_x0: bool = False) -> Tensor:
    """One DDIM step x_t -> x_{t_prev} (t_prev = -1 means "to clean data").

        x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - s^2) eps_hat + s z,
        s = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev).

    eta = 0 is deterministic (an ODE solver); eta = 1 matches DDPM's ancestral noise.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0; got {eta}")
    if eta > 0 and noise is None:
        raise ValueError("noise is required when eta > 0")
    x0, eps = to_x0_eps(prediction, x_t, t, schedule, kind)
    if clip_x0:
        x0 = x0.clamp(-1, 1)
        eps = eps_from_x0(x_t, t, x0, schedule)
    a_t = extract(schedule.alpha_bars, t, x_t.shape)
    a_prev = alpha_bar_or_one(t_prev, schedule, x_t.shape)
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    out = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
    return out + sigma * noise if eta > 0 else out


# ---------------------------------------------------------------- guidance

def cfg_combine(eps_uncond: Tensor, eps_cond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: eps = eps_u + w (eps_c - eps_u).
    w = 0 is unconditional, w = 1 conditional, w > 1 pushes further toward the label."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def guided(model: Callable[[Tensor, Tensor, Tensor], Tensor], labels: Tensor, null_label: int,
           scale: float) -> ModelFn:
    """Wrap a label-conditional `model(x, t, labels)` into `model_fn(x, t)` with CFG.
    Both passes run in one batch of 2B."""
    def model_fn(x: Tensor, t: Tensor) -> Tensor:
        if scale == 1.0:
            return model(x, t, labels)
        null = torch.full_like(labels, null_label)
        out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
        eps_cond, eps_uncond = out.chunk(2)
        return cfg_combine(eps_uncond, eps_cond, scale)
    return model_fn


# ---------------------------------------------------------------- sampling loops

@torch.no_grad()
def sample_ddpm(model_fn: ModelFn, shape: tuple[int, ...], schedule: NoiseSchedule,
                generator: torch.Generator | None = None, device=None, variance: str = "small",
                kind: str = "eps", keep_every: int | None = None, progress: bool = True):
    """Ancestral sampling from pure noise through all T steps.

    Returns x_0 (shape) or, with keep_every=k, (x_0, frames) where frames (n, *shape)
    holds x_t every k steps (the reverse process as a movie)."""
    device = device or schedule.betas.device
    x = torch.randn(shape, generator=generator).to(device)
    frames = []
    for i in tqdm(range(schedule.num_steps - 1, -1, -1), desc="DDPM sampling", disable=not progress, leave=False):
        t = torch.full((shape[0],), i, dtype=torch.int64, device=device)
        noise = torch.randn(shape, generator=generator).to(device)
        x = ancestral_step(model_fn(x, t), x, t, schedule, noise, variance=variance, kind=kind)
        if keep_every and (i % keep_every == 0):
            frames.append(x.cpu())
    return (x, torch.stack(frames)) if keep_every else x


@torch.no_grad()
def sample_ddim(model_fn: ModelFn, shape: tuple[int, ...], schedule: NoiseSchedule, steps: int = 50,
                eta: float = 0.0, generator: torch.Generator | None = None, device=None,
                spacing: str = "trailing", kind: str = "eps", clip_x0: bool = True,
                x_T: Tensor | None = None, progress: bool = True, start: int | None = None) -> Tensor:
    """DDIM sampling with `steps` denoiser calls (x_T: optional starting noise).

    start: begin at this timestep instead of T - 1 — x_T is then x_start, a partly noised
    sample (SDEdit) — visiting `start` and the grid's timesteps below it."""
    device = device or schedule.betas.device
    x = (torch.randn(shape, generator=generator) if x_T is None else x_T).to(device)
    timesteps = ddim_timesteps(schedule.num_steps, steps, spacing)
    if start is not None:
        if not isinstance(start, int) or not 0 <= start < schedule.num_steps:
            raise ValueError(f"start must be an int in [0, {schedule.num_steps - 1}]; got {start!r}")
        timesteps = [start] + [s for s in timesteps if s < start]
    for i, step in enumerate(tqdm(timesteps, desc=f"DDIM-{steps}", disable=not progress, leave=False)):
        t = torch.full((shape[0],), step, dtype=torch.int64, device=device)
        t_prev = torch.full_like(t, timesteps[i + 1] if i + 1 < len(timesteps) else -1)
        noise = torch.randn(shape, generator=generator).to(device) if eta > 0 else None
        x = ddim_step(model_fn(x, t), x, t, t_prev, schedule, eta=eta, noise=noise, kind=kind, clip_x0=clip_x0)
    return x
