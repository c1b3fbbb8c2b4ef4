"""Consistency distillation (Song et al. 2023; Latent Consistency Models, Luo et al. 2023).

A deterministic sampler (DDIM with η = 0) moves every x_T along one trajectory of the
probability-flow ODE to a clean x_0. A *consistency function* f(x_t, t) maps every point
of a trajectory to that trajectory's end, so one call replaces the whole walk:

    f(x_t, t) = c_skip(t) · x_t + c_out(t) · x̂_0(x_t, t)       (boundary scaling)
    c_skip(t) = σ_d² / ((s t)² + σ_d²),   c_out(t) = s t / √((s t)² + σ_d²)

with x̂_0 the network's clean-sample estimate (from its ε prediction), σ_d = 0.5 and
s = 10 as in LCM (diffusers' LCMScheduler). At t = 0, c_skip = 1 and c_out = 0: f is
exactly the identity on clean data, whatever the network says.

Distillation trains the student f_θ so that two neighbouring points of a *teacher*
trajectory map to the same place:

    x_{t_n}      = q_sample(x_0, t_n, ε)                        (a point on the way)
    x̂_{t_{n-k}}  = DDIM step of the teacher from t_n to t_{n-k}  (the teacher's guided ODE)
    loss         = ‖ f_θ(x_{t_n}, t_n) − f_θ⁻(x̂_{t_{n-k}}, t_{n-k}) ‖²

where θ⁻ is an exponential moving average of θ (the target network, no gradient). LCM
folds classifier-free guidance into the teacher's step (the teacher's ε is the guided
ε, so the student learns the guided ODE and needs no second pass); here the guidance
scale is one fixed number of the recipe rather than an input of the student.

Sampling (`sample_consistency`) with 1 step is x_0 = f(x_T, T); with more steps it
re-noises the estimate to the next, smaller timestep and applies f again.

The comparison, *progressive distillation* (Salimans & Ho 2022), halves the number of
DDIM steps per round: the student learns to do in one DDIM step what the teacher does
in two (`progressive_distillation_loss`), then becomes the next round's teacher; it is
sampled with the ordinary DDIM sampler.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import Tensor, nn

from course_lib.diffusion.ddpm import alpha_bar_or_one, ddim_step, ddim_timesteps, q_sample, to_x0_eps
from course_lib.diffusion.schedules import NoiseSchedule

__all__ = ["SIGMA_DATA", "TIMESTEP_SCALING", "boundary_coefficients", "consistency_function",
           "teacher_ddim_step", "consistency_distillation_loss", "ema_update", "ema_copy",
           "sample_consistency", "progressive_target", "progressive_distillation_loss"]

SIGMA_DATA = 0.5          # the data's standard deviation the scaling assumes (LCM's value)
TIMESTEP_SCALING = 10.0   # LCM multiplies the discrete timestep by 10 inside c_skip / c_out

ModelFn = Callable[[Tensor, Tensor], Tensor]    # (x_t, t) -> prediction (ε by default)


def boundary_coefficients(t: Tensor, sigma_data: float = SIGMA_DATA,
                          timestep_scaling: float = TIMESTEP_SCALING) -> tuple[Tensor, Tensor]:
    """(B,) integer timesteps -> (c_skip, c_out), each (B,) float: c_skip(0) = 1, c_out(0) = 0."""
    if not isinstance(t, Tensor) or t.ndim != 1:
        raise ValueError(f"t must be a (B,) tensor of timesteps; got {getattr(t, 'shape', type(t).__name__)}")
    if sigma_data <= 0 or timestep_scaling <= 0:
        raise ValueError(f"sigma_data and timestep_scaling must be positive; got {sigma_data}, {timestep_scaling}")
    scaled = t.double() * timestep_scaling
    c_skip = sigma_data ** 2 / (scaled ** 2 + sigma_data ** 2)
    c_out = scaled / (scaled ** 2 + sigma_data ** 2).sqrt()
    return c_skip.float(), c_out.float()


def consistency_function(model_fn: ModelFn, x_t: Tensor, t: Tensor, schedule: NoiseSchedule,
                         kind: str = "eps", clip_x0: tuple[float, float] | None = None) -> Tensor:
    """f(x_t, t) = c_skip x_t + c_out x̂_0: x_t (B, ...) -> clean-sample estimate (B, ...).

    `clip_x0` clamps x̂_0 to the data's range first: an ε-predicting network's
    x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t divides by √ᾱ_t ≈ 0.006 at the last step of a
    1,000-step schedule, so any error in ε̂ is magnified 160×."""
    x0_hat, _ = to_x0_eps(model_fn(x_t, t), x_t, t, schedule, kind)
    if clip_x0 is not None:
        x0_hat = x0_hat.clamp(*clip_x0)
    c_skip, c_out = boundary_coefficients(t)
    shape = (-1,) + (1,) * (x_t.ndim - 1)
    return c_skip.view(shape).to(x_t) * x_t + c_out.view(shape).to(x_t) * x0_hat


def teacher_ddim_step(teacher_fn: ModelFn, x_t: Tensor, t: Tensor, t_prev: Tensor,
                      schedule: NoiseSchedule, kind: str = "eps", clip_x0: bool = False) -> Tensor:
    """One deterministic (η = 0) DDIM step of the teacher from t to t_prev, without
    gradient: the next point of the teacher's ODE trajectory. Guidance is whatever
    `teacher_fn` does (wrap it with `ddpm.guided` to fold CFG in); clip_x0 clamps its
    x̂_0 to [-1, 1] as the teacher's own sampler does for images."""
    with torch.no_grad():
        return ddim_step(teacher_fn(x_t, t), x_t, t, t_prev, schedule, eta=0.0, kind=kind, clip_x0=clip_x0)


def consistency_distillation_loss(student_fn: ModelFn, target_fn: ModelFn, teacher_fn: ModelFn,
                                  x0: Tensor, schedule: NoiseSchedule, skip: int = 20,
                                  generator: torch.Generator | None = None, kind: str = "eps",
                                  teacher_kind: str = "eps", clip_x0: tuple[float, float] | None = None) -> Tensor:
    """The LCM loss on a batch of clean samples x0 (B, ...): a random grid timestep t_n
    (a multiple of `skip`, at least `skip`), the teacher's DDIM step to t_n − skip, and
    ‖f_student(x_{t_n}, t_n) − f_target(x̂_{t_n − skip}, t_n − skip)‖² (mean). `kind` is
    what the student (and its target) predict, `teacher_kind` what the teacher does."""
    if not isinstance(skip, int) or not 1 <= skip < schedule.num_steps:
        raise ValueError(f"skip must be an int in [1, {schedule.num_steps - 1}]; got {skip!r}")
    b, device = x0.shape[0], x0.device
    n = torch.randint(1, schedule.num_steps // skip + 1, (b,), generator=generator).to(device)
    t = (n * skip).clamp(max=schedule.num_steps - 1)
    t_prev = t - skip
    noise = torch.randn(x0.shape, generator=generator).to(x0)
    x_t = q_sample(x0, t, noise, schedule)
    x_prev = teacher_ddim_step(teacher_fn, x_t, t, t_prev, schedule, teacher_kind, clip_x0=clip_x0 is not None)
    online = consistency_function(student_fn, x_t, t, schedule, kind, clip_x0)
    with torch.no_grad():
        target = consistency_function(target_fn, x_prev, t_prev, schedule, kind, clip_x0)
    return (online - target).pow(2).mean()


def ema_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of `model` to serve as the EMA target θ⁻."""
    target = copy.deepcopy(model)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, decay: float) -> None:
    """θ⁻ ← decay · θ⁻ + (1 − decay) · θ, parameter by parameter."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1]; got {decay}")
    for p_target, p_online in zip(target.parameters(), online.parameters()):
        p_target.lerp_(p_online, 1.0 - decay)


@torch.no_grad()
def sample_consistency(model_fn: ModelFn, shape: tuple[int, ...], schedule: NoiseSchedule, steps: int = 1,
                       generator: torch.Generator | None = None, device=None, kind: str = "eps",
                       clip_x0: tuple[float, float] | None = None) -> Tensor:
    """Multistep consistency sampling with `steps` network calls: x_0 = f(x_T, T); then,
    for each next timestep τ of the trailing DDIM grid, x_τ = q_sample(x_0, τ, fresh noise)
    and x_0 = f(x_τ, τ). `clip_x0` as in `consistency_function` (e.g. (-1, 1) for images)."""
    if not isinstance(steps, int) or not 1 <= steps <= schedule.num_steps:
        raise ValueError(f"steps must be an int in [1, {schedule.num_steps}]; got {steps!r}")
    device = device or schedule.betas.device
    x = torch.randn(shape, generator=generator).to(device)
    x0 = None
    for i, step in enumerate(ddim_timesteps(schedule.num_steps, steps)):
        t = torch.full((shape[0],), step, dtype=torch.int64, device=device)
        if i > 0:
            x = q_sample(x0, t, torch.randn(shape, generator=generator).to(device), schedule)
        x0 = consistency_function(model_fn, x, t, schedule, kind, clip_x0)
    return x0


# ---------------------------------------------------------------- progressive distillation

def progressive_target(teacher_fn: ModelFn, x_t: Tensor, t: Tensor, t_mid: Tensor, t_next: Tensor,
                       schedule: NoiseSchedule, kind: str = "eps", clip_x0: bool = False) -> Tensor:
    """Progressive distillation's target (Salimans & Ho 2022): two teacher DDIM steps
    t -> t_mid -> t_next, and the clean estimate x̃_0 with which ONE DDIM step from t lands
    where the two did:

        x'' = teacher(teacher(x_t)),   x̃_0 = (x'' − (σ''/σ_t) x_t) / (α'' − (σ''/σ_t) α_t)

    with α = √ᾱ, σ = √(1 − ᾱ) (t_next = −1: α'' = 1, σ'' = 0, so x̃_0 = x'')."""
    x_mid = teacher_ddim_step(teacher_fn, x_t, t, t_mid, schedule, kind, clip_x0)
    x_next = teacher_ddim_step(teacher_fn, x_mid, t_mid, t_next, schedule, kind, clip_x0)
    a_t, a_next = (alpha_bar_or_one(s, schedule, x_t.shape) for s in (t, t_next))
    ratio = ((1 - a_next) / (1 - a_t)).sqrt()                     # σ'' / σ_t
    return (x_next - ratio * x_t) / (a_next.sqrt() - ratio * a_t.sqrt())


def progressive_distillation_loss(student_fn: ModelFn, teacher_fn: ModelFn, x0: Tensor, schedule: NoiseSchedule,
                                  student_steps: int, generator: torch.Generator | None = None,
                                  kind: str = "eps", teacher_kind: str = "eps",
                                  clip_x0: bool = False) -> Tensor:
    """One student DDIM step = two teacher DDIM steps, on the trailing grids of
    `student_steps` and 2 × `student_steps` steps: a random student timestep t, its next
    one, the teacher's step between; loss = mean max(SNR_t, 1) · ‖x̂_0 − x̃_0‖² (the
    "truncated SNR" weighting, so that high-noise steps still count)."""
    if not isinstance(student_steps, int) or not 1 <= student_steps <= schedule.num_steps // 2:
        raise ValueError(f"student_steps must be an int in [1, {schedule.num_steps // 2}]; got {student_steps!r}")
    grid = ddim_timesteps(schedule.num_steps, student_steps) + [-1]
    fine = ddim_timesteps(schedule.num_steps, 2 * student_steps) + [-1]   # trailing grids nest: grid ⊂ fine
    b, device = x0.shape[0], x0.device
    i = torch.randint(0, student_steps, (b,), generator=generator)
    t = torch.tensor(grid, device=device)[i]
    t_next = torch.tensor(grid, device=device)[i + 1]
    t_mid = torch.tensor(fine, device=device)[torch.tensor([fine.index(g) + 1 for g in grid[:-1]])[i]]
    x_t = q_sample(x0, t, torch.randn(x0.shape, generator=generator).to(x0), schedule)
    target = progressive_target(teacher_fn, x_t, t, t_mid, t_next, schedule, teacher_kind, clip_x0)
    x0_hat, _ = to_x0_eps(student_fn(x_t, t), x_t, t, schedule, kind)
    a_t = schedule.alpha_bars[t].view((-1,) + (1,) * (x0.ndim - 1))
    weight = (a_t / (1 - a_t)).clamp(min=1.0)
    return (weight * (x0_hat - target).pow(2)).mean()
