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
# # Day 21 — 3D: a tiny NeRF, a hash grid, Gaussian splats and text-to-3D
#
# Every model so far made pixels or samples directly. A 3D model makes a *scene* — a
# thing that can be looked at from any side — and pixels only when a camera looks at it.
# Games, AR, film and product pages want 3D assets for that reason: one asset, every
# view. Today we build, on a scene small enough for a CPU, the three ideas that made 3D
# from images practical — NeRF's radiance fields (2020), Instant-NGP's hash grids (2022)
# and 3D Gaussian splatting (2023) — and a Point-E-style model that makes a 3D shape from
# a word.
#
# **What you will build** (in `course_lib.threed`: `cameras`, `scenes`, `volume`,
# `fields`, `hashgrid`, `splats`, `shapes`, `pointcloud_model`, and the recipes
# `field_train`, `splat_train`)
# - **cameras and rays**: pinhole cameras on an orbit, one ray per pixel, and a scene of
#   spheres and a box ray-traced exactly into training and held-out views;
# - **volume rendering**: densities to opacities to weights along a ray, the continuous
#   version of alpha compositing;
# - a **tiny NeRF**: positional encoding + MLP, trained on 48 views, judged on 8 views it
#   never saw; its depth maps and an orbit video;
# - **Instant-NGP**'s hash grid and occupancy grid on the same data: PSNR against
#   training time, and which of the two ideas buys what;
# - **3D Gaussian splatting**: anisotropic Gaussians projected to the image (EWA) and
#   composited, fitted to the same views: quality against render time per frame;
# - **text-to-3D**: a point-cloud diffusion model conditioned on "sphere", "cube",
#   "torus" or "cone", judged by Chamfer distance and a PointNet trained on real shapes.
#
# **Prerequisites:** day 03 (diffusion, DDIM), day 04 (DiT blocks, guidance), day 02
# (attention); the linear algebra of rotations.
#
# **Run time:** about 20 seconds on an idle 2-core CPU with the models in `artifacts/`
# (`make test` trains them first: the NeRF, the hash grid, the splats and the point-cloud
# models, about three minutes together). From nothing, add those minutes.

# %%
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import viz
from course_lib.runtime import get_device, seed_everything
from course_lib.threed.cameras import camera_rays, orbit_camera
from course_lib.threed.field_train import HASH_PRESETS, NERF_PRESETS, field_loss, psnr, train_field
from course_lib.threed.fields import render_image
from course_lib.threed.occupancy import OccupancyGrid
from course_lib.threed.pointcloud_model import (POINT_CLOUD_PRESETS, load_point_classifier, sample_points,
                                                train_point_diffusion)
from course_lib.threed.shapes import SHAPES, chamfer_distance, family_distance, shape_dataset, word_labels
from course_lib.threed.splat_train import SPLAT_PRESETS, train_splats
from course_lib.threed.splats import GaussianSplats, render_splats
from course_lib.threed.volume import LAST_DELTA, composite, render_weights, stratified_samples, ray_points
from course_lib.train import preset

notebook_start = time.perf_counter()
plt.rcParams["figure.dpi"] = 72
torch.set_num_threads(1)           # small renders: one thread is fastest and leaves a core free

# %% [markdown]
# One config cell.

# %%
DEVICE = get_device()
NERF = preset(NERF_PRESETS, DEVICE)          # frequency encoding + MLP
HASH = preset(HASH_PRESETS, DEVICE)          # hash grid + tiny MLP, the same views
SPLATS = preset(SPLAT_PRESETS, DEVICE)       # Gaussians fitted to the same views
POINTS = preset(POINT_CLOUD_PRESETS, DEVICE)  # text-to-3D point clouds
CLOUDS_PER_WORD, DDIM_STEPS, GUIDANCE = 16, 50, 1.0
seed_everything(21)
print("device:", DEVICE)

# %% [markdown]
# ![NeRF: a ray from the eye through a pixel centre of the image plane, samples along it, each with a density and a colour from the field, composited with alpha = 1 − exp(−σδ) and transmittance; 3D Gaussian splatting: a 3D Gaussian with covariance R S Sᵀ Rᵀ projected by EWA to a 2D ellipse on the image plane, Σ' = J W Σ Wᵀ Jᵀ + 0.3 I, and composited front to back with the same weights](figures/day21_rendering.svg)
#
# ## 1. Cameras, rays and volume rendering
#
# A **pinhole camera** is a position, an orientation and a focal length. We use the
# convention of OpenGL, Blender and NeRF: the camera looks down its own −z axis, +x is
# right, +y is up; its 4×4 camera-to-world matrix holds those axes and the eye as
# columns (`cameras.look_at`). The ray through pixel (row i, column j) leaves the eye in
# the direction
#
# $$d_{\text{cam}} \propto \left(\tfrac{j + ½ - c_x}{f},\; -\tfrac{i + ½ - c_y}{f},\; -1\right), \qquad d = R\, d_{\text{cam}} / \lVert d_{\text{cam}}\rVert$$
#
# — pixel centres at +½, and a minus sign on y because image rows grow downwards while
# the camera's y grows upwards. Written out, and checked against `cameras.camera_rays`:

# %%
def my_camera_rays(camera):
    """origins (H, W, 3), unit directions (H, W, 3) of `camera`'s pixels."""
    i, j = torch.meshgrid(torch.arange(camera.height) + 0.5, torch.arange(camera.width) + 0.5, indexing="ij")
    d_cam = torch.stack([(j - camera.cx) / camera.focal, -(i - camera.cy) / camera.focal, -torch.ones_like(i)], -1)
    d = d_cam @ camera.rotation.T                         # camera axes -> world axes
    d = d / d.norm(dim=-1, keepdim=True)
    return camera.position.expand_as(d), d


views = NERF.views.load()                                 # 48 training views, 8 held out, 32x32
camera = views.test.cameras[0]
ours, library = my_camera_rays(camera), camera_rays(camera)
assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ours, library))
print(f"{len(views.train.cameras)} training and {len(views.test.cameras)} held-out views of "
      f"{views.train.images.shape[1]}x{views.train.images.shape[2]}; rays within [{views.near:.2f}, {views.far:.2f}] "
      f"of the eye; our rays = camera_rays")

fig, axes = plt.subplots(2, 8, figsize=(12, 3.3))
for k, ax in enumerate(axes[0]):
    ax.imshow(views.train.images[6 * k].numpy())
    ax.set_title(f"az {views.train.azimuths[6 * k]:.0f}°", fontsize=8)
for k, ax in enumerate(axes[1]):
    depth = views.train.depths[6 * k].clone()
    depth[~torch.isfinite(depth)] = float("nan")
    ax.imshow(depth.numpy(), cmap="viridis_r")
for ax in axes.flat:
    ax.axis("off")
axes[0, 0].set_ylabel("colour")
plt.suptitle("training views (top) and their exact depth (bottom), ray-traced from the analytic scene", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Volume rendering** asks, along a ray p(t) = o + t d, how much light each stretch of
# space stops (its density σ) and what colour it gives. Take sorted samples t₁ < … < t_S;
# sample i stands for the interval δᵢ = tᵢ₊₁ − tᵢ up to the next one, and
#
# $$\alpha_i = 1 - e^{-\sigma_i \delta_i}, \qquad T_i = \prod_{j<i} (1 - \alpha_j), \qquad w_i = T_i\, \alpha_i, \qquad \hat C = \sum_i w_i c_i + \Big(1 - \sum_i w_i\Big) C_{\text{bg}}.$$
#
# αᵢ is the chance the interval stops the light (the exact integral of a constant σ over
# δᵢ); Tᵢ, the **transmittance**, the chance the light got that far — a product over the
# samples *before* i only. This is alpha compositing (day 17's blend, Porter–Duff's
# "over") with opacities that come from a density: the same sum will composite Gaussian
# splats in section 4. Written out, and checked against `volume.render_weights` and the
# closed form of a uniform fog, whose opacity over a length L is 1 − e^{−σL}:

# %%
def my_weights(sigma, t):
    """sigma, t (R, S) -> weights (R, S)."""
    delta = torch.cat([t[:, 1:] - t[:, :-1], torch.full_like(t[:, :1], LAST_DELTA)], dim=-1)
    alpha = 1 - torch.exp(-sigma * delta)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], dim=-1), dim=-1)
    return transmittance * alpha


origins, directions = (x.reshape(-1, 3)[:64] for x in library)
t = stratified_samples(origins, directions, views.near, views.far, 64, generator=torch.Generator().manual_seed(0))
sigma = torch.rand(64, 64, generator=torch.Generator().manual_seed(1)) * 3
assert torch.allclose(my_weights(sigma, t), render_weights(sigma, t), atol=1e-6)
fog = torch.full_like(sigma, 0.7)
fog[:, -1] = 0                                            # nothing beyond the last sample
length = t[:, -1] - t[:, 0]
print(f"our weights = render_weights; uniform fog σ = 0.7: opacity {my_weights(fog, t).sum(-1)[0]:.6f}, "
      f"closed form 1 − e^(−σL) = {1 - torch.exp(-0.7 * length[0]):.6f}")
assert torch.allclose(my_weights(fog, t).sum(-1), 1 - torch.exp(-0.7 * length), atol=1e-5)

# %% [markdown]
# ## 2. A tiny NeRF
#
# NeRF ([Mildenhall et al. 2020](https://arxiv.org/abs/2003.08934)) represents the scene
# as a function F(p) → (σ, c) — here an MLP of 3 layers of 64 — and trains it so that
# volume-rendering it along the training cameras' rays gives their pixels. Nothing else
# is supervised: not the depth, not the shape. Two details make it work:
#
# - **Positional encoding.** An MLP fed raw coordinates learns smooth functions first
#   and sharp edges almost never (spectral bias); NeRF feeds it
#   γ(p) = (p, sin(2⁰πp), cos(2⁰πp), …, sin(2^{L−1}πp), cos(2^{L−1}πp)), L = 6 here
#   (`fields.FrequencyEncoding`).
# - **Jittered samples.** Each training step draws the samples anywhere within their
#   strata along the ray, so the field is asked about every depth, not a fixed grid.
#
# Training (`field_train`): batches of 1,024 random rays from the 48 training views,
# 32 samples each, mean squared error of the rendered colour. We judge it on the 8
# **held-out** views — cameras between the training ones — by PSNR, −10 log₁₀(MSE), in
# dB; the baseline paints every pixel the mean training colour.

# %%
nerf = train_field(NERF, device=DEVICE)
nerf.field.to("cpu")


def held_out(render):
    """PSNR over the held-out views of `render(camera) -> image (H, W, 3)`."""
    images = torch.stack([render(c) for c in views.test.cameras])
    return psnr(images, views.test.images), images


def nerf_render(field, recipe):
    return lambda c: render_image(field, c, views.near, views.far, recipe.samples, recipe.hierarchical)[0]


baseline = psnr(views.train.images.reshape(-1, 3).mean(0).expand_as(views.test.images), views.test.images)
nerf_psnr, nerf_images = held_out(nerf_render(nerf.field, NERF))
print(f"held-out PSNR: NeRF {nerf_psnr:.1f} dB, mean colour {baseline:.1f} dB (+{nerf_psnr - baseline:.1f} dB); "
      f"trained {NERF.train.steps} steps in {nerf.run.seconds:.0f} s")
assert nerf_psnr >= baseline + 8, "the NeRF should beat the mean colour by at least 8 dB on views it never saw"

fig, axes = plt.subplots(3, 8, figsize=(12, 4.8))
for k in range(8):
    _, depth = render_image(nerf.field, views.test.cameras[k], views.near, views.far, NERF.samples)
    true_depth = views.test.depths[k].clone()
    true_depth[~torch.isfinite(true_depth)] = float("nan")
    axes[0, k].imshow(views.test.images[k].numpy())
    axes[1, k].imshow(nerf_images[k].clamp(0, 1).numpy())
    axes[2, k].imshow(depth.numpy(), cmap="viridis_r", vmin=views.near, vmax=views.far)
for ax, label in zip(axes[:, 0], ("held-out view", "NeRF", "NeRF depth")):
    ax.set_ylabel(label, fontsize=9)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
orbit = [orbit_camera(a, 25.0, NERF.views.radius, 32, 32, 40.0) for a in range(0, 360, 15)]
viz.show_video(torch.stack([nerf_render(nerf.field, NERF)(c) for c in orbit]).clamp(0, 1), fps=8, scale=6)

# %% [markdown]
# ## 3. Instant-NGP: a hash grid and an occupancy grid on the same views
#
# NeRF's MLP has to store the whole scene in its weights, and every sample runs the whole
# MLP. [Instant-NGP](https://arxiv.org/abs/2201.05989) (Müller et al. 2022) trains in
# seconds where NeRF took hours, with two ideas (and fused CUDA kernels, which we do not
# have):
#
# - **A hash grid** moves the detail into **tables**: L grids of rising resolution (here
#   6, from 4 to 24 cells per side), each with a table of T = 4,096 trainable 2-number
#   features. A point is looked up at the 8 corners of its voxel in every grid, the
#   corners' features interpolated trilinearly, and the 12 numbers go to a tiny MLP (one
#   layer of 32). Coarse grids index their corners directly; fine grids have more corners
#   than rows and **hash** them, (x·1 ⊕ y·2654435761 ⊕ z·805459861) mod T — colliding
#   corners share a row, and the surfaces that matter win its gradient (`hashgrid`). A
#   step updates only the 8 L rows each point touched, so the field learns in few steps.
# - **An occupancy grid** (`occupancy`) skips empty space: a 32³ grid of booleans marks
#   where the density is not negligible, and only samples in marked cells are sent to the
#   field (σ = 0 elsewhere). Every 16 steps each cell re-reads σ at a random point in it,
#   d ← max(0.8·d, σ), occupied while d > 0.05. At first every cell is occupied; as the
#   field empties the air, the grid follows.
#
# Same views, rays, samples per ray, batch and number of steps (1,000); the hash grid's
# field has a grid, the NeRF does not — the 2020 recipe against the 2022 one. While they
# trained, both were scored on the held-out views every 100 steps (`TrainedField.curve`;
# watched, never trained on). To compare their **time** fairly we measure now, in this
# run, one training step of each (best of 3 forward and backward passes on the same
# batch) with all samples and with only the occupied ones — for the NeRF too, with a grid
# read from the trained NeRF, to separate the two ideas.

# %%
ngp = train_field(HASH, device=DEVICE)
ngp.field.to("cpu")
hash_psnr, hash_images = held_out(nerf_render(ngp.field, HASH))


def step_seconds(field, recipe, repeats=3):
    """Best of `repeats` forward + backward passes of one training batch."""
    origins, directions, colors = views.train.rays()
    pick = torch.randperm(len(origins), generator=torch.Generator().manual_seed(0))[:recipe.train.batch_size]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        field_loss(field, (origins[pick], directions[pick], colors[pick]), recipe, views.near, views.far).backward()
        best = min(best, time.perf_counter() - start)
    field.zero_grad(set_to_none=True)
    return best


nerf_grid = OccupancyGrid(HASH.occupancy, bound=views.scene.radius * 1.1)
nerf_grid.update(nerf.field, generator=torch.Generator().manual_seed(0))      # where the trained NeRF is dense
timing = {}
for name, trained, recipe in (("NeRF", nerf, NERF), ("hash grid", ngp, HASH)):
    field = copy.deepcopy(trained.field).train()
    grid = field.occupancy if field.occupancy is not None else nerf_grid
    field.occupancy = None
    timing[name, "all"] = step_seconds(field, recipe)
    field.occupancy = grid
    timing[name, "occupied"] = step_seconds(field, recipe)
    timing[name, "share"] = grid.fraction()


def seconds_to(curve, name):
    """Estimated training seconds at each point of `curve` (step, PSNR, occupied share):
    each 100-step stretch is charged at the occupied share it starts with (an upper bound:
    the share only falls), a step costing t_all at share 1 and t_occupied at the final
    share, linear in between (a field without a grid: t_all every step)."""
    t_all, t_occ, final = timing[name, "all"], timing[name, "occupied"], curve[-1][2]
    cost = lambda share: t_occ + (t_all - t_occ) * (share - final) / (1 - final) if final < 1 else t_all
    seconds, elapsed, previous = [], 0.0, (0, None, 1.0)
    for point in curve:
        elapsed += (point[0] - previous[0]) * cost(previous[2])
        seconds.append(elapsed)
        previous = point
    return np.array(seconds)


target = nerf.curve[-1][1]                            # the NeRF's held-out PSNR after its 1,000 steps
reach = {}
print(f"{'':>9}  {'parameters':>10}  {'ms/step, all samples':>20}  {'occupied only':>13}  {'held out':>8}  "
      f"steps and seconds to {target:.1f} dB")
for name, trained, final in (("NeRF", nerf, nerf_psnr), ("hash grid", ngp, hash_psnr)):
    steps, seconds = np.array([p[0] for p in trained.curve]), seconds_to(trained.curve, name)
    hit = np.array([p[1] for p in trained.curve]) >= target - 1e-6
    reach[name] = (int(steps[hit][0]), float(seconds[hit][0])) if hit.any() else (None, float("inf"))
    print(f"{name:>9}  {sum(x.numel() for x in trained.field.parameters()):10,d}  {1000 * timing[name, 'all']:20.0f}  "
          f"{1000 * timing[name, 'occupied']:8.0f} ({timing[name, 'share']:.0%})  {final:6.1f} dB  "
          f"{reach[name][0]} steps, {reach[name][1]:.0f} s")
fig, ax = plt.subplots(figsize=(6.5, 3))
for name, trained, label in (("NeRF", nerf, "NeRF"), ("hash grid", ngp, "hash grid + occupancy grid")):
    ax.plot(seconds_to(trained.curve, name), [p[1] for p in trained.curve], marker="o", ms=3, label=label)
ax.axhline(target, color="gray", ls="--", lw=1)
ax.set(xlabel="training seconds (time per step measured in this run)", ylabel="held-out PSNR (dB)")
ax.legend()
plt.show()
assert reach["hash grid"][1] < reach["NeRF"][1], "Instant-NGP's recipe should reach the NeRF's PSNR sooner"
assert reach["hash grid"][0] < reach["NeRF"][0], "the hash grid should need fewer steps"

# %% [markdown]
# Reading the table (the numbers are this run's):
#
# - **Steps.** The hash grid passes the NeRF's final held-out PSNR in a fraction of the
#   NeRF's 1,000 steps: a table row learns from only the points near it, while each MLP
#   weight is pulled by every point in the scene.
# - **Time per step.** With all samples, a hash-grid step is *not* cheaper than the NeRF's
#   on a CPU: 6 levels × 8 corners of gathers and a scatter-add in PyTorch cost more than
#   a 3-layer MLP of 64. Instant-NGP's per-step speed comes from tiny-cuda-nn's fused
#   kernels, which we do not reproduce.
# - **Empty space.** The occupancy grid is the big win here: only the printed share of
#   cells is occupied, so most samples are never evaluated. It would speed the NeRF up
#   just as well (its "occupied only" column) — Instant-NGP's speed is the two ideas
#   together, and this is the measurement that separates them. (The first ~150 steps,
#   before the grid empties, are charged at the all-samples price.)
#
# What we did not build: Instant-NGP's cascaded grids for unbounded scenes, the grid's
# multi-scale bitfield and its ray marching that jumps over empty cells (we still draw
# every sample, then skip evaluating it).

# %% [markdown]
# ## 4. Gaussian splatting
#
# [3D Gaussian splatting](https://arxiv.org/abs/2308.04079) (Kerbl et al. 2023) drops
# the field and the ray marching. The scene is a cloud of N anisotropic Gaussians, each a
# mean μ, a covariance Σ = R S Sᵀ Rᵀ (a rotation quaternion and three scales, so Σ is
# always a valid covariance), an opacity and a colour. To render, each Gaussian is
# **projected** to a 2D Gaussian on the image — EWA splatting (Zwicker et al. 2001):
# with W the world-to-camera rotation and J the Jacobian of the pinhole projection at μ,
#
# $$\Sigma' = J\, W\, \Sigma\, W^\top J^\top + 0.3\, I,$$
#
# (3DGS's 0.3 px² low-pass keeps every splat at least a pixel wide) — then, per pixel, the Gaussians
# in depth order are composited with αᵢ = oᵢ exp(−½ (p − μ'ᵢ)ᵀ Σ'ᵢ⁻¹ (p − μ'ᵢ)) and the
# weights of section 1. The tests of `splats` check Σ' against the covariance of
# 200,000 projected samples (within 3 %) and one splat's rendered footprint against its
# closed form.
#
# **Rendering** never loops over Gaussians per pixel as written: 3DGS's CUDA rasteriser
# cuts the image into 16 × 16 tiles, lists each tile's Gaussians sorted by depth, and
# walks the list per pixel. In PyTorch we do the same work without a loop: every (pixel,
# Gaussian) pair inside a Gaussian's 3σ box, sorted by pixel then depth, each pixel's
# transmittance a cumulative sum of log(1 − α) restarted at the pixel (`render_splats(...,
# pairs=True)`; the tests check it equal, image and gradients, to the pixels × Gaussians
# matrix). The work grows with the pixels each Gaussian covers, not with pixels ×
# Gaussians.
#
# Training (`splat_train`): 2,000 small grey Gaussians uniform in the scene's ball, fitted
# to 4 random training views per step for 600 steps; each kind of parameter with its own
# learning rate (3DGS's recipe, without its densification). One change from 3DGS: its
# 0.3 px² low-pass makes every splat at least a pixel wide, which anti-aliases big
# images but blurs the sharp one-ray-per-pixel edges of our 32 × 32 views; we use
# 0.1 px². Many Gaussians end up transparent; 3DGS **prunes** those (opacity below a
# threshold) — they cost render time and add nothing. And a viewer computes what does not
# depend on the camera once (`GaussianSplats.frozen`: covariances from quaternions and
# scales, opacities and colours from their logits), as web splat viewers store them.

# %%
splats = train_splats(SPLATS, device=DEVICE)
kept = splats.splats.cpu().pruned(0.02)
viewer = kept.frozen()
with torch.no_grad():
    full_psnr, _ = held_out(lambda c: render_splats(splats.splats.cpu(), c, pairs=True)[0])
    splat_psnr, splat_images = held_out(lambda c: render_splats(viewer, c, pairs=True)[0])
    dense = render_splats(kept, views.test.cameras[0])[0]
assert torch.allclose(dense, splat_images[0], atol=1e-5), "pairs and the full matrix give the same image"


def render_seconds(render, repeats=7):
    """Best of `repeats` renders of the first held-out view."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        render(views.test.cameras[0])
        best = min(best, time.perf_counter() - start)
    return best


with torch.no_grad():
    t_nerf = render_seconds(nerf_render(nerf.field, NERF))
    t_ngp = render_seconds(nerf_render(ngp.field, HASH))
    t_matrix = render_seconds(lambda c: render_splats(viewer, c))
    t_splat = render_seconds(lambda c: render_splats(viewer, c, pairs=True))
print(f"NeRF:         {nerf_psnr:.1f} dB held out, {1000 * t_nerf:5.1f} ms per 32x32 frame "
      f"({32 * 32 * NERF.samples:,} field evaluations)")
print(f"Instant-NGP:  {hash_psnr:.1f} dB held out, {1000 * t_ngp:5.1f} ms per frame (only occupied samples)")
print(f"splats:       {splat_psnr:.1f} dB held out, {1000 * t_splat:5.1f} ms per frame: {t_nerf / t_splat:.0f}x faster "
      f"than the NeRF ({len(kept):,} of {len(splats.splats):,} Gaussians kept, opacity >= 0.02; all "
      f"{len(splats.splats):,}: {full_psnr:.1f} dB); as one pixels x Gaussians matrix {1000 * t_matrix:.1f} ms")
assert t_splat * 10 <= t_nerf and splat_psnr >= nerf_psnr - 1.5, "splats: 10x faster at about the NeRF's quality"
assert splat_psnr >= full_psnr - 0.1, "pruning the nearly transparent Gaussians should cost no quality"
fig, axes = plt.subplots(3, 8, figsize=(12, 4.8))
for k in range(8):
    for row, images in enumerate((views.test.images, nerf_images, splat_images)):
        axes[row, k].imshow(images[k].clamp(0, 1).numpy())
        axes[row, k].set_xticks([])
        axes[row, k].set_yticks([])
for ax, label in zip(axes[:, 0], ("held-out view", "NeRF", "splats")):
    ax.set_ylabel(label, fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# Reading the numbers (this run's):
#
# - **Render time.** The NeRF runs its MLP at every one of 32 samples on 1,024 rays;
#   the splats project a few hundred Gaussians once and composite the pixels each one
#   covers — over an order of magnitude less work per frame, at a held-out PSNR a few
#   tenths of a dB below the NeRF's. The same splats as one pixels × Gaussians matrix
#   are several times slower: most of that matrix is zeros, which is why 3DGS lists each
#   tile's Gaussians instead.
# - **Instant-NGP renders fast too** — its occupancy grid skips the same empty space at
#   render time as in training. Splats still win, and on a GPU at 1080p the gap is far
#   larger: the 3DGS paper measured 134 fps on real scenes where Instant-NGP managed about
#   10 and Mip-NeRF 360 0.06.
# - **Pruning** kept about a fifth of the Gaussians and cost no quality (here it raised the
#   held-out PSNR a little): the nearly transparent ones were at most faint haze that the
#   training views tolerated — the floaters of the failure list below, in miniature.

# %% [markdown]
# ## 5. Text-to-3D: point clouds from a word
#
# [Point-E](https://arxiv.org/abs/2212.08751) (Nichol et al. 2022) makes a 3D object
# from text in two steps: a text-to-image model draws a view, and a diffusion model over
# **point clouds** turns it into points. We keep the second step and condition it on a
# word directly: "sphere", "cube", "torus" or "cone" (`shapes`: points uniform by area on
# each surface, turned about the vertical axis and scaled by 0.9-1.1, so a word is a
# family, not one cloud). The denoiser (`pointcloud_model`) is a transformer whose tokens
# are the points — no positions, because a point cloud is a set: permuting the input
# points permutes the output the same way — with day 04's adaLN-Zero blocks carrying the
# timestep and the word (and its null row, for guidance). Sampling is day 04's DDIM.
#
# Two judges that never saw a generated cloud: a **PointNet** (Qi et al. 2017: a shared
# per-point MLP, max-pooled, so any order and any number of points) trained on real
# clouds; and the **Chamfer distance** (mean squared nearest-neighbour distance, both
# ways) to the nearest of 64 real clouds of a family. A sample should be close to its
# own word's family and far from the others' — the wrong-word control.

# %%
points_model = train_point_diffusion(POINTS, device=DEVICE)
points_model.model.to("cpu")
judge, judge_accuracy = load_point_classifier()
words = [w for w in SHAPES for _ in range(CLOUDS_PER_WORD)]
labels = word_labels(words)
clouds = sample_points(points_model.model, labels, points_model.schedule, POINTS.n_points, steps=DDIM_STEPS,
                       guidance=GUIDANCE, generator=torch.Generator().manual_seed(0))
references, ref_labels = shape_dataset(64, POINTS.n_points, seed=7)       # real clouds no model trained on
real, _ = shape_dataset(CLOUDS_PER_WORD, POINTS.n_points, seed=8)        # fresh real clouds, for scale
read = judge.predict(clouds)
distance = torch.stack([family_distance(clouds, references[ref_labels == k]) for k in range(len(SHAPES))], 1)
real_distance = torch.stack([family_distance(real, references[ref_labels == k]) for k in range(len(SHAPES))], 1)
print(f"PointNet judge: {judge_accuracy:.0%} on held-out real clouds")
print(f"{'word':>7} {'judge reads it':>15} {'Chamfer: own family':>20} {'nearest other':>14} {'real clouds':>12}")
own = distance[torch.arange(len(labels)), labels]
other = distance.masked_fill(torch.nn.functional.one_hot(labels, len(SHAPES)).bool(), float("inf")).amin(1)
for k, word in enumerate(SHAPES):
    mine = labels == k
    print(f"{word:>7} {(read[mine] == k).float().mean():15.0%} {own[mine].mean():20.3f} {other[mine].mean():14.3f} "
          f"{real_distance[mine, k].mean():12.3f}")
accuracy = (read == labels).float().mean().item()
print(f"all: judge {accuracy:.0%}; Chamfer to the own family {own.mean():.3f}, to the nearest wrong one "
      f"{other.mean():.3f}")
assert accuracy >= 0.8 and own.mean() < 0.5 * other.mean(), "samples should be their word's shape"


def cloud_splats(cloud):
    """A point cloud as small opaque Gaussians coloured by height, to render with `render_splats`."""
    n = len(cloud)
    colours = torch.stack([0.5 + 0.5 * cloud[:, 1], 0.4 * torch.ones(n), 0.5 - 0.5 * cloud[:, 1]], -1).clamp(0.02, 0.98)
    return GaussianSplats(cloud.clone(), torch.full((n, 3), float(np.log(0.03))), torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                          torch.full((n,), 3.0), torch.logit(colours))


turntable = []
with torch.no_grad():
    for azimuth in range(0, 360, 20):
        camera = orbit_camera(azimuth, 25.0, 3.0, 48, 48, 40.0)
        turntable.append(torch.cat([render_splats(cloud_splats(clouds[k * CLOUDS_PER_WORD]), camera, pairs=True)[0]
                                    for k in range(len(SHAPES))], dim=1))
viz.show_video(torch.stack(turntable), fps=8, scale=4)            # sphere, cube, torus, cone, turning

# %% [markdown]
# ## In production
#
# - **NeRF** ([Mildenhall et al. 2020](https://arxiv.org/abs/2003.08934)): an 8-layer
#   MLP of 256, 64 coarse + 128 fine samples per ray, view direction as input for
#   highlights; a day or two of GPU training per scene and seconds per frame. Mip-NeRF,
#   Zip-NeRF and [nerfstudio](https://docs.nerf.studio/) made it robust and usable.
# - **Instant-NGP** ([Müller et al. 2022](https://arxiv.org/abs/2201.05989)): 16 levels,
#   tables of 2¹⁹ rows, an occupancy grid that ray marching jumps through, fully fused
#   CUDA MLPs: seconds to train a scene. Our hash grid is the same arithmetic in PyTorch,
#   which pays for every gather and scatter that their kernels fuse — so here the
#   occupancy grid does most of the speeding up.
# - **3D Gaussian splatting** ([Kerbl et al. 2023](https://arxiv.org/abs/2308.04079)):
#   starts from a structure-from-motion point cloud, densifies (clones small Gaussians,
#   splits large ones where the view-space gradient is large) and prunes transparent
#   ones, spherical harmonics for view-dependent colour, a tile-based CUDA rasteriser:
#   100+ fps at 1080p. [gsplat](https://github.com/nerfstudio-project/gsplat) is an
#   open library of the rasteriser with a PyTorch reference like ours; splats are now an
#   asset format in game engines and on the web.
# - **Text-to-3D**: [Point-E](https://arxiv.org/abs/2212.08751) (text → image → point
#   cloud, 1-2 minutes on one GPU), [Shap-E](https://arxiv.org/abs/2305.02463) (a
#   diffusion model over the weights of implicit functions that render as NeRFs or
#   meshes), and [DreamFusion](https://arxiv.org/abs/2209.14988) (no 3D data at all: a
#   NeRF optimised so that every rendered view looks right to a 2D text-to-image model,
#   score distillation sampling).
#
# **Failure modes to expect**: *floaters* — blobs of density in empty space that
# explain one training view and spoil the others (few views, no regulariser); no
# view-dependent effects in our fields, so shiny surfaces would be baked in wrongly;
# hash collisions that blur fine detail when tables are small; splats that pop when
# their depth order flips between frames, and blur or holes where training views were
# sparse (no densification here); and in text-to-3D, the *Janus* problem of score
# distillation (a face on every side) and samples that read as the right word but are
# not quite the surface (Chamfer above the real clouds').

# %%
print(f"notebook ran in {time.perf_counter() - notebook_start:.0f} s")
