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
# # Day 04 — DDIM, guidance and DiT
#
# **What you will build.** The three ideas that turned day 03's DDPM into the recipe of
# Stable Diffusion 3 and Sora: a *Diffusion Transformer* (DiT, Peebles & Xie 2023) that
# reads an image as a sequence of patch tokens; *DDIM* (Song et al. 2021), which samples
# with 20 network calls instead of 1,000; and *classifier-free guidance* (Ho & Salimans
# 2022), which trades diversity for fidelity with one knob. On 16×16 digits, trained
# from scratch.
#
# **Prerequisites.** Day 02 (attention), day 03 (DDPM: schedules, `q_sample`, the
# ancestral step). **CPU run time:** about 90 s (most of it training).
#
# **The plan.** `course_lib.nn.embeddings` (patchify, positions),
# `course_lib.diffusion.dit` (the DiT), `course_lib.diffusion.ddpm` (DDIM, guidance),
# `course_lib.diffusion.dit_train` (the training recipe and its size presets).
# The exercises rebuild a DDIM step, the guidance combination, patchify/unpatchify and
# adaLN modulation, then measure what too few DDIM steps do to the samples.

# %%
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from course_lib import viz
from course_lib.data.digits import digits_split, load_digits16
from course_lib.data.judge import load_judge
from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.dit_train import PRESETS, train_dit
from course_lib.diffusion.schedules import make_schedule
from course_lib.metrics import frechet_distance, mean_pairwise_distance
from course_lib.nn.embeddings import patchify, unpatchify
from course_lib.runtime import get_device, seed_everything
from course_lib.train import describe, preset

DEVICE = get_device()
GPU = DEVICE.type == "cuda"
# One config cell. The DiT's sizes and training are a named preset in course_lib
# (`dit_train.PRESETS`): "cpu" reaches the asserted quality in about a minute of
# training; "gpu" is wider and deeper, cuts 2x2 patches (64 tokens instead of 16) and
# trains longer. What we do with the trained model is set here.
RECIPE = preset(PRESETS, DEVICE)
CONFIG = dict(
    samples_per_class=50 if GPU else 20,
    guidance=3.0,                         # the CFG scale used for the DDIM table
    guidance_sweep=[0.0, 1.0, 2.0, 3.0, 5.0],   # w, at DDIM-20
    ddim_steps=[50, 20, 10, 5],
)
print(DEVICE)
print(describe(RECIPE))
print(CONFIG)
notebook_start = time.perf_counter()
cpu_start = time.process_time()

# %% [markdown]
# ## 1. Images as sequences of patches
#
# A Transformer needs a sequence. DiT, like ViT, cuts the image into $p\times p$
# patches, flattens each and projects it to a $D$-dimensional token. A 16×16 digit
# with $p = 4$ becomes $4 \times 4 = 16$ tokens of $4\cdot4\cdot1 = 16$ numbers each.
#
# Both directions are one reshape and one permute. `reshape` splits the height into
# (patch row, row inside the patch) and the width likewise; `permute` brings the two
# grid axes to the front (they become the token index, row-major) and the three
# inside-the-patch axes to the back (they become the token's numbers). `unpatchify`
# undoes it in reverse order. Ours must give exactly the library's, and invert it.

# %%
images, labels = load_digits16()
train_idx, test_idx = digits_split()
print("digits:", tuple(images.shape), f"in [{images.min():.0f}, {images.max():.0f}]")


def patchify_ours(x, p):
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p)                               # (B, C, gh, p, gw, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)   # (B, N, p*p*C)


def unpatchify_ours(tokens, p, c, grid):
    gh, gw = grid
    x = tokens.reshape(len(tokens), gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4)      # (B, C, gh, p, gw, p)
    return x.reshape(len(tokens), c, gh * p, gw * p)


tokens = patchify_ours(images[:2], RECIPE.model.patch)
print("patchify:", tuple(images[:2].shape), "->", tuple(tokens.shape), "(B, N, p*p*C)")
grid = 16 // RECIPE.model.patch
assert torch.equal(tokens, patchify(images[:2], RECIPE.model.patch)), "ours must equal course_lib's patchify"
assert torch.equal(unpatchify_ours(tokens, RECIPE.model.patch, 1, (grid, grid)), images[:2])
assert torch.equal(unpatchify(tokens, RECIPE.model.patch, 1, (grid, grid)), images[:2])
print("ours = course_lib's patchify exactly, and unpatchify(patchify(x)) = x exactly")

# %%
p = 4
fig, axes = plt.subplots(1, 2, figsize=(7, 3.2), gridspec_kw=dict(width_ratios=[1, 2.2]))
axes[0].imshow(images[0, 0], cmap="gray")
for k in range(1, 16 // p):
    axes[0].axhline(k * p - 0.5, color="tab:red", lw=1)
    axes[0].axvline(k * p - 0.5, color="tab:red", lw=1)
axes[0].set(title=f"16×16 digit, p={p}", xticks=[], yticks=[])
axes[1].imshow(patchify(images[:1], p)[0], cmap="gray", aspect="auto")
axes[1].set(title=f"{(16 // p) ** 2} tokens × {p * p} pixels", xlabel="pixel inside the patch (row, column)",
            ylabel="token (row-major)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **The token arithmetic.** $N = (H/p)(W/p)$ tokens, and self-attention compares every
# token with every other: its cost grows as $N^2$, so halving $p$ multiplies the
# attention cost by 16. That is why DiT works on a VAE's *latent* (day 06): a 256×256
# image becomes a 32×32×4 latent, and $p = 2$ gives 256 tokens. The DiT paper's best
# model, DiT-XL/2, uses exactly that; DiT-XL/4 and /8 are cheaper and worse.

# %%
def token_table(rows):
    print(f"{'input':>26} {'p':>3} {'tokens N':>9} {'numbers/token':>14} {'attention ~ N^2':>16}")
    for name, (h, w, c), p in rows:
        n = (h // p) * (w // p)
        print(f"{name:>26} {p:>3} {n:>9,} {p * p * c:>14} {n * n:>16,}")


token_table([("16×16 digit", (16, 16, 1), p) for p in (1, 2, 4, 8)]
            + [("256² image → 32×32×4 latent", (32, 32, 4), p) for p in (2, 4, 8)]
            + [("512² image → 64×64×4 latent", (64, 64, 4), 2),
               ("256² image in pixels", (256, 256, 3), 16)])
assert DiTConfig(input_size=16, patch=RECIPE.model.patch).num_tokens == (16 // RECIPE.model.patch) ** 2

# %% [markdown]
# ## 2. The Diffusion Transformer
#
# ![The DiT of the cpu preset: a 16×16 noisy digit cut into 4×4 patches, patch_embed to 16 tokens of 64 numbers, plus fixed sin-cos positions, 3 AdaLNZeroBlocks, final_layer to 16 numbers per token, unpatchify to the predicted noise; below, t and y embedded and summed into c, which feeds every block and the final layer](figures/day04_dit.svg)
#
# Follow the top row: the noisy image is cut into patches, each patch becomes a token
# (`patch_embed`, a Conv2d whose kernel and stride are the patch size: the same
# Linear applied to every patch), a fixed table of positions is added (grey: not trained), and the tokens go
# through the blocks. The last layer maps every token back to its 16 pixels and
# `unpatchify` reassembles the image: the predicted noise, trained with day 03's loss.
# The bottom row is the condition: the timestep and the label are not tokens; they are
# embedded, summed into one vector $c$, and handed to *every* block.
#
# Inside each block, $c$ *modulates* the tokens (adaptive LayerNorm, "adaLN"): a Linear
# maps $c$ to a shift, a scale and a gate for each half of the block, and
#
# $$h = x + g_a \odot \mathrm{Attn}\big(\mathrm{LN}(x)(1 + s_a) + b_a\big), \qquad
#   y = h + g_m \odot \mathrm{MLP}\big(\mathrm{LN}(h)(1 + s_m) + b_m\big).$$
#
# "adaLN-**Zero**": those Linears start at zero, so every gate is 0 and every block
# starts as the identity, and the final layer starts at zero, so the untrained model
# predicts $\hat\varepsilon = 0$. The label table has an extra *null* row (label 10) that
# replaces the label 10 % of the time in training — the model learns $p(x)$ and
# $p(x\mid y)$ at once, which is all guidance needs.
#
# ![One AdaLNZeroBlock: x passes norm1, a scale-and-shift, 4-head attention, a gate and a residual add, then norm2, a scale-and-shift, the MLP, a gate and a residual add; below, c goes through adaLN_modulation (SiLU, Linear 64 to 384, zero-initialised), whose six outputs feed the two scale-and-shifts and the two gates](figures/day04_adaln_zero_block.svg)
#
# The block, with the names of `dit.AdaLNZeroBlock`. The top row is an ordinary
# pre-norm Transformer block (attention half, then MLP half, each with a residual
# add) whose LayerNorms have no learned scale of their own. Instead, the bottom row
# computes them from $c$: one Linear produces six vectors of 64, a shift and a scale
# for each LayerNorm and a gate that multiplies each half's output before the add.
# Because that Linear starts at zero, every gate starts at 0 and the block passes $x$
# through unchanged; training opens the gates as far as they help.
#
# Here is the block's forward and the DiT's, written with the library's layers (the
# attention is day 02's). An untrained DiT outputs exactly 0, which would make a
# comparison trivial, so we check ours on a DiT whose weights are all randomised.

# %%
def adaln_zero_block(block, x, c):
    """One AdaLNZeroBlock's forward with its own layers: x (B, N, D), c (B, D) -> (B, N, D)."""
    shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = block.adaLN_modulation(c).chunk(6, dim=-1)  # 6 x (B, D)
    h = block.norm1(x) * (1 + scale_a[:, None]) + shift_a[:, None]     # adaLN: per sample, same for all tokens
    x = x + gate_a[:, None] * block.attn(h)                            # gated attention residual
    h = block.norm2(x) * (1 + scale_m[:, None]) + shift_m[:, None]
    return x + gate_m[:, None] * block.mlp(h)                          # gated MLP residual


def dit_forward(model, x, t, labels):
    cfg = model.config
    tokens = model.patch_embed(x) + model.pos_embed                   # (B, N, D) + fixed positions
    c = model.t_embedder(t) + model.y_embedder(labels)                # (B, D) the condition
    for block in model.blocks:
        tokens = adaln_zero_block(block, tokens, c)
    final = model.final_layer
    shift, scale = final.adaLN_modulation(c).chunk(2, dim=-1)
    out = final.linear(final.norm(tokens) * (1 + scale[:, None]) + shift[:, None])   # (B, N, p*p*C)
    return unpatchify_ours(out, cfg.patch, cfg.in_channels, (cfg.grid, cfg.grid))


torch.manual_seed(0)
probe = DiT(RECIPE.model).eval()
with torch.no_grad():
    for weight in probe.parameters():
        weight.normal_(0, 0.1)                                         # no zeros left anywhere
    x_probe, t_probe, y_probe = torch.randn(4, 1, 16, 16), torch.tensor([0, 10, 500, 999]), torch.tensor([0, 1, 2, 10])
    ours, library = dit_forward(probe, x_probe, t_probe, y_probe), probe(x_probe, t_probe, y_probe)
print(f"DiT forward on random weights: output max |value| {library.abs().max():.2f}; ours vs course_lib, "
      f"max |difference| = {(ours - library).abs().max():.1e}")
torch.testing.assert_close(ours, library)

# %%
seed_everything(0)
config = RECIPE.model                              # a DiTConfig: the preset's sizes
model = DiT(config)
x = torch.randn(4, 1, 16, 16)
out = model(x, torch.tensor([0, 10, 500, 999]), torch.tensor([0, 1, 2, 10]))
print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {config.num_tokens} tokens; "
      f"output {tuple(out.shape)}, untrained |output| max = {out.abs().max():.1f}")
assert out.shape == x.shape and out.abs().max() == 0, "adaLN-Zero: the untrained DiT predicts exactly 0"

# %% [markdown]
# ## 3. Train it
#
# The loss is day 03's, unchanged (`ddpm.conditional_loss`): MSE between the true noise
# and the DiT's prediction at a random timestep. The label dropout for guidance happens
# inside the model (`LabelEmbedder`), only in training mode. `train_dit(RECIPE)` seeds,
# builds `DiT(RECIPE.model)`, and trains it with `train.load_or_train` on random batches
# of training digits — or loads it when a checkpoint with the recipe's key exists.

# %%
trained = train_dit(RECIPE, device=DEVICE)        # or loads artifacts/checkpoints/dit_digits_<key>.pt
model, schedule, history = trained.model, trained.schedule, trained.run.history
train_seconds = trained.run.seconds
viz.plot_loss(history, window=50, ylabel="MSE on the noise", title="DiT training loss")
plt.show()
print(f"final loss {sum(history[-100:]) / 100:.3f}; {train_seconds:.0f} s of training "
      f"({'loaded from artifacts/' if trained.run.cached else 'just now'})")

# %% [markdown]
# ## 4. DDIM: the same model, 20 steps instead of 1,000
#
# DDPM's reverse process is a Markov chain, one small step at a time. DDIM notices that
# the training loss only ever sees the *marginals* $q(x_t\mid x_0)$, and builds a
# different, non-Markovian process with the same marginals that can jump from $t$ to
# any earlier $t_\text{prev}$:
#
# $$x_{t_\text{prev}} = \sqrt{\bar\alpha_\text{prev}}\,\hat x_0 + \sqrt{1-\bar\alpha_\text{prev}-\sigma^2}\,\hat\varepsilon + \sigma z, \qquad
#   \sigma = \eta\sqrt{\tfrac{1-\bar\alpha_\text{prev}}{1-\bar\alpha_t}}\sqrt{1-\tfrac{\bar\alpha_t}{\bar\alpha_\text{prev}}}.$$
#
# Read it as "predict the clean image, then re-noise it to the level of $t_\text{prev}$,
# reusing the predicted noise". With $\eta = 0$ it is deterministic — an ODE solver, so
# the same starting noise always gives the same image — and with $\eta = 1$ and
# $t_\text{prev} = t-1$ it is exactly DDPM. No retraining: any $\varepsilon$-model works.
#
# ![Two timelines from t = 999 (noise) to clean data: DDPM visits all 1,000 timesteps, one small step each; DDIM-5 visits t = 999, 799, 599, 399, 199 and jumps between them](figures/day04_ddim_steps.svg)
#
# The figure shows what changes at sampling time. DDPM (top) must visit every one of
# the 1,000 timesteps, because each of its steps is only valid for a small change of
# noise level. DDIM (bottom, 5 steps, "trailing" spacing: it starts exactly at $T-1$)
# visits a handful and jumps between them with the formula above; each jump costs one
# network call.
#
# The step, written out. The schedule is indexed with `t + 1` into a copy padded with
# $\bar\alpha_{-1} = 1$, so `t_prev = -1` means "jump to clean data". We check it
# against `ddpm.ddim_step` for $\eta = 0$ and $\eta = 1$, and check the claim above:
# with $\eta = 1$ and $t_\text{prev} = t-1$ it is day 03's ancestral step (without
# the clamp of $\hat x_0$).

# %%
def ddim_step_ours(eps, x_t, t, t_prev, eta=0.0, z=None):
    padded = torch.cat([torch.ones(1), schedule.alpha_bars])            # padded[t + 1] = alpha_bar_t
    a_t, a_prev = padded[t + 1].view(-1, 1, 1, 1), padded[t_prev + 1].view(-1, 1, 1, 1)
    x0_hat = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()               # 1. predict the clean image
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    x_prev = a_prev.sqrt() * x0_hat + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps   # 2. re-noise to t_prev
    return x_prev + sigma * z if eta > 0 else x_prev                   # 3. fresh noise only if eta > 0


g = torch.Generator().manual_seed(0)
x_try, eps_try, z_try = (torch.randn(4, 1, 16, 16, generator=g) for _ in range(3))
t_try, t_prev_try = torch.tensor([999, 600, 300, 50]), torch.tensor([949, 400, 0, -1])
for eta in (0.0, 1.0):
    ours = ddim_step_ours(eps_try, x_try, t_try, t_prev_try, eta, z_try)
    library = ddpm.ddim_step(eps_try, x_try, t_try, t_prev_try, schedule, eta=eta, noise=z_try)
    print(f"DDIM step, eta = {eta}: ours vs course_lib, max |difference| = {(ours - library).abs().max():.1e}")
    torch.testing.assert_close(ours, library)
ours = ddim_step_ours(eps_try, x_try, t_try, t_try - 1, 1.0, z_try)
ancestral = ddpm.ancestral_step(eps_try, x_try, t_try, schedule, z_try, clip_x0=False)
print(f"DDIM with eta = 1, t_prev = t - 1 vs DDPM's ancestral step: max |difference| = "
      f"{(ours - ancestral).abs().max():.1e} (float32 rounding)")
torch.testing.assert_close(ours, ancestral)
print("20 DDIM timesteps (trailing):", ddpm.ddim_timesteps(RECIPE.num_steps, 20))

# %% [markdown]
# Guidance wraps the model so that each call runs the conditional and the null-label
# pass in one batch of $2B$ and combines them (section 5 explains the formula). Ours
# must give exactly `ddpm.guided`'s prediction on the trained model:

# %%
def guided_ours(model, labels, scale):
    def model_fn(x, t):
        null = torch.full_like(labels, model.null_label)                  # label 10: "no label"
        out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))   # one batch of 2B
        eps_cond, eps_uncond = out.chunk(2)
        return eps_uncond + scale * (eps_cond - eps_uncond)
    return model_fn


with torch.no_grad():
    x_dev, t_dev, y_dev = x_try.to(DEVICE), t_try.to(DEVICE), torch.arange(4, device=DEVICE)
    ours = guided_ours(model, y_dev, 3.0)(x_dev, t_dev)
    library = ddpm.guided(model, y_dev, model.null_label, 3.0)(x_dev, t_dev)
print(f"guided prediction, w = 3: ours vs course_lib, max |difference| = {(ours - library).abs().max():.1e}")
torch.testing.assert_close(ours, library)

# %% [markdown]
# Now the table: the same DiT, the same starting noises (`samples_per_class` per class),
# the guidance scale of the config, and DDIM with 50, 20, 10 and 5 steps. We measure
# what day 03 measured — the judge's accuracy on the samples and the Fréchet distance of
# judge features to real held-out digits — and the wall-clock time. (On a GPU the table
# also runs day 03's 1,000-step ancestral sampler; on a CPU that would cost 50 times
# DDIM-20.)

# %%
judge, real_accuracy = load_judge()
real_feats = judge.embed(images[test_idx])
wanted = torch.arange(10).repeat_interleave(CONFIG["samples_per_class"])
x_T = torch.randn(len(wanted), 1, 16, 16, generator=torch.Generator().manual_seed(3))


def evaluate(samples: torch.Tensor) -> tuple[float, float]:
    """(judge accuracy on the asked-for labels, Frechet distance to held-out real digits)."""
    accuracy = (judge.predict(samples) == wanted).float().mean().item()
    return accuracy, frechet_distance(judge.embed(samples), real_feats)


def sample(steps: int, scale: float, eta: float = 0.0) -> torch.Tensor:
    model_fn = ddpm.guided(model, wanted.to(DEVICE), model.null_label, scale)
    return ddpm.sample_ddim(model_fn, tuple(x_T.shape), schedule.to(DEVICE), steps=steps, eta=eta,
                            generator=torch.Generator().manual_seed(4), device=DEVICE, x_T=x_T,
                            progress=False).cpu()


table, ddim_samples = {}, {}
for steps in CONFIG["ddim_steps"]:
    start = time.perf_counter()
    ddim_samples[steps] = sample(steps, CONFIG["guidance"])
    seconds = time.perf_counter() - start
    table[f"DDIM-{steps}"] = (*evaluate(ddim_samples[steps]), seconds)

if GPU:                                          # the 1000-step ancestral sampler, for reference
    start = time.perf_counter()
    ddpm_samples = ddpm.sample_ddpm(ddpm.guided(model, wanted.to(DEVICE), model.null_label, CONFIG["guidance"]),
                                    tuple(x_T.shape), schedule.to(DEVICE),
                                    generator=torch.Generator().manual_seed(5), device=DEVICE).cpu()
    table["DDPM-1000"] = (*evaluate(ddpm_samples), time.perf_counter() - start)

fd_real = frechet_distance(judge.embed(images[train_idx][:500]), real_feats)
print(f"{'sampler':>10} {'accuracy':>9} {'Frechet':>8} {'seconds':>8}   (CFG w = {CONFIG['guidance']}, "
      f"{len(wanted)} samples)")
for name, (acc, fd, sec) in table.items():
    print(f"{name:>10} {acc:>9.1%} {fd:>8.1f} {sec:>8.1f}")
print(f"real digits: judge accuracy {real_accuracy:.1%}, Frechet (500 train vs test) {fd_real:.1f}")

# %%
viz.show_images(torch.cat([ddim_samples[s].view(10, -1, 1, 16, 16)[:, 0] for s in CONFIG["ddim_steps"]]),
                nrow=10, scale=0.7, titles=[f"{s} steps" if c == 0 else "" for s in CONFIG["ddim_steps"]
                                            for c in range(10)])

# %% [markdown]
# Same noise, same model: with $\eta = 0$ the 50-, 20-, 10- and even 5-step samples are
# nearly the same images — DDIM is solving one ODE with coarser and coarser steps. The
# coarse solver shows in the Fréchet distance, which creeps up as the steps shrink, and
# the cost falls in proportion to the steps. (Small images and a smooth model are kind
# to DDIM; on real images 5 steps blur detail, and 20–50 is the usual range.)

# %% [markdown]
# ## 5. Classifier-free guidance
#
# A conditional model's $\varepsilon_\theta(x_t, y)$ is (up to scale) the score
# $\nabla \log p(x_t \mid y)$, and the null-label prediction is $\nabla\log p(x_t)$.
# Bayes: $\nabla \log p(y\mid x_t) = \nabla\log p(x_t\mid y) - \nabla\log p(x_t)$ — an
# implicit classifier. Guidance follows it $w$ times:
#
# $$\hat\varepsilon = \varepsilon_u + w\,(\varepsilon_c - \varepsilon_u),$$
#
# i.e. it samples from $p(x)\,p(y\mid x)^w$: $w = 0$ ignores the label, $w = 1$ is the
# plain conditional model, $w > 1$ sharpens toward the most recognisable digits — and
# away from the variety. To measure the variety we use a **diversity score**: within
# each class, the mean distance between the judge features of every pair of samples
# (`mean_pairwise_distance`; `torch.pdist` lists the $N(N-1)/2$ pair distances, so it
# is their mean), averaged over the ten classes. Real digits set the scale.

# %%
feats_try = torch.randn(20, 8, generator=g)
ours, library = torch.pdist(feats_try.double()).mean().item(), mean_pairwise_distance(feats_try)
print(f"mean pairwise distance of 20 random points: ours {ours:.6f}, course_lib {library:.6f}")
assert abs(ours - library) < 1e-9


def diversity(samples: torch.Tensor, classes: torch.Tensor) -> float:
    """Mean over classes of the mean pairwise distance of judge features within the class."""
    feats = judge.embed(samples)
    return sum(mean_pairwise_distance(feats[classes == c]) for c in range(10)) / 10


real_diversity = diversity(images[test_idx], labels[test_idx])
sweep, sweep_samples = {}, {}
for scale in CONFIG["guidance_sweep"]:
    sweep_samples[scale] = sample(20, scale)
    acc, fd = evaluate(sweep_samples[scale])
    sweep[scale] = (acc, fd, diversity(sweep_samples[scale], wanted))
print(f"{'w':>4} {'accuracy':>9} {'Frechet':>8} {'diversity':>10}   (DDIM-20; real digits: diversity "
      f"{real_diversity:.2f})")
for scale, (acc, fd, div) in sweep.items():
    print(f"{scale:>4} {acc:>9.1%} {fd:>8.1f} {div:>10.2f}")

# %%
ws = list(sweep)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(ws, [sweep[w][0] for w in ws], "o-", color="tab:blue", label="accuracy")
ax.set(xlabel="guidance scale w", ylabel="judge accuracy")
ax2 = ax.twinx()
ax2.plot(ws, [sweep[w][2] for w in ws], "s--", color="tab:orange", label="diversity")
ax2.axhline(real_diversity, color="tab:orange", lw=0.8, ls=":")
ax2.set_ylabel("within-class diversity")
fig.legend(loc="center right", bbox_to_anchor=(0.85, 0.5))
ax.set_title("guidance: fidelity up, variety down")
plt.show()
viz.show_images(torch.cat([sweep_samples[w].view(10, -1, 1, 16, 16)[3, :10] for w in ws]), nrow=10, scale=0.7,
                titles=[f"w={w}" if c == 0 else "" for w in ws for c in range(10)])

# %% [markdown]
# Ten "3"s for every $w$, from the same starting noises. At $w = 0$ the label is
# ignored (the judge's accuracy is near chance, and "diversity within a class" is
# really diversity across all digits); at $w = 1$ many are 3s, of many shapes; as $w$
# grows they converge on one prototypical 3 and the diversity drops below that of real
# 3s. The Fréchet distance, which needs both the right digits *and* the right variety,
# is best at a moderate scale and worsens again as guidance collapses the variety —
# the trade-off every text-to-image product tunes. Move the slider (in a live
# notebook) to regenerate a class at any scale:

# %%
def show_class(digit=3, scale=3.0):
    classes = torch.full((10,), digit)
    model_fn = ddpm.guided(model, classes.to(DEVICE), model.null_label, scale)
    out = ddpm.sample_ddim(model_fn, (10, 1, 16, 16), schedule.to(DEVICE), steps=20, device=DEVICE,
                           x_T=x_T[:10], progress=False).cpu()
    display(viz.show_images(out, nrow=10, scale=0.7))


widgets.interact(show_class, digit=widgets.IntSlider(3, 0, 9), scale=widgets.FloatSlider(3.0, min=0, max=8, step=0.5));

# %% [markdown]
# **Both knobs at once.** The cell below samples one digit of each class for every
# pair of DDIM steps (5, 10, 25, 50) and guidance scale (0, 1, 3, 6), all from the
# same ten starting noises; the sliders then only look the images up, so they answer
# at once. Things to look for: along the steps slider the images change little
# (deterministic DDIM solves one ODE, more or less finely; 5 steps is where it starts
# to show); along the guidance slider, $w = 0$ ignores the labels (digit-like shapes,
# but not the digits asked for) and $w \ge 1$ follows them.

# %%
# 16 settings x 10 digits, 360 DiT calls in all: 1.3 s on one idle CPU thread, 2.6 s on
# a busy machine (measured with time.perf_counter; the cell prints its own time).
GRID_STEPS, GRID_SCALES = [5, 10, 25, 50], [0.0, 1.0, 3.0, 6.0]
digits = torch.arange(10, device=DEVICE)
start = time.perf_counter()
grid_samples = {(steps, w): ddpm.sample_ddim(ddpm.guided(model, digits, model.null_label, w), (10, 1, 16, 16),
                                             schedule.to(DEVICE), steps=steps, device=DEVICE, x_T=x_T[:10],
                                             progress=False).cpu()
                for steps in GRID_STEPS for w in GRID_SCALES}
print(f"{len(grid_samples)} settings x 10 digits sampled in {time.perf_counter() - start:.1f} s")


def show_grid(steps=25, w=3.0):
    fig, axes = plt.subplots(1, 10, figsize=(8, 1.3))
    for digit, ax in enumerate(axes):
        ax.imshow(grid_samples[(steps, w)][digit, 0], cmap="gray", vmin=-1, vmax=1)
        ax.set(xticks=[], yticks=[], title=f"{digit}")
    fig.suptitle(f"DDIM-{steps}, guidance w = {w} (above each image: the digit asked for)", y=1.05)
    plt.show()


widgets.interact(show_grid, steps=widgets.SelectionSlider(options=GRID_STEPS, value=25),
                 w=widgets.SelectionSlider(options=GRID_SCALES, value=3.0));

# %% [markdown]
# ## 6. Measure it

# %%
acc50, acc20 = table["DDIM-50"][0], table["DDIM-20"][0]
print(f"DiT + CFG (w = {CONFIG['guidance']}), DDIM-50: {acc50:.1%}; DDIM-20: {acc20:.1%} "
      f"(gap {abs(acc50 - acc20):.1%}); real digits {real_accuracy:.1%}")
print(f"DDIM-20 took {table['DDIM-20'][2] / table['DDIM-50'][2]:.0%} of DDIM-50's time "
      f"(20 / 50 = 40 % of the network calls)")
print(f"training {train_seconds:.0f} s; notebook {time.perf_counter() - notebook_start:.0f} s wall, "
      f"{time.process_time() - cpu_start:.0f} s CPU")
# Over training seeds 0-3 (`COURSE_SEED=N course run day04`): DDIM-50 95.5-99.5 %, DDIM-20
# within 0.5 points of it, diversity at w = 5 9.2-11.2 against 18.3-19.5 at w = 1. Your
# machine's numbers may differ from these about as much as another seed's would.
assert acc50 >= 0.90, "DiT + CFG samples must be recognisable"
assert abs(acc20 - acc50) <= 0.05, "DDIM-20 must be within 5 points of DDIM-50"
assert sweep[ws[-1]][2] < sweep[1.0][2], "strong guidance must reduce within-class diversity"

# %% [markdown]
# ## In production
#
# - **DiT everywhere.** [DiT-XL/2](https://arxiv.org/abs/2212.09748) (ImageNet 256², on
#   32×32×4 latents, 256 tokens; code at
#   [facebookresearch/DiT](https://github.com/facebookresearch/DiT), weights as
#   [facebook/DiT-XL-2-256](https://huggingface.co/facebook/DiT-XL-2-256)) beat the
#   U-Nets; [Stable Diffusion 3](https://arxiv.org/abs/2403.03206) and Flux use MM-DiT
#   (text and image tokens in one attention), and Sora, Veo and HunyuanVideo use
#   *spacetime* patches of video latents (day 05) — the token arithmetic above, with time
#   as a third axis, is what makes video expensive.
# - **Guidance in practice.** [Classifier-free guidance](https://arxiv.org/abs/2207.12598)
#   at scales of 3–8 for text-to-image (SD 1.5 default 7.5); too high over-saturates and
#   loses diversity, as the sweep shows. Refinements: CFG only on a middle interval of
#   timesteps ([Kynkäänniemi et al. 2024](https://arxiv.org/abs/2404.07724)), rescaled CFG
#   against over-exposure, negative prompts (the "unconditional" pass with an unwanted
#   prompt). Text dropout in training (the null label) is what makes it possible.
# - **Fewer steps.** [DDIM](https://arxiv.org/abs/2010.02502) is a first-order ODE
#   solver; [DPM-Solver++](https://arxiv.org/abs/2211.01095), UniPC and Heun (EDM) reach
#   the same quality in 10–25 steps; flow matching (SD3) straightens the paths.
#   Distillation (day 07: progressive, consistency, adversarial) gets to 1–4.
# - **Guidance distillation.** CFG doubles the cost of every step; distilled models
#   (Flux-dev, SDXL-Turbo) take $w$ as an input and run one pass.
# - **Failure modes.** Trailing vs leading timesteps matter
#   ([Lin et al. 2024](https://arxiv.org/abs/2305.08891)), high CFG collapses variety and
#   amplifies dataset biases, and few-step samplers blur detail.
#
# In Hugging Face diffusers the whole of today's pipeline is
# [`DiTPipeline`](https://huggingface.co/docs/diffusers/api/pipelines/dit): a DiT over
# the latents of a VAE, class labels with a null class, classifier-free guidance, and a
# swappable scheduler such as
# [`DDIMScheduler`](https://huggingface.co/docs/diffusers/api/schedulers/ddim) (with
# `timestep_spacing="trailing"`, our spacing). Not run here (the course is offline and
# DiT-XL/2 has 675 M parameters):
#
# ```python
# import torch
# from diffusers import DDIMScheduler, DiTPipeline
#
# pipe = DiTPipeline.from_pretrained("facebook/DiT-XL-2-256", torch_dtype=torch.float16).to("cuda")
# pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
# class_ids = pipe.get_label_ids(["white shark", "umbrella"])      # ImageNet class names -> labels
# images = pipe(class_labels=class_ids, num_inference_steps=20, guidance_scale=4.0,
#               generator=torch.manual_seed(0)).images              # PIL images, 256 x 256
# ```
#
# ## Summary
#
# - A DiT is a Transformer over patch tokens whose LayerNorms are modulated by the
#   timestep and label (adaLN-Zero, identity at init); tokens $=(H/p)(W/p)$, attention
#   cost $\propto$ tokens².
# - DDIM jumps between any two noise levels with the same trained model; here 20 steps
#   match 50 in accuracy with 40 % of the network calls (section 6 prints the time).
# - Classifier-free guidance $\varepsilon_u + w(\varepsilon_c-\varepsilon_u)$ buys
#   accuracy with diversity.
#
# **Exercises:** [`../exercises/day04_dit.ipynb`](../exercises/day04_dit.ipynb) — a DDIM
# step, the guidance combination, patchify/unpatchify, adaLN modulation, and a DDIM
# sampling loop with an experiment on the number of steps. Then `course check day04`.
