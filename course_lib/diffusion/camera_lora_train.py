"""Day 07's camera LoRAs on day 05's video DiT: the recipe, size presets, load-or-train.

    recipe = preset(CAMERA_LORA_PRESETS, DEVICE)              # the pan-left LoRA
    pan_left = train_camera_lora(recipe)                      # trains once; later calls load
    pan_right = train_camera_lora(replace(recipe, move="pan_right"))
    videos = sample_video(pan_left.model, labels, pan_left.schedule, kind="x0")

The base is day 05's video DiT (`video_dit_train`), frozen; only the low-rank adapters
on its attention projections train (`nn.lora.add_lora`), on clips filmed with one camera
move (`data.camera.make_camera_clips`). Switching LoRAs switches the camera move.
Checkpoint: artifacts/checkpoints/video_camera_lora_<recipe key>.pt.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import partial

import torch

from course_lib.checks import check_choice
from course_lib.data.camera import CAMERA_MOVES, make_camera_clips
from course_lib.diffusion.schedules import NoiseSchedule
from course_lib.diffusion.video_dit import VideoDiT, video_loss
from course_lib.diffusion.video_dit_train import PRESETS as VIDEO_PRESETS
from course_lib.diffusion.video_dit_train import VideoRecipe, TrainedVideoDiT, train_video_dit
from course_lib.nn import lora
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["CameraLoRARecipe", "CAMERA_LORA_PRESETS", "TrainedCameraLoRA", "train_camera_lora"]


@dataclass(frozen=True)
class CameraLoRARecipe:
    """A rank-`rank` LoRA (scale alpha / rank) on every attention projection of the video
    DiT of `video`, trained on `clips` training-split clips filmed with `move`
    (`data.camera.CAMERA_MOVES`) with the video model's own loss."""
    video: VideoRecipe = VideoRecipe()
    move: str = "pan_left"
    rank: int = 4
    alpha: float = 4.0
    clips: int = 500
    train: TrainSettings = TrainSettings(steps=400, batch_size=8, lr=1e-2)

    def __post_init__(self):
        check_choice(self.move, "move", CAMERA_MOVES)

    def key(self) -> str:
        """8 hex digits naming every field, the video model's included."""
        return settings_key(self)


CAMERA_LORA_PRESETS = {
    "cpu": CameraLoRARecipe(),
    "gpu": CameraLoRARecipe(video=VIDEO_PRESETS["gpu"], rank=8, alpha=8.0, clips=2000,
                            train=TrainSettings(steps=1500, batch_size=32, lr=1e-2)),
}


@dataclass
class TrainedCameraLoRA:
    """The video DiT with this move's adapters (eval mode; its own copy: the base model
    is untouched), the base's training, this run and the recipe."""
    model: VideoDiT
    base: TrainedVideoDiT
    run: TrainingRun
    recipe: CameraLoRARecipe = field(repr=False)

    @property
    def schedule(self) -> NoiseSchedule:
        return self.base.schedule

    def lora_share(self) -> float:
        """Trainable adapter parameters as a share of the base model's parameters."""
        n_lora = sum(p.numel() for p in lora.lora_parameters(self.model))
        return n_lora / sum(p.numel() for p in self.base.model.parameters())


def train_camera_lora(recipe: CameraLoRARecipe | None = None, device: torch.device | None = None,
                      progress: bool = True) -> TrainedCameraLoRA:
    """Train the camera LoRA of `recipe` on a copy of the video DiT of `recipe.video`, or load it.

    Batches: `batch_size` random clips of the move with their labels; loss: `video_loss`
    with the video model's prediction (x0 for day 05's model)."""
    recipe = recipe or CAMERA_LORA_PRESETS["cpu"]
    base = train_video_dit(recipe.video, device=device, progress=progress)
    model = copy.deepcopy(base.model)
    torch.manual_seed(recipe.train.seed)
    lora.add_lora(model, rank=recipe.rank, alpha=recipe.alpha)
    videos, labels = make_camera_clips(recipe.move, n=recipe.clips, frames=recipe.video.data.frames,
                                       canvas=recipe.video.data.canvas, split="train", seed=recipe.train.seed)
    data = random_batches(videos, labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(video_loss, schedule=base.schedule, kind=recipe.video.prediction)
    run = load_or_train("video_camera_lora", recipe, model, loss, data, device=device,
                        params=lora.lora_parameters(model), desc=f"camera LoRA ({recipe.move})", progress=progress)
    return TrainedCameraLoRA(model.eval(), base, run, recipe)
