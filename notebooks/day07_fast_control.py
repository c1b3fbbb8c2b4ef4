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
# # Day 07 — Fast and controllable diffusion
#
# **What you will build.** Answers to two complaints about every video generator.
# "Five seconds of video takes five minutes": **consistency distillation** (LCM) turns
# day 04's DiT, which needs 50 guided DDIM steps (100 network calls), into a student that
# samples in 1, 2 or 4 calls; and **int8 / FP8 weights** cut the bytes every call has to
# move by 3.6×. "I asked the car to turn left and it turned right": a **ControlNet**
# makes the DiT draw the digit *along a given edge map*, and **camera LoRAs** — a few
# thousand numbers each on day 05's video DiT — make the camera pan left, pan right or
# zoom in, one adapter per move.
#
# **Prerequisites.** Day 04 (the DiT, DDIM, classifier-free guidance, the judge and the
# Fréchet distance) and day 05 (the video DiT on moving digits). Their models are loaded
# from `artifacts/` (trained here when missing). **CPU run time:** about 2 minutes on a
# 2-core CPU with days 04 and 05 cached: four small trainings (the consistency student,
# the ControlNet, three camera LoRAs) and the measurements.
#
# **The plan.** `course_lib.diffusion.consistency` (the consistency function, the
# distillation loss, the sampler; progressive distillation as the comparison),
# `course_lib.nn.lowbit` (int8 and FP8 weights), `course_lib.diffusion.controlnet`
# (ControlDiT, edge maps), `course_lib.nn.lora` (LoRA), `course_lib.data.camera` (clips
# with a known camera move, phase correlation), and their recipes:
# `distill_train`, `controlnet_train`, `camera_lora_train`.

# %%
import copy
import logging
import time
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from einops import rearrange
from scipy import ndimage

from course_lib import viz
from course_lib.data import camera
from course_lib.data.digits import digits_split, load_digits16
from course_lib.data.judge import load_judge
from course_lib.diffusion import consistency, ddpm
from course_lib.diffusion.camera_lora_train import CAMERA_LORA_PRESETS, train_camera_lora
from course_lib.diffusion.controlnet import ControlDiT, edge_map, sobel_magnitude
from course_lib.diffusion.controlnet_train import CONTROLNET_PRESETS, controlled, edge_iou, train_controlnet
from course_lib.diffusion.distill_train import CLIP, CONSISTENCY_PRESETS, train_consistency
from course_lib.diffusion.dit_train import train_dit
from course_lib.diffusion.video_dit import sample_video
from course_lib.metrics import frechet_distance
from course_lib.nn import lora, lowbit
from course_lib.runtime import best_time, get_device
from course_lib.video_metrics import track_digit
from course_lib.train import describe, preset

DEVICE = get_device()
GPU = DEVICE.type == "cuda"
# One config cell. DISTILL: the consistency student of day 04's DiT (its `teacher` field
# is day 04's recipe); CONTROL: the ControlNet on the same DiT; CAMERA: a camera LoRA on
# day 05's video DiT (one per move, the move is a field of the recipe).
DISTILL = preset(CONSISTENCY_PRESETS, DEVICE)
CONTROL = preset(CONTROLNET_PRESETS, DEVICE)
CAMERA = preset(CAMERA_LORA_PRESETS, DEVICE)
CONFIG = dict(
    samples_per_class=50,                        # digits per class for every accuracy / Frechet number
    student_steps=(1, 2, 4),
    teacher_steps=(1, 2, 4, 50),
    quant_steps=10,                              # DDIM steps when comparing weight formats
    control_samples=200,                         # held-out edge maps to follow
    control_steps=20,
    camera_moves=("pan_left", "pan_right", "zoom_in"),
    camera_clips=40,                             # generated clips per model
    video_steps=20,
)
print(DEVICE, describe(DISTILL), describe(CONTROL), describe(CAMERA), CONFIG, sep="\n")
notebook_start = time.perf_counter()
cpu_start = time.process_time()

# %% [markdown]
# ## 1. Why sampling is slow
#
# A diffusion sampler calls the network once per step — twice with classifier-free
# guidance (the conditional and the null pass). Day 04's best samples used DDIM with 50
# steps: 100 network evaluations for one batch. Generating costs
#
# $$\text{time} \approx \text{steps} \times \text{passes per step} \times \text{time of one pass},$$
#
# and a video model's pass is the expensive one (day 05: thousands of spacetime tokens
# at full scale). There are two levers: **fewer steps** (distillation, sections 2) and
# **a cheaper pass** (lower-precision weights, section 3; day 06's latents were another).
# First, the numbers for day 04's DiT on this machine:

# %%
teacher = train_dit(DISTILL.teacher)            # day 04's DiT, loaded from artifacts/
net, schedule = teacher.model.eval(), teacher.schedule
images, labels = load_digits16()
train_idx, test_idx = digits_split()
batch_labels = torch.arange(10).repeat(10)                     # 100 digits
x_try = torch.randn(100, 1, 16, 16, generator=torch.Generator().manual_seed(0))
t_try = torch.full((100,), 500)
with torch.no_grad():
    one_pass, _ = best_time(lambda: net(x_try, t_try, batch_labels), repeats=5)
    guided_pass, _ = best_time(lambda: ddpm.guided(net, batch_labels, net.null_label, DISTILL.guidance)(x_try, t_try),
                               repeats=5)
print(f"one pass of the DiT on 100 digits: {one_pass * 1e3:.1f} ms; with guidance (2 passes in one batch): "
      f"{guided_pass * 1e3:.1f} ms")
for steps in (50, 4, 1):
    print(f"DDIM-{steps:<2} with guidance: {2 * steps:>3} passes, about {steps * guided_pass:.2f} s per 100 digits")

# %% [markdown]
# ![Left: the teacher walks from noise x_T to a clean digit in many small guided DDIM steps, while the student jumps from any point of the same trajectory to its end. Middle: the boundary scaling f = c_skip x_t + c_out x̂_0, exact at t = 0. Right: multistep sampling jumps, re-noises to a smaller t and jumps again; a training pair is a point x_tn, the teacher's DDIM step to t_n − k, the student on the first, the EMA target on the second](figures/day07_consistency.svg)
#
# The figure is section 2. Deterministic DDIM ($\eta = 0$) moves every starting noise
# $x_T$ along one **trajectory** of the probability-flow ODE to one clean digit. What if a
# network could jump from *any* point of a trajectory straight to its end? That is a
# **consistency function** (Song et al. 2023): $f(x_t, t) = x_0$ for every $t$ on the
# trajectory of $x_0$. Here is that trajectory for one noise and the teacher's DDIM-50,
# with what the teacher *believes* the end is at each point ($\hat x_0$, its clean-sample
# estimate): early estimates are a blurry average, and only the walk sharpens them. A
# consistency model must output the last column from every column.

# %%
label_3 = torch.tensor([3])
x = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(7))
steps_50 = ddpm.ddim_timesteps(schedule.num_steps, 50)
guided_3 = ddpm.guided(net, label_3, net.null_label, DISTILL.guidance)
shown_x, shown_x0, shown_t = [], [], []
with torch.no_grad():
    for i, step in enumerate(steps_50):
        t = torch.tensor([step])
        eps = guided_3(x, t)
        x0_hat, _ = ddpm.to_x0_eps(eps, x, t, schedule)
        if i % 10 == 0 or i == len(steps_50) - 1:
            shown_x.append(x.clone()), shown_x0.append(x0_hat.clamp(-1, 1)), shown_t.append(step)
        t_prev = torch.tensor([steps_50[i + 1] if i + 1 < len(steps_50) else -1])
        x = ddpm.ddim_step(eps, x, t, t_prev, schedule, eta=0.0)
viz.show_images(torch.cat(shown_x + shown_x0 + [x.clamp(-1, 1)]), nrow=len(shown_t),
                titles=[f"x_t, t={s}" for s in shown_t] + [f"x̂0 at t={s}" for s in shown_t] + ["end x_0"],
                scale=0.8)

# %% [markdown]
# ## 2. Consistency distillation (LCM)
#
# **The parametrisation.** The student is a copy of the teacher (it predicts ε, and we
# turn ε into $\hat x_0$ as day 03 did). Its output is not $\hat x_0$ itself but
#
# $$f_\theta(x_t, t) = c_\text{skip}(t)\, x_t + c_\text{out}(t)\, \hat x_0(x_t, t),\qquad
#   c_\text{skip}(t) = \frac{\sigma_d^2}{(st)^2 + \sigma_d^2},\quad
#   c_\text{out}(t) = \frac{st}{\sqrt{(st)^2 + \sigma_d^2}},$$
#
# with $\sigma_d = 0.5$ and $s = 10$ (LCM's values, in diffusers' `LCMScheduler`). At
# $t = 0$, $c_\text{skip} = 1$ and $c_\text{out} = 0$: $f(x, 0) = x$ *exactly*, whatever
# the network says — the **boundary condition** a consistency function must meet
# (a clean sample is its own end). By $t = 100$, $c_\text{out} \approx 1$. We write both
# and check them against `course_lib`:

# %%
SIGMA_D, TIME_SCALE = 0.5, 10.0


def our_boundary(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) timesteps -> (c_skip, c_out): sigma_d^2 / ((s t)^2 + sigma_d^2), s t / sqrt((s t)^2 + sigma_d^2)."""
    st = t.double() * TIME_SCALE
    return (SIGMA_D ** 2 / (st ** 2 + SIGMA_D ** 2)).float(), (st / (st ** 2 + SIGMA_D ** 2).sqrt()).float()


def our_consistency_fn(model_fn, x_t, t):
    """f(x_t, t) = c_skip x_t + c_out x̂_0, with x̂_0 from the eps prediction, clamped to [-1, 1]."""
    x0_hat, _ = ddpm.to_x0_eps(model_fn(x_t, t), x_t, t, schedule)
    c_skip, c_out = our_boundary(t)
    return c_skip.view(-1, 1, 1, 1) * x_t + c_out.view(-1, 1, 1, 1) * x0_hat.clamp(-1, 1)


ts = torch.tensor([0, 1, 5, 20, 100, 999])
c_skip, c_out = our_boundary(ts)
lib_skip, lib_out = consistency.boundary_coefficients(ts)
print("t       ", ts.tolist())
print("c_skip  ", [f"{v:.4f}" for v in c_skip.tolist()])
print("c_out   ", [f"{v:.4f}" for v in c_out.tolist()])
assert torch.equal(c_skip, lib_skip) and torch.equal(c_out, lib_out)
model_fn = lambda x, t: net(x, t, batch_labels)                     # noqa: E731
with torch.no_grad():
    ours = our_consistency_fn(model_fn, x_try, t_try)
    library = consistency.consistency_function(model_fn, x_try, t_try, schedule, clip_x0=CLIP)
    at_zero = our_consistency_fn(model_fn, x_try, torch.zeros(100, dtype=torch.long))
print(f"f(x_t, t): ours vs course_lib, max |difference| {(ours - library).abs().max():.1e}; "
      f"f(x, 0) == x exactly: {torch.equal(at_zero, x_try)}")
assert torch.equal(at_zero, x_try)
torch.testing.assert_close(ours, library)

# %% [markdown]
# **The loss.** Pick a grid timestep $t_n$ (a multiple of the skip $k$), noise a real
# digit to $x_{t_n}$, and let the *teacher* take one guided DDIM step to $t_n - k$. Both
# points lie (nearly) on one trajectory, so a consistency function must map them to the
# same place:
#
# $$\mathcal L = \big\lVert f_\theta(x_{t_n}, t_n) - f_{\theta^-}(\hat x_{t_n - k}, t_n - k)\big\rVert^2,
#   \qquad \theta^- \leftarrow \mu\,\theta^- + (1-\mu)\,\theta .$$
#
# The target network $\theta^-$ is an exponential moving average of the student, without
# gradient (it moves slowly, so the student chases a steady target). Two LCM details:
# the teacher's step is the *guided* step (scale $w$ = the recipe's `guidance`), so the
# student learns the guided trajectory and needs one pass per step, not two; and the
# student starts as a copy of the teacher. Induction does the rest: at $t = k$ the
# target is $f(x_0, 0) = x_0$ exactly (the boundary condition), at $2k$ it is what the
# student learnt at $k$, and so on up to $T$.
#
# Our loss, written with its own random draws, must equal `course_lib`'s drawing from
# the same generator:

# %%
def our_cd_loss(student_fn, target_fn, teacher_fn, x0, skip, generator):
    n = torch.randint(1, schedule.num_steps // skip + 1, (len(x0),), generator=generator)
    t = (n * skip).clamp(max=schedule.num_steps - 1)              # the grid: k, 2k, ..., 999
    x_t = ddpm.q_sample(x0, t, torch.randn(x0.shape, generator=generator), schedule)
    with torch.no_grad():
        x_prev = ddpm.ddim_step(teacher_fn(x_t, t), x_t, t, t - skip, schedule, clip_x0=True)  # the teacher's step
        target = our_consistency_fn(target_fn, x_prev, t - skip)
    return (our_consistency_fn(student_fn, x_t, t) - target).pow(2).mean()


x0_batch, y_batch = images[train_idx][:64], labels[train_idx][:64]
online, ema = copy.deepcopy(net), copy.deepcopy(net)
args = (lambda x, t: online(x, t, y_batch), lambda x, t: ema(x, t, y_batch),
        ddpm.guided(net, y_batch, net.null_label, DISTILL.guidance), x0_batch)
ours = our_cd_loss(*args, DISTILL.skip, torch.Generator().manual_seed(1))
library = consistency.consistency_distillation_loss(*args, schedule, skip=DISTILL.skip,
                                                    generator=torch.Generator().manual_seed(1), clip_x0=CLIP)
print(f"distillation loss of the untrained student (a copy of the teacher): ours {ours.item():.6f}, "
      f"course_lib {library.item():.6f}")
torch.testing.assert_close(ours, library)

# %% [markdown]
# The untrained loss is not zero: the teacher's *guided* step leaves the unguided
# trajectory the copy follows. The skip is 250 timesteps, so the training grid is 250,
# 500, 750, 999 — the very timesteps the 4-step sampler visits (999, 749, 499, 249), as
# LCM samples on its own skip grid. (Measured while writing the lesson, 4-step accuracy:
# skip 100 with 1,500 steps 94.2 %, skip 250 with 1,000 steps 96.0 %.) Now distil (`train_consistency`: the recipe above, the
# EMA update after every step, the EMA network returned as the student — it is the one
# LCM samples with):

# %%
student = train_consistency(DISTILL)
print(f"distilled in {student.run.seconds:.0f} s ({DISTILL.train.steps} steps of {DISTILL.train.batch_size} digits)")
viz.plot_loss({"consistency loss": student.run.history}, window=50)
plt.show()

# %% [markdown]
# **Sampling with 1, 2 and 4 steps.** One step is $x_0 = f(x_T, T)$. With more steps
# the sampler re-noises its estimate to the next, smaller timestep with *fresh* noise
# and jumps again — each jump starts closer to the data, so the estimate improves
# (`consistency.sample_consistency`, timesteps 999, 749, 499, 249 for 4 steps). The
# table compares, on the same starting noises and the same 500 asked-for digits, the
# teacher's guided DDIM at 1, 2, 4 and 50 steps with the student at 1, 2 and 4: the
# judge's accuracy (is it the asked-for digit?), the Fréchet distance of judge features
# to held-out real digits (do the samples look like real ones, as a set?), and the
# seconds per 100 samples.

# %%
judge, real_accuracy = load_judge()
real_feats = judge.embed(images[test_idx])
wanted = torch.arange(10).repeat_interleave(CONFIG["samples_per_class"])
shape = (len(wanted), 1, 16, 16)
NOISE_SEED = 11


def evaluate(samples):
    """(judge accuracy on the asked-for digits, Frechet distance to held-out real digits)."""
    samples = samples.clamp(-1, 1)
    return (judge.predict(samples) == wanted).float().mean().item(), frechet_distance(judge.embed(samples), real_feats)


def teacher_samples(steps, model=net, guidance=DISTILL.guidance):
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(NOISE_SEED))
    return ddpm.sample_ddim(ddpm.guided(model, wanted, model.null_label, guidance), shape, schedule,
                            steps=steps, x_T=x_T, progress=False)


def student_samples(steps):                  # its first draw is the same x_T as the teacher's
    return consistency.sample_consistency(student.model_fn(wanted), shape, schedule, steps,
                                          generator=torch.Generator().manual_seed(NOISE_SEED), clip_x0=CLIP)


speed_table, grids, saturation = {}, {}, {}
for name, make, steps_list in [("teacher DDIM", teacher_samples, CONFIG["teacher_steps"]),
                               ("student", student_samples, CONFIG["student_steps"])]:
    for steps in steps_list:
        start = time.perf_counter()
        samples = make(steps)
        seconds = time.perf_counter() - start
        speed_table[f"{name}-{steps}"] = (*evaluate(samples), seconds / len(wanted) * 100)
        grids[f"{name}-{steps}"] = samples.view(10, -1, 1, 16, 16)[:, 0]
        saturation[f"{name}-{steps}"] = (samples.clamp(-1, 1).abs() > 0.98).float().mean().item()
print(f"{'sampler':>16} {'accuracy':>9} {'Frechet':>8} {'s / 100':>8}   ({len(wanted)} samples, w = {DISTILL.guidance})")
for name, (acc, fd, sec) in speed_table.items():
    print(f"{name:>16} {acc:>9.1%} {fd:>8.1f} {sec:>8.3f}")
fd_real = frechet_distance(judge.embed(images[train_idx][:500]), real_feats)
print(f"{'real digits':>16} {real_accuracy:>9.1%} {fd_real:>8.1f}   (Frechet: 500 training vs the test digits)")

# %%
viz.show_images(torch.cat(list(grids.values())).clamp(-1, 1), nrow=10, scale=0.6,
                titles=[name if c == 0 else "" for name in grids for c in range(10)])

# %% [markdown]
# Reading the table (the numbers are this run's; the asserts below hold with margin):
#
# - **One step.** The teacher's DDIM-1 is its first $\hat x_0$: the blurry average of
#   every digit the noise could become (the first columns of section 1's picture), so the
#   judge often cannot name it. The student's one jump lands on the asked-for digit far
#   more often: this is what distillation buys. Its Fréchet distance is nevertheless
#   *worse*: at $t = 999$, $\sqrt{\bar\alpha_t} \approx 0.006$, so the ε-network's
#   $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ magnifies
#   every error 160× and the clamp to $[-1, 1]$ leaves a *binary* image (the `sat`
#   column below: the share of pixels at ±1) — the right strokes, none of the grey
#   anti-aliasing real digits have, and the judge's features notice. A student that
#   predicted $x_0$ directly would not have this problem; LCM inherits ε from its teacher.
# - **Two and four steps.** Guided DDIM is already good at 2–4 steps on 16×16 digits (a
#   smooth model on small images is kind to a coarse ODE solver, as day 04 showed), so
#   at 2 steps the student is only a little more accurate than the teacher — but with a
#   much better Fréchet distance. At 4 steps it comes within about a point of the
#   teacher's DDIM-50, with 25× fewer passes (its 4 calls need no guidance pass).
# - **A student with a better Fréchet distance than its teacher?** The student at 4
#   steps has a *lower* Fréchet distance than DDIM-50, at a slightly lower accuracy.
#   That is the signature of weaker guidance (day 04: guidance trades Fréchet distance
#   for accuracy). The w = 2.5 row checks it: the teacher's DDIM-50 at $w = 2.5$ instead
#   of 3 lands where the student does — the distilled student reproduces the guided ODE
#   imperfectly, a little toward the unguided model it started from.
# - **Seconds.** Time is proportional to network passes: the student's 4 steps cost
#   what the teacher's 2 guided steps cost.

# %%
WEAKER = f"teacher DDIM-50, w = {DISTILL.guidance - 0.5:g}"
weaker = teacher_samples(50, guidance=DISTILL.guidance - 0.5)
speed_table[WEAKER] = (*evaluate(weaker), float("nan"))
saturation[WEAKER] = (weaker.clamp(-1, 1).abs() > 0.98).float().mean().item()
saturation["real digits"] = (images[test_idx].abs() > 0.98).float().mean().item()
print(f"{'sampler':>26} {'accuracy':>9} {'Frechet':>8} {'sat':>5}")
for name, (acc_, fd_, _) in list(speed_table.items()) + [("real digits", (real_accuracy, fd_real, None))]:
    print(f"{name:>26} {acc_:>9.1%} {fd_:>8.1f} {saturation[name]:>5.0%}")

# %%
acc = {name: value[0] for name, value in speed_table.items()}
fd = {name: value[1] for name, value in speed_table.items()}
assert acc["student-4"] >= acc["teacher DDIM-50"] - 0.05, acc
assert acc["student-1"] >= acc["teacher DDIM-1"] + 0.15, acc
assert acc["student-2"] >= acc["teacher DDIM-2"] - 0.02 and fd["student-2"] < 0.85 * fd["teacher DDIM-2"], speed_table
assert fd["student-4"] < fd["teacher DDIM-50"], speed_table                  # the surprise explained above

# %% [markdown]
# **Progressive distillation** (Salimans & Ho 2022) is the older route: a student learns
# to do in *one* DDIM step what the teacher does in two, then becomes the teacher of the
# next round (8 → 4 → 2 → 1 steps). Its target has a closed form — the $\tilde x_0$ from
# which one DDIM step lands where two teacher steps did
# (`consistency.progressive_target`) — and each round is a full distillation, so $\log_2$
# of the step count rounds are needed where consistency distillation needs one.
# `course_lib` has it beside the consistency loss; the tests run both on a teacher with
# an exact ε (a mixture of two Gaussians), where 8 → 4 → 2 → 1 rounds keep most samples
# on the modes while the teacher's own single DDIM step puts none there.
#
# ## 3. int8 and FP8 weights
#
# The other lever is the cost of one pass. On a GPU, generating is often limited by
# *memory bandwidth* — every step reads every weight — so storing weights in 8 bits
# instead of 32 moves 4× fewer bytes. **Per-output-channel symmetric int8**: each row
# $o$ of a weight $W$ (out × in) gets its own scale
#
# $$s_o = \frac{\max_i |W_{oi}|}{127},\qquad q_{oi} = \mathrm{clamp}\big(\mathrm{round}(W_{oi}/s_o), -127, 127\big),
#   \qquad W_{oi} \approx s_o\, q_{oi},$$
#
# so every weight is off by at most $s_o/2$. One scale per row, not per tensor: a row of
# small weights would otherwise be rounded with the step of the largest row. We write it
# and check it against `course_lib`:

# %%
def our_quantize_int8(w):
    """(out, in) float -> (int8 (out, in), scale (out, 1)): per-row absmax / 127, round to nearest."""
    scale = w.abs().amax(dim=1, keepdim=True) / 127
    scale = torch.where(scale > 0, scale, torch.full_like(scale, 1 / 127))      # an all-zero row
    return torch.clamp(torch.round(w / scale), -127, 127).to(torch.int8), scale


w = net.blocks[0].mlp[0].weight.detach()                  # the first MLP layer of the first block
q, scale = our_quantize_int8(w)
lib_q, lib_scale = lowbit.quantize_int8(w)
error = (q.float() * scale - w).abs()
print(f"a {tuple(w.shape)} weight: ours == course_lib: {torch.equal(q, lib_q) and torch.equal(scale, lib_scale)}; "
      f"max |error| {error.max():.2e} <= max scale / 2 = {scale.max() / 2:.2e}")
assert torch.equal(q, lib_q) and torch.equal(scale, lib_scale) and (error <= scale / 2 + 1e-7).all()

# %% [markdown]
# **FP8 e4m3** (`torch.float8_e4m3fn`: 1 sign bit, 4 exponent bits, 3 mantissa bits) is a
# floating-point byte: about two significant digits (a relative step of $2^{-3}$, so
# errors up to ~6 %, ~2.6 % on average over a weight) for magnitudes between $2^{-6}$
# (the smallest normal number) and 448 (the largest). Below $2^{-6}$ only *subnormal*
# numbers are left, with a fixed step of $2^{-9}$, so small weights lose their digits or
# become 0; above 448 the cast saturates. A scale $s = \max|W| / 448$ first stretches
# the weight over the whole range. Our DiT's weights happen to sit mostly inside it
# (magnitudes ~0.1), so to see why the scale matters we cast the same weight multiplied
# by factors — large models' weights are often ~0.01, and activations can reach
# thousands:

# %%
fp8 = torch.float8_e4m3fn
print(f"e4m3: largest {torch.finfo(fp8).max:g}, smallest normal {torch.finfo(fp8).smallest_normal:g}")
print(f"{'weight x':>9} {'max |w|':>9} {'below 2^-6':>11} {'error, cast directly':>21} {'with a scale':>13}")
fp8_errors = {}
for factor in (1e4, 1.0, 0.1, 0.01, 0.001):
    wk = w * factor
    direct = wk.to(fp8).float()                                          # no scale: what the format alone keeps
    f, s = lowbit.quantize_fp8(wk, per_channel=False)
    rel = lambda approx: ((approx - wk).norm() / wk.norm()).item()     # noqa: E731
    fp8_errors[factor] = (rel(direct), rel(lowbit.dequantize_fp8(f, s)))
    print(f"{factor:>9g} {wk.abs().max():>9.2g} {(wk.abs() < torch.finfo(fp8).smallest_normal).float().mean():>11.0%} "
          f"{fp8_errors[factor][0]:>21.1%} {fp8_errors[factor][1]:>13.1%}")
int8_error = ((lowbit.dequantize_int8(lib_q, lib_scale) - w).norm() / w.norm()).item()
print(f"int8 per row on the weight as it is: {int8_error:.1%}")
assert fp8_errors[0.01][0] > 5 * fp8_errors[0.01][1] and fp8_errors[1e4][0] > 5 * fp8_errors[1e4][1]

# %% [markdown]
# With a scale the relative error is the same ~2.6 % at every magnitude — the format's
# mantissa, nothing else; without one it is fine only while the weight happens to fit
# the format's range, and ruinous (saturated, or flushed to subnormals and zero)
# outside it. int8 per row is 4× more precise here (0.7 %) because a row's values are
# spread evenly over 255 levels; FP8's advantage is range — and, on H100s, hardware
# matmuls.

# %% [markdown]
# Now every `nn.Linear` of the DiT (`lowbit.quantize_linears`: patch embedding,
# attention, MLP, adaLN modulation, the final layer) in each format. A CPU has no FP8
# matmul and torch no int8 weight-only matmul for it, so `QuantizedLinear` **upcasts**
# the weight to float32 before each matmul: on this machine we save memory, not time —
# the latency column shows the dequantization's cost honestly. (An H100's tensor cores
# multiply FP8 directly, which is where FP8 inference gets its speed.)

# %%
formats = {"float32": net}
for fmt in lowbit.FORMATS:
    formats[fmt] = lowbit.quantize_linears(copy.deepcopy(net), fmt).eval()
with torch.no_grad():
    reference = net(x_try, t_try, batch_labels)
    x_T_quant = torch.randn(shape, generator=torch.Generator().manual_seed(NOISE_SEED))
quant_table = {}
for name, model in formats.items():
    with torch.no_grad():
        diff = (model(x_try, t_try, batch_labels) - reference).abs().max().item()
        latency, _ = best_time(lambda: model(x_try, t_try, batch_labels), repeats=5)
    samples = teacher_samples(CONFIG["quant_steps"], model)
    quant_table[name] = (lowbit.weight_bytes(model), diff, evaluate(samples)[0], latency * 1e3)
full_bytes = quant_table["float32"][0]
print(f"{'weights':>10} {'bytes':>10} {'ratio':>6} {'max |Δε̂|':>10} {'acc DDIM-' + str(CONFIG['quant_steps']):>13} "
      f"{'ms / pass':>10}")
for name, (nbytes, diff, acc_q, ms) in quant_table.items():
    print(f"{name:>10} {nbytes:>10,} {full_bytes / nbytes:>5.2f}× {diff:>10.4f} {acc_q:>13.1%} {ms:>10.2f}")

# %% [markdown]
# The bytes fall 3.6× rather than 4×: the biases, the layer norms and the label and
# position embeddings stay in float32, and each row keeps a float32 scale. The outputs
# move by a few hundredths (ε̂ is of order 1), and the samples are as good as full
# precision's — the differences are within the noise of 500 samples. FP8 with one scale
# per tensor is the coarsest and moves the output most. On this CPU each quantized pass
# is *slower* (it rebuilds the float weight first); the saving is the 3.6× smaller model
# in memory and on disk.

# %%
for fmt in lowbit.FORMATS:
    nbytes, _, acc_q, _ = quant_table[fmt]
    assert full_bytes / nbytes >= 3.5 and abs(acc_q - quant_table["float32"][2]) <= 0.01, (fmt, quant_table)

# %% [markdown]
# How does a maintained library do the same? [torchao](https://github.com/pytorch/ao)'s
# `Int8WeightOnlyConfig` quantizes per output row too (the same `nn.Linear` layers as
# ours; the patch embedding is a convolution in both); if it is installed (it is in the
# course's dev dependencies) we apply it to the same DiT and compare weights and outputs
# with ours. Its scale divides by 127.5 where ours divides by 127, so single weights can
# round to neighbouring levels — differences of up to one quantization step — and the
# two models' outputs differ from float32 by the same order of magnitude.

# %%
try:
    logging.disable(logging.WARNING)           # torchao logs its missing CUDA kernels on a CPU
    from torchao.quantization import Int8WeightOnlyConfig, quantize_
    logging.disable(logging.NOTSET)
except (ImportError, RuntimeError):          # absent, or built for another torch
    logging.disable(logging.NOTSET)
    print("torchao is not installed (pip install torchao): skipped")
else:
    ao_model = copy.deepcopy(net)
    quantize_(ao_model, Int8WeightOnlyConfig())
    ao_w = ao_model.blocks[0].mlp[0].weight.dequantize()
    with torch.no_grad():
        ao_diff = (ao_model(x_try, t_try, batch_labels) - reference).abs().max().item()
    print(f"first MLP weight, torchao vs ours: max |difference| {(ao_w - lowbit.dequantize_int8(lib_q, lib_scale)).abs().max():.1e} "
          f"(torchao's scale is max|row| / 127.5, ours / 127)")
    print(f"torchao int8 weight-only: max |Δε̂| {ao_diff:.4f} (ours {quant_table['int8'][1]:.4f}); "
          f"DDIM-{CONFIG['quant_steps']} accuracy {evaluate(teacher_samples(CONFIG['quant_steps'], ao_model))[0]:.1%}")

# %% [markdown]
# ## 4. ControlNet: draw along these edges
#
# ![Left: the frozen DiT's blocks in a column; a trainable copy of its first blocks takes the edge map through a zero-initialised input projection, and each copy's output is added to the frozen stream through a zero-initialised linear layer. Right: LoRA adds B·A, with B zero at first, to a frozen weight; merging folds it into the weight](figures/day07_control.svg)
#
# A label says *which* digit; a ControlNet (Zhang et al. 2023) says *where its strokes
# go*. The condition here is an **edge map**: the Sobel gradient magnitude of the
# digit, thresholded at a quarter of its maximum. The left half of the figure is the
# architecture: the trained DiT is frozen, a **trainable copy of its first blocks** reads
# the noisy tokens plus the condition, and each copy's output enters the frozen stream
# through a **zero-initialised** linear layer. Zero-init means that before training the
# ControlNet changes nothing, exactly, and the first gradient steps cannot damage what
# the frozen model knows.
#
# First the condition. Our Sobel magnitude, `course_lib`'s, and scipy's (`ndimage.sobel`
# along each axis, border `nearest` = replicate):

# %%
def our_sobel(img):
    """(H, W) -> (H, W): sqrt(Gx^2 + Gy^2) with the 3x3 Sobel kernels, border replicated."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    padded = torch.nn.functional.pad(img[None, None], (1, 1, 1, 1), mode="replicate")
    gx = torch.nn.functional.conv2d(padded, kx[None, None])
    gy = torch.nn.functional.conv2d(padded, kx.T[None, None])
    return (gx ** 2 + gy ** 2).sqrt()[0, 0]


digit = images[test_idx][0, 0]
ours = our_sobel(digit)
library = sobel_magnitude(digit[None, None])[0, 0]
d64 = digit.double().numpy()
scipy_mag = np.hypot(ndimage.sobel(d64, axis=1, mode="nearest"), ndimage.sobel(d64, axis=0, mode="nearest"))
print(f"Sobel magnitude: ours vs course_lib {(ours - library).abs().max():.1e}, "
      f"vs scipy {np.abs(ours.double().numpy() - scipy_mag).max():.1e}")
torch.testing.assert_close(ours, library)
assert np.abs(ours.double().numpy() - scipy_mag).max() < 1e-5
test_digits, test_labels = images[test_idx][:CONFIG["control_samples"]], labels[test_idx][:CONFIG["control_samples"]]
conditions = edge_map(test_digits)
viz.show_images(torch.cat([test_digits[:8], conditions[:8]]), nrow=8, scale=0.7,
                titles=["digit"] + [""] * 7 + ["edge map"] + [""] * 7)

# %% [markdown]
# The zero-init promise, checked on the real DiT: an untrained `ControlDiT` gives
# exactly the base model's output, bit for bit.

# %%
torch.manual_seed(0)
untrained = ControlDiT(net, n_blocks=CONTROL.n_blocks).eval()
with torch.no_grad():
    delta = (untrained(x_try, t_try, batch_labels, edge_map(images[test_idx][:100])) -
             net(x_try, t_try, batch_labels)).abs().max().item()
n_control = sum(p.numel() for p in untrained.control_parameters())
print(f"untrained ControlNet: max |Δε̂| = {delta}; trainable {n_control:,} parameters beside the frozen "
      f"{sum(p.numel() for p in net.parameters()):,}")
assert delta == 0.0

# %% [markdown]
# Training is the base model's own ε-loss, with the edge map of the clean digit as the
# condition (`controlnet_train.control_loss`); only the control branch learns.

# %%
control = train_controlnet(CONTROL)
print(f"ControlNet trained in {control.run.seconds:.0f} s ({CONTROL.train.steps} steps)")
viz.plot_loss({"ControlNet ε-loss": control.run.history}, window=50)
plt.show()

# %% [markdown]
# **Is the control followed?** We sample one digit per held-out edge map (the label is
# the map's digit; guided DDIM-20), take the sample's own edge map, and measure its
# overlap with the condition: intersection over union of the edge pixels. Three
# baselines say what "followed" means. *Shuffled*: the same samples against the edge map
# of *another* test digit of the same class — agreement that comes from drawing the
# right digit, not from following this drawing. *No ControlNet*: the base DiT's samples
# of the same labels against the conditions. *Real*: two real digits of one class.

# %%
def control_samples(cond, labels_, scale=1.0, seed=NOISE_SEED, steps=CONFIG["control_steps"]):
    shape_ = (len(cond), 1, 16, 16)
    model_fn = ddpm.guided(controlled(control.model, cond, scale), labels_, net.null_label, DISTILL.guidance)
    x_T = torch.randn(shape_, generator=torch.Generator().manual_seed(seed))
    return ddpm.sample_ddim(model_fn, shape_, schedule, steps=steps, x_T=x_T, progress=False)


other = torch.arange(len(test_labels))                 # another test digit of the same class
for c in range(10):
    members = (test_labels == c).nonzero().flatten()
    other[members] = members.roll(1)
followed = control_samples(conditions, test_labels)
x_T_base = torch.randn(followed.shape, generator=torch.Generator().manual_seed(NOISE_SEED))
free = ddpm.sample_ddim(ddpm.guided(net, test_labels, net.null_label, DISTILL.guidance), tuple(followed.shape),
                        schedule, steps=CONFIG["control_steps"], x_T=x_T_base, progress=False)
iou = {"ControlNet, its condition": edge_iou(edge_map(followed), conditions),
       "ControlNet, shuffled condition": edge_iou(edge_map(followed), conditions[other]),
       "no ControlNet": edge_iou(edge_map(free), conditions),
       "real digit vs another real of its class": edge_iou(conditions, conditions[other])}
for name, value in iou.items():
    print(f"{name:>42}: edge IoU {value.mean():.3f} ± {value.std() / len(value) ** 0.5:.3f}")
control_acc = (judge.predict(followed.clamp(-1, 1)) == test_labels).float().mean().item()
print(f"judge accuracy of the controlled samples: {control_acc:.1%}")
viz.show_images(torch.cat([conditions[:10], followed[:10].clamp(-1, 1), edge_map(followed[:10]),
                           free[:10].clamp(-1, 1)]), nrow=10, scale=0.6,
                titles=["condition"] + [""] * 9 + ["ControlNet"] + [""] * 9 + ["its edges"] + [""] * 9
                + ["no ControlNet"] + [""] * 9)

# %% [markdown]
# The controlled samples overlap their own conditions far more than another digit of
# the same class does: the stroke positions, slant and thickness come from the edge map,
# not only the class from the label. Without the ControlNet, the base model's digits
# agree with the conditions only as much as two real digits of a class agree with each
# other — chance, for this task. (Edges of 16×16 digits are only a few pixels wide, so
# an IoU of 1 would need pixel-exact strokes; the gap between the rows is the signal.)

# %%
assert iou["ControlNet, its condition"].mean() >= iou["ControlNet, shuffled condition"].mean() + 0.08, iou
assert iou["ControlNet, its condition"].mean() >= iou["no ControlNet"].mean() + 0.08, iou

# %% [markdown]
# **Conditioning scale.** Production pipelines expose a knob that multiplies every
# control residual (diffusers: `controlnet_conditioning_scale`): 0 is the base model,
# 1 as trained, above 1 exaggerates the control. Slide it and watch the same noise turn
# into digits that follow the edges more or less closely (the edge IoU of the ten is in
# the title).

# %%
SCALES = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0]
scale_views = {s: control_samples(conditions[:10], test_labels[:10], scale=s).clamp(-1, 1) for s in SCALES}


def show_scale(scale):
    samples = scale_views[scale]
    value = edge_iou(edge_map(samples), conditions[:10]).mean()
    viz.show_images(torch.cat([conditions[:10], samples]), nrow=10, scale=0.6,
                    titles=[f"scale {scale:g}: edge IoU {value:.2f}"] + [""] * 19)


widgets.interact(show_scale, scale=widgets.SelectionSlider(options=SCALES, value=1.0));

# %% [markdown]
# ## 5. Camera LoRA: pan left, pan right, zoom in
#
# Day 05's video DiT moves digits in whatever direction its noise suggests. To ask for
# a *camera* move we fine-tune it on clips filmed with that move — but not the whole
# model: **LoRA** (Hu et al. 2021) freezes every weight $W$ and learns a low-rank update
# on the attention projections,
#
# $$y = xW^\top + b + \frac{\alpha}{r}\, x A^\top B^\top,\qquad A\in\mathbb R^{r\times
#   \text{in}},\ B \in \mathbb R^{\text{out}\times r},\ B = 0 \text{ at first},$$
#
# so an untrained adapter changes nothing (as ControlNet's zero layers), and training
# touches $r(\text{in}+\text{out})$ numbers instead of $\text{in}\cdot\text{out}$. After
# training, $W \leftarrow W + \frac{\alpha}{r} BA$ **merges** the adapter: inference costs
# nothing extra, and subtracting it again restores the base model. One LoRA per camera
# move; switching LoRAs switches the move (AnimateDiff's MotionLoRAs work this way).
# Ours, against `course_lib`'s `LoRALinear`, and the merge:

# %%
def our_lora_forward(x, layer, A, B, alpha):
    rank = A.shape[0]
    return x @ layer.weight.T + layer.bias + (alpha / rank) * (x @ A.T) @ B.T


torch.manual_seed(0)
base_layer = torch.nn.Linear(64, 64)
adapter = lora.LoRALinear(copy.deepcopy(base_layer), rank=CAMERA.rank, alpha=CAMERA.alpha)
with torch.no_grad():
    adapter.lora_B.normal_()                                        # as if trained
    x_in = torch.randn(5, 64)
    ours = our_lora_forward(x_in, base_layer, adapter.lora_A, adapter.lora_B, CAMERA.alpha)
    before = adapter(x_in)
    adapter.merge()
    merged = adapter(x_in)
    adapter.unmerge()
print(f"LoRA forward: ours vs course_lib {(ours - before).abs().max():.1e}; merged vs unmerged "
      f"{(merged - before).abs().max():.1e}; weight after unmerge vs original "
      f"{(adapter.base.weight - base_layer.weight).abs().max():.1e}")
torch.testing.assert_close(ours, before)
torch.testing.assert_close(merged, before, atol=1e-5, rtol=1e-5)

# %% [markdown]
# **Clips with a known camera move** (`data.camera`): the world is a digit on black, the
# camera a 12×12 window. A camera that pans left sees the world slide *right*, one pixel
# per frame; a zoom crops a shrinking window and scales it back up. To measure camera
# motion in any clip — ours or generated — we use **phase correlation**: the
# normalised cross-power spectrum of two frames is a pure phase ramp whose inverse FFT
# peaks at their shift. Ours against `course_lib` and a brute-force search over every
# shift, on real clips:

# %%
def our_phase_correlation(a, b):
    fa, fb = torch.fft.fft2(a.double() - a.double().mean()), torch.fft.fft2(b.double() - b.double().mean())
    cross = fb * fa.conj()
    corr = torch.fft.ifft2(cross / cross.abs().clamp(min=1e-12)).real
    r, c = divmod(int(corr.argmax()), a.shape[1])
    return (r - a.shape[0] if r >= a.shape[0] // 2 else r, c - a.shape[1] if c >= a.shape[1] // 2 else c)


def brute_force_shift(a, b):
    errors = {(r, c): float(((torch.roll(a, (r, c), (0, 1)) - b) ** 2).sum()) for r in range(-6, 6) for c in range(-6, 6)}
    return min(errors, key=errors.get)


move_clips = {move: camera.make_camera_clips(move, n=4, split="test", seed=3)[0]
              for move in ("pan_left", "pan_right", "pan_up", "zoom_in")}
clip = move_clips["pan_left"][0, 0]
pairs = [(clip[f], clip[f + 1]) for f in range(3)]
print("pan_left, frames 0-3: ours", [our_phase_correlation(a, b) for a, b in pairs],
      "course_lib", [camera.global_shift(a, b) for a, b in pairs], "brute force", [brute_force_shift(a, b) for a, b in pairs])
assert all(our_phase_correlation(a, b) == camera.global_shift(a, b) for a, b in pairs)
viz.show_images(torch.cat([v[0, 0] for v in move_clips.values()])[:, None], nrow=8, scale=0.6,
                titles=[m if f == 0 else "" for m in move_clips for f in range(8)])

# %% [markdown]
# Now three LoRAs on the video DiT, one per move (`train_camera_lora`; the base model's
# weights stay frozen and shared):

# %%
loras = {move: train_camera_lora(replace(CAMERA, move=move)) for move in CONFIG["camera_moves"]}
video_base = loras["pan_left"].base
for move, trained in loras.items():
    print(f"{move}: {trained.recipe.train.steps} steps in {trained.run.seconds:.0f} s; "
          f"LoRA {trained.lora_share():.2%} of the video DiT's parameters")

# %% [markdown]
# The same labels and the same starting noise through the base model and each LoRA;
# the camera motion of every generated clip, measured by phase correlation, against the
# asked-for move; for the zoom, the share of ink pixels in the first and last frames (a
# zoom in makes the digit grow). One detail of the measurement: generated digits move
# *smoothly but slowly* — often 0.7 pixel per frame — and phase correlation finds whole
# pixels, so between neighbouring frames it reads 0 or 1. `camera.clip_motion` therefore
# measures the shift over 3 frames (about 2 pixels) and divides by 3, taking the median
# over the clip. (While writing this lesson, the neighbouring-frame version called one
# pan clip in eight "static" although its digit's centroid moved 5 pixels across the
# frame.) As an independent check, the last column tracks the digit's ink centroid
# (`video_metrics.track_digit`) from the first to the last frame.

# %%
video_labels = torch.arange(CONFIG["camera_clips"]) % 10


def generate(model):
    return sample_video(model, video_labels, video_base.schedule, steps=CONFIG["video_steps"], guidance=3.0,
                        generator=torch.Generator().manual_seed(NOISE_SEED), kind=video_base.recipe.prediction)


videos = {"no LoRA": generate(video_base.model)}
videos.update({move: generate(trained.model) for move, trained in loras.items()})
camera_table = {}
for name, clips in videos.items():
    motion = torch.stack([camera.clip_motion(v) for v in clips]).float()              # (N, 2) rows, cols
    area = torch.stack([camera.ink_area(v) for v in clips])                             # (N, T)
    shares = {move: ((torch.sign(motion) == -torch.tensor(camera.CAMERA_MOVES[move])).all(1)).float().mean().item()
              for move in ("pan_left", "pan_right")}
    zoom_share = (area[:, -1] > 1.2 * area[:, 0]).float().mean().item()
    centroid = track_digit(clips)                                                       # (N, T, 2)
    camera_table[name] = (shares["pan_left"], shares["pan_right"], zoom_share, motion.mean(0).tolist(),
                          (area[:, -1] / area[:, 0].clamp(min=1e-3)).median().item(),
                          (centroid[:, -1] - centroid[:, 0]).mean(0).tolist())
print(f"{'model':>10} {'moves right':>12} {'moves left':>11} {'grows':>7} {'shift/frame (r, c)':>19} "
      f"{'ink last/first':>15} {'centroid moved (r, c)':>22}")
for name, (right, left, grows, mean_shift, growth, moved) in camera_table.items():
    print(f"{name:>10} {right:>12.0%} {left:>11.0%} {grows:>7.0%} {str([round(v, 2) for v in mean_shift]):>19} "
          f"{growth:>15.2f} {str([round(v, 1) for v in moved]):>22}")

# %%
grid = torch.stack([clips[:4, 0] for clips in videos.values()])          # (models, 4 clips, T, H, W)
viz.show_video(rearrange(grid, "m n t h w -> t (m h) (n w)"), fps=4, scale=6)

# %% [markdown]
# Rows: no LoRA, pan left, pan right, zoom in; the same four noises in every row. The
# base model's digits mostly hold still or wander (on average their centroid ends where
# it started); the pan LoRAs carry every digit across the frame in
# the asked-for direction — the world slides right when the camera pans left — and the
# zoom LoRA grows the digit. Each LoRA is the same 2.6 % of the model's parameters,
# trained in seconds, and it can be merged into the weights or swapped for another.

# %%
assert camera_table["pan_left"][0] >= 0.9 and camera_table["pan_right"][1] >= 0.9, camera_table
assert camera_table["zoom_in"][2] >= 0.9, camera_table
assert camera_table["no LoRA"][0] < 0.5 and camera_table["no LoRA"][1] < 0.5, camera_table

# %% [markdown]
# ## In production
#
# - **Consistency and latent consistency models.** [Consistency models](https://arxiv.org/abs/2303.01469)
#   (Song et al. 2023) and [LCM](https://arxiv.org/abs/2310.04378) (Luo et al. 2023,
#   guidance folded in, skipped DDIM steps, 2–4 step sampling in latent space);
#   [LCM-LoRA](https://arxiv.org/abs/2311.05556) distils into a LoRA that plugs into
#   any fine-tune of the base. In diffusers: `LCMScheduler` with `num_inference_steps=4`.
# - **Adversarial distillation.** [SDXL-Turbo (ADD)](https://arxiv.org/abs/2311.17042)
#   adds a discriminator to reach 1-step images;
#   [SVD-XT](https://arxiv.org/abs/2311.15127) and its distilled variants bring
#   image-to-video to a few steps. [Progressive distillation](https://arxiv.org/abs/2202.00512)
#   was the first to halve steps round by round.
# - **ControlNet.** [Zhang et al. 2023](https://arxiv.org/abs/2302.05543) (zero
#   convolutions, a copy of the encoder); [PixArt-δ](https://arxiv.org/abs/2401.05252)
#   for DiTs (a copy of the first blocks, as ours); conditions in production: canny
#   edges, depth, human pose, scribbles. In diffusers: `ControlNetModel` and
#   `controlnet_conditioning_scale`.
# - **Camera and motion control.** [AnimateDiff](https://arxiv.org/abs/2307.04725)'s
#   MotionLoRAs (pan, zoom, tilt, rolling — one LoRA each, as here);
#   [CameraCtrl](https://arxiv.org/abs/2404.02101) conditions on the camera's pose per
#   frame instead of one LoRA per move; [LoRA](https://arxiv.org/abs/2106.09685) itself.
# - **FP8 and int8 inference.** H100 tensor cores multiply FP8 (e4m3 / e5m2,
#   [the FP8 formats paper](https://arxiv.org/abs/2209.05433)); video generators are
#   served with FP8 weights and, where quality allows, FP8 activations
#   ([torchao](https://github.com/pytorch/ao), TensorRT). Weight-only int8 is the
#   common memory saver on smaller GPUs.
# - **Failure modes.** Few-step students lose diversity and fine detail (and
#   inherit the teacher's errors); guidance folded into the student cannot be turned at
#   sampling time; a ControlNet trained on one kind of condition ignores others and can
#   fight the text prompt at high scales; a camera LoRA learnt on one kind of content
#   (here: digits on black) may not transfer, and LoRAs for different moves do not add
#   linearly; 8-bit weights that work for one model can break another (outlier
#   channels), so every quantized model is re-evaluated, as in our table.
#
# In [🤗 diffusers](https://huggingface.co/docs/diffusers/using-diffusers/inference_with_lcm),
# a latent consistency model samples in 4 steps like this (not run here: it downloads
# several GB of weights):
#
# ```python
# import torch
# from diffusers import DiffusionPipeline, LCMScheduler
#
# pipe = DiffusionPipeline.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0", torch_dtype=torch.float16)
# pipe.load_lora_weights("latent-consistency/lcm-lora-sdxl")      # LCM-LoRA: distillation as an adapter
# pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
# image = pipe("a hand-written digit three", num_inference_steps=4, guidance_scale=1.0).images[0]
# ```
#
# ## Summary
#
# - Sampling time is steps × passes per step × cost of a pass; distillation cuts the
#   first two, low-precision weights the bytes of the third.
# - A consistency model maps any point of a trajectory to its end; the boundary scaling
#   makes it exact at $t = 0$, and the distillation loss + EMA target propagate that
#   exactness up the trajectory. 1 student step beats 1 teacher step by far; 4 come
#   within about a point of the teacher's 50.
# - int8 per row and FP8 with a scale keep the samples while storing 3.6× fewer bytes;
#   without a GPU's FP8 matmul, they do not make a pass faster.
# - Zero-initialised control paths (ControlNet) and adapters (LoRA) start as the
#   identity and learn only what the new condition needs: edges followed, camera moves
#   switched by swapping a few thousand numbers.
#
# **Exercises:** [`../exercises/day07_fast_control.ipynb`](../exercises/day07_fast_control.ipynb)
# — the boundary scaling, per-channel int8, a zero-initialised control projection, LoRA
# forward and merge, and an experiment on LoRA rank. Then `course check day07`.

# %%
print(f"notebook {time.perf_counter() - notebook_start:.0f} s wall, {time.process_time() - cpu_start:.0f} s CPU")
