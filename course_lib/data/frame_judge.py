"""The judge of video frames: which digit is in this frame, wherever it sits on the canvas?

Day 04's `DigitJudge` expects a centred 8x8 digit. Frames of moving-digit clips have the
digit anywhere on a larger canvas, so this judge is a small fully convolutional network
ending in a global max-pool: a shifted digit gives shifted feature maps and the same
maximum, i.e. the prediction is (up to border effects) translation invariant. It is
trained on frames of *real* training clips only (digits of the training split) and its
accuracy is measured on frames of held-out clips (digits of the test split), reported
beside every number it produces.

    judge, accuracy = load_frame_judge(canvas=12)
    judge.predict(frames (N, 1, H, W) in [-1, 1]) -> (N,) labels

A measuring instrument has ONE recipe (`FRAME_JUDGE_RECIPE`; only the canvas and clip
length follow the clips it judges), trained on the CPU whatever the lesson runs on, and
cached in artifacts/checkpoints/frame_judge_<recipe key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from course_lib.data.digits import MovingDigitsSpec
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

TEST_CLIPS = 300           # held-out clips (test-split digits) the accuracy is measured on


class FrameJudge(nn.Module):
    """Fully convolutional digit classifier: (N, 1, H, W) in [-1, 1], H, W >= 8 -> logits (N, 10).

    conv3x3(16) -> maxpool 2 -> conv3x3(32) -> conv3x3(64) -> global max-pool -> Linear(64, 10).
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or min(x.shape[-2:]) < 8:
            raise ValueError(f"frames must be (N, 1, H, W) with H, W >= 8; got {tuple(x.shape)}")
        # Pad with background so a digit touching the border looks like one in the middle.
        h = self.conv(F.pad(x, (2, 2, 2, 2), value=-1.0))                # (N, 64, h, w)
        return self.head(h.amax(dim=(-2, -1)))                           # (N, 10)

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 1024) -> Tensor:
        """(N, 1, H, W) -> (N,) predicted labels (computed on the CPU)."""
        self.eval()
        return torch.cat([self(x[i:i + batch].float().cpu()).argmax(-1) for i in range(0, len(x), batch)])


def frames_of(videos: Tensor) -> Tensor:
    """(N, C, T, H, W) -> (N*T, C, H, W), clip-major (frame t of clip n at n*T + t)."""
    if videos.ndim != 5:
        raise ValueError(f"videos must be (N, C, T, H, W); got {tuple(videos.shape)}")
    return rearrange(videos, "n c t h w -> (n t) c h w")


@dataclass(frozen=True)
class FrameJudgeRecipe:
    """What decides the trained frame judge: the real clips it is trained on (every frame
    of `data`'s training clips; digits moving 1 or 2 pixels per frame) and the optimisation."""
    data: MovingDigitsSpec = MovingDigitsSpec(clips=2000, frames=8, canvas=12, speeds=(1, 2), seed=1)
    train: TrainSettings = TrainSettings(steps=500, batch_size=64, lr=2e-3)

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


FRAME_JUDGE_RECIPE = FrameJudgeRecipe()    # the one frame judge, on every device


@dataclass
class TrainedFrameJudge:
    """The judge (CPU, eval mode), its accuracy on every frame of `TEST_CLIPS` held-out
    clips, run and recipe."""
    model: FrameJudge
    accuracy: float
    run: TrainingRun
    recipe: FrameJudgeRecipe = field(repr=False)


def train_frame_judge(recipe: FrameJudgeRecipe | None = None, progress: bool = True) -> TrainedFrameJudge:
    """Train the frame judge of `recipe` on the CPU (or load it) and measure its accuracy on
    every frame of `TEST_CLIPS` held-out clips (test-split digits, same canvas, frames,
    speeds and seed). Batches: random training frames with their clip's label
    (`train.random_batches`); loss: cross-entropy. The caller's global random state is
    left as it was. Checkpoint: frame_judge_<recipe key>."""
    recipe = recipe or FRAME_JUDGE_RECIPE
    train = recipe.data.load("train")
    x, y = frames_of(train.videos), train.labels.repeat_interleave(recipe.data.frames)
    data = random_batches(x, y, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        judge = FrameJudge()
        run = load_or_train("frame_judge", recipe, judge, lambda m, b: F.cross_entropy(m(b[0]), b[1]), data,
                            device=torch.device("cpu"), desc="training the frame judge", progress=progress)
    judge.eval()
    test = replace(recipe.data, clips=TEST_CLIPS).load("test")
    accuracy = (judge.predict(frames_of(test.videos)) == test.labels.repeat_interleave(recipe.data.frames)
                ).float().mean().item()
    return TrainedFrameJudge(judge, accuracy, run, recipe)


def load_frame_judge(canvas: int = 12, frames: int = 8, progress: bool = False) -> tuple[FrameJudge, float]:
    """The trained frame judge for clips of `frames` frames on a `canvas` x `canvas` canvas
    (`FRAME_JUDGE_RECIPE` with that canvas and length; CPU, eval mode) and its accuracy on
    every frame of held-out real clips. Trains it (a few seconds) the first time and caches it."""
    recipe = FRAME_JUDGE_RECIPE
    if (canvas, frames) != (recipe.data.canvas, recipe.data.frames):
        recipe = replace(recipe, data=replace(recipe.data, canvas=canvas, frames=frames))
    trained = train_frame_judge(recipe, progress)
    return trained.model, trained.accuracy


__all__ = ["FrameJudge", "FrameJudgeRecipe", "FRAME_JUDGE_RECIPE", "TrainedFrameJudge", "TEST_CLIPS",
           "frames_of", "train_frame_judge", "load_frame_judge"]
