# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Day 03 — Exercises: the three equations of DDPM, and an experiment
#
# You will write the forward process, the posterior, and one step of the ancestral
# sampler — the three functions the lesson imported from `course_lib.diffusion.ddpm`.
# Each check compares yours with the library on fixed seeds and closed forms.
#
# Conventions (as in the lesson): timesteps are 0-indexed, `t = 0 .. T-1`;
# `schedule.betas[t]` is $\beta_t$, `schedule.alpha_bars[t]` is
# $\bar\alpha_t = \prod_{s \le t}(1-\beta_s)$, and $\bar\alpha_{-1} = 1$
# (`schedule.alpha_bars_prev[t]` is $\bar\alpha_{t-1}$). Tensors `x` have shape
# `(B, ...)` and `t` is a `(B,)` int64 tensor: gather the per-sample coefficient with
# `values[t]` and reshape it to `(B, 1, 1, ...)` so it broadcasts (`ddpm.extract` does it).

# %%
import torch

from course_lib.diffusion import ddpm
from course_lib.diffusion.schedules import make_schedule

schedule = make_schedule("linear", 1000)


def per_sample(values: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """values[t] as (B, 1, 1, ...) to broadcast against x of shape (B, ...)."""
    return values[t].reshape(len(t), *([1] * (x.ndim - 1)))


# %% [markdown]
# ## Exercise 1 — the forward process `q_sample`
#
# $$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$$

# %%
def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x0, noise: (B, ...); t: (B,) int64 -> x_t: (B, ...)."""
    ### BEGIN SOLUTION
    a = per_sample(schedule.alpha_bars, t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise
    ### END SOLUTION


# %% tags=["check"]
# Check: q_sample matches the closed form sqrt(a_t) x0 + sqrt(1 - a_t) eps
g = torch.Generator().manual_seed(0)
x0, eps = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)
t = torch.tensor([0, 10, 500, 999])
got = q_sample(x0, t, eps)
assert got.shape == x0.shape, f"x_t must have x0's shape {tuple(x0.shape)}; got {tuple(got.shape)}"
expected = ddpm.q_sample(x0, t, eps, schedule)
if torch.allclose(got, schedule.alpha_bars[t].view(-1, 1, 1, 1) * x0
                  + (1 - schedule.alpha_bars[t]).view(-1, 1, 1, 1) * eps, atol=1e-5):
    raise AssertionError("you scaled by alpha_bar and (1 - alpha_bar): the coefficients are their square roots")
assert torch.allclose(got, expected, atol=1e-5), (
    "x_t differs from sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps; check that you use alpha_bars "
    "(not alphas or betas) at index t, one coefficient per sample")

# %% tags=["check"]
# Check: q_sample keeps unit variance for unit-variance data (variance preserving)
g = torch.Generator().manual_seed(1)
x0 = torch.randn(50_000, 2, generator=g)
xt = q_sample(x0, torch.full((50_000,), 600), torch.randn(50_000, 2, generator=g))
assert abs(xt.var().item() - 1) < 0.03, (
    f"for x0 ~ N(0, I) every x_t must have variance 1 (a_t + (1 - a_t) = 1); got {xt.var():.3f}")

# %% [markdown]
# ## Exercise 2 — the posterior $q(x_{t-1} \mid x_t, x_0)$
#
# $$\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0
#   + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,
#   \qquad \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t$$
#
# Return the mean `(B, ...)` and the variance `(B, 1, ...)`. At `t = 0` the posterior is
# $x_0$ itself with variance 0 — that falls out of $\bar\alpha_{-1} = 1$.

# %%
def q_posterior(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B, ...) and variance (B, 1, ...) of q(x_{t-1} | x_t, x_0)."""
    ### BEGIN SOLUTION
    beta = per_sample(schedule.betas, t, x_t)
    alpha = 1 - beta
    a = per_sample(schedule.alpha_bars, t, x_t)
    a_prev = per_sample(schedule.alpha_bars_prev, t, x_t)
    mean = a_prev.sqrt() * beta / (1 - a) * x0 + alpha.sqrt() * (1 - a_prev) / (1 - a) * x_t
    variance = (1 - a_prev) / (1 - a) * beta
    return mean, variance
    ### END SOLUTION


# %% tags=["check"]
# Check: q_posterior variance is beta-tilde (not beta), zero at t=0
t = torch.tensor([0, 1, 50, 999])
x0, xt = torch.randn(4, 3), torch.randn(4, 3)
_, var = q_posterior(x0, xt, t)
assert var.shape == (4, 1), f"the variance must be (B, 1) for x of shape (B, 3); got {tuple(var.shape)}"
assert torch.allclose(var[0], torch.zeros(1)), f"at t=0 the posterior variance must be 0; got {var[0].item():.2e}"
assert not torch.allclose(var.flatten()[1:], schedule.betas[t[1:]], rtol=1e-3), (
    "you returned beta_t: the posterior variance is beta~_t = (1 - a_{t-1}) / (1 - a_t) * beta_t")
# (rtol 1e-2: near t = 0, 1 - alpha_bar loses digits in float32; the library computes it in float64)
assert torch.allclose(var.flatten(), schedule.posterior_variance[t], rtol=1e-2, atol=1e-10), (
    "posterior variance differs from beta~_t = (1 - a_{t-1}) / (1 - a_t) * beta_t")

# %% tags=["check"]
# Check: q_posterior mean matches the closed form (uses a_{t-1}, not a_t)
g = torch.Generator().manual_seed(2)
t = torch.tensor([0, 3, 100, 700, 999])
x0, xt = torch.randn(5, 1, 4, 4, generator=g), torch.randn(5, 1, 4, 4, generator=g)
mean, _ = q_posterior(x0, xt, t)
expected, _ = ddpm.q_posterior(x0, xt, t, schedule)
assert torch.allclose(mean[0], x0[0], atol=1e-3), "at t=0 the posterior mean must be x0 itself (a_{-1} = 1)"
assert torch.allclose(mean, expected, rtol=1e-3, atol=1e-3), (  # float32 near t = 0: see above
    "posterior mean differs from the closed form: check sqrt(a_{t-1}) (alpha_bars_prev[t]), sqrt(alpha_t) and "
    "the (1 - a_{t-1}) / (1 - a_t) factors")

# %% [markdown]
# ## Exercise 3 — one ancestral step
#
# Given the network's noise prediction `eps_hat` at `x_t`:
# 1. estimate $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$, clamped to [−1, 1];
# 2. return $\tilde\mu_t(\hat x_0, x_t) + \sqrt{\tilde\beta_t}\,z$ — but add **no** noise at
#    `t = 0` (the last step returns the mean).
#
# Use your `q_posterior`.

# %%
def ancestral_step(eps_hat: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """eps_hat, x_t, z: (B, ...); t: (B,) -> x_{t-1}: (B, ...)."""
    ### BEGIN SOLUTION
    a = per_sample(schedule.alpha_bars, t, x_t)
    x0_hat = ((x_t - (1 - a).sqrt() * eps_hat) / a.sqrt()).clamp(-1, 1)
    mean, variance = q_posterior(x0_hat, x_t, t)
    not_last = per_sample((t > 0).float(), torch.arange(len(t)), x_t)
    return mean + not_last * variance.sqrt() * z
    ### END SOLUTION


# %% tags=["check"]
# Check: ancestral_step equals the library step (small variance)
g = torch.Generator().manual_seed(3)
x_t, eps_hat, z = (torch.randn(4, 1, 8, 8, generator=g) for _ in range(3))
t = torch.tensor([999, 500, 20, 1])
got = ancestral_step(eps_hat, x_t, t, z)
expected = ddpm.ancestral_step(eps_hat, x_t, t, schedule, z, variance="small")
large = ddpm.ancestral_step(eps_hat, x_t, t, schedule, z, variance="large")
assert not torch.allclose(got, large, atol=1e-4), "you added noise with variance beta_t: use beta~_t (posterior variance)"
assert torch.allclose(got, expected, atol=2e-3), (  # float32 rounding at t = 1 is ~4e-4
    "x_{t-1} differs from mu~_t(x0_hat, x_t) + sqrt(beta~_t) z: check x0_hat (and its clamp to [-1, 1]) and the "
    "timestep you index with")

# %% tags=["check"]
# Check: ancestral_step adds no noise on the last step (t = 0)
x_t = torch.randn(2, 5)
t = torch.zeros(2, dtype=torch.int64)
a, b = ancestral_step(torch.zeros(2, 5), x_t, t, torch.zeros(2, 5)), ancestral_step(torch.zeros(2, 5), x_t, t,
                                                                                    torch.randn(2, 5))
assert torch.allclose(a, b), "at t = 0 the step must return the posterior mean: no noise"
assert torch.allclose(a, x_t.clamp(-1, 1), atol=1e-3), "at t = 0 with eps_hat = 0 the step returns x0_hat = x_t (clamped)"

# %% [markdown]
# ## Put your functions to work
#
# Your `ancestral_step` can drive the whole sampler. With the *exact* noise of a
# distribution concentrated at one image, 1,000 of your steps must land on that image.

# %%
target = torch.linspace(-0.8, 0.8, 64).reshape(1, 1, 8, 8)
g = torch.Generator().manual_seed(4)
x = torch.randn(3, 1, 8, 8, generator=g)
with torch.no_grad():
    for step in range(999, -1, -1):
        t = torch.full((3,), step)
        exact_eps = ddpm.eps_from_x0(x, t, target.expand_as(x), schedule)
        x = ddpm.ancestral_step(exact_eps, x, t, schedule, torch.randn(x.shape, generator=g))
print("max distance to the target after 1,000 library steps:", (x - target).abs().max().item())


# %% [markdown]
# ## Exercise 4 — An experiment: does the denoiser need to know $t$?
#
# The lesson's denoiser is told the timestep. Is that necessary? The noisy point itself
# says something about how noisy it is, so perhaps the network could guess. Measure it:
# train the same small MLP on the lesson's 2-D toy (eight blobs on a circle) twice,
# once seeing $t$ and once *blind* (given $t = 0$ for every sample, so it must infer the
# noise level from $x_t$ alone), and compare their losses on the same held-out draws.
#
# Write the loss that both runs use: draw $t \sim \mathcal U\{0..T-1\}$ and fresh
# noise, build $x_t$ with **your** `q_sample`, and return the MSE between the model's
# prediction and the noise. The only difference: `see_time=False` hands the model a
# tensor of zeros instead of `t` (while $x_t$ is still noised at the random $t$).

# %%
import torch.nn.functional as F

from course_lib.data.toy import ring_of_gaussians
from course_lib.diffusion.denoisers import MLPDenoiser, MLPDenoiserConfig


def toy_loss(model, x0: torch.Tensor, see_time: bool = True) -> torch.Tensor:
    """DDPM loss of an unconditional model(x_t, t) on points x0 (B, 2); see_time=False
    gives the model t = 0 for every sample instead of the real t."""
    ### BEGIN SOLUTION
    t = torch.randint(0, schedule.num_steps, (len(x0),))
    noise = torch.randn(x0.shape)
    x_t = q_sample(x0, t, noise)
    return F.mse_loss(model(x_t, t if see_time else torch.zeros_like(t)), noise)
    ### END SOLUTION


def train_toy(see_time: bool, seed: int, steps: int = 300) -> float:
    """Train a fresh MLP denoiser with toy_loss; return its loss on fixed held-out draws."""
    torch.manual_seed(seed)
    data = ring_of_gaussians(4096, generator=torch.Generator().manual_seed(seed))
    model = MLPDenoiser(MLPDenoiserConfig(data_dim=2, dim=64, depth=2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(steps):
        loss = toy_loss(model, data[torch.randint(0, len(data), (128,))], see_time)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.manual_seed(1000 + seed)                 # the same held-out t and noise for both runs
    with torch.no_grad():
        return toy_loss(model, ring_of_gaussians(8192, generator=torch.Generator().manual_seed(99)), see_time).item()


# %% tags=["check"]
# Check: the experiment — a denoiser that sees t beats a blind one
seeing, blind = train_toy(True, seed=0), train_toy(False, seed=0)
print(f"held-out loss after 300 steps: seeing t {seeing:.3f}, blind {blind:.3f} (ratio {blind / seeing:.2f})")
assert 0.05 < seeing < 0.6, f"the loss of the model that sees t should be well below 1 (predicting 0); got {seeing:.3f}"
# Training seeds 0-4 gave ratios 1.19-1.25 (blind 0.23-0.26, seeing 0.19-0.22), so 1.1
# leaves a margin; a toy_loss that ignores see_time gives a ratio near 1 and fails.
assert blind > 1.1 * seeing, (f"the blind model's loss ({blind:.3f}) should be clearly above the seeing model's "
                              f"({seeing:.3f}): does see_time=False really hand the model zeros?")
# What it shows: the noise level is not written plainly in x_t (a point near a blob may
# be clean or slightly noisy), so the blind model must hedge between noise levels and
# predicts the noise worse. That is why every denoiser, from this MLP to Stable
# Diffusion's U-Net, takes the timestep as an input.
