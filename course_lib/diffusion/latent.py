"""Latent video diffusion: day 05's video DiT trained on scaled VAE latents, and its cost.

    video (B, 1, T, H, W) --VAE encoder (per frame)--> mean (B, zc, T, H/f, W/f)
    z0 = scale * mean                     (scale = 1 / std(latents): unit-variance latents)
    train VideoDiT on z0 exactly as on pixels (eps-loss, cosine schedule)
    sample z0 with DDIM + guidance, x0_hat clipped to the latents' range (not [-1, 1])
    video = VAE decoder(z0 / scale)

Like day 05's pixel model, the latent model is an image DiT pretrained on single
(latent) frames and then *inflated* with zero-initialised temporal blocks and trained on
clips. `video_dit_flops` estimates the cost of one forward pass from the config, the
number a "pixel vs latent" table compares (checked against torch's FLOP counter in tests).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.schedules import NoiseSchedule, make_schedule
from course_lib.diffusion.vae import (TrainedVAE, VAERecipe, decode_latents, encode_latents, train_vae)
from course_lib.diffusion.video_dit import VideoDiT, VideoDiTConfig, inflate, video_loss
from course_lib.runtime import settings_key
from course_lib.train import timed_fit


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


# ---------------------------------------------------------------- recipe and model

@dataclass(frozen=True)
class LatentRecipe:
    """What `train_latent_video_dit` trains: data, the VAE, the latent image DiT and video stage."""
    clips: int = 2000
    frames: int = 8
    canvas: int = 12
    speeds: tuple[int, ...] = (1,)
    data_seed: int = 0
    vae_channels: tuple[int, ...] = (16, 32)     # f = 4: a 12x12 frame -> 3x3 latent
    latent_channels: int = 4
    vae_beta: float = 1e-3
    vae_steps: int = 1000
    vae_batch: int = 64
    vae_lr: float = 2e-3
    patch: int = 1                               # on the latent grid: 1 latent pixel = 4x4 pixels
    time_patch: int = 2                          # frames per spacetime patch of the video model
    dim: int = 64
    depth: int = 3
    heads: int = 4
    num_steps: int = 1000
    prediction: str = "x0"                       # what the DiT predicts (ddpm.PREDICTIONS)
    image_steps: int = 1600
    image_batch: int = 64
    image_lr: float = 3e-3
    video_steps: int = 600
    video_batch: int = 8
    video_lr: float = 1e-3
    seed: int = 0

    @property
    def factor(self) -> int:
        return 2 ** len(self.vae_channels)

    @property
    def latent_size(self) -> int:
        return self.canvas // self.factor

    def vae_recipe(self) -> VAERecipe:
        data = dict(clips=self.clips, frames=self.frames, canvas=self.canvas, speeds=list(self.speeds),
                    data_seed=self.data_seed)
        return VAERecipe(config=dict(in_channels=1, latent_channels=self.latent_channels,
                                     channels=list(self.vae_channels)),
                         data=data, beta=self.vae_beta, steps=self.vae_steps, batch_size=self.vae_batch,
                         lr=self.vae_lr, seed=self.seed)

    def key(self) -> str:
        """8 hex digits naming every setting (part of the checkpoint names)."""
        return _hash(asdict(self))

    def image_key(self) -> str:
        """8 hex digits naming the settings of the VAE and the latent image DiT only."""
        return _hash({k: v for k, v in asdict(self).items() if not k.startswith("video_") and k != "time_patch"})


def _hash(d: dict) -> str:
    return settings_key(d)


def latent_image_dit(recipe: LatentRecipe, class_dropout: float = 0.1) -> DiT:
    """Day 04's DiT on single latent frames (zc, h, w)."""
    return DiT(DiTConfig(input_size=recipe.latent_size, patch=recipe.patch, in_channels=recipe.latent_channels,
                         dim=recipe.dim, depth=recipe.depth, heads=recipe.heads, class_dropout=class_dropout))


def latent_video_model(recipe: LatentRecipe, class_dropout: float = 0.1) -> VideoDiT:
    """An untrained factorized VideoDiT on latent clips (zc, T, h, w): the inflated image DiT
    with spacetime patches (time_patch, patch, patch)."""
    return inflate(latent_image_dit(recipe, class_dropout), recipe.frames, "factorized", pt=recipe.time_patch)


@dataclass
class TrainedLatentVideo:
    """The VAE (with its scale), the latent video DiT (eval mode) and its schedule, the
    training seconds of each stage (measured when trained), and the video-stage losses."""
    vae: TrainedVAE
    model: VideoDiT
    schedule: NoiseSchedule
    history: list[float]
    seconds: dict[str, float]
    bound: float                      # max |z| over the scaled training latents
    recipe: LatentRecipe = field(repr=False)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def load_latent_clips(recipe: LatentRecipe, vae: TrainedVAE) -> tuple[Tensor, Tensor]:
    """Scaled latents (N, zc, T, h, w) of the recipe's training clips, and their labels (N,)."""
    from course_lib.data.digits import load_moving_digits

    data = load_moving_digits("train", n=recipe.clips, frames=recipe.frames, canvas=recipe.canvas,
                              speeds=recipe.speeds, seed=recipe.data_seed)
    return encode_latents(vae.model, data.videos, vae.scale), data.labels


def train_latent_video_dit(recipe: LatentRecipe | None = None, device: torch.device | None = None,
                           progress: bool = True) -> TrainedLatentVideo:
    """Load-or-train the latent video model: (1) the VAE on frames of the training clips,
    (2) the scale factor, (3) an image DiT on single latent frames, (4) `inflate` and train
    on latent clips. Cached in artifacts/checkpoints/ (day06_vae_*, latent_image_dit_*,
    latent_video_dit_* with the recipe's key)."""
    from einops import rearrange

    from course_lib.data.digits import load_moving_digits
    from course_lib.runtime import get_device

    recipe = recipe or LatentRecipe()
    device = device or get_device()
    data = load_moving_digits("train", n=recipe.clips, frames=recipe.frames, canvas=recipe.canvas,
                              speeds=recipe.speeds, seed=recipe.data_seed)
    frames = rearrange(data.videos, "n c t h w -> (n t) c h w")        # (N*T, 1, H, W)
    vae = train_vae(frames, recipe.vae_recipe(), device=device, progress=progress)
    latents = encode_latents(vae.model, data.videos, vae.scale)         # (N, zc, T, h, w), std ~ 1
    labels = data.labels
    schedule = make_schedule("cosine", recipe.num_steps)
    key = recipe.key()

    torch.manual_seed(recipe.seed)
    image_dit = latent_image_dit(recipe)
    latent_frames = rearrange(latents, "n c t h w -> (n t) c h w")     # (N*T, zc, h, w)
    frame_labels = labels.repeat_interleave(recipe.frames)

    def image_batch(step: int):
        g = torch.Generator().manual_seed(recipe.seed * 1_000_003 + step)
        idx = torch.randint(0, len(latent_frames), (recipe.image_batch,), generator=g)
        return latent_frames[idx], frame_labels[idx]

    _, image_seconds = timed_fit(f"latent_image_dit_{recipe.image_key()}", image_dit,
                                 lambda m, b: ddpm.conditional_loss(m, b, schedule, recipe.prediction), image_batch,
                                 recipe.image_steps, recipe.image_lr, device, progress, "latent image DiT")
    model = inflate(image_dit.eval(), recipe.frames, "factorized", pt=recipe.time_patch).to(device)

    def video_batch(step: int):
        g = torch.Generator().manual_seed(recipe.seed * 1_000_003 + 500_000 + step)
        idx = torch.randint(0, len(latents), (recipe.video_batch,), generator=g)
        return latents[idx], labels[idx]

    torch.manual_seed(recipe.seed + 1)          # the label dropout inside the model
    history, video_seconds = timed_fit(f"latent_video_dit_{key}", model,
                                       lambda m, b: video_loss(m, b, schedule, kind=recipe.prediction), video_batch,
                                       recipe.video_steps, recipe.video_lr, device, progress,
                                       "latent video DiT")
    seconds = {"vae": vae.train_seconds, "image": image_seconds, "video": video_seconds}
    return TrainedLatentVideo(vae, model.eval(), schedule, history, seconds, latents.abs().max().item(), recipe)


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
    if labels.ndim != 1:
        raise ValueError(f"labels must be (B,); got {tuple(labels.shape)}")
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
