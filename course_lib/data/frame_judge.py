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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from course_lib.data.digits import load_moving_digits
from course_lib.runtime import artifacts_dir
from course_lib.train import fit

FRAME_JUDGE_VERSION = 2
TRAIN_STEPS = 500
TRAIN_CLIPS, TEST_CLIPS = 2000, 300


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


def load_frame_judge(canvas: int = 12, frames: int = 8, progress: bool = False) -> tuple[FrameJudge, float]:
    """The trained frame judge (CPU, eval mode) and its accuracy on every frame of
    held-out real clips (test-split digits). Trains it (a few seconds) the first time and
    caches it in artifacts/judges/."""
    path = artifacts_dir("judges") / f"frames_v{FRAME_JUDGE_VERSION}_c{canvas}_t{frames}.pt"
    test = load_moving_digits("test", n=TEST_CLIPS, frames=frames, canvas=canvas, seed=1)
    judge = FrameJudge()
    if path.exists():
        judge.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        train = load_moving_digits("train", n=TRAIN_CLIPS, frames=frames, canvas=canvas, seed=1)
        x, y = frames_of(train.videos), train.labels.repeat_interleave(frames)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            judge = FrameJudge()

            def batch_at(step: int):
                g = torch.Generator().manual_seed(step)
                idx = torch.randint(0, len(x), (64,), generator=g)
                return x[idx], y[idx]

            fit(judge, lambda m, b: F.cross_entropy(m(b[0]), b[1]), batch_at, steps=TRAIN_STEPS, lr=2e-3,
                device=torch.device("cpu"), progress=progress, desc="training the frame judge")
        torch.save(judge.state_dict(), path)
    judge.eval()
    accuracy = (judge.predict(frames_of(test.videos)) == test.labels.repeat_interleave(frames)).float().mean().item()
    return judge, accuracy
