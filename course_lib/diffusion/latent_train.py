"""Day 06's latent video model trained on moving digits: a VAE, an image DiT on single
latent frames, then the inflated video DiT on latent clips. Recipes, presets, load-or-train.

    recipe = preset(PRESETS, DEVICE)               # the same clips and DiT sizes as day 05's PRESETS
    trained = train_latent_video_dit(recipe)       # VAE -> latent image DiT -> latent video DiT; later calls load
    trained.model, trained.vae.model, trained.vae.scale, trained.run.history, trained.stage_seconds
    videos = latent.sample_latent_videos(trained, labels)

Checkpoints: artifacts/checkpoints/vae_<key of recipe.image.vae>.pt,
latent_image_dit_<key of recipe.image>.pt and latent_video_dit_<recipe key>.pt. The model
builder, the FLOP count and the sampler are in `latent.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch
from einops import rearrange
from torch import Tensor

from course_lib.checks import check_choice, check_positive_int
from course_lib.data.digits import MovingDigitsSpec
from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.schedules import NoiseSchedule, make_schedule
from course_lib.diffusion.vae import encode_latents
from course_lib.diffusion.vae_train import TrainedVAE, VAERecipe, train_vae
from course_lib.diffusion.video_dit import VideoDiT, VideoDiTConfig, inflate, inflated_config, video_loss
from course_lib.diffusion.video_dit_train import VIDEO_STREAM
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches


@dataclass(frozen=True)
class LatentImageDiTRecipe:
    """The latent image stage: the VAE of `vae` (trained on the frames of `vae.data`), then
    day 04's DiT on single scaled latent frames (zc, h, w) of the same training clips,
    noise schedule "cosine" with `num_steps` steps, predicting `prediction`. `model` must
    take the VAE's latents: input_size = vae.latent_size, in_channels = latent channels."""
    vae: VAERecipe = VAERecipe()
    model: DiTConfig = DiTConfig(input_size=3, patch=1, in_channels=4, dim=64, depth=3, heads=4)
    train: TrainSettings = TrainSettings(steps=1600, batch_size=64, lr=3e-3, warmup=100)
    num_steps: int = 1000
    prediction: str = "x0"

    def __post_init__(self):
        check_choice(self.prediction, "prediction", ddpm.PREDICTIONS)
        want = (self.vae.latent_size, self.vae.model.latent_channels)
        if (self.model.input_size, self.model.in_channels) != want:
            raise ValueError(f"model must take the VAE's latents: input_size={want[0]}, in_channels={want[1]}; "
                             f"got {self.model.input_size}, {self.model.in_channels}")

    @property
    def data(self) -> MovingDigitsSpec:
        return self.vae.data

    def key(self) -> str:
        """8 hex digits naming every field, the VAE's included."""
        return settings_key(self)


@dataclass(frozen=True)
class LatentRecipe:
    """Everything that decides the trained latent video DiT: the latent image stage it is
    inflated from (`image`, which holds the VAE recipe, the clips, the schedule and the
    prediction), the video stage's optimisation (`train`) and the frames per spacetime
    patch (`time_patch`). The video model (factorized attention) follows from the image
    DiT's sizes (`model`)."""
    image: LatentImageDiTRecipe = LatentImageDiTRecipe()
    train: TrainSettings = TrainSettings(steps=2000, batch_size=8, lr=1e-3, warmup=100)
    time_patch: int = 2

    def __post_init__(self):
        check_positive_int(self.time_patch, "time_patch")
        if self.data.frames % self.time_patch:
            raise ValueError(f"data.frames ({self.data.frames}) must be a multiple of time_patch ({self.time_patch})")

    @property
    def vae(self) -> VAERecipe:
        return self.image.vae

    @property
    def data(self) -> MovingDigitsSpec:
        return self.image.vae.data

    @property
    def num_steps(self) -> int:
        return self.image.num_steps

    @property
    def prediction(self) -> str:
        return self.image.prediction

    @property
    def model(self) -> VideoDiTConfig:
        """The latent video DiT's config: the latent image DiT's, inflated to `data.frames`
        frames with (time_patch, patch, patch) spacetime patches."""
        return inflated_config(self.image.model, self.data.frames, "factorized", self.time_patch)

    def key(self) -> str:
        """8 hex digits naming every field, the image stage's and the VAE's included."""
        return settings_key(self)


PRESETS = {
    # Day 05's clips, width and depth (video_dit_train.PRESETS) on 3x3x4 latents, 2-frame
    # spacetime patches: 36 tokens per clip instead of 72. VAE 1,000 steps, image stage
    # 1,600, video stage 2,000 at batch 8 (as day 05's pixel model).
    "cpu": LatentRecipe(),
    # Trained as long as day 05's GPU preset.
    "gpu": LatentRecipe(image=replace(LatentImageDiTRecipe(), train=replace(LatentImageDiTRecipe().train, steps=6000)),
                        train=replace(LatentRecipe().train, steps=3000, batch_size=32)),
}


@dataclass
class TrainedLatentImageDiT:
    """The latent image DiT (eval mode), its schedule, run and recipe, and the trained VAE."""
    model: DiT
    schedule: NoiseSchedule
    run: TrainingRun
    recipe: LatentImageDiTRecipe = field(repr=False)
    vae: TrainedVAE = field(repr=False)


@dataclass
class TrainedLatentVideo:
    """The latent video DiT (eval mode) and its schedule, the video stage's run, the
    recipe, the latent image stage it was inflated from (which holds the VAE), and `bound`
    = max |z| over the scaled training latents (the sampler clips x0_hat to it)."""
    model: VideoDiT
    schedule: NoiseSchedule
    run: TrainingRun
    recipe: LatentRecipe = field(repr=False)
    image: TrainedLatentImageDiT = field(repr=False)
    bound: float = 0.0

    @property
    def vae(self) -> TrainedVAE:
        return self.image.vae

    @property
    def stage_seconds(self) -> dict[str, float]:
        """Training seconds of each stage (as measured when it was trained)."""
        return {"vae": self.vae.run.seconds, "image": self.image.run.seconds, "video": self.run.seconds}

    @property
    def total_seconds(self) -> float:
        return sum(self.stage_seconds.values())


def latent_clips(vae: TrainedVAE, data: MovingDigitsSpec) -> tuple[Tensor, Tensor]:
    """Scaled latents (N, zc, T, h, w) of the training clips of `data`, and their labels (N,)."""
    clips = data.load("train")
    return encode_latents(vae.model, clips.videos, vae.scale), clips.labels


def new_latent_image_dit(recipe: LatentImageDiTRecipe) -> DiT:
    """The untrained latent image DiT of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return DiT(recipe.model)


def new_latent_video_dit(recipe: LatentRecipe, image_dit: DiT | None = None) -> VideoDiT:
    """`image_dit` (default: the untrained one of `recipe.image`) inflated with (time_patch,
    1, 1) spacetime patches; the new temporal blocks (and the label dropout) are seeded by
    `recipe.train.seed + 1`, so they start the same whether or not the image DiT was cached."""
    image_dit = image_dit if image_dit is not None else new_latent_image_dit(recipe.image)
    torch.manual_seed(recipe.train.seed + 1)
    return inflate(image_dit, recipe.data.frames, "factorized", pt=recipe.time_patch)


def train_latent_image_dit(recipe: LatentImageDiTRecipe | None = None, device: torch.device | None = None,
                           progress: bool = True) -> TrainedLatentImageDiT:
    """Train (or load) the VAE (`train_vae(recipe.vae)`), then train the DiT of `recipe` on
    single scaled latent frames of the training clips, or load it.

    Batches: `batch_size` random latent frames with their clip's label
    (`train.random_batches`); loss: `ddpm.conditional_loss`. Checkpoint: latent_image_dit_<key>."""
    recipe = recipe or PRESETS["cpu"].image
    vae = train_vae(recipe.vae, device, progress)
    latents, labels = latent_clips(vae, recipe.data)                    # (N, zc, T, h, w), std ~ 1
    frames = rearrange(latents, "n c t h w -> (n t) c h w")              # (N*T, zc, h, w)
    frame_labels = labels.repeat_interleave(recipe.data.frames)
    schedule = make_schedule("cosine", recipe.num_steps)
    model = new_latent_image_dit(recipe)
    data = random_batches(frames, frame_labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(ddpm.conditional_loss, schedule=schedule, kind=recipe.prediction)
    run = load_or_train("latent_image_dit", recipe, model, loss, data, device=device, desc="latent image DiT",
                        progress=progress)
    return TrainedLatentImageDiT(model.eval(), schedule, run, recipe, vae)


def train_latent_video_dit(recipe: LatentRecipe | None = None, device: torch.device | None = None,
                           progress: bool = True) -> TrainedLatentVideo:
    """Train the latent video model of `recipe`, or load it: (1) the VAE and (2) the latent
    image DiT (`train_latent_image_dit`, each cached), (3) `inflate` it and train on
    scaled latent clips.

    Batches: `batch_size` random latent clips with their labels (`train.random_batches`,
    stream `video_dit_train.VIDEO_STREAM`); loss: `video_loss`. Checkpoint: latent_video_dit_<key>."""
    recipe = recipe or PRESETS["cpu"]
    image = train_latent_image_dit(recipe.image, device, progress)
    latents, labels = latent_clips(image.vae, recipe.data)
    model = new_latent_video_dit(recipe, image.model)                   # on the image DiT's device
    data = random_batches(latents, labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed,
                          stream=VIDEO_STREAM)
    loss = partial(video_loss, schedule=image.schedule, kind=recipe.prediction)
    run = load_or_train("latent_video_dit", recipe, model, loss, data, device=device, desc="latent video DiT",
                        progress=progress)
    return TrainedLatentVideo(model.eval(), image.schedule, run, recipe, image, latents.abs().max().item())


__all__ = ["LatentImageDiTRecipe", "LatentRecipe", "PRESETS", "TrainedLatentImageDiT", "TrainedLatentVideo",
           "latent_clips", "new_latent_image_dit", "new_latent_video_dit", "train_latent_image_dit",
           "train_latent_video_dit"]
