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
# # Day 04 exercises — DDIM, guidance and DiT
#
# Six exercises from the lesson ([../notebooks/day04_dit.ipynb](../notebooks/day04_dit.ipynb)):
#
# 1. one DDIM step (deterministic and with $\eta > 0$),
# 2. the classifier-free guidance combination,
# 3. `patchify`: an image into a sequence of patch tokens,
# 4. `unpatchify`: tokens back into an image,
# 5. adaLN modulation, the way a DiT block reads its condition,
# 6. an experiment: a DDIM sampling loop, and what too few steps do to the samples.
#
# Write the body of each function where it says `# YOUR CODE HERE`, then run the check
# cell below it. Each check compares your function with `course_lib` (and with closed
# forms) on small fixed inputs and tells you what looks wrong. Grade the whole notebook
# with `course check day04` (add `--json` for a machine-readable report).
#
# **Run time:** a few seconds on a CPU; nothing is trained.

# %%
import math

import torch

from course_lib.diffusion import ddpm           # the references the checks compare against
from course_lib.diffusion import dit as lib_dit
from course_lib.diffusion.schedules import make_schedule
from course_lib.nn import embeddings as lib_emb

torch.manual_seed(0)
schedule = make_schedule("cosine", 1000)
alpha_bars = schedule.alpha_bars                  # (T,) float32, alpha_bar_t for t = 0 .. T-1


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference (inf when shapes differ or a value is NaN)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return float("inf")
    d = (a - b).abs().max().item() if a.numel() else 0.0
    return float("inf") if math.isnan(d) else d


# %% [markdown]
# ## Exercise 1 — One DDIM step
#
# DDIM (Song et al. 2021) reuses a DDPM-trained noise predictor but jumps from step $t$
# to any earlier step $t_\text{prev}$. With $\bar\alpha_t$ = `alpha_bars[t]` and the
# model's noise estimate $\hat\varepsilon$:
#
# $$\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}}, \qquad
# x_{t_\text{prev}} = \sqrt{\bar\alpha_\text{prev}}\,\hat x_0 + \sqrt{1-\bar\alpha_\text{prev}-\sigma^2}\,\hat\varepsilon + \sigma z,$$
#
# $$\sigma = \eta\,\sqrt{\frac{1-\bar\alpha_\text{prev}}{1-\bar\alpha_t}}\,\sqrt{1-\frac{\bar\alpha_t}{\bar\alpha_\text{prev}}}.$$
#
# - `eps`, `x_t`, `noise` (the $z$) are tensors of one shape; `t` and `t_prev` are ints
#   with `t_prev < t`; $\bar\alpha_\text{prev}$ = `alpha_bars[t_prev]`, and
#   **`t_prev = -1` means "to clean data"**, where $\bar\alpha_{-1} = 1$.
# - `t_prev` is usually *not* `t - 1`: a 20-step sampler jumps 50 steps at a time.
# - $\eta = 0$ is deterministic (`noise` may be `None`); $\eta = 1$ adds as much noise
#   as DDPM's ancestral step.

# %%
def ddim_step(eps: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int, alpha_bars: torch.Tensor,
              eta: float = 0.0, noise: torch.Tensor | None = None) -> torch.Tensor:
    """x_t -> x_{t_prev} given the predicted noise eps (all tensors the same shape)."""
    ### BEGIN SOLUTION
    a_t = alpha_bars[t]
    a_prev = alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    out = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
    return out + sigma * noise if eta > 0 else out
    ### END SOLUTION


# %% tags=["check"]
# Check: deterministic DDIM (eta = 0) matches ddpm.ddim_step and lands on the forward process
gen = torch.Generator().manual_seed(1)
x0 = torch.randn(4, 1, 4, 4, generator=gen).clamp(-1, 1)
eps = torch.randn(x0.shape, generator=gen)
T_ = torch.full((4,), 0, dtype=torch.int64)



def ddim_variant(eps, x_t, a_t, a_prev, root=True):
    """Deterministic DDIM with given alpha_bars; root=False is the mistake of using a instead of sqrt(a)."""
    f = torch.sqrt if root else (lambda v: v)
    x0_hat = (x_t - f(1 - a_t) * eps) / f(a_t)
    return f(a_prev) * x0_hat + f(1 - a_prev) * eps


for t, t_prev in [(950, 900), (500, 450), (300, 0), (40, -1)]:
    x_t = ddpm.q_sample(x0, T_ + t, eps, schedule)
    try:
        out = ddim_step(eps, x_t, t, t_prev, alpha_bars)
    except NotImplementedError:
        raise
    except (IndexError, RuntimeError, TypeError) as err:
        raise AssertionError(f"ddim_step failed for t={t}, t_prev={t_prev}: {err}") from None
    assert isinstance(out, torch.Tensor) and out.shape == x_t.shape, \
        f"ddim_step must return a tensor of x_t's shape {tuple(x_t.shape)}; got {getattr(out, 'shape', type(out))}"
    if t_prev == -1:
        assert max_diff(out, x0) < 1e-3, \
            ("t_prev = -1 means 'to clean data': alpha_bar_{-1} = 1, so with the true noise the step must return "
             "x0 exactly. Don't index alpha_bars[-1] (that is the *last* entry, alpha_bar_{T-1})")
        continue
    a_t, a_prev = alpha_bars[t], alpha_bars[t_prev]
    assert max_diff(out, ddim_variant(eps, x_t, a_t, alpha_bars[t - 1])) > 1e-4, \
        f"t={t}, t_prev={t_prev}: you stepped to t-1; use alpha_bars[t_prev] (DDIM skips steps)"
    assert max_diff(out, x_t) > 1e-4, \
        f"t={t}, t_prev={t_prev}: the output is x_t again; the coefficients of x0_hat and eps use a_prev, not a_t"
    assert max_diff(out, ddim_variant(eps, x_t, a_t, a_prev, root=False)) > 1e-4, \
        ("the coefficients are square roots: x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, so "
         "x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) and x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps")
    ref = ddpm.ddim_step(eps, x_t, T_ + t, T_ + t_prev, schedule)
    diff = max_diff(out, ref)
    assert diff < 1e-4, (f"t={t} -> t_prev={t_prev}: differs from ddpm.ddim_step by {diff:.2e}. Check "
                         "x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) and "
                         "x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps")
    forward = ddpm.q_sample(x0, T_ + t_prev, eps, schedule)
    assert max_diff(out, forward) < 1e-4, \
        "with the true noise, a DDIM step must land exactly on q_sample(x0, t_prev, eps)"
print("ok: with the true noise, DDIM jumps along the forward process: x_t -> x_{t_prev} -> ... -> x0")

# %% tags=["check"]
# Check: eta > 0 adds sigma z and shrinks the eps term to sqrt(1 - a_prev - sigma^2)
gen = torch.Generator().manual_seed(2)
x_t = torch.randn(3, 1, 4, 4, generator=gen)
eps = torch.randn(x_t.shape, generator=gen)
z = torch.randn(x_t.shape, generator=gen)
T_ = torch.full((3,), 0, dtype=torch.int64)
t, t_prev = 600, 550
det = ddim_step(eps, x_t, t, t_prev, alpha_bars)
assert max_diff(ddim_step(eps, x_t, t, t_prev, alpha_bars, eta=0.0, noise=z), det) < 1e-6, \
    "with eta = 0 the noise must be ignored (sigma = 0): the step is deterministic"
for eta in (1.0, 0.5):
    out = ddim_step(eps, x_t, t, t_prev, alpha_bars, eta=eta, noise=z)
    assert max_diff(out, det) > 1e-4, f"with eta = {eta} the output must change: add sigma * noise"
    ref = ddpm.ddim_step(eps, x_t, T_ + t, T_ + t_prev, schedule, eta=eta, noise=z)
    a_t, a_prev = alpha_bars[t], alpha_bars[t_prev]
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    assert max_diff(out, det + sigma * z) > 1e-5, \
        "you added sigma * noise but kept sqrt(1 - a_prev) on eps; use sqrt(1 - a_prev - sigma^2)"
    assert max_diff(out, det + eta * z) > 1e-5, \
        "sigma is not eta itself: sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)"
    diff = max_diff(out, ref)
    assert diff < 1e-4, (f"eta = {eta}: differs from ddpm.ddim_step by {diff:.2e}. "
                         "sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)")
# eta = 1 with t_prev = t - 1 is DDPM: the noise variance sigma^2 is the posterior variance beta~_t.
t = 300
zero = torch.zeros_like(z)
spread = ddim_step(eps, x_t, t, t - 1, alpha_bars, eta=1.0, noise=z) - ddim_step(eps, x_t, t, t - 1, alpha_bars,
                                                                                   eta=1.0, noise=zero)
sigma_ddpm = schedule.posterior_variance[t].sqrt()
assert max_diff(spread, sigma_ddpm * z) < 1e-4, \
    "with eta = 1 and t_prev = t - 1, sigma must equal the DDPM posterior std sqrt(beta~_t): add sigma * noise"
print(f"ok: eta = 1, one step: sigma = {sigma_ddpm:.4f} = sqrt(beta~_t), the DDPM noise")

# %% [markdown]
# ## Exercise 2 — The classifier-free guidance combination
#
# One network predicts the noise twice: with the label, $\varepsilon_c$, and with the
# "null" label, $\varepsilon_u$. Guidance with scale $w$ extrapolates from the
# unconditional prediction *through* the conditional one:
#
# $$\hat\varepsilon = \varepsilon_u + w\,(\varepsilon_c - \varepsilon_u).$$
#
# $w = 0$ is unconditional, $w = 1$ plain conditional, $w > 1$ pushes samples further
# toward what makes them look like their label.

# %%
def cfg_combine(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """Guided noise prediction eps_u + w (eps_c - eps_u); inputs (B, ...) of one shape."""
    ### BEGIN SOLUTION
    return eps_uncond + w * (eps_cond - eps_uncond)
    ### END SOLUTION


# %% tags=["check"]
# Check: cfg_combine is unconditional at w = 0, conditional at w = 1 and extrapolates beyond
gen = torch.Generator().manual_seed(3)
eps_u, eps_c = torch.randn(2, 4, 3, generator=gen), torch.randn(2, 4, 3, generator=gen)
at0, at1, at3 = (cfg_combine(eps_u, eps_c, w) for w in (0.0, 1.0, 3.0))
assert max_diff(at0, eps_c) > 1e-4 or max_diff(at1, eps_u) > 1e-4, \
    ("the roles are swapped: w = 0 must give the *unconditional* prediction and w = 1 the conditional one. "
     "eps = eps_u + w (eps_c - eps_u), not eps_c + w (eps_u - eps_c)")
assert max_diff(at0, eps_u) < 1e-6, "w = 0 must give eps_uncond exactly (no guidance: the unconditional model)"
assert max_diff(at3, eps_u - 3 * (eps_c - eps_u)) > 1e-4, \
    "the sign of the guidance is flipped: move *toward* eps_cond, eps_u + w (eps_c - eps_u)"
assert max_diff(at1, eps_c) < 1e-6, "w = 1 must give eps_cond exactly (plain conditional sampling)"
assert max_diff(at3, 3 * eps_c - eps_u) > 1e-4 and max_diff(at3, 3 * eps_u + (eps_c - eps_u)) > 1e-4, \
    "w multiplies the difference (eps_c - eps_u) and nothing else"
assert max_diff(at3, ddpm.cfg_combine(eps_u, eps_c, 3.0)) < 1e-5, \
    "w = 3 must give eps_u + 3 (eps_c - eps_u): the guided prediction goes *past* eps_cond"
# The guided eps lies on the line through eps_u and eps_c, three times as far from eps_u as eps_c is.
ratio = ((at3 - eps_u).norm() / (eps_c - eps_u).norm()).item()
print(f"ok: |eps_w - eps_u| / |eps_c - eps_u| = {ratio:.2f} at w = 3")

# %% tags=["check"]
# Check: cfg_combine inside a sampler: a guided toy denoiser gives ddpm.guided's output
gen = torch.Generator().manual_seed(4)
weights = torch.randn(11, 5, generator=gen)         # label 10 is the null label


def toy_model(x, t, labels):
    """A stand-in label-conditional denoiser: (B, 5) -> (B, 5)."""
    return torch.tanh(x + weights[labels] * (1 + t[:, None] / 1000))


x = torch.randn(6, 5, generator=gen)
t = torch.full((6,), 700, dtype=torch.int64)
labels = torch.arange(6)
null = torch.full_like(labels, 10)
for w in (0.0, 2.0, 5.0):
    mine = cfg_combine(toy_model(x, t, null), toy_model(x, t, labels), w)
    ref = ddpm.guided(toy_model, labels, 10, w)(x, t)
    diff = max_diff(mine, ref)
    assert diff < 1e-5, f"w = {w}: differs from ddpm.guided by {diff:.2e}; first argument is eps_uncond"
print("ok: cfg_combine(model(x, t, null), model(x, t, labels), w) == ddpm.guided(model, labels, 10, w)(x, t)")

# %% [markdown]
# ## Exercise 3 — Patchify
#
# A DiT reads an image as a sequence of patches. Cut `(B, C, H, W)` into
# $p \times p$ patches, in **row-major order** (left to right along the top row of
# patches, then the next row), and flatten each patch **as `(p, p, C)`**: row inside
# the patch, then column inside the patch, then channel last. Token $n$ at grid
# position $(i, j)$, $n = i \cdot W/p + j$, holds the pixels
# `x[:, :, i*p:(i+1)*p, j*p:(j+1)*p]`.
#
# Return `(B, N, p*p*C)` with $N = (H/p)(W/p)$. One `reshape`, one `permute`, one
# `reshape`.

# %%
def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, p*p*C): row-major patches, each flattened as (p, p, C)."""
    ### BEGIN SOLUTION
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p)          # (B, C, gh, p, gw, q)
    x = x.permute(0, 2, 4, 3, 5, 1)                    # (B, gh, gw, p, q, C)
    return x.reshape(B, (H // p) * (W // p), p * p * C)
    ### END SOLUTION


# %% tags=["check"]
# Check: patchify gives row-major tokens, each patch flattened as (p, p, C)
B, C, H, W, p = 2, 3, 4, 6, 2         # H != W and C > 1, so a swapped axis shows
x = torch.arange(B * C * H * W, dtype=torch.float32).view(B, C, H, W)   # numbered pixels show any mix-up
out = patchify(x, p)
N = (H // p) * (W // p)
assert isinstance(out, torch.Tensor) and tuple(out.shape) == (B, N, p * p * C), \
    f"patchify must return (B, N, p*p*C) = {(B, N, p * p * C)}; got {getattr(out, 'shape', type(out))}"
patch = x[0, :, 0:p, p:2 * p]                        # grid position (0, 1): token 1
assert torch.equal(torch.sort(out[0, 1]).values, torch.sort(patch.flatten()).values), \
    ("token 1 must hold the pixels of the patch at row 0, column 1 (x[:, :, 0:p, p:2p]): patches go left to "
     "right first (row-major). Split H into (H/p, p) and W into (W/p, p) before moving axes")
assert not torch.equal(out[0, 1], patch.flatten()), \
    "each patch is flattened channels-first (C, p, p); flatten it as (p, p, C): channel last"
assert not torch.equal(out[0, 1], patch.permute(2, 1, 0).flatten()), \
    "inside a patch the row index comes before the column index: (p, q, C), not (q, p, C)"
expected = lib_emb.patchify(x, p)
assert torch.equal(out, expected), "out[b, i*(W/p) + j] must be x[b, :, i*p:(i+1)*p, j*p:(j+1)*p].permute(1, 2, 0).flatten()"
assert torch.equal(patchify(torch.ones(1, 1, 16, 16), 4), torch.ones(1, 16, 16)), "a 16x16 image with p=4 gives 16 tokens of 16"
print("ok: token 1 of image 0 =", out[0, 1].int().tolist())

# %% [markdown]
# ## Exercise 4 — Unpatchify
#
# The DiT's last layer predicts `p*p*C` numbers per token; `unpatchify` puts them back
# where they came from. It must be the **exact inverse** of `patchify`: undo the three
# steps in reverse order. `grid = (gh, gw)` = $(H/p, W/p)$.

# %%
def unpatchify(tokens: torch.Tensor, p: int, C: int, grid: tuple[int, int]) -> torch.Tensor:
    """(B, N, p*p*C) -> (B, C, gh*p, gw*p), the inverse of patchify (N = gh * gw)."""
    ### BEGIN SOLUTION
    gh, gw = grid
    B = tokens.shape[0]
    x = tokens.reshape(B, gh, gw, p, p, C)             # (B, gh, gw, p, q, C)
    x = x.permute(0, 5, 1, 3, 2, 4)                    # (B, C, gh, p, gw, q)
    return x.reshape(B, C, gh * p, gw * p)
    ### END SOLUTION


# %% tags=["check"]
# Check: unpatchify(patchify(x)) == x, for non-square images with several channels
gen = torch.Generator().manual_seed(5)
for B, C, H, W, p in [(2, 3, 4, 6, 2), (1, 2, 8, 4, 4), (2, 1, 6, 6, 3)]:
    x = torch.randn(B, C, H, W, generator=gen)
    tokens = lib_emb.patchify(x, p)
    out = unpatchify(tokens, p, C, (H // p, W // p))
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (B, C, H, W), \
        f"unpatchify must return (B, C, H, W) = {(B, C, H, W)}; got {getattr(out, 'shape', type(out))}"
    t6 = tokens.reshape(B, H // p, W // p, p, p, C)
    if torch.equal(out, t6.permute(0, 5, 1, 4, 2, 3).reshape(B, C, H, W)):
        raise AssertionError("each patch comes back transposed: the token is (p, q, C) = (row, column, channel); "
                             "put p next to gh and q next to gw: permute to (B, C, gh, p, gw, q)")
    if C > 1 and torch.equal(out, tokens.reshape(B, H // p, W // p, C, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, C, H, W)):
        raise AssertionError("you read each token channels-first (C, p, q), but patchify flattens a patch as "
                             "(p, q, C): reshape to (B, gh, gw, p, q, C)")
    assert torch.equal(out, x), \
        (f"unpatchify(patchify(x)) != x for (C, H, W, p) = {(C, H, W, p)}: reshape to (B, gh, gw, p, q, C), "
         "permute to (B, C, gh, p, gw, q), reshape to (B, C, H, W)")
x = torch.randn(2, 3, 4, 6, generator=gen)
assert torch.equal(lib_emb.patchify(unpatchify(lib_emb.patchify(x, 2), 2, 3, (2, 3)), 2), lib_emb.patchify(x, 2)), \
    "patchify(unpatchify(tokens)) must give the tokens back"
print("ok: unpatchify inverts patchify exactly")

# %% [markdown]
# ## Exercise 5 — adaLN modulation
#
# A DiT block conditions on the timestep and label through a vector $c$ per sample:
# a zero-initialised Linear turns $c$ into a `shift` and a `scale` (and a gate), and the
# layer-normalised tokens become
#
# $$\mathrm{modulate}(x) = x \odot (1 + \text{scale}) + \text{shift}.$$
#
# `x` is `(B, N, D)` (N tokens per sample), `shift` and `scale` are `(B, D)`: one
# vector per **sample**, the same for all its tokens. The `1 +` is what makes a zero
# scale mean "leave x alone", so a zero-initialised block starts as the identity.

# %%
def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (B, N, D), shift and scale (B, D) -> x * (1 + scale) + shift, broadcast over the N tokens."""
    ### BEGIN SOLUTION
    return x * (1 + scale[:, None]) + shift[:, None]
    ### END SOLUTION


# %% tags=["check"]
# Check: modulate computes x * (1 + scale) + shift per sample, for every token
gen = torch.Generator().manual_seed(6)
B, N, D = 2, 5, 8
x = torch.randn(B, N, D, generator=gen)
shift, scale = torch.randn(B, D, generator=gen), torch.randn(B, D, generator=gen)
try:
    out = modulate(x, shift, scale)
except NotImplementedError:
    raise
except RuntimeError as err:
    raise AssertionError(f"modulate failed on x (B, N, D) = {(B, N, D)} with shift, scale (B, D) = {(B, D)}: {err}. "
                         "Give shift and scale a token axis so they broadcast over the N tokens: shift[:, None]") from None
assert isinstance(out, torch.Tensor) and tuple(out.shape) == (B, N, D), \
    f"modulate must return x's shape (B, N, D) = {(B, N, D)}; got {getattr(out, 'shape', type(out))}"
zero = torch.zeros(B, D)
assert max_diff(modulate(x, zero, zero), x) < 1e-6, \
    "with shift = scale = 0, modulate must return x unchanged: multiply by (1 + scale), not by scale"
assert max_diff(out, x * scale[:, None] + shift[:, None]) > 1e-4, "multiply by (1 + scale), not by scale"
diff = max_diff(out, lib_dit.modulate(x, shift, scale))
assert diff < 1e-5, f"differs from x * (1 + scale[:, None]) + shift[:, None] by {diff:.2e}"
# B == N: a wrong broadcast (over samples instead of tokens) no longer raises, it silently mixes samples.
x_sq = torch.randn(4, 4, D, generator=gen)
shift_sq, scale_sq = torch.randn(4, D, generator=gen), torch.randn(4, D, generator=gen)
out_sq = modulate(x_sq, shift_sq, scale_sq)
assert max_diff(out_sq, x_sq * (1 + scale_sq) + shift_sq) > 1e-4, \
    ("with B == N, shift of shape (B, D) broadcasts against the *token* axis: token n got sample n's shift. "
     "Index shift[:, None] so sample b's vector applies to all of sample b's tokens")
assert max_diff(out_sq, lib_dit.modulate(x_sq, shift_sq, scale_sq)) < 1e-5, \
    "each sample's shift and scale must apply to all of that sample's tokens"
print("ok: modulate(x, 0, 0) == x, and each sample's (shift, scale) applies to all its tokens")

# %% tags=["check"]
# Check: your modulate inside a DiT gives the library DiT's output
torch.manual_seed(7)
model = lib_dit.DiT(lib_dit.DiTConfig(input_size=8, patch=2, dim=32, depth=2, heads=2)).eval()
with torch.no_grad():                      # leave the zero init: give adaLN and the output layer weights
    for block in model.blocks:
        block.adaLN_modulation[-1].weight.normal_(0, 0.2)
    model.final_layer.adaLN_modulation[-1].weight.normal_(0, 0.2)
    model.final_layer.linear.weight.normal_(0, 0.2)
gen = torch.Generator().manual_seed(8)
x = torch.randn(3, 1, 8, 8, generator=gen)
t, labels = torch.tensor([10, 500, 990]), torch.tensor([1, 2, 10])
library_modulate = lib_dit.modulate
with torch.no_grad():
    ref = model(x, t, labels)
    try:
        lib_dit.modulate = modulate              # every block and the final layer now call yours
        mine = model(x, t, labels)
    finally:
        lib_dit.modulate = library_modulate
diff = max_diff(mine, ref)
assert diff < 1e-4, f"a DiT using your modulate differs from the library DiT by {diff:.2e}"
print(f"ok: DiT output with your modulate matches (max diff {diff:.1e}); output std {ref.std():.3f}")

# %% [markdown]
# ## Exercise 6 — An experiment: how many DDIM steps are enough?
#
# Write the DDIM sampling loop with your `ddim_step`: visit the timesteps
# `ddpm.ddim_timesteps(1000, steps)` (decreasing, starting at 999), and from each jump
# to the next one — from the last, to `t_prev = -1` (clean data). Deterministic:
# $\eta = 0$.
#
# Then the experiment. To see the sampler's error alone, without a network's, we
# sample a distribution whose exact noise prediction is known: 1-D data
# $x_0 \sim \mathcal N(\mu, s^2)$ with $\mu = 0.5$, $s = 0.1$. Then
# $x_t \sim \mathcal N(\sqrt{\bar\alpha_t}\mu,\ \bar\alpha_t s^2 + 1 - \bar\alpha_t)$ and the
# best possible noise prediction is
# $\mathbb E[\varepsilon\mid x_t] = \sqrt{1-\bar\alpha_t}\,(x_t - \sqrt{\bar\alpha_t}\mu)/(\bar\alpha_t s^2 + 1-\bar\alpha_t)$
# (`exact_eps` below). Sample 100,000 points with 5, 10, 20, 50 and 200 steps from the
# same starting noise and compare the samples' spread with the true $s$.

# %%
MU, S = 0.5, 0.1


def exact_eps(x_t: torch.Tensor, t) -> torch.Tensor:
    """E[eps | x_t] for data N(MU, S^2): the perfect denoiser. x_t (N,); t an int or (N,)."""
    a = alpha_bars[t]
    return (1 - a).sqrt() * (x_t - a.sqrt() * MU) / (a * S**2 + 1 - a)


def ddim_sample(eps_fn, x_T: torch.Tensor, steps: int) -> torch.Tensor:
    """Deterministic DDIM from x_T with `steps` calls of eps_fn(x, t) (t an int)."""
    ### BEGIN SOLUTION
    timesteps = ddpm.ddim_timesteps(1000, steps)
    x = x_T
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        x = ddim_step(eps_fn(x, t), x, t, t_prev, alpha_bars)
    return x
    ### END SOLUTION


# %% tags=["check"]
# Check: your DDIM loop equals ddpm.sample_ddim on the same starting noise
x_T = torch.randn(1000, generator=torch.Generator().manual_seed(9))
for steps in (1, 7, 20):
    mine = ddim_sample(exact_eps, x_T, steps)
    ref = ddpm.sample_ddim(exact_eps, (1000,), schedule, steps=steps, x_T=x_T, clip_x0=False, progress=False)
    diff = max_diff(mine, ref)
    assert diff < 1e-4, (f"with {steps} steps your samples differ from ddpm.sample_ddim by {diff:.2e}: visit "
                         "ddim_timesteps(1000, steps) in order and end with t_prev = -1")
print("ok: your DDIM loop matches ddpm.sample_ddim for 1, 7 and 20 steps")

# %% tags=["check"]
# Check: the experiment — too few steps shrink the spread; enough steps recover s
spread = {}
for seed in (0, 1, 2):                           # three starting noises: the effect does not depend on one
    x_T = torch.randn(100_000, generator=torch.Generator().manual_seed(seed))
    for steps in (5, 10, 20, 50, 200):
        spread[seed, steps] = ddim_sample(exact_eps, x_T, steps).std().item()
print("std of the samples (true s = 0.1):")
for steps in (5, 10, 20, 50, 200):
    print(f"  DDIM-{steps:<4} " + "  ".join(f"{spread[seed, steps]:.4f}" for seed in (0, 1, 2)))
for seed in (0, 1, 2):
    stds = [spread[seed, steps] for steps in (5, 10, 20, 50, 200)]
    assert all(a < b for a, b in zip(stds, stds[1:])), "the spread should grow toward s as the steps increase"
    assert stds[0] < 0.5 * S, "with 5 steps the samples should have well under half the true spread"
    assert abs(stds[-1] - S) < 0.01, "with 200 steps the samples' std should be within 0.01 of s = 0.1"
# What it shows: deterministic DDIM with big jumps under-disperses: it lands too close
# to the mean (here the std at 5 steps is about 0.03 instead of 0.1). On images that is
# lost detail and variety: why 5-step samples look smooth, and why production samplers
# use 20-50 DDIM steps or higher-order solvers.

# %% [markdown]
# ## Going further
#
# - Put Exercises 2 and 6 together: your DDIM loop with a guided denoiser
#   (`ddpm.guided` around the lesson's trained DiT), compared with `ddpm.sample_ddim`
#   on the same starting noise.
# - Repeat Exercise 6 with $\eta = 1$ (fresh noise at every jump): does the stochastic
#   sampler keep the spread better or worse at 5 steps? And with the "leading" spacing
#   of `ddpm.ddim_timesteps`, which never visits $t = 999$?
# - The lesson writes `adaln_zero_block` from `block.adaLN_modulation`, `block.attn`
#   and `block.mlp`; write it without looking, and check it against `block(x, c)`.
