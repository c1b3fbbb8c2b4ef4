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
# adaLN modulation.

# %%
import inspect
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from course_lib import viz
from course_lib.data.digits import digits_split, load_digits16
from course_lib.data.judge import load_judge
from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig, modulate
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
# with $p = 4$ becomes $4 \times 4 = 16$ tokens of $4\cdot4\cdot1 = 16$ numbers each;
# `patchify` and `unpatchify` are exact inverses.

# %%
images, labels = load_digits16()
train_idx, test_idx = digits_split()
print("digits:", tuple(images.shape), f"in [{images.min():.0f}, {images.max():.0f}]")
tokens = patchify(images[:2], RECIPE.model.patch)
print("patchify:", tuple(images[:2].shape), "->", tuple(tokens.shape), "(B, N, p*p*C)")
grid = 16 // RECIPE.model.patch
assert torch.equal(unpatchify(tokens, RECIPE.model.patch, 1, (grid, grid)), images[:2])
print(inspect.getsource(unpatchify))

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
# Tokens plus fixed 2-D sin-cos positions go through $N$ Transformer blocks; the
# timestep and the label are not tokens but a vector $c$ that *modulates* every block
# (adaptive LayerNorm, "adaLN"): a Linear maps $c$ to a shift, a scale and a gate, and
#
# $$h = x + g_a \odot \mathrm{Attn}\big(\mathrm{LN}(x)(1 + s_a) + b_a\big), \qquad
#   y = h + g_m \odot \mathrm{MLP}\big(\mathrm{LN}(h)(1 + s_m) + b_m\big).$$
#
# "adaLN-**Zero**": those Linears start at zero, so every gate is 0 and every block
# starts as the identity, and the final layer starts at zero, so the untrained model
# predicts $\hat\varepsilon = 0$. The label table has an extra *null* row (label 10) that
# replaces the label 10 % of the time in training — the model learns $p(x)$ and
# $p(x\mid y)$ at once, which is all guidance needs.

# %%
print(inspect.getsource(modulate))
print(inspect.getsource(DiT.forward))

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

# %%
print(inspect.getsource(ddpm.ddim_step))
print("20 DDIM timesteps (trailing):", ddpm.ddim_timesteps(RECIPE.num_steps, 20))

# %% [markdown]
# Guidance wraps the model so that each call runs the conditional and the null-label
# pass in one batch of $2B$ and combines them (section 5 explains the formula):

# %%
print(inspect.getsource(ddpm.guided))

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
# (`mean_pairwise_distance`), averaged over the ten classes. Real digits set the scale.

# %%
print(inspect.getsource(ddpm.cfg_combine))
print(inspect.getsource(mean_pairwise_distance))


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


widgets.interact(show_class, digit=widgets.IntSlider(3, 0, 9), scale=widgets.FloatSlider(3.0, min=0, max=8, step=0.5))

# %% [markdown]
# ## 6. Measure it

# %%
acc50, acc20 = table["DDIM-50"][0], table["DDIM-20"][0]
print(f"DiT + CFG (w = {CONFIG['guidance']}), DDIM-50: {acc50:.1%}; DDIM-20: {acc20:.1%} "
      f"(gap {abs(acc50 - acc20):.1%}); real digits {real_accuracy:.1%}")
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
# - **DiT everywhere.** DiT-XL/2 (ImageNet 256², on 32×32×4 latents, 256 tokens) beat
#   the U-Nets; Stable Diffusion 3 and Flux use MM-DiT (text and image tokens in one
#   attention), and Sora, Veo and HunyuanVideo use *spacetime* patches of video latents
#   (day 05) — the token arithmetic above, with time as a third axis, is what makes
#   video expensive.
# - **Guidance in practice.** Scales of 3–8 for text-to-image (SD 1.5 default 7.5);
#   too high over-saturates and loses diversity, as the sweep shows. Refinements: CFG
#   only on a middle interval of timesteps (Kynkäänniemi et al. 2024), rescaled CFG
#   against over-exposure, negative prompts (the "unconditional" pass with an unwanted
#   prompt). Text dropout in training (the null label) is what makes it possible.
# - **Fewer steps.** DDIM is a first-order ODE solver; DPM-Solver++, UniPC and Heun
#   (EDM) reach the same quality in 10–25 steps; flow matching (SD3) straightens the
#   paths. Distillation (day 07: progressive, consistency, adversarial) gets to 1–4.
# - **Guidance distillation.** CFG doubles the cost of every step; distilled models
#   (Flux-dev, SDXL-Turbo) take $w$ as an input and run one pass.
# - **Failure modes.** Trailing vs leading timesteps matter (Lin et al. 2024), high CFG
#   collapses variety and amplifies dataset biases, and few-step samplers blur detail.
#
# ## Summary
#
# - A DiT is a Transformer over patch tokens whose LayerNorms are modulated by the
#   timestep and label (adaLN-Zero, identity at init); tokens $=(H/p)(W/p)$, attention
#   cost $\propto$ tokens².
# - DDIM jumps between any two noise levels with the same trained model; here 20 steps
#   match 50 in accuracy at 40 % of the cost.
# - Classifier-free guidance $\varepsilon_u + w(\varepsilon_c-\varepsilon_u)$ buys
#   accuracy with diversity.
#
# **Exercises:** [`../exercises/day04_dit.ipynb`](../exercises/day04_dit.ipynb) — a DDIM
# step, the guidance combination, patchify/unpatchify and adaLN modulation. Then
# `course check day04`.
