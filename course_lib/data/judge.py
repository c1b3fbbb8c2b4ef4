"""The course's sample-quality judge for digits: a small CNN trained on *real* digits.

A generated digit counts as "correct" when the judge, which never saw generated data,
labels it as the class we asked for. Its penultimate features feed the Frechet distance
(`course_lib.metrics.frechet_distance`), the course's FID. The judge is trained once on
the training split and cached in artifacts/judges/; its held-out accuracy is reported
beside every number it produces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.data.digits import digits_split, load_digits
from course_lib.runtime import artifacts_dir
from course_lib.train import fit

JUDGE_VERSION = 1
FEATURE_DIM = 128
TRAIN_STEPS = 800


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


def _random_shift(x: Tensor, generator: torch.Generator) -> Tensor:
    """Shift each image by up to one pixel (padding with background): cheap augmentation."""
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dy, dx = torch.randint(0, 3, (2,), generator=generator).tolist()
    return padded[..., dy:dy + 8, dx:dx + 8]


def load_judge(progress: bool = False) -> tuple[DigitJudge, float]:
    """The trained judge (CPU, eval mode) and its accuracy on the held-out test split.
    Trains it (a few seconds) the first time and caches it."""
    path = artifacts_dir("judges") / f"digits_v{JUDGE_VERSION}.pt"
    images, labels = load_digits()
    train_idx, test_idx = digits_split()
    judge = DigitJudge()
    if path.exists():
        judge.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        g = torch.Generator().manual_seed(0)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            judge = DigitJudge()
            x, y = images[train_idx], labels[train_idx]

            def batch_at(step: int):
                idx = torch.randint(0, len(x), (128,), generator=g)
                return _random_shift(x[idx], g), y[idx]

            fit(judge, lambda m, b: F.cross_entropy(m(b[0]), b[1]), batch_at, steps=TRAIN_STEPS,
                lr=2e-3, device=torch.device("cpu"), progress=progress, desc="training the digit judge")
        torch.save(judge.state_dict(), path)
    judge.eval()
    accuracy = (judge.predict(images[test_idx]) == labels[test_idx]).float().mean().item()
    return judge, accuracy
