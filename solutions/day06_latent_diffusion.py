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
# # Day 06 exercises — the VAE of latent diffusion
#
# Five exercises from the lesson ([../notebooks/day06_latent_diffusion.ipynb](../notebooks/day06_latent_diffusion.ipynb)):
#
# 1. the reparameterisation trick,
# 2. the KL divergence of a diagonal Gaussian to the standard normal,
# 3. the VAE loss (reconstruction + β·KL),
# 4. the scale factor that gives latents unit variance,
# 5. an experiment: train the VAE briefly with a small and a large β and measure both terms.
#
# Write the body of each function where it says `# YOUR CODE HERE`, then run the check
# cell below it. Each check compares your function with `course_lib.diffusion.vae` or
# with `torch.distributions`, on fixed seeds, and says what looks wrong. Grade the whole
# notebook with `course check day06` (add `--json` for a machine-readable report).
#
# **Run time:** a few seconds on a CPU; exercise 5 trains two tiny VAEs (about 3 s).

# %%
import math

import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from course_lib.diffusion import vae as lib_vae      # the references the checks compare against

torch.manual_seed(0)


def max_diff(a, b) -> float:
    """Largest absolute difference (inf when shapes differ or a value is NaN)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return float("inf")
    d = (a - b).abs().max().item() if a.numel() else 0.0
    return float("inf") if math.isnan(d) else d


# %% [markdown]
# ## Exercise 1 — The reparameterisation trick
#
# The encoder outputs, for every latent value, a mean $\mu$ and a **log-variance**
# $\log\sigma^2$ (a log keeps $\sigma^2$ positive without constraints). Sample
# $z \sim \mathcal N(\mu, \sigma^2)$ as a differentiable function of both:
#
# $$z = \mu + \sigma\,\varepsilon = \mu + \exp\!\big(\tfrac12 \log\sigma^2\big)\,\varepsilon, \qquad \varepsilon \sim \mathcal N(0, 1).$$
#
# `noise` is the $\varepsilon$ (given, so the result is reproducible); all three tensors
# have one shape.

# %%
def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = mean + exp(logvar / 2) * noise, elementwise."""
    ### BEGIN SOLUTION
    return mean + torch.exp(0.5 * logvar) * noise
    ### END SOLUTION


# %% tags=["check"]
# Check: reparameterize gives N(mean, exp(logvar)) samples and gradients reach mean and logvar
gen = torch.Generator().manual_seed(1)
mean = torch.tensor([2.0, -1.0, 0.0, 0.5])
logvar = torch.log(torch.tensor([0.25, 1.0, 4.0, 9.0]))      # sigma = 0.5, 1, 2, 3
eps = torch.randn(4, generator=gen)
z = reparameterize(mean, logvar, eps)
assert isinstance(z, torch.Tensor) and z.shape == mean.shape, f"return a tensor of shape {tuple(mean.shape)}"
assert max_diff(z, mean + logvar.exp() * eps) > 1e-4, \
    "exp(logvar) is the *variance*; the noise is scaled by the standard deviation exp(logvar / 2)"
assert max_diff(z, mean + logvar * eps) > 1e-4, "logvar is log(sigma^2), not sigma: use exp(logvar / 2)"
assert max_diff(reparameterize(torch.zeros(4), logvar, eps), (0.5 * logvar).exp() * eps) < 1e-6, \
    "with mean 0 the sample must be exp(logvar / 2) * noise"
diff = max_diff(z, lib_vae.reparameterize(mean, logvar, noise=eps))
assert diff < 1e-6, f"differs from course_lib's reparameterize by {diff:.2e}; z = mean + exp(logvar / 2) * noise"
# Statistics over many samples and gradients through the sample.
n = 50_000
eps = torch.randn(n, 4, generator=gen)
m, lv = mean.clone().requires_grad_(), logvar.clone().requires_grad_()
samples = reparameterize(m.expand(n, 4), lv.expand(n, 4), eps)
assert max_diff(samples.mean(0).detach(), mean) < 0.05, "the samples' mean must be `mean`"
assert max_diff(samples.std(0).detach(), torch.tensor([0.5, 1.0, 2.0, 3.0])) < 0.05, \
    "the samples' std must be exp(logvar / 2) = 0.5, 1, 2, 3"
samples.mean().backward()
assert m.grad is not None and lv.grad is not None, "don't detach: gradients must reach mean and logvar"
print(f"ok: sample std {samples.std(0).detach().numpy().round(2)} (want [0.5 1 2 3]); gradients flow")

# %% [markdown]
# ## Exercise 2 — The KL term
#
# For one latent value with $q = \mathcal N(\mu, \sigma^2)$ and the prior
# $p = \mathcal N(0, 1)$:
#
# $$\mathrm{KL}(q\,\Vert\,p) = \tfrac12\big(\mu^2 + \sigma^2 - 1 - \log\sigma^2\big).$$
#
# Return it **elementwise** (same shape as the inputs), from `mean` and `logvar`
# ($\log\sigma^2$).

# %%
def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mean, exp(logvar)) || N(0, 1))."""
    ### BEGIN SOLUTION
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
    ### END SOLUTION


# %% tags=["check"]
# Check: kl_standard_normal matches torch.distributions and is zero only at the prior
gen = torch.Generator().manual_seed(2)
mean = torch.randn(5, 6, generator=gen) * 1.5
logvar = torch.randn(5, 6, generator=gen)
kl = kl_standard_normal(mean, logvar)
assert isinstance(kl, torch.Tensor) and kl.shape == mean.shape, \
    f"return the KL elementwise, shape {tuple(mean.shape)} (don't sum or average)"
ref = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0))
zero = kl_standard_normal(torch.zeros(3), torch.zeros(3))
assert max_diff(zero, torch.zeros(3)) < 1e-6, \
    "KL(N(0, 1) || N(0, 1)) must be 0: check the '- 1' and the '- log sigma^2' terms"
assert (kl >= -1e-6).all(), "a KL divergence is never negative: check the sign of each term"
sigma_as_logvar = 0.5 * (mean**2 + (0.5 * logvar).exp() - 1 - 0.5 * logvar)
assert max_diff(kl, sigma_as_logvar) > 1e-4, "logvar is log(sigma^2): sigma^2 = exp(logvar), log sigma^2 = logvar"
wide = kl_standard_normal(torch.zeros(1), torch.tensor([2.0]))
narrow = kl_standard_normal(torch.zeros(1), torch.tensor([-2.0]))
assert wide.item() > 0 and narrow.item() > 0, \
    "both a too-wide and a too-narrow q are penalised: 1/2 (sigma^2 - 1 - log sigma^2) > 0 unless sigma = 1"
diff = max_diff(kl, ref)
assert diff < 1e-5, f"differs from torch.distributions.kl_divergence by {diff:.2e}; KL = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2)"
print(f"ok: matches torch.distributions (max difference {diff:.1e})")

# %% [markdown]
# ## Exercise 3 — The VAE loss
#
# Per input value (the lesson's normalisation):
#
# $$\mathcal L = \underbrace{\mathrm{MSE}(x, \hat x)}_{\text{mean over all values}} +
#   \beta\,\frac{\sum_j \mathrm{KL}_j}{\text{number of values in } x}.$$
#
# The sum runs over every latent value of the whole batch; use your
# `kl_standard_normal`. Forgetting the KL term gives an ordinary autoencoder, whose
# latent space has no reason to look like $\mathcal N(0, I)$.

# %%
def vae_loss(x: torch.Tensor, recon: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
             beta: float) -> torch.Tensor:
    """Scalar loss: MSE(recon, x) + beta * sum(KL) / x.numel()."""
    ### BEGIN SOLUTION
    return F.mse_loss(recon, x) + beta * kl_standard_normal(mean, logvar).sum() / x.numel()
    ### END SOLUTION


# %% tags=["check"]
# Check: vae_loss = reconstruction + beta * KL with the right normalisation and sign
gen = torch.Generator().manual_seed(3)
x = torch.rand(4, 1, 12, 12, generator=gen) * 2 - 1
recon = x + 0.1 * torch.randn(x.shape, generator=gen)
mean, logvar = torch.randn(4, 4, 3, 3, generator=gen), torch.randn(4, 4, 3, 3, generator=gen) - 1


def reference(beta):
    return F.mse_loss(recon, x) + beta * lib_vae.kl_to_standard_normal(mean, logvar).sum() / x.numel()


loss0, loss1 = vae_loss(x, recon, mean, logvar, 0.0), vae_loss(x, recon, mean, logvar, 1.0)
assert isinstance(loss1, torch.Tensor) and loss1.ndim == 0, "return a scalar tensor"
assert max_diff(loss0, reference(0.0)) < 1e-5, "with beta = 0 the loss is the mean squared error over all values"
assert loss1.item() != loss0.item(), "the KL term is missing: add beta * sum(KL) / x.numel()"
assert loss1.item() > loss0.item(), "the KL term must *add* to the loss (it is >= 0): check its sign"
kl_mean = F.mse_loss(recon, x) + lib_vae.kl_to_standard_normal(mean, logvar).mean()
assert max_diff(loss1, kl_mean) > 1e-4 or mean.numel() == x.numel(), \
    "normalise the summed KL by the number of values in x (not the number of latent values)"
diff = max_diff(loss1, reference(1.0))
assert diff < 1e-5, f"differs from the reference by {diff:.2e}"
assert max_diff(vae_loss(x, recon, mean, logvar, 0.5), reference(0.5)) < 1e-5, "beta multiplies the KL term"
print(f"ok: reconstruction {loss0.item():.4f} + KL term {loss1.item() - loss0.item():.4f} (beta = 1)")

# %% [markdown]
# ## Exercise 4 — Scale-by-std
#
# Return the scalar scale factor $s = 1/\operatorname{std}(z)$ over **all** latent
# values (one number for the whole latent space, as Stable Diffusion's 0.18215), as a
# Python float. Multiplying the latents by $s$ gives them unit standard deviation.

# %%
def scale_factor(latents: torch.Tensor) -> float:
    """1 / std of every value of `latents` (any shape), as a float."""
    ### BEGIN SOLUTION
    return 1.0 / latents.float().std().item()
    ### END SOLUTION


# %% tags=["check"]
# Check: scale_factor makes the latents unit-variance, with one number for all channels
gen = torch.Generator().manual_seed(4)
z = torch.randn(300, 4, 3, 3, generator=gen) * torch.tensor([3.0, 5.0, 8.0, 4.0]).view(1, 4, 1, 1) + 1.0
s = scale_factor(z)
assert isinstance(s, float), f"return a Python float (one scale for all channels); got {type(s).__name__}"
assert abs(s - 1 / z.var().item()) > 1e-4, "divide by the standard deviation, not the variance"
assert abs(s - z.std().item()) > 1e-4, "the factor is 1 / std (it multiplies the latents), not std"
assert abs((s * z).std().item() - 1.0) < 1e-4, "scaled latents must have std 1"
ref = lib_vae.scale_factor(z)
assert abs(s - ref) < 1e-4 * ref, f"got {s:.5f}, expected {ref:.5f} = 1 / std over all values"
print(f"ok: s = {s:.4f}; scaled std {(s * z).std():.4f}; a per-channel scale would distort the channels' "
      f"relative sizes (stds {z.std(dim=(0, 2, 3)).numpy().round(2)})")

# %% [markdown]
# ## Exercise 5 — An experiment: what β does
#
# The lesson's VAE uses a small $\beta$ (`LATENT.vae.beta` = 1e-3). Change that one
# number and measure. Write `train_vae_briefly(beta, seed)`:
#
# - build `lib_vae.VAE(lib_vae.VAEConfig())` (the lesson's sizes) after `torch.manual_seed(seed)`;
# - train it for 150 steps with `torch.optim.Adam(model.parameters(), lr=2e-3)` on batches of
#   32 random frames of `train_frames` (drawn with `torch.randint(..., generator=g)`,
#   `g = torch.Generator().manual_seed(seed)`), minimising `lib_vae.vae_loss(model, x, beta)[0]`;
# - then, in eval mode and under `torch.no_grad()`, return `{"recon": ..., "kl": ...}`: the
#   reconstruction and KL terms (Python floats) of `lib_vae.vae_loss(model, test_frames, beta)`
#   on the held-out frames (call `torch.manual_seed(0)` first: the loss samples $z$).
#
# The check trains with $\beta = 10^{-3}$ and $\beta = 1$ (about 3 s). Predict first:
# which term goes down with the larger $\beta$, and which goes up?

# %%
from einops import rearrange

from course_lib.data.digits import make_moving_digits

train_frames = rearrange(make_moving_digits("train", n=64, frames=8, canvas=12, seed=0).videos,
                         "n c t h w -> (n t) c h w")                      # (512, 1, 12, 12)
test_frames = rearrange(make_moving_digits("test", n=32, frames=8, canvas=12, seed=1).videos,
                        "n c t h w -> (n t) c h w")                       # (256, 1, 12, 12)


def train_vae_briefly(beta: float, seed: int = 0) -> dict[str, float]:
    """Train the lesson's VAE for 150 steps with KL weight `beta`; held-out {"recon", "kl"}."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    model = lib_vae.VAE(lib_vae.VAEConfig())
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(150):
        x = train_frames[torch.randint(0, len(train_frames), (32,), generator=g)]
        loss = lib_vae.vae_loss(model, x, beta)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        _, recon, kl = lib_vae.vae_loss(model, test_frames, beta)
    return {"recon": recon.item(), "kl": kl.item()}
    ### END SOLUTION


# %% tags=["check"]
# Check: a larger beta buys a much smaller KL with worse reconstructions (trained VAEs, held-out frames)
small, large = train_vae_briefly(1e-3, seed=0), train_vae_briefly(1.0, seed=0)
for name, r in (("beta=1e-3", small), ("beta=1", large)):
    assert isinstance(r, dict) and {"recon", "kl"} <= set(r), f"{name}: return {{'recon': ..., 'kl': ...}}; got {r!r}"
    assert all(isinstance(r[k], float) and math.isfinite(r[k]) for k in ("recon", "kl")), \
        f"{name}: recon and kl must be finite Python floats (.item()); got {r!r}"
torch.manual_seed(0)
untrained = lib_vae.vae_loss(lib_vae.VAE(lib_vae.VAEConfig()).eval(), test_frames, 1e-3)[1].item()
assert small["recon"] < 0.5 * untrained, \
    (f"with beta=1e-3 the reconstruction error {small['recon']:.3f} is not far below an untrained VAE's "
     f"{untrained:.3f}: train all 150 steps (zero_grad, backward, step) on the loss, not on the KL alone")
assert large["kl"] < 0.3 * small["kl"], \
    f"beta=1 must pull the codes to N(0, I): KL {large['kl']:.3f} should be far below beta=1e-3's {small['kl']:.3f}"
assert large["recon"] > small["recon"], \
    "the price of a large beta is blurrier reconstructions: recon must be higher with beta=1"
print(f"beta=1e-3: recon {small['recon']:.3f}, KL {small['kl']:.3f} nats per pixel | "
      f"beta=1: recon {large['recon']:.3f}, KL {large['kl']:.3f} (untrained recon {untrained:.3f})")
