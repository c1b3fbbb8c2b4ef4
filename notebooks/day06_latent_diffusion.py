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
# # Day 06 — Latent diffusion and scale
#
# **What you will build.** The two ideas that make video diffusion affordable. First,
# *latent diffusion* (Rombach et al. 2022, Stable Diffusion; Blattmann et al. 2023,
# Video LDM / Stable Video Diffusion): a small **variational autoencoder** squeezes every
# frame into a 4× smaller latent grid, and day 05's video DiT learns to generate those
# latents instead of pixels — with fewer tokens, so fewer FLOPs. Second, *data-parallel
# training*: the same `train.fit` launched with `torchrun` on 2 processes, each on half
# of every batch, ending with the same weights as one process.
#
# **Prerequisites.** Day 04 (DiT, DDIM, guidance), day 05 (moving digits, spacetime
# patches, the factorized video DiT and its metrics). **CPU run time:** about 70 s on a
# 2-core CPU when day 05's model is cached (most of it training the VAE and the latent
# model); about 2.5 minutes alone, when it trains day 05's model too.
#
# **The plan.** `course_lib.diffusion.vae` (the VAE), `course_lib.diffusion.latent`
# (latent video diffusion and the FLOP count), `course_lib.diffusion.vae_train` and
# `course_lib.diffusion.latent_train` (the recipes: what we train on and for how long),
# `course_lib.distributed` and `course_lib.diffusion.ddp_demo` (torchrun). The exercises rebuild the
# reparameterisation, the KL term, the VAE loss and the scale factor.

# %%
import math
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from einops import rearrange
from torch.distributions import Normal, kl_divergence

from course_lib import distributed, viz
from course_lib.data.frame_judge import frames_of, load_frame_judge
from course_lib.diffusion import ddp_demo
from course_lib.diffusion import latent_train, video_dit_train
from course_lib.diffusion import vae as V
from course_lib.diffusion.latent import sample_latent_videos, video_dit_flops
from course_lib.diffusion.latent_train import train_latent_video_dit
from course_lib.diffusion.vae_train import train_vae
from course_lib.diffusion import ddpm
from course_lib.diffusion.video_dit import coherent_noise, sample_video, video_loss
from course_lib.diffusion.video_dit_train import train_video_dit
from course_lib.runtime import artifacts_dir, best_time, get_device, seed_everything
from course_lib.train import describe, preset
from course_lib.video_metrics import video_report

DEVICE = get_device()
GPU = DEVICE.type == "cuda"
# One config cell. PIXEL is day 05's recipe (its cached model is reused; trained here if
# missing). LATENT is today's model (course_lib.diffusion.latent_train): the same clips, a
# VAE with f = 4 and 4 channels, the same DiT width, depth and training steps on 3x3
# latent frames with (2, 1, 1) spacetime patches.
PIXEL = preset(video_dit_train.PRESETS, DEVICE)
LATENT = preset(latent_train.PRESETS, DEVICE)
DATA = LATENT.data
assert DATA == PIXEL.data, "pixel and latent models must learn the same clips"
CONFIG = dict(
    guidance=3.0,                          # classifier-free guidance scale (as day 05)
    ddim_steps=20,
    samples_per_class=10 if GPU else 8,    # generated clips per digit for the metrics
    ddp_steps=20,                          # the torchrun demo: steps and GLOBAL batch size
    ddp_batch=16,
    timing_batch=32,                       # clips per training step when timing a step
)
print(DEVICE, describe(PIXEL), describe(LATENT), CONFIG, sep="\n")
notebook_start = time.perf_counter()
cpu_start = time.process_time()

# %% [markdown]
# ## 1. The variational autoencoder
#
# ![Top: a 12×12 frame goes through the convolutional encoder to a mean μ and a log-variance log σ², each 4×3×3; z = μ + σ·ε is decoded back to a 12×12 reconstruction; the losses are the reconstruction error and β times the KL divergence to N(0, 1). Bottom: clips are encoded frame by frame by the frozen encoder, scaled by s, noised, and the video DiT learns to predict the clean latents; sampling runs DDIM in latent space, divides by s and decodes each frame](figures/day06_vae_latent_diffusion.svg)
#
# The figure is the whole day. Its top row is the VAE we train first, on single frames;
# its bottom row is day 05's video DiT trained on what the VAE's encoder makes of our
# clips, and how a sampled latent clip becomes pixels again. Shapes are the lesson's.
#
# An autoencoder maps a frame $x$ to a small code $z$ and back. A *variational* one makes
# the code a distribution: the encoder outputs a mean $\mu(x)$ and a log-variance
# $\log\sigma^2(x)$ per latent value, and we sample
#
# $$z = \mu + \sigma \odot \varepsilon,\qquad \varepsilon\sim\mathcal N(0, I)$$
#
# — the **reparameterisation trick**: the randomness sits in $\varepsilon$, so $z$ is a
# differentiable function of $\mu$ and $\log\sigma^2$ and backpropagation reaches the
# encoder. Training maximises the evidence lower bound; per pixel, our loss is
#
# $$\mathcal L = \frac{1}{CHW}\Big(\lVert x-\hat x\rVert^2 + \beta \sum_j
#   \mathrm{KL}\big(\mathcal N(\mu_j,\sigma_j^2)\,\Vert\,\mathcal N(0,1)\big)\Big),\qquad
#   \mathrm{KL} = \tfrac12\big(\mu^2+\sigma^2-1-\log\sigma^2\big).$$
#
# The KL term pulls every code toward the standard normal, so the latent space has no
# holes and no huge values; $\beta$ trades it against sharp reconstructions. Stable
# Diffusion uses a tiny $\beta$ (its latents are nearly deterministic) — so do we.
#
# Both equations are one line each. We write them, check them against `course_lib`'s
# (`vae.reparameterize`, `vae.kl_to_standard_normal`) and against an independent oracle
# (`torch.distributions`), and look at the gradients that make the trick work:
# $\partial z/\partial\mu = 1$ and $\partial z/\partial\log\sigma^2 = \tfrac12\sigma\varepsilon$.
# Ours and `course_lib`'s agree exactly (the same expression); `torch.distributions`
# computes the KL by another route and agrees to about $10^{-6}$, float rounding.

# %%
def our_reparameterize(mean, logvar, noise):
    """z = mean + sigma * eps, sigma = exp(logvar / 2): a sample of N(mean, sigma^2)."""
    return mean + torch.exp(0.5 * logvar) * noise


def our_kl(mean, logvar):
    """KL(N(mean, sigma^2) || N(0, 1)) per element: (mean^2 + sigma^2 - 1 - log sigma^2) / 2."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


g = torch.Generator().manual_seed(0)
mu, logvar, eps = torch.randn(1000, generator=g) * 2, torch.randn(1000, generator=g), torch.randn(1000, generator=g)
mu.requires_grad_(True), logvar.requires_grad_(True)
z = our_reparameterize(mu, logvar, eps)
z.sum().backward()
print(f"reparameterize: ours vs course_lib, max difference {(z - V.reparameterize(mu, logvar, eps)).abs().max():.1e}; "
      f"dz/dmu = 1 everywhere: {torch.equal(mu.grad, torch.ones(1000))}; dz/dlogvar = sigma * eps / 2: "
      f"max difference {(logvar.grad - 0.5 * (0.5 * logvar).exp() * eps).abs().max():.1e}")
with torch.no_grad():
    ours = our_kl(mu, logvar)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
print(f"KL: ours vs course_lib, max difference {(ours - V.kl_to_standard_normal(mu, logvar)).abs().max():.1e}; "
      f"vs torch.distributions {(ours - reference).abs().max():.1e}")
torch.testing.assert_close(z, V.reparameterize(mu, logvar, eps))
torch.testing.assert_close(ours, V.kl_to_standard_normal(mu, logvar))
assert torch.allclose(ours, reference, atol=1e-5)

# %% [markdown]
# The VAE itself is two small CNNs: two stride-2 convolutions down ($f = 4$: a 12×12
# frame becomes a 3×3 grid of 4-channel latents, 144 → 36 numbers) and two transposed
# convolutions up. A video is encoded frame by frame, like Stable Video Diffusion's
# image VAE: the frames are folded into the batch, encoded, and unfolded again. We train
# it (1,000 steps on single frames, `LATENT.vae`), then rebuild its encoding and its loss
# from the equations above in the next cell; both match `VAE.encode` and `vae.vae_loss`
# exactly (with the same $\varepsilon$).

# %%
train_clips = DATA.load("train")
test_clips = replace(DATA, clips=200, seed=1).load("test")
print("training clips", tuple(train_clips.videos.shape), "-> frames", tuple(frames_of(train_clips.videos).shape))
vae = train_vae(LATENT.vae, DEVICE)                  # trained on those frames (LATENT.vae.data)
print(f"VAE: {sum(p.numel() for p in vae.model.parameters()):,} parameters, trained in {vae.run.seconds:.0f} s; "
      f"last 100 steps: reconstruction {sum(vae.run.metrics['recon'][-100:]) / 100:.4f}, "
      f"KL {sum(vae.run.metrics['kl'][-100:]) / 100:.2f} nats per pixel")


# %%
def our_encode(vae_model, videos):
    """(B, C, T, H, W) -> mean, logvar (B, zc, T, h, w): every frame through the encoder on its own."""
    frames = rearrange(videos, "b c t h w -> (b t) c h w")
    mean, logvar = vae_model.encoder(frames).chunk(2, dim=1)            # the last conv makes 2 * zc channels
    unfold = lambda z: rearrange(z, "(b t) c h w -> b c t h w", t=videos.shape[2])
    return unfold(mean), unfold(logvar.clamp(*V.LOGVAR_RANGE))


def our_vae_loss(vae_model, x, beta):
    """Reconstruction + beta * KL, both per input value (as `vae.vae_loss`)."""
    mean, logvar = our_encode(vae_model, x)
    z = our_reparameterize(mean, logvar, torch.randn(mean.shape).to(mean))
    recon = F.mse_loss(vae_model.decode(z), x)
    kl = our_kl(mean, logvar).sum() / x.numel()
    return recon + beta * kl


clips8 = train_clips.videos[:8].to(DEVICE)
with torch.no_grad():
    mean8, logvar8 = our_encode(vae.model, clips8)
    lib_mean, lib_logvar = vae.model.encode(clips8)
    torch.manual_seed(3)                                                # the same eps for both losses
    ours = our_vae_loss(vae.model, clips8, LATENT.vae.beta)
    torch.manual_seed(3)
    lib = V.vae_loss(vae.model, clips8, LATENT.vae.beta)[0]
print(f"8 clips {tuple(clips8.shape)} -> mean, logvar {tuple(mean8.shape)} (B, zc, T, h, w); "
      f"ours vs VAE.encode: max difference {max((mean8 - lib_mean).abs().max(), (logvar8 - lib_logvar).abs().max()):.1e}")
print(f"VAE loss on them: ours {ours:.5f}, vae_loss {lib:.5f} (difference {abs(ours - lib):.1e})")
torch.testing.assert_close(mean8, lib_mean)
torch.testing.assert_close(ours, lib)

# %%
judge, judge_accuracy = load_frame_judge(canvas=DATA.canvas, frames=DATA.frames)
x = test_clips.videos                                               # held-out clips (N, 1, T, H, W)
with torch.no_grad():
    out = vae.model.to(DEVICE)(x.to(DEVICE), generator=None)
recon = V.decode_latents(vae.model, V.encode_latents(vae.model, x))   # decode(mean), clamped
mse = torch.nn.functional.mse_loss(recon, x).item()
kl_per_latent = V.kl_to_standard_normal(out.mean, out.logvar).mean().item()
y_frames = test_clips.labels.repeat_interleave(DATA.frames)
acc_real = (judge.predict(frames_of(x)) == y_frames).float().mean().item()
acc_recon = (judge.predict(frames_of(recon)) == y_frames).float().mean().item()
print(f"held-out reconstruction MSE {mse:.4f} (pixels in [-1, 1]); KL {kl_per_latent:.2f} nats per latent value; "
      f"mean sigma {out.logvar.mul(0.5).exp().mean():.3f}")
print(f"frame judge accuracy: real frames {acc_real:.1%}, VAE reconstructions {acc_recon:.1%} "
      f"(judge on held-out real clips: {judge_accuracy:.1%})")
viz.show_images(torch.cat([x[:8, :, 0], recon[:8, :, 0]]), nrow=8, scale=0.8,
                titles=["real"] + [""] * 7 + ["VAE"] + [""] * 7)

# %% [markdown]
# The reconstructions are slightly blurred but keep what matters — which digit, where —
# and the judge reads them almost as well as the originals: the VAE is close to
# "perceptually lossless" for this data. That is the bet of latent diffusion: let a
# cheap autoencoder handle the pixel detail once, and spend the expensive generative
# model only on the 4× smaller latent.
#
# ## 2. Scale the latents to unit variance
#
# Diffusion schedules assume data of about unit scale: $x_t = \sqrt{\bar\alpha_t}x_0 +
# \sqrt{1-\bar\alpha_t}\varepsilon$ only destroys the signal by $t = T$ if $x_0$ is not
# much bigger than the noise. A VAE with a small $\beta$ does not care about the scale of
# its latents, so Stable Diffusion multiplies them by a **scale factor**
# $s = 1/\operatorname{std}(z)$ measured on training data (SD 1.x: $s = 0.18215$) and
# divides by it before decoding. Here it is on the means of 500 training clips, next to
# `vae.scale`, which `train_vae` measured with `vae.scale_factor` on 2,048 training
# frames (`vae_train.SCALE_FRAMES`):

# %%
raw = V.encode_latents(vae.model, train_clips.videos[:500])          # (500, 4, T, 3, 3): the means, unscaled
our_scale = 1.0 / raw.std().item()                                   # one number for all latent values
print(f"raw latents: std {raw.std():.3f}, range [{raw.min():.2f}, {raw.max():.2f}]")
print(f"s = 1 / std: ours (500 clips = 4,000 frames) {our_scale:.4f}, vae.scale_factor on the same latents "
      f"{V.scale_factor(raw):.4f}, vae.scale (2,048 frames) {vae.scale:.4f} -> scaled std {(vae.scale * raw).std():.3f}")
assert math.isclose(our_scale, V.scale_factor(raw), rel_tol=1e-6)
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.hist(raw.flatten(), bins=80, alpha=0.6, density=True, label="raw latents")
ax.hist((vae.scale * raw).flatten(), bins=80, alpha=0.6, density=True, label="scaled by s")
ax.hist(torch.randn(20000).numpy(), bins=80, histtype="step", density=True, color="k", label="N(0, 1)")
ax.set(xlabel="latent value", title="latents before and after scale-by-std")
ax.legend()
plt.show()
assert abs((vae.scale * raw).std().item() - 1) < 0.05

# %% [markdown]
# ## 3. Latent video diffusion
#
# Everything of day 05 carries over with the latent in place of the pixels: pretrain a
# DiT on single latent frames, *inflate* it with zero-initialised temporal blocks, train
# on latent clips, sample with DDIM and guidance — then decode each frame. Two details
# differ. The video DiT reads **spacetime patches of 2 latent frames × 1 × 1**, so a
# clip is 4 × 9 = 36 tokens instead of the pixel model's 8 × 9 = 72. And sampling must
# not clip $\hat x_0$ to $[-1, 1]$, the pixel range: unit-variance latents go beyond
# it; we clip to the range of the training latents instead.
#
# `train_latent_video_dit(LATENT)` runs three cached stages, each through `load_or_train`:
# (1) the VAE above; (2) day 04's DiT on single scaled latent frames $(4, 3, 3)$ with
# $1\times 1$ patches (1,600 steps on a CPU); (3) `inflate` with $(2, 1, 1)$ spacetime
# patches and training on scaled latent clips $(4, 8, 3, 3)$ with `video_loss` (2,000
# steps on a CPU) — the bottom row of the figure.

# %%
seed_everything(0)
latent = train_latent_video_dit(LATENT, DEVICE)
print(f"latent model: {sum(p.numel() for p in latent.model.parameters()):,} parameters, "
      f"{latent.model.config.num_tokens} tokens per clip; training seconds "
      + ", ".join(f"{stage} {seconds:.0f}" for stage, seconds in latent.stage_seconds.items()))

# %% [markdown]
# One training step of stage (3), written out from pixels: encode each frame (the mean,
# no sampling: the VAE is frozen and nearly deterministic), scale by $s$, then day 05's
# loss on the latents — a timestep per clip, noise, $z_t = \sqrt{\bar\alpha_t}z_0 +
# \sqrt{1-\bar\alpha_t}\varepsilon$, the DiT's guess of $z_0$, the squared error. With
# the random numbers drawn in `video_loss`'s order, ours must give the same loss as
# `video_loss` on the same latents, and does (a difference of 0 on a CPU):

# %%
def latent_diffusion_loss(vae_model, scale, dit, clips, labels, schedule, generator):
    """The latent video DiT's training loss on pixel clips (B, 1, T, H, W)."""
    with torch.no_grad():
        z0 = scale * our_encode(vae_model, clips)[0]                   # (B, zc, T, h, w), unit variance
    t = torch.randint(0, schedule.num_steps, (len(z0),), generator=generator)
    noise = coherent_noise(tuple(z0.shape), 0.0, generator).to(z0)      # i.i.d. N(0, 1), as video_loss draws it
    z_t = ddpm.q_sample(z0, t.to(z0.device), noise, schedule)
    return F.mse_loss(dit(z_t, t.to(z0.device), labels), z0)           # the DiT predicts z0


with torch.no_grad():
    ours = latent_diffusion_loss(vae.model, vae.scale, latent.model, clips8, train_clips.labels[:8].to(DEVICE),
                                 latent.schedule.to(DEVICE), torch.Generator().manual_seed(4))
    z8 = V.encode_latents(vae.model, clips8, vae.scale).to(DEVICE)
    lib = video_loss(latent.model, (z8, train_clips.labels[:8].to(DEVICE)), latent.schedule, kind=LATENT.prediction,
                     generator=torch.Generator().manual_seed(4))
print(f"8 clips {tuple(clips8.shape)} -> latents {tuple(z8.shape)}; loss ours {ours:.5f}, video_loss {lib:.5f} "
      f"(difference {abs(ours - lib):.1e})")
torch.testing.assert_close(ours, lib)

# %%
wanted = torch.arange(10).repeat_interleave(CONFIG["samples_per_class"])
start = time.perf_counter()
latent_videos = sample_latent_videos(latent, wanted, steps=CONFIG["ddim_steps"], guidance=CONFIG["guidance"],
                                     generator=torch.Generator().manual_seed(1))
latent_sample_seconds = time.perf_counter() - start
print(f"{len(wanted)} latent-space samples, decoded: {tuple(latent_videos.shape)} in {latent_sample_seconds:.1f} s")
show = torch.arange(0, 10, 2) * CONFIG["samples_per_class"]
viz.show_video(torch.cat(list(latent_videos[show, 0]), dim=-1), fps=4, scale=8)

# %% [markdown]
# ## 4. Pixel space vs latent space
#
# Day 05's pixel model (loaded from its cache, or trained now with day 05's settings)
# and today's latent model, sampled the same way, measured by day 05's `video_report`.
# Cost is counted three ways: **FLOPs** of one training step, from the config
# (`video_dit_flops` — checked against torch's FLOP counter in the tests); the **measured
# time of one training step** on this machine (best of 5, both on a batch of 32 clips —
# at the CPU training batch of 8 fixed per-call overheads eat part of the gap); and the
# **total training time** recorded when each model was trained (for the latent model
# that includes the VAE).
#
# The FLOP count is bookkeeping over the figure of day 05's model. Per token, every block
# runs four $D\times D$ projections (Q, K, V, output) and an MLP of $2rD^2$
# multiply-adds ($r$ = `mlp_ratio`); every attention sequence of length $n$ costs $2n^2D$
# ($QK^\top$ and the weighted sum of values). Spatial attention is $T'$ sequences of $S$
# tokens, temporal attention $S$ sequences of $T'$, full attention one sequence of $T'S$.
# Add the adaLN modulation ($6D^2$ per conditioning vector), the patch embedding, the
# output layer and the timestep MLP, count 2 FLOPs per multiply-add — and a training step
# is about 3× the forward pass (the backward pass costs twice the forward). We write it
# and compare with `latent.video_dit_flops`, the function the table uses (the tests check
# it against torch's own FLOP counter):

# %%
def our_flops(cfg) -> int:
    """Forward FLOPs of one clip through a VideoDiT of config `cfg` (matmuls only)."""
    gt, gh, gw = cfg.grid
    s, d, r, depth = gh * gw, cfg.dim, cfg.mlp_ratio, cfg.depth
    n, p = gt * s, math.prod(cfg.patch) * cfg.in_channels             # tokens, numbers per patch
    per_token = (4 + 2 * r) * d * d                                    # Q, K, V, out + MLP (multiply-adds)
    if cfg.attention == "full":
        blocks, conditions = depth * (n * per_token + 2 * n * n * d + 6 * d * d), 1
    else:
        blocks, conditions = depth * (n * per_token + gt * 2 * s * s * d + gt * 6 * d * d), gt   # spatial
        if cfg.attention == "factorized":
            blocks += depth * (n * per_token + s * 2 * gt * gt * d + s * 6 * d * d)           # temporal
    embed = n * p * d + 256 * d + d * d                                # patches, timestep MLP
    final = conditions * 2 * d * d + n * d * p                         # final adaLN and Linear
    return int(2 * (blocks + embed + final))


for name, cfg in (("pixel", PIXEL.model), ("latent", LATENT.model)):
    print(f"{name:>6}: {cfg.num_tokens} tokens, forward {our_flops(cfg) / 1e6:.2f} MFLOPs per clip "
          f"(video_dit_flops: {video_dit_flops(cfg) / 1e6:.2f})")
    assert our_flops(cfg) == video_dit_flops(cfg)

# %%
pixel = train_video_dit(PIXEL, DEVICE)
start = time.perf_counter()
pixel_videos = sample_video(pixel.model, wanted, pixel.schedule, steps=CONFIG["ddim_steps"],
                            guidance=CONFIG["guidance"], generator=torch.Generator().manual_seed(1),
                            kind=PIXEL.prediction)
pixel_sample_seconds = time.perf_counter() - start


def step_seconds(model, batch, kind, steps: int = 3) -> float:
    """Wall-clock seconds of one training step (forward, backward, AdamW): the fastest of
    5 runs of `steps` steps, divided by `steps`."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def run():
        for _ in range(steps):
            loss = video_loss(model, batch, model_schedule, kind=kind)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.train()
    seconds, _ = best_time(run, repeats=5)
    model.load_state_dict(state)              # leave the trained weights untouched
    model.eval()
    return seconds / steps


model_schedule = pixel.schedule.to(DEVICE)
b = CONFIG["timing_batch"]
pixel_batch = (train_clips.videos[:b].to(DEVICE), train_clips.labels[:b].to(DEVICE))
latent_clips = V.encode_latents(vae.model, train_clips.videos[:b], vae.scale)
latent_batch = (latent_clips.to(DEVICE), train_clips.labels[:b].to(DEVICE))
rows = {}
for name, trained, batch, kind, total, sample_s, videos in [
        ("pixel", pixel, pixel_batch, PIXEL.prediction, pixel.image.run.seconds + pixel.run.seconds,
         pixel_sample_seconds, pixel_videos),
        ("latent", latent, latent_batch, LATENT.prediction, latent.total_seconds, latent_sample_seconds,
         latent_videos)]:
    cfg = trained.model.config
    rows[name] = dict(tokens=cfg.num_tokens, numbers=cfg.in_channels * cfg.frames * cfg.height * cfg.width,
                      gflops=3 * video_dit_flops(cfg) * b / 1e9,                 # training = 3x forward
                      step_ms=1000 * step_seconds(trained.model, batch, kind),
                      train_s=total, sample_s=sample_s, **video_report(videos, wanted, judge))
print(f"{'':>7} {'tokens':>6} {'numbers':>7} {'GFLOP/step':>10} {'ms/step':>8} {'train s':>8} {'sample s':>8} "
      f"{'accuracy':>8} {'consist.':>8} {'motion':>7} {'flicker':>7}")
for name, r in rows.items():
    print(f"{name:>7} {r['tokens']:>6} {r['numbers']:>7} {r['gflops']:>10.3f} {r['step_ms']:>8.1f} "
          f"{r['train_s']:>8.0f} {r['sample_s']:>8.1f} {r['accuracy']:>8.1%} {r['consistency']:>8.3f} "
          f"{r['motion_error']:>7.2f} {r['flicker']:>7.3f}")
real = video_report(test_clips.videos[:80], test_clips.labels[:80], judge)
print(f"{'real':>7} {'':>6} {'':>7} {'':>10} {'':>8} {'':>8} {'':>8} {real['accuracy']:>8.1%} "
      f"{real['consistency']:>8.3f} {real['motion_error']:>7.2f} {real['flicker']:>7.3f}")
print("numbers: values per clip the model generates; train s: wall-clock recorded when each model was trained "
      f"(perhaps under another machine load), latent including the VAE's {latent.stage_seconds['vae']:.0f} s")

# %%
viz.show_video(torch.cat([torch.cat(list(pixel_videos[show, 0]), dim=-1),
                          torch.cat(list(latent_videos[show, 0]), dim=-1)], dim=-2), fps=4, scale=8)

# %% [markdown]
# Top row pixel space, bottom row latent space, the same labels and seeds. Read the
# table left to right: a quarter of the numbers to generate, half the tokens, half the
# FLOPs per step, a measurably faster step even at this toy size — and quality in the
# same range (accuracy, consistency across frames, motion, flicker; the assert below
# allows the latent model at most 10 points less accuracy). The saving grows with resolution: attention cost is
# quadratic in tokens, and at 256×256 an $f = 8$ VAE turns 65,536 pixels per frame into
# 1,024 latent positions. The cost moves elsewhere: into the VAE (trained once, reused
# by every model) and into its *errors*, which no diffusion model can undo — the
# reconstruction accuracy above is a ceiling for the latent model.
#
# ## 5. Scale out: the same training on 2 processes with `torchrun`
#
# Data parallelism: $N$ processes each hold a copy of the model. Every step, each takes
# its $1/N$ slice of the **global batch**, computes gradients, and an **all-reduce**
# averages the gradients across processes; everyone then takes the same optimiser step.
# Because the average of $N$ equal-sized shard means is the global mean, this is *the
# same* training as one process on the whole batch — only faster. `train.fit` does it
# by itself when `torchrun` launches it; its data-parallel lines are:
#
# ```python
# world, rank = distributed.world_size(), distributed.rank()     # 1 and 0 without torchrun
# net = DDP(model)                         # broadcasts rank 0's weights; all-reduces gradients in backward()
# batch = distributed.shard(batch, rank, world)                  # this rank's rows of the global batch
# global_loss = distributed.all_reduce_mean(loss.detach())       # the logged loss: the mean over ranks
# ```
#
# The shard is a slice, and "averaged shard gradients = the global gradient" is one line
# of algebra for a mean loss over equal shards. Both, checked in this one process on a
# small linear model (no `torchrun` yet):

# %%
def our_shard(rows, rank, world):
    """Rows [rank * B / world, (rank + 1) * B / world) of a global batch."""
    per = len(rows) // world
    return rows[rank * per:(rank + 1) * per]


g = torch.Generator().manual_seed(0)
xs, ys = torch.randn(16, 5, generator=g), torch.randn(16, 1, generator=g)
assert all(torch.equal(our_shard(xs, r, 2), distributed.shard((xs, ys), r, 2)[0]) for r in range(2))
torch.manual_seed(0)
linear = torch.nn.Linear(5, 1)


def gradient(x, y):
    linear.zero_grad()
    F.mse_loss(linear(x), y).backward()
    return linear.weight.grad.clone()


averaged = sum(gradient(our_shard(xs, r, 2), our_shard(ys, r, 2)) for r in range(2)) / 2   # what all-reduce computes
print(f"global batch of 16 vs the mean of 2 shards of 8: max gradient difference "
      f"{(gradient(xs, ys) - averaged).abs().max():.1e}")
torch.testing.assert_close(averaged, gradient(xs, ys))

# %% [markdown]
# The demo module trains the latent video DiT for a few steps on the cached latents. To
# make "the same training" checkable, every random choice of the diffusion loss
# (timestep, noise, dropped labels) is drawn from the step number *in the data function*
# and travels in the batch, so a rank's shard carries its own rows' noise. We run it
# once in this process and once with `torchrun --nproc_per_node=2` (two CPU processes
# talking over loopback with the gloo backend), then compare the weights.

# %%
latents_file = artifacts_dir("ddp_demo") / f"latents_{LATENT.key()}.pt"
all_latents = V.encode_latents(vae.model, train_clips.videos, vae.scale)
torch.save({"latents": all_latents, "labels": train_clips.labels, "recipe": LATENT}, latents_file)
args = ["--task", "latent", "--latents", str(latents_file), "--steps", str(CONFIG["ddp_steps"]),
        "--batch-size", str(CONFIG["ddp_batch"])]
print("launching: torchrun --nproc_per_node=2 -m course_lib.diffusion.ddp_demo", *args[:2], "<latents file>", *args[4:])
single = ddp_demo.main([*args, "--out", str(artifacts_dir("ddp_demo") / "single.pt")])
run = distributed.launch("course_lib.diffusion.ddp_demo", [*args, "--out", str(artifacts_dir("ddp_demo") / "ddp.pt")],
                         nproc=2)
print(run.stdout.strip())
ddp = torch.load(artifacts_dir("ddp_demo") / "ddp.pt", weights_only=False)
weight_diff = ddp_demo.weight_difference(ddp["state_dict"], single["state_dict"])   # (skips key biases: see below)
loss_diff = max(abs(a - b) for a, b in zip(ddp["history"], single["history"]))
print(f"1 process: {single['seconds']:.1f} s; 2 processes: {ddp['seconds']:.1f} s "
      f"({ddp['rows_per_step']} of {CONFIG['ddp_batch']} rows per rank per step)")
print(f"after {CONFIG['ddp_steps']} steps: max |weight difference| {weight_diff:.1e}, "
      f"max |loss difference| {loss_diff:.1e}")
viz.plot_loss({"1 process, batch 16": single["history"], "2 processes x 8 (torchrun)": ddp["history"]},
              window=5, title="the same training, split over 2 processes")
plt.show()

# %% [markdown]
# The weights agree to float rounding (summing the gradient in two halves changes the
# order of additions). One subtlety: the attention *key* biases are left out of the
# comparison. Adding $b_k$ to every key adds the same $q\cdot b_k$ to every logit of a
# row, which softmax ignores, so their true gradient is exactly zero — autograd returns
# rounding noise, and Adam, which divides a gradient by its own running size, turns that
# noise into full-size steps in random directions. They drift differently in any two
# runs and change nothing the model computes. `ddp_demo.weight_difference` therefore
# compares every parameter except the names ending in `k_proj.bias`. How big is that
# drift? The largest difference of the key biases next to that of all the other
# weights, from the two runs above:

# %%
key_bias = max((ddp["state_dict"][k].float() - single["state_dict"][k].float()).abs().max().item()
               for k in single["state_dict"] if k.endswith("k_proj.bias"))
print(f"after {CONFIG['ddp_steps']} steps: key biases differ by up to {key_bias:.1e}; "
      f"all other weights by up to {weight_diff:.1e}")

# %% [markdown]
# On two
# processes sharing this CPU the run is *not* faster — two processes compete for the
# same cores and talk through the gloo backend; data parallelism pays off when each
# process has its own accelerator. On GPUs the same code:
#
# - `torchrun --nproc_per_node=8 -m course_lib.diffusion.ddp_demo ...` on an 8-GPU node
#   (or `--nnodes` and a rendezvous address across nodes); `distributed.init` picks the
#   **NCCL** backend and `cuda:LOCAL_RANK` for each process, and the all-reduce runs over
#   NVLink / InfiniBand, overlapped with the backward pass (DDP buckets the gradients).
# - The **global batch** is per-GPU batch × number of GPUs (× gradient-accumulation
#   steps). Growing it with the GPU count keeps each GPU busy; for the same number of
#   *epochs* you then take fewer, larger steps, so the learning rate is usually scaled up
#   — linearly for SGD (Goyal et al. 2017, with warm-up), roughly with the square root
#   for Adam — and re-tuned.
# - Beyond data parallelism: FSDP / ZeRO shard the optimiser state and weights when a
#   model no longer fits on one GPU; tensor, pipeline and sequence (context) parallelism
#   split the layers or the tokens of long videos across GPUs.

# %% [markdown]
# ## 6. Measure it
#
# How much of this is the seed? Trained from seeds 0-3 (`COURSE_SEED=N course run
# day06`; the pixel model is day 05's, reseeded too), the VAE kept 92-95 % of the digits
# readable, the latent model's accuracy was within 3 points of the pixel model's or
# above it (87-97 % against 86-91 %), and the step-time ratio stayed at 0.60-0.61. The
# asserts hold for every seed with a margin; your machine's numbers may differ from the
# ones printed here about as much as another seed's would.

# %%
p, l = rows["pixel"], rows["latent"]
print(f"latent vs pixel: accuracy {l['accuracy']:.1%} vs {p['accuracy']:.1%}; "
      f"FLOPs per step x{l['gflops'] / p['gflops']:.2f}; measured step time x{l['step_ms'] / p['step_ms']:.2f}; VAE reconstructions {acc_recon:.1%}")
print(f"notebook {time.perf_counter() - notebook_start:.0f} s wall, {time.process_time() - cpu_start:.0f} s CPU "
      f"(this process)")
assert acc_recon >= 0.90, "the VAE must keep the digits readable"
assert l["accuracy"] >= p["accuracy"] - 0.10, "latent diffusion must reach comparable per-frame accuracy"
assert l["gflops"] <= 0.6 * p["gflops"], "the latent model must need clearly fewer FLOPs per step"
assert l["step_ms"] < 0.85 * p["step_ms"], "and a training step must be measurably faster"
assert weight_diff < 2e-4 and ddp["rows_per_step"] == CONFIG["ddp_batch"] // 2, \
    "torchrun on 2 processes must train exactly like 1 process on the global batch"

# %% [markdown]
# ## In production
#
# - **Stable Diffusion** ([LDM, Rombach et al. 2022](https://arxiv.org/abs/2112.10752)):
#   an $f = 8$, 4-channel KL-VAE (the VAE of [Kingma & Welling](https://arxiv.org/abs/1312.6114),
#   β ≈ 1e-6, plus perceptual and adversarial losses for sharp detail) and the scale
#   factor 0.18215; [SDXL](https://arxiv.org/abs/2307.01952) retrained the VAE (0.13025),
#   [SD3](https://arxiv.org/abs/2403.03206) and Flux use 16 channels for finer detail.
# - **Video latents.** [Stable Video Diffusion](https://arxiv.org/abs/2311.15127) encodes
#   frame by frame like us and decodes with a temporally aware decoder; Sora,
#   [CogVideoX](https://arxiv.org/abs/2408.06072), HunyuanVideo, Wan and Cosmos use *3-D
#   causal VAEs* that compress time too (4× time, 8×8 space), then spacetime patches on
#   top — exactly today's token arithmetic, with a bigger $f$.
# - **Failure modes.** VAE artefacts are a ceiling (text, faces and small detail are
#   lost in the latent — hence 16-channel VAEs); a wrong scale factor silently ruins
#   training (too small: signal drowned at once; too large: the noise never covers it);
#   per-frame VAEs flicker; latents are decoded in tiles for long, large videos.
# - **Scale.** Video models train on thousands of GPUs with data parallelism
#   ([PyTorch DDP](https://pytorch.org/docs/stable/notes/ddp.html), launched by
#   [torchrun](https://pytorch.org/docs/stable/elastic/run.html)) plus
#   [FSDP](https://pytorch.org/docs/stable/fsdp.html), sequence parallelism for long token
#   sequences, and activation checkpointing; the learning-rate scaling rule is from
#   [Goyal et al. 2017](https://arxiv.org/abs/1706.02677).
#
# The VAE of Stable Diffusion is one class in
# [🤗 diffusers](https://huggingface.co/docs/diffusers/api/models/autoencoderkl), with
# today's three equations inside: `latent_dist` is the diagonal Gaussian (`.mean`,
# `.logvar`, `.sample()` = the reparameterisation, `.kl()` = the KL to $\mathcal N(0, I)$)
# and the config stores the scale factor (not run here: it downloads the weights):
#
# ```python
# import torch
# from diffusers import AutoencoderKL
#
# vae = AutoencoderKL.from_pretrained("stabilityai/sd-vae-ft-mse")       # f = 8, 4 latent channels
# x = torch.rand(1, 3, 256, 256) * 2 - 1                                  # an RGB image in [-1, 1]
# with torch.no_grad():
#     posterior = vae.encode(x).latent_dist                              # mean, logvar: (1, 4, 32, 32)
#     z = posterior.sample() * vae.config.scaling_factor                 # 0.18215: unit-variance latents
#     x_hat = vae.decode(z / vae.config.scaling_factor).sample           # (1, 3, 256, 256)
# ```
#
# A latent diffusion pipeline (`StableDiffusionPipeline`, `StableVideoDiffusionPipeline`)
# runs its denoiser on such `z` and calls `vae.decode` once at the end, as
# `sample_latent_videos` does.
#
# ## Summary
#
# - VAE: $z = \mu + \sigma\varepsilon$ (reparameterisation), loss = reconstruction +
#   β·KL with $\mathrm{KL} = \frac12(\mu^2+\sigma^2-1-\log\sigma^2)$.
# - Scale latents by $1/\operatorname{std}$ before diffusion; don't clip them to $[-1, 1]$.
# - Latent diffusion: the same DiT on a 4× smaller latent → half the tokens and FLOPs
#   here, comparable quality, bounded by the VAE's reconstructions.
# - `torchrun` + DDP: each rank trains on its shard, gradients are averaged; same
#   weights as one process on the global batch; NCCL on GPUs, scale the LR with the batch.
#
# **Exercises:** [`../exercises/day06_latent_diffusion.ipynb`](../exercises/day06_latent_diffusion.ipynb)
# — the reparameterisation, the KL term, the VAE loss, scale-by-std, and an experiment
# that trains the VAE briefly with a small and a large β. Then `course check day06`.
