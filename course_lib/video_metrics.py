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

Day 08's captions and stills add three, all non-learned:

    motion_direction       (N, 2) signs (row, col) of the centroid's fitted velocity over
                           the first frames: the compass direction a caption names
    direction_accuracy     fraction of clips whose `motion_direction` is the commanded one
    trajectory_error       (N,) RMS distance in pixels between two clips' centroid paths
    frame_psnr             (N,) PSNR (dB) of one frame of each clip against given stills
    caption_scores         per clip: does the judge read the caption's digit, the tracker its
                           direction, and both (day 08's digit / direction / joint accuracy)
    still_identity         (N,) mean (or (N, T) per frame) Pearson correlation of every frame's
                           aligned crop with the still's: 1 = the still's very digit
    crop_correlation       (N, T) Pearson correlation of two videos' aligned crops, frame
                           by frame (day 19: a generated stream against the true one)
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
    return (_judged_frames(videos, judge) == labels.cpu()[:, None]).float().mean().item()


def _judged_frames(videos: Tensor, judge=None) -> Tensor:
    """(N, 1, T, H, W) -> (N, T): the frame judge's digit for every frame (day 05's judge
    for this canvas and frame count when `judge` is None)."""
    from course_lib.data.frame_judge import frames_of, load_frame_judge

    if judge is None:
        judge, _ = load_frame_judge(canvas=videos.shape[-1], frames=videos.shape[2])
    return judge.predict(frames_of(videos.detach().cpu())).view(len(videos), -1)


def video_report(videos: Tensor, labels: Tensor, judge=None) -> dict[str, float]:
    """{"accuracy", "consistency", "motion_error", "flicker"} for videos (N, 1, T, H, W)
    in [-1, 1] meant to show digits `labels` (N,). Higher is better for the first two,
    lower for the last two."""
    videos = videos.detach().cpu()
    return {"accuracy": frame_accuracy(videos, labels, judge),
            "consistency": appearance_consistency(videos),
            "motion_error": motion_error(videos),
            "flicker": flicker(videos)}


def motion_direction(videos: Tensor, frames: int = 5, min_speed: float = 0.3) -> Tensor:
    """(N, 1, T, H, W) -> (N, 2) int64 in {-1, 0, 1}: per axis (row, col), the sign of the
    least-squares slope of the ink centroid over the first `frames` frames (before a clip
    that starts at a wall can bounce off the far one), 0 where |slope| < `min_speed`
    pixels per frame. A digit moving "up-left" gives (-1, -1); one standing still (0, 0)."""
    _check_videos(videos)
    if not 2 <= frames <= videos.shape[2]:
        raise ValueError(f"frames must be in [2, {videos.shape[2]}]; got {frames!r}")
    path = track_digit(videos)[:, :frames]                               # (N, F, 2)
    t = torch.arange(frames, dtype=torch.float32)
    t = (t - t.mean())[None, :, None]
    slope = (t * (path - path.mean(1, keepdim=True))).sum(1) / t.pow(2).sum()   # (N, 2) px / frame
    return torch.where(slope.abs() >= min_speed, slope.sign(), torch.zeros_like(slope)).long()


def direction_accuracy(videos: Tensor, velocities: Tensor, frames: int = 5) -> float:
    """Fraction of clips whose `motion_direction` equals the sign of the commanded
    `velocities` (N, 2) (row, col) on both axes."""
    if velocities.shape != (videos.shape[0], 2):
        raise ValueError(f"velocities must be ({videos.shape[0]}, 2); got {tuple(velocities.shape)}")
    hit = motion_direction(videos, frames) == velocities.sign().long().cpu()
    return hit.all(-1).float().mean().item()


def trajectory_error(videos: Tensor, reference: Tensor) -> Tensor:
    """(N,) RMS distance in pixels between the centroid paths of `videos` and `reference`
    (both (N, 1, T, H, W)): 0 when every frame's digit sits where the reference's does."""
    _check_videos(reference, "reference")
    if videos.shape != reference.shape:
        raise ValueError(f"videos and reference must have one shape; got {tuple(videos.shape)} "
                         f"and {tuple(reference.shape)}")
    return (track_digit(videos) - track_digit(reference)).pow(2).sum(-1).mean(-1).sqrt()


def frame_psnr(videos: Tensor, stills: Tensor, frame: int = 0) -> Tensor:
    """(N,) PSNR in dB of frame `frame` of `videos` (N, 1, T, H, W) against `stills`
    (N, 1, H, W), both in [-1, 1] (peak-to-peak 2): 10 log10(2^2 / MSE), inf for an exact copy."""
    _check_videos(videos)
    if stills.shape != (videos.shape[0], 1, *videos.shape[-2:]):
        raise ValueError(f"stills must be ({videos.shape[0]}, 1, {videos.shape[-2]}, {videos.shape[-1]}); "
                         f"got {tuple(stills.shape)}")
    mse = (videos[:, :, frame].float() - stills.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse)                                  # inf where the frame is the still


def still_identity(videos: Tensor, stills: Tensor, size: int = DIGIT_SIZE, per_frame: bool = False) -> Tensor:
    """(N,) mean over frames — or (N, T) frame by frame with `per_frame` — of the Pearson
    correlation between each frame's aligned crop and the aligned crop of the still
    (N, 1, H, W): 1.0 when a frame shows the still's own digit (anywhere on the canvas),
    about the same-class correlation (~0.6-0.7) for another writer's instance of the same
    digit, lower for another digit."""
    _check_videos(videos)
    if stills.shape != (videos.shape[0], 1, *videos.shape[-2:]):
        raise ValueError(f"stills must be ({videos.shape[0]}, 1, {videos.shape[-2]}, {videos.shape[-1]}); "
                         f"got {tuple(stills.shape)}")
    frames = _unit(aligned_crops(videos, size).flatten(2))                           # (N, T, s*s)
    still = _unit(aligned_crops(stills[:, :, None].expand(-1, -1, 2, -1, -1), size)[:, 0].flatten(1))  # (N, s*s)
    corr = torch.einsum("ntp,np->nt", frames, still)                                   # (N, T)
    return corr if per_frame else corr.mean(-1)


def crop_correlation(videos: Tensor, reference: Tensor, size: int = DIGIT_SIZE) -> Tensor:
    """(N, T) Pearson correlation between the aligned crops of `videos` and of `reference`
    (both (N, 1, T, H, W)) frame by frame: 1 when each frame shows the reference frame's
    very digit, wherever it sits."""
    _check_videos(videos)
    _check_videos(reference, "reference")
    if videos.shape[:3] != reference.shape[:3]:
        raise ValueError(f"reference must have the clips and frames of videos {tuple(videos.shape[:3])}; "
                         f"got {tuple(reference.shape[:3])}")
    a, b = (_unit(aligned_crops(v, size).flatten(2)) for v in (videos, reference))
    return (a * b).sum(-1)


def caption_scores(videos: Tensor, labels: Tensor, velocities: Tensor, judge=None) -> dict[str, Tensor]:
    """{"digit", "direction", "joint"}: (N,) bool per clip of videos (N, 1, T, H, W) meant
    to show digit `labels` (N,) moving along `velocities` (N, 2): "digit" when the frame
    judge reads the digit in more than half of the frames, "direction" when
    `motion_direction` is the commanded one, "joint" when both (the clip is what its
    caption says). Their means are the accuracies."""
    _check_videos(videos)
    if labels.shape != (videos.shape[0],):
        raise ValueError(f"labels must be ({videos.shape[0]},); got {tuple(labels.shape)}")
    if velocities.shape != (videos.shape[0], 2):
        raise ValueError(f"velocities must be ({videos.shape[0]}, 2); got {tuple(velocities.shape)}")
    digit = (_judged_frames(videos, judge) == labels.cpu()[:, None]).float().mean(1) > 0.5
    direction = (motion_direction(videos.detach().cpu()) == velocities.sign().long().cpu()).all(-1)
    return {"digit": digit, "direction": direction, "joint": digit & direction}
