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
# # Day 03 — Denoising diffusion (DDPM)
#
# **What you will build.** The model behind Stable Diffusion, Imagen and Sora, in its
# original form (Ho et al., 2020): a *forward process* that slowly drowns data in
# Gaussian noise, a network trained to predict that noise, and an *ancestral sampler*
# that runs the process backwards from pure noise to data. First on 2-D points, where
# you can see everything, then on handwritten digits, class by class.
#
# **Prerequisites.** Day 00 (data, seeds); `train.fit`, the course's one training loop.
# **CPU run time:** about 60 s.
#
# **The plan.** `course_lib.diffusion.schedules` (noise schedules),
# `course_lib.diffusion.ddpm` (forward process, loss, sampler), a small `MLPDenoiser`
# (`diffusion.denoisers`) and its training recipe (`diffusion.denoisers_train`). The
# exercises rebuild the three core functions yourself, then run an experiment: does
# the denoiser need to be told $t$?

# %%
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from course_lib import viz
from course_lib.data.digits import digits_split, load_digits
from course_lib.data.judge import load_judge
from course_lib.data.toy import mode_coverage, ring_centres
import torch.nn.functional as F

from course_lib.diffusion import ddpm
from course_lib.diffusion.denoisers import MLPDenoiser
from course_lib.diffusion.denoisers_train import PRESETS, RING_PRESETS, train_denoiser, training_data
from course_lib.diffusion.schedules import cosine_betas, make_schedule
from course_lib.metrics import frechet_distance
from course_lib.runtime import get_device, seed_everything
from course_lib.train import describe, preset

DEVICE = get_device()
# One config cell. The recipes (sizes, training steps, schedule) are named presets in
# course_lib: "cpu" reaches the asserted quality in about a minute, "gpu" trains a wider
# model longer; `preset` picks by device.
RECIPE = preset(PRESETS, DEVICE)          # the class-conditional digit model
TOY = preset(RING_PRESETS, DEVICE)        # the 2-D toy
SAMPLES_PER_CLASS = 50
print(DEVICE)
print(describe(RECIPE))
print(describe(TOY))
notebook_start = time.perf_counter()

# %% [markdown]
# ## 1. The forward process
#
# ![The DDPM chain on a real 8×8 digit: x_0, x_50, x_150, x_300, x_999 left to right, with ᾱ under each; black arrows q add noise, red arrows p_θ denoise](figures/day03_ddpm_chain.svg)
#
# Read the figure left to right, then right to left. Left to right is the *forward*
# process $q$: a fixed recipe, no learning, that adds a little Gaussian noise at every
# step until the digit (left) is pure noise (right). The number under each image,
# $\bar\alpha$, is the fraction of signal power left (the figure uses the linear
# schedule below). Right to left is what we train: a network $p_\theta$ that removes
# the noise one step at a time. Sampling runs only that red chain, from fresh noise.
#
# Pick a variance schedule $\beta_1 \dots \beta_T$ and add a little noise at every step:
# $q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1}, \beta_t I)$. Gaussians
# compose, so with $\alpha_t = 1-\beta_t$ and $\bar\alpha_t = \prod_{s\le t}\alpha_s$ we
# can jump to any step directly:
#
# $$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon, \qquad \varepsilon \sim \mathcal N(0, I).$$
#
# $\bar\alpha_t$ is the fraction of *signal power* left at step $t$. Two classic
# schedules: linear $\beta$ (1e-4 → 0.02, Ho et al.) and cosine $\bar\alpha$ (Nichol &
# Dhariwal), which destroys information more evenly. The cell prints how much signal
# each has left two thirds of the way through: the linear one has about 1 %, so its
# last third of the steps is spent on images that are already nearly pure noise.

# %%
schedules = {kind: make_schedule(kind, RECIPE.num_steps) for kind in ("linear", "cosine")}
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for kind, s in schedules.items():
    axes[0].plot(s.alpha_bars, label=kind)
    axes[1].semilogy(s.alpha_bars / (1 - s.alpha_bars), label=kind)
axes[0].set(xlabel="t", ylabel=r"$\bar\alpha_t$", title="signal left")
axes[1].set(xlabel="t", ylabel=r"SNR = $\bar\alpha_t / (1-\bar\alpha_t)$", title="signal-to-noise ratio")
axes[0].legend()
plt.show()
for kind, s in schedules.items():
    print(f"{kind:>6}: signal left at t = 667 (two thirds): {s.alpha_bars[667]:.1%}; "
          f"first t with under 1 %: {(s.alpha_bars < 0.01).nonzero()[0].item()}")
schedule = schedules[RECIPE.schedule]           # cosine

# %% [markdown]
# `q_sample` is the whole forward process in one line. Write it: pick $\bar\alpha_t$ for
# each sample's own timestep, shape it to `(B, 1, 1, 1)` so it broadcasts over the
# image, and mix. It must give exactly the library's `ddpm.q_sample` (which adds input
# checks) on the same inputs.

# %%
def q_sample_ours(x0, t, noise):
    a = schedule.alpha_bars[t].reshape(-1, *[1] * (x0.ndim - 1))     # alpha_bar_t per sample, (B, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


g = torch.Generator().manual_seed(0)
x0_try, noise_try = torch.randn(5, 1, 8, 8, generator=g), torch.randn(5, 1, 8, 8, generator=g)
t_try = torch.tensor([0, 10, 400, 800, 999])                           # one timestep per sample
ours, library = q_sample_ours(x0_try, t_try, noise_try), ddpm.q_sample(x0_try, t_try, noise_try, schedule)
print(f"q_sample: ours vs course_lib, max |difference| = {(ours - library).abs().max():.1e}")
assert torch.equal(ours, library)

# %% [markdown]
# Check it against the closed form: for a fixed $x_0$, many samples of $x_t$ must have
# mean $\sqrt{\bar\alpha_t}\,x_0$ and variance $1-\bar\alpha_t$.

# %%
g = seed_everything(0)
t_check = 400
x0 = torch.full((100_000, 1), 0.8)
xt = ddpm.q_sample(x0, torch.full((100_000,), t_check), torch.randn(100_000, 1, generator=g), schedule)
a = schedule.alpha_bars[t_check]
print(f"mean {xt.mean():.4f} (closed form {a.sqrt() * 0.8:.4f}); var {xt.var():.4f} (closed form {1 - a:.4f})")
assert abs(xt.mean() - a.sqrt() * 0.8) < 0.01 and abs(xt.var() - (1 - a)) < 0.01

# %% [markdown]
# What the forward process does to digits. Move the slider to scrub through $t$ (in a
# live notebook); the row below shows fixed steps.

# %%
images, labels = load_digits()
train_idx, test_idx = digits_split()
examples = images[:8]
noise = torch.randn(examples.shape, generator=torch.Generator().manual_seed(1))


def noised(t: int) -> torch.Tensor:
    return ddpm.q_sample(examples, torch.full((8,), t), noise, schedule)


def show_t(t=250):
    fig = viz.show_images(noised(t).clamp(-1, 1), nrow=8, titles=[f"t={t}"] * 8)
    display(fig)


widgets.interact(show_t, t=widgets.IntSlider(250, 0, RECIPE.num_steps - 1, 25));
steps_to_show = [0, 100, 250, 400, 550, 700, 850, 999]
viz.show_images(torch.cat([noised(t)[:1] for t in steps_to_show]).clamp(-1, 1), nrow=8,
                titles=[f"t={t}" for t in steps_to_show])

# %% [markdown]
# ## 2. Learning to reverse it
#
# If the steps are small, each reverse step $q(x_{t-1}\mid x_t)$ is nearly Gaussian too.
# Given $x_0$ it is *exactly* Gaussian — the posterior
#
# $$q(x_{t-1}\mid x_t, x_0) = \mathcal N\Big(\underbrace{\tfrac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}x_0 + \tfrac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t}_{\tilde\mu_t},\ \underbrace{\tfrac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t}_{\tilde\beta_t} I\Big).$$
#
# We don't know $x_0$ while sampling, so a network $\varepsilon_\theta(x_t, t)$ predicts
# the noise, which gives an estimate $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta)/\sqrt{\bar\alpha_t}$,
# and we step with $\tilde\mu_t(\hat x_0, x_t)$. Training is regression on the noise:
#
# $$\mathcal L = \mathbb E_{x_0, t, \varepsilon}\,\big\|\varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon,\ t)\big\|^2.$$
#
# (Section 4 writes this loss out.) Here is one reverse step, the **ancestral step**,
# exactly as the equations say: estimate $\hat x_0$ from the predicted noise (clamped to
# the data range $[-1, 1]$), take the posterior mean $\tilde\mu_t(\hat x_0, x_t)$, and
# add $\sqrt{\tilde\beta_t}\,z$ with fresh noise $z$ — except at $t = 0$, the last step,
# which returns the mean. One numerical detail: at $t = 0$, $1-\bar\alpha_0 \approx 4\cdot
# 10^{-5}$, and subtracting from 1 in float32 (7 significant digits) loses three of them,
# so, like `make_schedule`, we compute the coefficients in float64 from the betas.

# %%
betas64 = cosine_betas(RECIPE.num_steps)                                 # (T,) float64, as make_schedule starts
abar64 = torch.cumprod(1 - betas64, dim=0)                               # alpha_bar_t
abar_prev64 = torch.cat([torch.ones(1, dtype=torch.float64), abar64[:-1]])   # alpha_bar_{t-1}, with alpha_bar_{-1} = 1


def ancestral_step_ours(eps_hat, x_t, t, z):
    per_sample = lambda v: v[t].reshape(-1, *[1] * (x_t.ndim - 1))      # (B, 1, 1, 1)
    a, a_prev, beta = per_sample(abar64), per_sample(abar_prev64), per_sample(betas64)
    eps_hat, x_t, z = eps_hat.double(), x_t.double(), z.double()
    x0_hat = ((x_t - (1 - a).sqrt() * eps_hat) / a.sqrt()).clamp(-1, 1)    # the predicted clean image
    mean = (a_prev.sqrt() * beta / (1 - a)) * x0_hat + ((1 - beta).sqrt() * (1 - a_prev) / (1 - a)) * x_t
    var = beta * (1 - a_prev) / (1 - a)                                    # beta~_t
    not_last = (t > 0).double().reshape(-1, *[1] * (x_t.ndim - 1))       # no noise on the last step
    return (mean + not_last * var.sqrt() * z).float()


eps_try, z_try = torch.randn(5, 1, 8, 8, generator=g), torch.randn(5, 1, 8, 8, generator=g)
x_t_try = ddpm.q_sample(x0_try.clamp(-1, 1), t_try, noise_try, schedule)
ours = ancestral_step_ours(eps_try, x_t_try, t_try, z_try)
library = ddpm.ancestral_step(eps_try, x_t_try, t_try, schedule, z_try)
print(f"ancestral step at t = {t_try.tolist()}: ours vs course_lib, max |difference| = "
      f"{(ours - library).abs().max():.1e}")
torch.testing.assert_close(ours, library)                               # float32 tolerance

# %% [markdown]
# ## 3. A 2-D toy first
#
# Eight Gaussian blobs on a circle. The denoiser is a small MLP that sees the noisy
# point, and the timestep through a sinusoidal embedding (`timestep_embedding`, the same
# one Transformers use for positions).

# %%
toy_data = training_data(TOY)[0]                     # (20000, 2) points, drawn with seed 0
toy = train_denoiser(TOY, device=torch.device("cpu"))   # tiny: a GPU would only add overhead
toy_model, toy_history = toy.model, toy.run.history
toy_samples, toy_movie = ddpm.sample_ddpm(toy_model, (2000, 2), schedule, generator=torch.Generator().manual_seed(2),
                                          keep_every=200)
coverage, modes_hit = mode_coverage(toy_samples, ring_centres(), max_dist=0.25)
print(f"final loss {sum(toy_history[-100:]) / 100:.3f}; {coverage:.1%} of samples within 0.25 of a mode; "
      f"{modes_hit}/8 modes covered")

# %%
fig, axes = plt.subplots(1, len(toy_movie) + 1, figsize=(2.2 * (len(toy_movie) + 1), 2.3), sharex=True, sharey=True)
for ax, frame, t in zip(axes, toy_movie, range(800, -1, -200)):
    ax.scatter(frame[:, 0], frame[:, 1], s=1, alpha=0.3)
    ax.set_title(f"x_t, t={t}", fontsize=9)
axes[-1].scatter(toy_data[:2000, 0], toy_data[:2000, 1], s=1, alpha=0.3, color="k")
axes[-1].set_title("data", fontsize=9)
for ax in axes:
    ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), aspect="equal", xticks=[], yticks=[])
plt.show()
assert coverage > 0.9 and modes_hit == 8, "the toy model must put its samples on all eight modes"

# %% [markdown]
# ## 4. Digits, class by class
#
# Same recipe, 64 numbers instead of 2, and a label: the denoiser also gets an embedding
# of the digit we want, $\varepsilon_\theta(x_t, t, y)$. (In training the model replaces
# the label by a "null" label 10 % of the time, `class_dropout` — unused today, it lets
# day 04 do classifier-free guidance.)
#
# ![The MLPDenoiser of the cpu preset: x_t flattened to 64 numbers, Linear to 128, three residual blocks modulated by c = time(t) + label(y), LayerNorm and Linear back to 64 numbers, the predicted noise, compared with ε by MSE](figures/day03_mlp_denoiser.svg)
#
# The figure is `MLPDenoiser(RECIPE.model)` with its attribute names. The top row is
# the image's path: the noisy digit is flattened to 64 numbers, widened to a hidden
# vector `h` of 128, passed through 3 residual blocks and mapped back to 64 numbers:
# the predicted noise $\hat\varepsilon$. The bottom row is the *condition* `c`: the
# timestep's sinusoidal features through a small MLP, plus a learned vector for the
# label. `c` does not enter as an input; inside each block a Linear (`film`) turns it
# into a per-feature scale and shift of the normalised `h`. That is how one network
# knows how noisy its input is and which digit to aim for.
#
# The loss, written out: a random timestep per image, fresh noise, the noisy image in
# one jump, and the squared error of the predicted noise. It must give exactly the
# library's `ddpm.conditional_loss` on the same random draws.

# %%
def digit_loss(model, batch):
    x0, y = batch
    t = torch.randint(0, schedule.num_steps, (len(x0),), device=x0.device)     # t ~ U{0..T-1}
    noise = torch.randn(x0.shape, device=x0.device)                            # eps ~ N(0, I)
    x_t = ddpm.q_sample(x0, t, noise, schedule)                                # sqrt(a) x0 + sqrt(1-a) eps
    return F.mse_loss(model(x_t, t, y), noise)                                 # |eps - eps_theta|^2


x_train, y_train = images[train_idx], labels[train_idx]
seed_everything(0)
probe_model = MLPDenoiser(RECIPE.model).eval()
probe = (x_train[:16], y_train[:16])
ours, library = [(torch.manual_seed(1), loss(probe_model, probe))[1]
                 for loss in (digit_loss, lambda m, b: ddpm.conditional_loss(m, b, schedule))]
print(f"{sum(p.numel() for p in probe_model.parameters()):,} parameters; loss on one batch: ours "
      f"{ours.item():.6f}, course_lib {library.item():.6f}")
assert torch.equal(ours, library)

# %% [markdown]
# `train_denoiser(RECIPE)` seeds, builds `MLPDenoiser(RECIPE.model)` and hands it to
# `train.load_or_train`: `fit` on random batches of training digits (AdamW, the
# recipe's warm-up, a progress bar), saved to `artifacts/checkpoints/ddpm_digits_<key>.pt`,
# where the key names every field of the recipe. Run the notebook again and it loads the
# file instead of training.

# %%
trained = train_denoiser(RECIPE, device=DEVICE)
model, history, train_seconds = trained.model, trained.run.history, trained.run.seconds
viz.plot_loss(history, window=50, ylabel="MSE on the noise", title="training loss")
plt.show()

# %% [markdown]
# ## 5. Sampling: 1,000 small denoising steps
#
# Start from $x_T \sim \mathcal N(0, I)$ and apply `ancestral_step` for
# $t = T-1, \dots, 0$. Below: 50 samples of every class, and the reverse process of a
# few of them as a movie.

# %%
wanted = torch.arange(10).repeat_interleave(SAMPLES_PER_CLASS)
model.eval()
start = time.perf_counter()
samples, movie = ddpm.sample_ddpm(lambda x, t: model(x, t, wanted.to(DEVICE)), (len(wanted), 1, 8, 8),
                                  schedule.to(DEVICE), generator=torch.Generator().manual_seed(3), device=DEVICE,
                                  keep_every=20)
sample_seconds = time.perf_counter() - start
samples = samples.cpu()
print(f"{len(samples)} samples in {sample_seconds:.1f} s")
viz.show_images(samples.view(10, -1, 1, 8, 8)[:, :10].transpose(0, 1).reshape(-1, 1, 8, 8), nrow=10,
                scale=0.7)

# %%
one_per_class = movie[:, :: SAMPLES_PER_CLASS]                 # (frames, 10, 1, 8, 8)
strip = one_per_class.permute(0, 2, 3, 1, 4).reshape(len(movie), 1, 8, 80)  # side by side
viz.show_video(strip.clamp(-1, 1), fps=12, scale=6)

# %% [markdown]
# ## 6. Measure it
#
# Are they the digits we asked for? The course's judge is a small CNN trained on *real*
# digits only (`course_lib.data.judge`). We report its accuracy on held-out real digits
# beside its accuracy on our samples, and the Fréchet distance between judge features of
# samples and of real held-out digits (the FID recipe, on a tiny feature extractor).

# %%
judge, real_accuracy = load_judge()
predicted = judge.predict(samples)
sample_accuracy = (predicted == wanted).float().mean().item()
fd = frechet_distance(judge.embed(samples), judge.embed(images[test_idx]))
fd_real = frechet_distance(judge.embed(images[train_idx][:360]), judge.embed(images[test_idx]))
per_class = [(predicted[wanted == c] == c).float().mean().item() for c in range(10)]
print(f"judge accuracy on real held-out digits: {real_accuracy:.1%}")
print(f"judge accuracy on our samples:          {sample_accuracy:.1%}")
print("per class:", " ".join(f"{c}:{a:.0%}" for c, a in enumerate(per_class)))
print(f"Frechet distance to held-out digits: samples {fd:.1f}; real training digits {fd_real:.1f}")
print(f"training {train_seconds:.0f} s (when it was trained), sampling {sample_seconds:.0f} s, "
      f"notebook {time.perf_counter() - notebook_start:.0f} s")
# Over training seeds 0-3 (`COURSE_SEED=N course run day03`) the samples scored 93.6-97.2 %
# and the toy put 98-99 % of its samples on a mode: the asserts hold for every seed with
# a margin. Your machine's numbers may differ from these about as much as another seed's.
assert sample_accuracy >= 0.90, "class-conditional DDPM samples must be recognisable"

# %% [markdown]
# ## In production
#
# - **The papers.** Today's lesson is [DDPM (Ho et al. 2020)](https://arxiv.org/abs/2006.11239)
#   with the cosine schedule of [Improved DDPM (Nichol & Dhariwal 2021)](https://arxiv.org/abs/2102.09672).
#   The authors' trained models are on the Hugging Face Hub, e.g.
#   [google/ddpm-cifar10-32](https://huggingface.co/google/ddpm-cifar10-32).
# - **Architectures.** Real image models use a U-Net (Stable Diffusion 1–2, Imagen) or a
#   Transformer (DiT, Stable Diffusion 3, Sora — day 04) instead of an MLP, and work in a
#   VAE's latent space (day 06).
# - **Parameterisation and schedules.** Many predict $v$ instead of $\varepsilon$
#   ([Salimans & Ho 2022](https://arxiv.org/abs/2202.00512); `ddpm.to_x0_eps` converts
#   between the three), and tune the schedule so the last step really is pure noise
#   (zero terminal SNR; [Lin et al. 2024](https://arxiv.org/abs/2305.08891)).
# - **Speed.** 1,000 network calls per sample is slow; day 04's DDIM needs 20–50, and
#   distillation (day 07) 1–4.
# - **Failure modes.** Memorisation of training images
#   ([Carlini et al. 2023](https://arxiv.org/abs/2301.13188)), colour shifts from exposure
#   bias, and the fact that likelihood and visual quality disagree.
#
# The production library is Hugging Face [diffusers](https://huggingface.co/docs/diffusers/index):
# its [`DDPMScheduler`](https://huggingface.co/docs/diffusers/api/schedulers/ddpm) holds
# the schedule, `add_noise` is our `q_sample` and `step` our `ancestral_step`; a
# [`UNet2DModel`](https://huggingface.co/docs/diffusers/api/models/unet2d) with
# `num_class_embeds` plays our class-conditional denoiser. The same training step and
# sampling loop, written with it (not run here: the course is offline):
#
# ```python
# import torch
# import torch.nn.functional as F
# from diffusers import DDPMScheduler, UNet2DModel
#
# scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")  # cosine
# unet = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, num_class_embeds=10)
#
# # training step: q_sample, then MSE on the noise
# t = torch.randint(0, 1000, (len(x0),))
# noise = torch.randn_like(x0)
# x_t = scheduler.add_noise(x0, noise, t)
# loss = F.mse_loss(unet(x_t, t, class_labels=labels).sample, noise)
#
# # sampling: 1,000 ancestral steps from pure noise
# scheduler.set_timesteps(1000)
# x = torch.randn(len(labels), 3, 32, 32)
# for t in scheduler.timesteps:
#     with torch.no_grad():
#         eps = unet(x, t, class_labels=labels).sample
#     x = scheduler.step(eps, t, x).prev_sample
# ```
#
# ## Summary
#
# - The forward process has a closed form: $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon$.
# - The network learns to predict $\varepsilon$; the reverse step is the Gaussian posterior
#   $\tilde\mu_t, \tilde\beta_t$ evaluated at the predicted $\hat x_0$.
# - A 2-D toy and 8×8 digits both train in under a minute on a CPU; the judge labels our
#   class-conditional samples about as well as it labels real digits.
#
# **Exercises:** [`../exercises/day03_ddpm.ipynb`](../exercises/day03_ddpm.ipynb) — `q_sample`,
# the posterior mean and variance, one ancestral step, and an experiment (a denoiser
# trained blind to $t$). Then `course check day03`.
