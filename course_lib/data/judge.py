"""The course's sample-quality judge for digits: a small CNN trained on *real* digits.

A generated digit counts as "correct" when the judge, which never saw generated data,
labels it as the class we asked for. Its penultimate features feed the Frechet distance
(`course_lib.metrics.frechet_distance`), the course's FID. The judge is trained once on
the training split and cached (artifacts/checkpoints/digit_judge_<recipe key>.pt); its
held-out accuracy is reported beside every number it produces.

    judge, accuracy = load_judge()           # trains (a few seconds) the first time

A measuring instrument has ONE recipe (`JUDGE_RECIPE`), trained on the CPU whatever the
lesson runs on, so that its numbers compare across machines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.data.digits import digits_split, load_digits
from course_lib.runtime import settings_key, step_generator
from course_lib.train import TrainingRun, TrainSettings, load_or_train

FEATURE_DIM = 128


class DigitJudge(nn.Module):
    """8x8 digit classifier; 16x16 inputs are average-pooled to 8x8 first.

    forward: (N, 1, 8|16, 8|16) in [-1, 1] -> logits (N, 10)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 64, 4, 4)
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, 10)

    @staticmethod
    def _to8(x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[-1] not in (8, 16) or x.shape[-2] != x.shape[-1]:
            raise ValueError(f"images must be (N, 1, 8, 8) or (N, 1, 16, 16); got {tuple(x.shape)}")
        return F.avg_pool2d(x, 2) if x.shape[-1] == 16 else x

    def features(self, x: Tensor) -> Tensor:
        """(N, 1, 8|16, 8|16) -> (N, 128) penultimate activations."""
        return self.fc(self.conv(self._to8(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 1024) -> Tensor:
        """(N, 1, H, W) -> (N,) predicted labels."""
        self.eval()
        return torch.cat([self(x[i:i + batch].float().cpu()).argmax(-1) for i in range(0, len(x), batch)])

    @torch.no_grad()
    def embed(self, x: Tensor, batch: int = 1024) -> Tensor:
        """(N, 1, H, W) -> (N, 128) features for the Frechet distance."""
        self.eval()
        return torch.cat([self.features(x[i:i + batch].float().cpu()) for i in range(0, len(x), batch)])


@dataclass(frozen=True)
class DigitJudgeRecipe:
    """What decides the trained judge: the optimisation (on the training split of the 8x8
    digits) and the augmentation, a random shift of every batch by up to `shift` pixels."""
    train: TrainSettings = TrainSettings(steps=800, batch_size=128, lr=2e-3)
    shift: int = 1

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


JUDGE_RECIPE = DigitJudgeRecipe()     # the one judge every lesson measures with, on every device


@dataclass
class TrainedDigitJudge:
    """The judge (CPU, eval mode), its accuracy on the held-out test split, run and recipe."""
    model: DigitJudge
    accuracy: float
    run: TrainingRun
    recipe: DigitJudgeRecipe = field(repr=False)


def random_shift(x: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Shift a batch of images (N, C, H, W) by one random offset of up to `shift` pixels
    per axis (padding with background -1): cheap augmentation."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (shift, shift, shift, shift), value=-1.0)
    dy, dx = torch.randint(0, 2 * shift + 1, (2,), generator=generator).tolist()
    return padded[..., dy:dy + h, dx:dx + w]


def train_digit_judge(recipe: DigitJudgeRecipe | None = None, progress: bool = True) -> TrainedDigitJudge:
    """Train the judge of `recipe` on the CPU (or load it) and measure its held-out accuracy.

    Batch `step`: `batch_size` random training digits, shifted (`random_shift`), all drawn
    from `runtime.step_generator(seed, step)`; loss: cross-entropy. The caller's global
    random state is left as it was. Checkpoint: digit_judge_<recipe key>."""
    recipe = recipe or JUDGE_RECIPE
    images, labels = load_digits()
    train_idx, test_idx = digits_split()
    x, y = images[train_idx], labels[train_idx]
    settings = recipe.train

    def batch_at(step: int) -> tuple[Tensor, Tensor]:
        g = step_generator(settings.seed, step)
        idx = torch.randint(0, len(x), (settings.batch_size,), generator=g)
        return random_shift(x[idx], recipe.shift, g), y[idx]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        judge = DigitJudge()
        run = load_or_train("digit_judge", recipe, judge, lambda m, b: F.cross_entropy(m(b[0]), b[1]), batch_at,
                            device=torch.device("cpu"), desc="training the digit judge", progress=progress)
    judge.eval()
    accuracy = (judge.predict(images[test_idx]) == labels[test_idx]).float().mean().item()
    return TrainedDigitJudge(judge, accuracy, run, recipe)


def load_judge(progress: bool = False) -> tuple[DigitJudge, float]:
    """The trained judge of `JUDGE_RECIPE` (CPU, eval mode) and its accuracy on the
    held-out test split. Trains it (a few seconds) the first time and caches it."""
    trained = train_digit_judge(JUDGE_RECIPE, progress)
    return trained.model, trained.accuracy


__all__ = ["DigitJudge", "DigitJudgeRecipe", "JUDGE_RECIPE", "TrainedDigitJudge", "random_shift",
           "train_digit_judge", "load_judge"]
