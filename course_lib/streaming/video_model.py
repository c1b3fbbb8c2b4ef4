"""Day 19's streaming video model: day 05's video DiT, told what the last frames were and
what the player is pressing, generates the next frames. Recipe, presets, load-or-train.

A window of T = 8 frames: the first C frames are the buffer (given), the other T - C are
generated. The buffer and the actions reach the model as extra input channels
(`stream_condition`, 4 of them), the digit as day 05's class label:

    cond[0]  the buffer frames (+ a little noise), zeros on the frames to generate
    cond[1]  1 on buffer frames, 0 elsewhere (which frames are given)
    cond[2:] the move (d_row, d_col) of each frame to generate, as constant planes; 0 on the buffer

This is the "context frames kept clean" corner of Diffusion Forcing (Chen et al. 2024),
which trains every frame with its own noise level: here the buffer's level is (nearly)
zero and the new frames share one. The buffer's training noise, std ~ U(0, context_noise),
is GameNGen's noise augmentation: generated frames feed the next chunk's buffer, and a
model that never saw an imperfect buffer compounds its own errors (drift).

    recipe = preset(STREAM_VIDEO_PRESETS, DEVICE)
    trained = train_stream_video(recipe)          # trains once (starts from day 05's model); later calls load
    trained.model, trained.schedule, trained.run

Checkpoint: artifacts/checkpoints/stream_video_<recipe key>.pt. Rollouts, the interactive
session and drift measures are in `streaming.video`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import Tensor

from course_lib.checks import check_shape
from course_lib.data.steered_digits import MOVES, SteeredWindowsSpec
from course_lib.diffusion.schedules import NoiseSchedule
from course_lib.diffusion.video_dit import VideoDiT, video_loss
from course_lib.diffusion.video_dit_train import PRESETS as VIDEO_PRESETS
from course_lib.diffusion.video_dit_train import VideoRecipe, train_video_dit
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

COND_CHANNELS = 4          # buffer, buffer mask, d_row, d_col


@dataclass(frozen=True)
class StreamVideoRecipe:
    """Everything that decides a trained streaming video model: day 05's recipe it starts
    from (`base`: sizes, schedule, prediction, weights), the windows it is fine-tuned on
    (`data`, of the base's frames and canvas), the buffer's noise augmentation and the
    optimisation."""
    base: VideoRecipe = VIDEO_PRESETS["cpu"]
    data: SteeredWindowsSpec = SteeredWindowsSpec()
    context_noise: float = 0.1
    train: TrainSettings = TrainSettings(steps=3000, batch_size=16, lr=2e-3, warmup=100, weight_decay=0.01)

    def __post_init__(self):
        if (self.data.frames, self.data.canvas) != (self.base.data.frames, self.base.data.canvas):
            raise ValueError(f"data must have the base model's {self.base.data.frames} frames of "
                             f"{self.base.data.canvas}x{self.base.data.canvas}; got {self.data.frames} "
                             f"of {self.data.canvas}x{self.data.canvas}")
        if not self.context_noise >= 0:
            raise ValueError(f"context_noise must be >= 0; got {self.context_noise!r}")

    @property
    def model(self):
        """The base video DiT's config with the 4 condition channels."""
        return replace(self.base.model, cond_channels=COND_CHANNELS)

    def key(self) -> str:
        """8 hex digits naming every field, the base recipe's included."""
        return settings_key(self)


# 3,000 steps at batch 16: about 100 s per 1,500 steps on a 2-core CPU. At 1,500 steps the
# digit sometimes crept toward a wall while told to stay (5-15 % of standing starts, so a
# later turn was blocked); at 3,000 the steering shows within one chunk in 94-100 % of
# streams (5 seeds). 30 % of windows change the digit: at 15 %, a new digit took up to 3
# chunks to show.
STREAM_VIDEO_PRESETS = {
    "cpu": StreamVideoRecipe(),
    "gpu": StreamVideoRecipe(base=VIDEO_PRESETS["gpu"], data=replace(SteeredWindowsSpec(), windows=40000),
                             train=TrainSettings(steps=4000, batch_size=64, lr=2e-3, warmup=200, weight_decay=0.01)),
}


@dataclass
class TrainedStreamVideo:
    """The streaming video DiT (eval mode), the noise schedule, its run and recipe."""
    model: VideoDiT
    schedule: NoiseSchedule
    run: TrainingRun
    recipe: StreamVideoRecipe = field(repr=False)

    @property
    def prediction(self) -> str:
        return self.recipe.base.prediction


def stream_condition(videos: Tensor, context: Tensor, actions: Tensor, noise_std: float | Tensor = 0.0,
                     generator: torch.Generator | None = None) -> Tensor:
    """The 4 condition channels (B, 4, T, H, W) of windows `videos` (B, 1, T, H, W) whose
    first `context` (B,) frames are the buffer, the other frames moved by `actions` (B, T)
    (ids of `steered_digits.ACTIONS`; the buffer's are ignored). The buffer gets Gaussian
    noise of std `noise_std` (a number or (B,))."""
    check_shape(videos, "videos", "B 1 T H W")
    b, _, t, h, w = videos.shape
    check_shape(context, "context", "B", B=b)
    check_shape(actions, "actions", "B T", B=b, T=t)
    given = (torch.arange(t)[None] < context[:, None].cpu()).to(videos)            # (B, T)
    std = torch.as_tensor(noise_std, dtype=videos.dtype).reshape(-1, 1, 1, 1, 1).to(videos.device)
    noise = torch.randn(videos.shape, generator=generator).to(videos)
    mask = given[:, None, :, None, None]                                         # (B, 1, T, 1, 1)
    buffer = (videos + std * noise) * mask
    moves = MOVES[actions.cpu()].to(videos).permute(0, 2, 1)[..., None, None] * (1 - mask)   # (B, 2, T, 1, 1)
    return torch.cat([buffer, mask.expand(b, 1, t, h, w), moves.expand(b, 2, t, h, w)], dim=1)


def stream_loss(model: VideoDiT, batch: tuple[Tensor, Tensor, Tensor, Tensor], schedule: NoiseSchedule,
                recipe: StreamVideoRecipe, generator: torch.Generator | None = None) -> Tensor:
    """`video_loss` on (windows (B, 1, T, H, W), digits (B,), actions (B, T), context (B,)),
    conditioned on `stream_condition` with buffer noise std ~ U(0, context_noise)."""
    videos, digits, actions, context = batch
    std = torch.rand(len(videos), generator=generator) * recipe.context_noise
    cond = stream_condition(videos, context, actions, std, generator)
    return video_loss(model, (videos, digits), schedule, kind=recipe.base.prediction, generator=generator, cond=cond)


def new_stream_model(recipe: StreamVideoRecipe, base: VideoDiT | None = None) -> VideoDiT:
    """The streaming DiT of `recipe`; every weight copied from `base` (day 05's trained video
    DiT) when given, the condition channels' input weights at zero — so before training it
    computes exactly day 05's model, ignoring buffer and actions."""
    torch.manual_seed(recipe.train.seed)
    model = VideoDiT(recipe.model)
    if base is not None:
        weights = dict(base.state_dict())
        stem = weights.pop("patch_embed.proj.weight")                    # (D, 1, pt, ph, pw)
        missing, unexpected = model.load_state_dict(weights, strict=False)
        assert missing == ["patch_embed.proj.weight"] and not unexpected, (missing, unexpected)
        with torch.no_grad():
            model.patch_embed.proj.weight.zero_()
            model.patch_embed.proj.weight[:, :stem.shape[1]] = stem
    return model


def train_stream_video(recipe: StreamVideoRecipe | None = None, device: torch.device | None = None,
                       progress: bool = True) -> TrainedStreamVideo:
    """Fine-tune the streaming DiT of `recipe` from day 05's video DiT (trained or loaded
    first), or load it. Batches: `batch_size` random training windows; loss: `stream_loss`."""
    recipe = recipe or STREAM_VIDEO_PRESETS["cpu"]
    base = train_video_dit(recipe.base, device=device, progress=progress)
    model = new_stream_model(recipe, base.model).to(next(base.model.parameters()).device)
    windows = recipe.data.load("train")
    data = random_batches(windows.videos, windows.digits, windows.actions, windows.context,
                          batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(stream_loss, schedule=base.schedule, recipe=recipe)
    run = load_or_train("stream_video", recipe, model, loss, data, device=device, desc="streaming video DiT",
                        progress=progress)
    return TrainedStreamVideo(model.eval(), base.schedule, run, recipe)


__all__ = ["COND_CHANNELS", "StreamVideoRecipe", "STREAM_VIDEO_PRESETS", "TrainedStreamVideo", "stream_condition",
           "stream_loss", "new_stream_model", "train_stream_video"]
