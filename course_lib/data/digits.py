"""8x8 handwritten digits (scikit-learn's bundled copy, 1,797 images) and moving-digit clips.

Images are scaled to [-1, 1], the convention of diffusion models.
"""

from __future__ import annotations

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
