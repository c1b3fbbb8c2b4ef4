"""Latent video diffusion: day 05's video DiT trained on scaled VAE latents, and its cost.

    video (B, 1, T, H, W) --VAE encoder (per frame)--> mean (B, zc, T, H/f, W/f)
    z0 = scale * mean                     (scale = 1 / std(latents): unit-variance latents)
    train VideoDiT on z0 exactly as on pixels (eps-loss, cosine schedule)
    sample z0 with DDIM + guidance, x0_hat clipped to the latents' range (not [-1, 1])
    video = VAE decoder(z0 / scale)

Like day 05's pixel model, the latent model is an image DiT pretrained on single
(latent) frames and then *inflated* with zero-initialised temporal blocks and trained on
clips (`latent_video_dit`; the recipe and load-or-train are in `latent_train.py`).
`video_dit_flops` estimates the cost of one forward pass from the config, the number a
"pixel vs latent" table compares (checked against torch's FLOP counter in tests).

    trained = train_latent_video_dit(preset(PRESETS, DEVICE))      # latent_train.py
    videos = sample_latent_videos(trained, labels, steps=20, guidance=3.0)   # DDIM in latent space, decoded
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from course_lib.checks import check_shape
from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.schedules import NoiseSchedule
from course_lib.diffusion.vae import decode_latents
from course_lib.diffusion.video_dit import VideoDiT, VideoDiTConfig, inflate

if TYPE_CHECKING:
    from course_lib.diffusion.latent_train import TrainedLatentVideo


# ---------------------------------------------------------------- cost

def video_dit_flops(config: VideoDiTConfig) -> int:
    """Forward FLOPs of one clip through a VideoDiT (2 FLOPs per multiply-add, matmuls only).

    With T' x S tokens (T' = T / pt frames of S = (H / ph)(W / pw) patches), width D, MLP
    ratio r and depth L, every block costs per token (4 + 2r) D^2 multiply-adds (Q, K, V,
    output projection, MLP) and per attention sequence of length n 2 n^2 D (Q K^T and
    weights x V):

        spatial attention   (factorized and per-frame): T' sequences of S tokens
        temporal attention  (factorized only):          S sequences of T' tokens
        full 3-D attention:                             1 sequence of T' S tokens

    plus the adaLN modulation (6 D^2 per conditioning vector: one per frame for spatial
    blocks, one per patch position for temporal blocks, one per clip for full attention),
    the patch embedding, the output layer and the timestep MLP. Training costs about
    3x forward (backward = 2x forward) per clip.
    """
    if not isinstance(config, VideoDiTConfig):
        raise TypeError(f"config must be a VideoDiTConfig; got {type(config).__name__}")
    gt, gh, gw = config.grid
    s, d, r, L = gh * gw, config.dim, config.mlp_ratio, config.depth
    n = gt * s
    patch_numbers = config.patch[0] * config.patch[1] * config.patch[2] * config.in_channels
    per_token = (4 + 2 * r) * d * d
    if config.attention == "full":
        blocks = L * (n * per_token + 2 * n * n * d + 6 * d * d)
        final_cond = 1
    else:
        blocks = L * (n * per_token + gt * 2 * s * s * d + gt * 6 * d * d)
        if config.attention == "factorized":
            blocks += L * (n * per_token + s * 2 * gt * gt * d + s * 6 * d * d)
        final_cond = gt
    embed = n * patch_numbers * d + (256 * d + d * d)                # patches, timestep MLP
    final = final_cond * 2 * d * d + n * d * patch_numbers
    return int(2 * (blocks + embed + final))


# ---------------------------------------------------------------- the model

def latent_video_dit(image: DiTConfig, frames: int, time_patch: int = 2) -> VideoDiT:
    """An untrained factorized VideoDiT on latent clips (zc, T, h, w): day 04's DiT on single
    latent frames (`image`: input_size h, in_channels zc), inflated to `frames` frames with
    spacetime patches (time_patch, patch, patch)."""
    return inflate(DiT(image), frames, "factorized", pt=time_patch)


# ---------------------------------------------------------------- sampling

def clip_x0(model_fn: ddpm.ModelFn, schedule: NoiseSchedule, bound: float, kind: str = "eps") -> ddpm.ModelFn:
    """Wrap a model predicting `kind` so that its implied x0_hat (e.g. for eps,
    (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)) is clamped to [-bound, bound]; the wrapper
    returns the prediction of the same kind that this clamped x0_hat implies.

    Pixel samplers clamp x0_hat to [-1, 1]; unit-variance latents need their own range.
    Without any clamp the first DDIM steps (a_t ~ 0 at t = T-1) amplify the model's
    errors by 1 / sqrt(a_t) and the sample explodes."""
    if not bound > 0:
        raise ValueError(f"bound must be positive; got {bound}")

    def clipped(x_t: Tensor, t: Tensor) -> Tensor:
        x0, _ = ddpm.to_x0_eps(model_fn(x_t, t), x_t, t, schedule, kind)
        x0 = x0.clamp(-bound, bound)
        if kind == "x0":
            return x0
        eps = ddpm.eps_from_x0(x_t, t, x0, schedule)
        return eps if kind == "eps" else ddpm.v_from_eps(x0, eps, t, schedule)
    return clipped


@torch.no_grad()
def sample_latent_videos(trained: TrainedLatentVideo, labels: Tensor, steps: int = 20, guidance: float = 3.0,
                         generator: torch.Generator | None = None, x_T: Tensor | None = None,
                         batch: int = 64, decode: bool = True) -> Tensor:
    """DDIM (eta = 0) + classifier-free guidance in latent space, then the VAE decoder.

    labels (B,) -> videos (B, 1, T, H, W) in [-1, 1] (or the scaled latents
    (B, zc, T, h, w) with decode=False). x0_hat is clipped to [-bound, bound] with the
    training latents' `trained.bound` (`clip_x0`), not to [-1, 1]: unit-variance latents
    routinely exceed 1."""
    check_shape(labels, "labels", "B")
    model, cfg = trained.model, trained.model.config
    shape = (len(labels), cfg.in_channels, cfg.frames, cfg.height, cfg.width)
    if x_T is None:
        x_T = torch.randn(shape, generator=generator)
    elif tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must be {shape}; got {tuple(x_T.shape)}")
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(labels), batch):
        y = labels[i:i + batch].to(device)
        schedule = trained.schedule.to(device)
        kind = trained.recipe.prediction
        model_fn = clip_x0(ddpm.guided(model, y, model.null_label, guidance), schedule, trained.bound, kind)
        out.append(ddpm.sample_ddim(model_fn, (len(y), *shape[1:]), schedule, steps=steps, device=device,
                                    x_T=x_T[i:i + batch], kind=kind, clip_x0=False, progress=False).cpu())
    z0 = torch.cat(out)
    return decode_latents(trained.vae.model, z0, trained.vae.scale) if decode else z0
