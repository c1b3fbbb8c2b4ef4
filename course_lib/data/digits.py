"""8x8 handwritten digits (scikit-learn's bundled copy, 1,797 images) and moving-digit clips.

Images are scaled to [-1, 1], the convention of diffusion models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

IMAGE_SIZE = 8
PIXEL_MAX = 16.0  # load_digits stores intensities 0..16


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits: images (N, 1, 8, 8) float32 in [-1, 1], labels (N,) int64."""
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1)   # (N, 1, 8, 8)
    return images / PIXEL_MAX * 2 - 1, torch.tensor(data.target, dtype=torch.int64)


def bounce_positions(frames: int, canvas: int, size: int, start: tuple[int, int],
                     velocity: tuple[int, int]) -> torch.Tensor:
    """Top-left corners (frames, 2) as (row, col) of a size x size sprite bouncing
    off the walls of a canvas x canvas frame, moving `velocity` pixels per frame."""
    span = canvas - size
    if span < 0:
        raise ValueError(f"canvas ({canvas}) must be at least the sprite size ({size})")
    if not all(0 <= s <= span for s in start):
        raise ValueError(f"start must lie in [0, {span}] on both axes; got {start}")
    t = torch.arange(frames)
    out = []
    for s, v in zip(start, velocity):
        # Unfold the bounce: travel on a line of length 2*span, then mirror.
        p = (s + v * t) % (2 * span) if span > 0 else torch.zeros_like(t)
        out.append(torch.where(p > span, 2 * span - p, p))
    return torch.stack(out, dim=1)


def moving_digit_clip(image: torch.Tensor, frames: int = 16, canvas: int = 32,
                      start: tuple[int, int] = (0, 0), velocity: tuple[int, int] = (2, 1)) -> torch.Tensor:
    """A clip (frames, 1, canvas, canvas) in [-1, 1] of `image` (1, h, w) bouncing on a black canvas."""
    if image.ndim != 3 or image.shape[0] != 1:
        raise ValueError(f"image must be (1, h, w); got {tuple(image.shape)}")
    size = image.shape[-1]
    clip = torch.full((frames, 1, canvas, canvas), -1.0)
    for f, (r, c) in enumerate(bounce_positions(frames, canvas, size, start, velocity).tolist()):
        clip[f, :, r:r + size, c:c + size] = image
    return clip


# ---------------------------------------------------------------- splits and sizes

def digits_split(seed: int = 0, test_fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified train/test indices into `load_digits()` (fixed by `seed`)."""
    from sklearn.model_selection import train_test_split

    _, labels = load_digits()
    idx = torch.arange(len(labels))
    train, test = train_test_split(idx.numpy(), test_size=test_fraction, random_state=seed,
                                   stratify=labels.numpy())
    return torch.as_tensor(train), torch.as_tensor(test)


def upscale(images: torch.Tensor, size: int = 16) -> torch.Tensor:
    """(N, 1, 8, 8) -> (N, 1, size, size) by bilinear interpolation, still in [-1, 1]."""
    import torch.nn.functional as F

    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W); got {tuple(images.shape)}")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(-1, 1)


def load_digits16() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits upscaled to 16x16: images (N, 1, 16, 16) in [-1, 1], labels (N,)."""
    images, labels = load_digits()
    return upscale(images, 16), labels


# ---------------------------------------------------------------- moving-digit videos

MOVING_DIGITS_VERSION = 1
DIRECTIONS = {(-1, 0): "up", (1, 0): "down", (0, -1): "left", (0, 1): "right",
              (-1, -1): "up-left", (-1, 1): "up-right", (1, -1): "down-left", (1, 1): "down-right"}


@dataclass
class MovingDigits:
    """N clips of one 8x8 digit bouncing on a canvas x canvas black frame.

    videos (N, 1, T, H, W) float32 in [-1, 1]; labels (N,) digit class; digit_index (N,)
    index into `load_digits()`; positions (N, T, 2) top-left (row, col) of the digit in each
    frame; velocities (N, 2) pixels per frame (row, col) at the start (the walls flip the
    sign); captions, e.g. "a 3 moving left" (the initial direction).
    """
    videos: torch.Tensor
    labels: torch.Tensor
    digit_index: torch.Tensor
    positions: torch.Tensor
    velocities: torch.Tensor
    captions: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def caption(label: int, velocity: tuple[int, int]) -> str:
    """"a 3 moving up-left": the digit and the compass direction of `velocity` (row, col)."""
    sign = tuple(int(v > 0) - int(v < 0) for v in velocity)
    if sign not in DIRECTIONS:
        raise ValueError(f"velocity must be non-zero; got {velocity}")
    return f"a {label} moving {DIRECTIONS[sign]}"


def make_moving_digits(split: str = "train", n: int = 1000, frames: int = 8, canvas: int = 16,
                       speeds: tuple[int, ...] = (1, 2), seed: int = 0, start: str = "uniform") -> MovingDigits:
    """Generate `n` clips from the digits of one split ("train" or "test" of `digits_split`).

    Each clip: a random digit of the split, a start position, one of the 8 compass
    directions and a speed from `speeds` (pixels per frame on each moving axis).
    start "uniform": anywhere on the canvas (a digit may bounce off a wall at once, against
    its caption); "behind": on each moving axis at the wall behind the motion, so the
    digit travels the caption's way until it reaches the far wall (day 08's captions).
    Deterministic given the arguments.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if start not in ("uniform", "behind"):
        raise ValueError(f"start must be 'uniform' or 'behind'; got {start!r}")
    if canvas < IMAGE_SIZE:
        raise ValueError(f"canvas must be >= {IMAGE_SIZE} (the digit size); got {canvas}")
    if not isinstance(n, int) or n < 1 or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"n and frames must be positive ints; got n={n!r}, frames={frames!r}")
    images, labels = load_digits()
    pool = digits_split()[0 if split == "train" else 1]
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    digit_index = pool[torch.randint(0, len(pool), (n,), generator=g)]
    span = canvas - IMAGE_SIZE
    starts = torch.randint(0, span + 1, (n, 2), generator=g)
    dirs = list(DIRECTIONS)
    direction = torch.tensor(dirs)[torch.randint(0, len(dirs), (n,), generator=g)]      # (n, 2)
    speed = torch.tensor(speeds)[torch.randint(0, len(speeds), (n,), generator=g)]
    velocities = direction * speed[:, None]
    if start == "behind":                                   # the wall behind each moving axis
        starts = torch.where(direction > 0, 0, torch.where(direction < 0, span, starts))
    videos = torch.empty(n, 1, frames, canvas, canvas)
    positions = torch.empty(n, frames, 2, dtype=torch.int64)
    for i in range(n):
        start, vel = tuple(starts[i].tolist()), tuple(velocities[i].tolist())
        positions[i] = bounce_positions(frames, canvas, IMAGE_SIZE, start, vel)
        videos[i] = moving_digit_clip(images[digit_index[i]], frames, canvas, start, vel).transpose(0, 1)
    clip_labels = labels[digit_index]
    captions = [caption(int(y), tuple(v)) for y, v in zip(clip_labels.tolist(), velocities.tolist())]
    return MovingDigits(videos, clip_labels, digit_index, positions, velocities, captions)


def load_moving_digits(split: str = "train", n: int = 1000, frames: int = 8, canvas: int = 16,
                       speeds: tuple[int, ...] = (1, 2), seed: int = 0, start: str = "uniform") -> MovingDigits:
    """`make_moving_digits`, cached in artifacts/data/ (keyed by the arguments and a version)."""
    from dataclasses import asdict

    from course_lib.runtime import artifacts_dir

    name = (f"moving_digits_v{MOVING_DIGITS_VERSION}_{split}_n{n}_t{frames}_c{canvas}_v{'-'.join(map(str, speeds))}"
            f"_s{seed}{'' if start == 'uniform' else '_' + start}.pt")
    path = artifacts_dir("data") / name
    if path.exists():
        return MovingDigits(**torch.load(path, weights_only=False))
    data = make_moving_digits(split, n, frames, canvas, speeds, seed, start)
    tmp = path.with_suffix(".tmp")
    torch.save(asdict(data), tmp)
    tmp.replace(path)
    return data


@dataclass(frozen=True)
class MovingDigitsSpec:
    """Which moving-digit clips a recipe trains on: `clips` clips of `frames` frames on a
    `canvas` x `canvas` frame, digits moving `speeds` pixels per frame, generated from
    `seed` (`make_moving_digits`). A field of every recipe trained on moving digits (the
    video DiT, the VAE, the frame judge), so that it is part of their checkpoint keys.

        spec = MovingDigitsSpec(clips=2000, frames=8, canvas=12, speeds=(1,))
        train = spec.load("train")          # MovingDigits, cached in artifacts/data/
    """
    clips: int = 2000
    frames: int = 8
    canvas: int = 12
    speeds: tuple[int, ...] = (1,)
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "speeds", tuple(self.speeds))
        if not isinstance(self.clips, int) or self.clips < 1:
            raise ValueError(f"clips must be a positive int; got {self.clips!r}")
        if not self.speeds or any(not isinstance(s, int) or s < 1 for s in self.speeds):
            raise ValueError(f"speeds must be positive ints; got {self.speeds!r}")

    def load(self, split: str = "train") -> MovingDigits:
        """The clips of `split` ("train": digits of the training split; "test": held out)."""
        return load_moving_digits(split, n=self.clips, frames=self.frames, canvas=self.canvas,
                                  speeds=self.speeds, seed=self.seed)
