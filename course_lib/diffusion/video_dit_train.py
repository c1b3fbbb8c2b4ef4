"""Day 05's video DiT trained on moving digits: an image DiT pretrained on single frames,
inflated with temporal blocks and fine-tuned on clips. Recipes, size presets, load-or-train.

    recipe = preset(PRESETS, DEVICE)            # PRESETS["cpu"] on a laptop, PRESETS["gpu"] on CUDA
    trained = train_video_dit(recipe)           # trains the image stage, then the video stage; later calls load
    trained.model, trained.schedule, trained.run.history, trained.run.seconds
    trained.image.model, trained.image.run.seconds          # the pretrained image DiT it was inflated from
    per_frame = train_video_dit(replace(recipe, attention="spatial", train=replace(recipe.train, steps=0)))

Checkpoints: artifacts/checkpoints/video_image_dit_<key of recipe.image>.pt (shared by
every attention mode and video stage built on the same image stage) and
video_dit_<recipe key>.pt. The model, loss and sampler are in `video_dit.py`; day 06
(`latent_train.py`) compares its latent model with the same cached pixel model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch
from einops import rearrange

from course_lib.checks import check_choice, check_range
from course_lib.data.digits import MovingDigitsSpec
from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.schedules import NoiseSchedule, make_schedule
from course_lib.diffusion.video_dit import (ATTENTION_MODES, VideoDiT, VideoDiTConfig, inflate, inflated_config,
                                            video_loss)
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

VIDEO_STREAM = 500_000     # the video stage draws its batches from a second stream of the seed



@dataclass(frozen=True)
class ImageDiTRecipe:
    """The image stage: day 04's DiT trained on single frames of the training clips
    (every frame of `data`'s clips, with the clip's label), noise schedule "cosine" with
    `num_steps` steps, predicting `prediction` (`ddpm.PREDICTIONS`)."""
    data: MovingDigitsSpec = MovingDigitsSpec()       # 2,000 clips of 8 12x12 frames, 1 px per frame
    model: DiTConfig = DiTConfig(input_size=12, patch=4, in_channels=1, dim=64, depth=3, heads=4)
    train: TrainSettings = TrainSettings(steps=1600, batch_size=64, lr=5e-3, warmup=100, weight_decay=0.01)
    num_steps: int = 1000
    prediction: str = "x0"

    def __post_init__(self):
        check_choice(self.prediction, "prediction", ddpm.PREDICTIONS)
        if (self.model.input_size, self.model.in_channels) != (self.data.canvas, 1):
            raise ValueError(f"model must take 1-channel {self.data.canvas}x{self.data.canvas} frames (data.canvas); "
                             f"got input_size={self.model.input_size}, in_channels={self.model.in_channels}")

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


@dataclass(frozen=True)
class VideoRecipe:
    """Everything that decides a trained video DiT: the image stage it is inflated from
    (`image`, with the data, schedule and prediction both stages share), the video stage's
    optimisation (`train`: `steps=0` keeps the inflated model as is), the attention mode
    (`video_dit.ATTENTION_MODES`), whether only the temporal blocks train
    (`freeze_spatial`, AnimateDiff) and the coherent-noise correlation `rho` of training.
    The video model's sizes follow from the image DiT's (`model`, via `inflate`)."""
    image: ImageDiTRecipe = ImageDiTRecipe()
    train: TrainSettings = TrainSettings(steps=2000, batch_size=8, lr=3e-3, warmup=100, weight_decay=0.01)
    attention: str = "factorized"
    freeze_spatial: bool = False
    rho: float = 0.0

    def __post_init__(self):
        check_choice(self.attention, "attention", ATTENTION_MODES)
        check_range(self.rho, "rho", 0.0, 1.0)
        if self.freeze_spatial and self.attention != "factorized":
            raise ValueError(f"freeze_spatial=True leaves nothing to train for attention {self.attention!r} "
                             "(only 'factorized' has temporal blocks)")

    @property
    def data(self) -> MovingDigitsSpec:
        return self.image.data

    @property
    def num_steps(self) -> int:
        return self.image.num_steps

    @property
    def prediction(self) -> str:
        return self.image.prediction

    @property
    def model(self) -> VideoDiTConfig:
        """The video DiT's config: the image DiT's, inflated to `data.frames` frames."""
        return inflated_config(self.image.model, self.data.frames, self.attention)

    def key(self) -> str:
        """8 hex digits naming every field, the image stage's included."""
        return settings_key(self)


PRESETS = {
    # 12x12 canvas, 8 frames, 4x4 patches (72 tokens per clip), dim 64, depth 3: 1,600 image
    # steps, 2,000 video steps at batch 8 (about 100 s on a 2-core CPU). With 1,000 video
    # steps the factorized model's consistency gain over the per-frame model depended on
    # the seed (-0.05 to +0.12 over seeds 0-3); with 2,000 it was positive for all four.
    "cpu": VideoRecipe(),
    # The same model trained longer, the video stage on bigger batches.
    "gpu": VideoRecipe(image=replace(ImageDiTRecipe(), train=replace(ImageDiTRecipe().train, steps=6000)),
                       train=replace(VideoRecipe().train, steps=3000, batch_size=32)),
}
# Day 05's full 3-D attention model: inflated from the same image DiT; on a CPU its video
# stage is cut to 500 steps (every layer attends over all 72 tokens: the lesson's budget).
FULL_ATTENTION_PRESETS = {
    "cpu": replace(PRESETS["cpu"], attention="full", train=replace(PRESETS["cpu"].train, steps=500)),
    "gpu": replace(PRESETS["gpu"], attention="full"),
}


@dataclass
class TrainedImageDiT:
    """The image DiT (eval mode) trained on frames, its noise schedule, run and recipe."""
    model: DiT
    schedule: NoiseSchedule
    run: TrainingRun
    recipe: ImageDiTRecipe = field(repr=False)


@dataclass
class TrainedVideoDiT:
    """The video DiT (eval mode), its noise schedule, the video stage's run, the recipe,
    and the trained image stage it was inflated from (`image.run.seconds`: pretraining)."""
    model: VideoDiT
    schedule: NoiseSchedule
    run: TrainingRun
    recipe: VideoRecipe = field(repr=False)
    image: TrainedImageDiT = field(repr=False)


def new_image_dit(recipe: ImageDiTRecipe) -> DiT:
    """The untrained image DiT of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return DiT(recipe.model)


def new_video_dit(recipe: VideoRecipe, image_dit: DiT | None = None) -> VideoDiT:
    """`image_dit` (default: the untrained one of `recipe.image`) inflated as `recipe` says;
    the new temporal blocks (and the label dropout) are seeded by `recipe.train.seed + 1`,
    so they start the same whether or not the image DiT came from a checkpoint."""
    image_dit = image_dit if image_dit is not None else new_image_dit(recipe.image)
    torch.manual_seed(recipe.train.seed + 1)
    return inflate(image_dit, recipe.data.frames, recipe.attention)


def train_image_dit(recipe: ImageDiTRecipe | None = None, device: torch.device | None = None,
                    progress: bool = True) -> TrainedImageDiT:
    """Train the image DiT of `recipe` on single frames of the training clips, or load it.

    Batches: `batch_size` random frames with their clip's label (`train.random_batches`);
    loss: `ddpm.conditional_loss`. Checkpoint: video_image_dit_<recipe key>."""
    recipe = recipe or PRESETS["cpu"].image
    clips = recipe.data.load("train")
    frames = rearrange(clips.videos, "n c t h w -> (n t) c h w")         # (N*T, 1, H, W)
    frame_labels = clips.labels.repeat_interleave(recipe.data.frames)
    schedule = make_schedule("cosine", recipe.num_steps)
    model = new_image_dit(recipe)
    data = random_batches(frames, frame_labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(ddpm.conditional_loss, schedule=schedule, kind=recipe.prediction)
    run = load_or_train("video_image_dit", recipe, model, loss, data, device=device, desc="image DiT on frames",
                        progress=progress)
    return TrainedImageDiT(model.eval(), schedule, run, recipe)


def train_video_dit(recipe: VideoRecipe | None = None, device: torch.device | None = None,
                    progress: bool = True) -> TrainedVideoDiT:
    """Train the video DiT of `recipe`, or load it: the image stage (`train_image_dit`,
    itself cached), `inflate` with `recipe.attention`, then the video stage on clips.

    Batches: `batch_size` random training clips with their labels (`train.random_batches`,
    stream `VIDEO_STREAM`); loss: `video_loss` with coherent noise `rho`. With
    `freeze_spatial` only the temporal blocks train. Checkpoint: video_dit_<recipe key>."""
    recipe = recipe or PRESETS["cpu"]
    image = train_image_dit(recipe.image, device, progress)
    model = new_video_dit(recipe, image.model)               # on the image DiT's device
    schedule = image.schedule
    if recipe.train.steps == 0:                       # the inflated model as is (e.g. the per-frame model)
        return TrainedVideoDiT(model.eval(), schedule, TrainingRun(history=[]), recipe, image)
    clips = recipe.data.load("train")
    params = [p for n, p in model.named_parameters() if n.startswith("temporal_blocks") or not recipe.freeze_spatial]
    for p in model.parameters():                      # frozen weights get no gradient (nor a share of the clip)
        p.requires_grad_(any(p is q for q in params))
    data = random_batches(clips.videos, clips.labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed,
                          stream=VIDEO_STREAM)
    loss = partial(video_loss, schedule=schedule, rho=recipe.rho, kind=recipe.prediction)
    try:
        run = load_or_train("video_dit", recipe, model, loss, data, device=device, params=params,
                            desc=f"video DiT ({recipe.attention})", progress=progress)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return TrainedVideoDiT(model.eval(), schedule, run, recipe, image)


__all__ = ["ImageDiTRecipe", "VideoRecipe", "PRESETS", "FULL_ATTENTION_PRESETS",
           "TrainedImageDiT", "TrainedVideoDiT", "new_image_dit", "new_video_dit", "train_image_dit",
           "train_video_dit"]
