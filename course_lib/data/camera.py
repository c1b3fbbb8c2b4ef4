"""Camera-motion clips and how to measure camera motion (day 07's camera LoRA).

A camera that pans left sees the world slide right. Here the world is a digit on a
black canvas, and the camera is a window moving over it (pans) or shrinking around its
centre (zoom in), so every clip has a known, global motion:

    move        camera velocity (rows, cols)/frame   content shift per frame
    pan_left        (0, -1)                              (0, +1)
    pan_right       (0, +1)                              (0, -1)
    pan_up          (-1, 0)                              (+1, 0)
    pan_down        (+1, 0)                              (-1, 0)
    zoom_in         window shrinks                       the digit grows
    static          (0, 0)                               none

`global_shift` measures a pan by phase correlation (the peak of the inverse FFT of the
normalised cross-power spectrum, as `cv2.phaseCorrelate` and scikit-image do); `ink_area`
measures a zoom.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.data.digits import IMAGE_SIZE, digits_split, load_digits

__all__ = ["CAMERA_MOVES", "camera_clip", "make_camera_clips", "global_shift", "clip_shifts", "clip_motion",
           "ink_area"]

CAMERA_MOVES = {"pan_left": (0, -1), "pan_right": (0, 1), "pan_up": (-1, 0), "pan_down": (1, 0),
                "zoom_in": None, "static": (0, 0)}
ZOOM_END = 0.6          # zoom_in: the last frame's window is 60 % of the canvas


def _check_move(move: str) -> None:
    if move not in CAMERA_MOVES:
        raise ValueError(f"move must be one of {sorted(CAMERA_MOVES)}; got {move!r}")


def camera_clip(image: torch.Tensor, move: str, frames: int = 8, canvas: int = 12) -> torch.Tensor:
    """A clip (frames, 1, canvas, canvas) in [-1, 1] of `image` (1, 8, 8) filmed by a
    camera making `move`: pans slide a canvas-sized window 1 pixel per frame over a
    larger black world; zoom_in
    crops a window shrinking linearly to ZOOM_END of the canvas and resizes it back.

    A pan sweeps across the digit: the window's path is centred on it, so the digit
    enters from one side and the middle frames (f = (frames - 1) // 2) show it centred."""
    _check_move(move)
    if image.shape != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"image must be (1, {IMAGE_SIZE}, {IMAGE_SIZE}); got {tuple(image.shape)}")
    if not isinstance(frames, int) or frames < 2 or not isinstance(canvas, int) or canvas < IMAGE_SIZE:
        raise ValueError(f"frames must be an int >= 2 and canvas an int >= {IMAGE_SIZE}; got {frames!r}, {canvas!r}")
    margin = frames                                               # room for a pan of frames - 1 pixels
    world = torch.full((1, canvas + 2 * margin, canvas + 2 * margin), -1.0)
    top = margin + (canvas - IMAGE_SIZE) // 2
    world[:, top:top + IMAGE_SIZE, top:top + IMAGE_SIZE] = image
    out = torch.empty(frames, 1, canvas, canvas)
    for f in range(frames):
        if move == "zoom_in":
            size = canvas * (1 - (1 - ZOOM_END) * f / (frames - 1))
            lo = margin + (canvas - size) / 2
            grid_1d = lo + (torch.arange(canvas) + 0.5) * size / canvas - 0.5      # sample centres (pixels)
            norm = grid_1d / (world.shape[-1] - 1) * 2 - 1
            grid = torch.stack(torch.meshgrid(norm, norm, indexing="xy"), dim=-1)[None]
            out[f] = F.grid_sample(world[None], grid, mode="bilinear", align_corners=True)[0]
        else:
            dr, dc = CAMERA_MOVES[move]
            r, c = margin + dr * (f - (frames - 1) // 2), margin + dc * (f - (frames - 1) // 2)
            out[f] = world[:, r:r + canvas, c:c + canvas]
    return out


def make_camera_clips(move: str, n: int = 200, frames: int = 8, canvas: int = 12, split: str = "train",
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` clips of random digits of a split filmed with `move`: (videos (n, 1, frames,
    canvas, canvas) in [-1, 1], labels (n,)). Deterministic given the arguments."""
    _check_move(move)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    images, labels = load_digits()
    pool = digits_split()[0 if split == "train" else 1]
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    index = pool[torch.randint(0, len(pool), (n,), generator=g)]
    videos = torch.stack([camera_clip(images[i], move, frames, canvas).transpose(0, 1) for i in index.tolist()])
    return videos, labels[index]


def global_shift(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int]:
    """The integer shift (rows, cols) that moves frame `a` (H, W) onto frame `b`, by phase
    correlation: argmax of IFFT(B · conj(A) / |B · conj(A)|), wrapped to [-H/2, H/2)."""
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must be two frames (H, W) of one shape; got {tuple(a.shape)}, {tuple(b.shape)}")
    fa, fb = torch.fft.fft2(a.double() - a.double().mean()), torch.fft.fft2(b.double() - b.double().mean())
    cross = fb * fa.conj()
    corr = torch.fft.ifft2(cross / cross.abs().clamp(min=1e-12)).real
    r, c = divmod(int(corr.argmax()), a.shape[1])
    h, w = a.shape
    return (r - h if r >= h // 2 else r, c - w if c >= w // 2 else c)


def clip_shifts(video: torch.Tensor) -> torch.Tensor:
    """(C, T, H, W) clip -> (T - 1, 2) global shift between consecutive frames (channel 0)."""
    if video.ndim != 4:
        raise ValueError(f"video must be (C, T, H, W); got {tuple(video.shape)}")
    return torch.tensor([global_shift(video[0, f], video[0, f + 1]) for f in range(video.shape[1] - 1)])


def clip_motion(video: torch.Tensor, gap: int | None = None) -> torch.Tensor:
    """(C, T, H, W) clip -> (2,) float: its content's motion per frame (rows, cols), the
    median over f of `global_shift(frame f, frame f + gap)` / gap.

    Phase correlation finds whole-pixel shifts; a generated clip that moves 0.7 pixel
    per frame shows 0 or 1 between neighbouring frames, but about 2 over three frames.
    So the default gap is (T - 1) // 2 frames (3 for 8 frames): sub-pixel motion adds
    up to whole pixels, and the median of the T - gap measurements ignores the frames
    where the border cuts the digit."""
    if video.ndim != 4:
        raise ValueError(f"video must be (C, T, H, W); got {tuple(video.shape)}")
    frames = video.shape[1]
    gap = (frames - 1) // 2 if gap is None else gap
    if not isinstance(gap, int) or not 1 <= gap < frames:
        raise ValueError(f"gap must be an int in [1, {frames - 1}]; got {gap!r}")
    shifts = torch.tensor([global_shift(video[0, f], video[0, f + gap]) for f in range(frames - gap)],
                          dtype=torch.float32)
    return shifts.median(dim=0).values / gap


def ink_area(video: torch.Tensor) -> torch.Tensor:
    """(C, T, H, W) clip -> (T,) share of pixels with ink (`video_metrics.ink`, the
    course's one definition): grows while a camera zooms in on the digit."""
    from course_lib.video_metrics import ink

    if video.ndim != 4:
        raise ValueError(f"video must be (C, T, H, W); got {tuple(video.shape)}")
    return (ink(video[None]) > 0).float().mean(dim=(-2, -1))[0]
