"""Video metrics for moving-digit clips: is it the right digit, the same digit, moving
smoothly, on a steady background?

All functions take videos (N, 1, T, H, W) in [-1, 1] with one digit of size `size`
(8) per frame, and return plain floats (means over clips) unless said otherwise.

    frame_accuracy         fraction of frames the frame judge labels as the clip's class
    track_digit            (N, T, 2) ink centroid (row, col) of every frame
    aligned_crops          (N, T, size, size) crops centred on the tracked digit
    appearance_consistency mean Pearson correlation between the aligned crops of every
                           pair of frames of a clip (1 = the same instance in every frame)
    motion_error           RMS distance (pixels) between the tracked path and the best
                           constant-velocity bounce (0 = perfectly smooth physical motion)
    flicker                mean |x_{t+1} - x_t| over pixels away from the digit in both frames
    video_report           all four at once, as a dict
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DIGIT_SIZE = 8
INK_THRESHOLD = 0.2        # pixels brighter than this (on a 0..1 scale) count as ink


def _check_videos(videos: Tensor, name: str = "videos") -> None:
    if not isinstance(videos, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(videos).__name__}")
    if videos.ndim != 5 or videos.shape[1] != 1:
        raise ValueError(f"{name} must be (N, 1, T, H, W); got {tuple(videos.shape)}")
    if videos.shape[2] < 2:
        raise ValueError(f"{name} must have at least 2 frames; got T = {videos.shape[2]}")


def ink(videos: Tensor) -> Tensor:
    """(N, 1, T, H, W) in [-1, 1] -> (N, T, H, W) ink weights >= 0 (background -1 -> 0)."""
    return ((videos[:, 0].float() + 1) / 2 - INK_THRESHOLD).clamp(min=0)


def track_digit(videos: Tensor) -> Tensor:
    """(N, 1, T, H, W) -> (N, T, 2) ink centroid (row, col) of each frame, in pixels.
    A frame without ink gets the canvas centre."""
    _check_videos(videos)
    w = ink(videos)                                                      # (N, T, H, W)
    h, wd = w.shape[-2:]
    rows = torch.arange(h, dtype=torch.float32)[:, None]
    cols = torch.arange(wd, dtype=torch.float32)[None, :]
    mass = w.sum(dim=(-2, -1))                                           # (N, T)
    safe = mass.clamp(min=1e-6)
    r = (w * rows).sum(dim=(-2, -1)) / safe
    c = (w * cols).sum(dim=(-2, -1)) / safe
    centre = torch.tensor([(h - 1) / 2, (wd - 1) / 2])
    out = torch.stack([r, c], dim=-1)                                    # (N, T, 2)
    return torch.where(mass[..., None] > 1e-6, out, centre)


def aligned_crops(videos: Tensor, size: int = DIGIT_SIZE) -> Tensor:
    """(N, 1, T, H, W) -> (N, T, size, size): the size x size window whose centre is the
    tracked centroid (rounded), cut from the frame padded with background, so a digit
    moved by whole pixels gives the identical crop wherever it is."""
    _check_videos(videos)
    n, _, t, h, w = videos.shape
    centre = track_digit(videos)
    top_left = (centre - (size - 1) / 2).round().long() + size           # (N, T, 2) in the padded frame
    padded = F.pad(videos[:, 0].float(), (size, size, size, size), value=-1.0)   # (N, T, H+2s, W+2s)
    offs = torch.arange(size)
    rows = (top_left[..., 0, None] + offs)[..., :, None]                # (N, T, size, 1)
    cols = (top_left[..., 1, None] + offs)[..., None, :]                # (N, T, 1, size)
    ni = torch.arange(n)[:, None, None, None]
    ti = torch.arange(t)[None, :, None, None]
    return padded[ni, ti, rows, cols]                                    # (N, T, size, size)


def _unit(z: Tensor) -> Tensor:
    """Flattened crops (..., P) -> mean-removed, unit-norm (Pearson correlation = dot product)."""
    z = z - z.mean(-1, keepdim=True)
    return z / z.norm(dim=-1, keepdim=True).clamp(min=1e-6)


def consistency_per_clip(videos: Tensor, size: int = DIGIT_SIZE, search: int = 0) -> Tensor:
    """(N,) mean Pearson correlation between the aligned crops of all pairs of frames t < t'.

    search = k also tries every shift of the second crop by up to k pixels and keeps the
    best correlation, which forgives a tracker that is off by a pixel.
    """
    if not isinstance(search, int) or search < 0:
        raise ValueError(f"search must be a non-negative int; got {search!r}")
    big = aligned_crops(videos, size + 2 * search)                       # (N, T, s+2k, s+2k)
    inner = _unit(big[..., search:search + size, search:search + size].flatten(2))   # (N, T, s*s)
    shifted = big.unfold(2, size, 1).unfold(3, size, 1)                 # (N, T, 2k+1, 2k+1, s, s)
    shifted = _unit(shifted.flatten(4).flatten(2, 3))                   # (N, T, K, s*s)
    corr = torch.einsum("nap,nbkp->nabk", inner, shifted).amax(-1)      # (N, T, T): best shift
    t = corr.shape[-1]
    upper = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return corr[:, upper].mean(-1)


def appearance_consistency(videos: Tensor, size: int = DIGIT_SIZE, search: int = 0) -> float:
    """Mean over clips of `consistency_per_clip`: 1.0 when every frame shows the same
    instance (any motion by whole pixels), about the same-class correlation (~0.5-0.7)
    when each frame shows a different instance of the digit."""
    return consistency_per_clip(videos, size, search).mean().item()


def bounce_paths(frames: int, span: float, starts: Tensor, velocities: Tensor) -> Tensor:
    """(K,) starts and (K,) velocities -> (K, frames) positions bouncing in [0, span]
    (real-valued generalisation of `data.digits.bounce_positions`)."""
    t = torch.arange(frames, dtype=torch.float32)
    p = torch.remainder(starts[:, None] + velocities[:, None] * t, 2 * span)
    return torch.where(p > span, 2 * span - p, p)


def motion_error_per_clip(videos: Tensor, size: int = DIGIT_SIZE, max_speed: float = 3.0) -> Tensor:
    """(N,) RMS distance in pixels between the tracked centroid path and the closest
    constant-velocity bounce path (searched on a grid of starts and speeds per axis,
    with a free constant offset between the digit's corner and its ink centroid)."""
    path = track_digit(videos)                                           # (N, T, 2)
    n, t, _ = path.shape
    err = torch.zeros(n)
    for axis in range(2):
        span = float(videos.shape[-2 + axis] - size)
        starts = torch.linspace(0, span, int(4 * span) + 1)
        speeds = torch.linspace(-max_speed, max_speed, int(8 * max_speed) + 1)
        s, v = torch.meshgrid(starts, speeds, indexing="ij")
        cand = bounce_paths(t, span, s.flatten(), v.flatten())          # (K, T)
        resid = path[:, None, :, axis] - cand[None]                      # (N, K, T)
        resid = resid - resid.mean(-1, keepdim=True)                     # the free offset
        err += resid.pow(2).mean(-1).min(dim=1).values                  # (N,) best candidate
    return err.sqrt()


def motion_error(videos: Tensor, size: int = DIGIT_SIZE) -> float:
    """Mean over clips of `motion_error_per_clip` (pixels; 0 for a real bouncing digit)."""
    return motion_error_per_clip(videos, size).mean().item()


def flicker(videos: Tensor, size: int = DIGIT_SIZE, margin: int = 1) -> float:
    """Mean |x_{t+1} - x_t| (on the [-1, 1] scale) over the pixels outside the digit's
    window (the aligned crop grown by `margin`) in both frames: background that should
    stay still but crawls or blinks. 0 for a clean real clip."""
    _check_videos(videos)
    n, _, t, h, w = videos.shape
    top_left = (track_digit(videos) - (size - 1) / 2).round().long() - margin   # (N, T, 2)
    rows = torch.arange(h)[None, None, :]
    cols = torch.arange(w)[None, None, :]
    inside_r = (rows >= top_left[..., 0:1]) & (rows < top_left[..., 0:1] + size + 2 * margin)   # (N, T, H)
    inside_c = (cols >= top_left[..., 1:2]) & (cols < top_left[..., 1:2] + size + 2 * margin)   # (N, T, W)
    inside = inside_r[..., :, None] & inside_c[..., None, :]            # (N, T, H, W)
    away = ~(inside[:, 1:] | inside[:, :-1])                            # (N, T-1, H, W)
    diff = (videos[:, 0, 1:].float() - videos[:, 0, :-1].float()).abs()
    return (diff * away).sum().item() / away.sum().clamp(min=1).item()


def frame_accuracy(videos: Tensor, labels: Tensor, judge=None) -> float:
    """Fraction of all frames that the frame judge (`data.frame_judge`) labels as the clip's class."""
    _check_videos(videos)
    if labels.shape != (videos.shape[0],):
        raise ValueError(f"labels must be ({videos.shape[0]},); got {tuple(labels.shape)}")
    if judge is None:
        from course_lib.data.frame_judge import load_frame_judge
        judge, _ = load_frame_judge(canvas=videos.shape[-1], frames=videos.shape[2])
    from course_lib.data.frame_judge import frames_of
    predicted = judge.predict(frames_of(videos)).view(len(labels), -1)   # (N, T)
    return (predicted == labels.cpu()[:, None]).float().mean().item()


def video_report(videos: Tensor, labels: Tensor, judge=None) -> dict[str, float]:
    """{"accuracy", "consistency", "motion_error", "flicker"} for videos (N, 1, T, H, W)
    in [-1, 1] meant to show digits `labels` (N,). Higher is better for the first two,
    lower for the last two."""
    videos = videos.detach().cpu()
    return {"accuracy": frame_accuracy(videos, labels, judge),
            "consistency": appearance_consistency(videos),
            "motion_error": motion_error(videos),
            "flicker": flicker(videos)}
