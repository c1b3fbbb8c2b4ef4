"""Sound for a silent video (day 16, with day 15's token LM): an impact at every wall hit
of a bouncing digit, generated with and without the video's event times.

The video's events come from its pixels: the digit's centre of brightness per frame,
and the frames where its velocity turns around on either axis (`wall_hits`). The token
LM writes one-second clips whose onset it can be told (`SoundCondition`'s onset, 0 to
0.2 s, in 20 ms codec frames); a soundtrack longer than a clip is written one window
per event, each window starting a random u ∈ [0, 0.2) s before the hit:

    conditioned:  onset = u          the sound should land on the hit
    without video: onset = "anywhere" (the null entry): the same kind of sound, placed
                   wherever the model likes inside its window

    clip = bouncing_clip(100, seed=0)                        # frames (T, 1, H, W), hit frames
    track = impact_soundtrack(lm, codec, clip.hits, 100, conditioned=True)
    errors = impact_errors(track.wave, clip.hits)            # video frames, per hit
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.checks import check_positive_int
from course_lib.data.sound_clips import CLASSES, CLIP_SAMPLES, MAX_ONSET, SAMPLE_RATE
from course_lib.data.sound_judge import sound_onsets
from course_lib.sync.avsync import VIDEO_FPS

__all__ = ["BouncingClip", "bouncing_clip", "digit_centres", "wall_hits", "Soundtrack", "impact_soundtrack",
           "impact_errors"]


@dataclass
class BouncingClip:
    """frames (T, 1, H, W) in [-1, 1] at VIDEO_FPS, and the true wall-hit frames (E,)."""
    frames: Tensor
    hits: Tensor


def digit_centres(frames: Tensor) -> Tensor:
    """The centre of brightness (row, col) of every frame (T, 1, H, W) in [-1, 1]: (T, 2)."""
    if not isinstance(frames, Tensor) or frames.ndim != 4:
        raise ValueError(f"frames must be a tensor (T, 1, H, W); got {getattr(frames, 'shape', type(frames))}")
    w = (frames[:, 0] + 1).clamp_min(0)                                  # (T, H, W), background 0
    rows = torch.arange(w.shape[1], dtype=w.dtype)[:, None]
    cols = torch.arange(w.shape[2], dtype=w.dtype)[None, :]
    mass = w.sum((1, 2)).clamp_min(1e-8)
    return torch.stack([(w * rows).sum((1, 2)) / mass, (w * cols).sum((1, 2)) / mass], dim=1)


def wall_hits(centres: Tensor, merge: int = 3) -> Tensor:
    """Frames where the motion turns around on either axis: between two consecutive moving
    steps of opposite direction (still steps in between, a wall reached between frames,
    are skipped), the hit is the first frame after the last step toward the wall. Hits
    closer than `merge` frames (both walls of a corner) count once. centres (T, 2) ->
    (E,) long, sorted."""
    v = centres[1:] - centres[:-1]                                       # step t -> t + 1, (T - 1, 2)
    hits = set()
    for axis in range(v.shape[1]):
        moving = torch.nonzero(v[:, axis].abs() > 1e-6).flatten().tolist()
        for i, j in zip(moving, moving[1:]):
            if v[i, axis] * v[j, axis] < 0:
                hits.add(i + 1)
    out = []
    for h in sorted(hits):
        if not out or h - out[-1] >= merge:
            out.append(h)
    return torch.tensor(out, dtype=torch.long)


def bouncing_clip(n_frames: int = 100, seed: int = 0, canvas: int = 48) -> BouncingClip:
    """A digit bouncing off the walls of a canvas x canvas frame at 2-4 pixels a frame
    (`data.digits.bounce_positions`); hits are read back from the pixels (`wall_hits`)."""
    from course_lib.data import digits

    check_positive_int(n_frames, "n_frames")
    images, _ = digits.load_digits16()
    size = images.shape[-1]
    g = torch.Generator().manual_seed(seed)
    image = images[int(torch.randint(len(images), (), generator=g))]
    start = tuple(torch.randint(0, canvas - size + 1, (2,), generator=g).tolist())
    speed = torch.randint(2, 5, (2,), generator=g)                       # pixels per frame
    sign = torch.randint(0, 2, (2,), generator=g) * 2 - 1
    velocity = tuple((speed * sign).tolist())
    positions = digits.bounce_positions(n_frames, canvas, size, start, velocity)
    frames = torch.full((n_frames, 1, canvas, canvas), -1.0)
    for f, (r, c) in enumerate(positions.tolist()):
        frames[f, :, r:r + size, c:c + size] = image
    return BouncingClip(frames, wall_hits(digit_centres(frames)))


@dataclass
class Soundtrack:
    """wave (N,) at 16 kHz; for every hit, its generated clip (E, CLIP_SAMPLES), the
    onset asked of the LM (seconds; −1: none) and where its window starts (samples)."""
    wave: Tensor
    clips: Tensor
    onsets: Tensor
    window_starts: Tensor


@torch.no_grad()
def impact_soundtrack(lm, codec, hits: Tensor, n_frames: int, conditioned: bool = True, kind: str = "kick",
                      fps: float = VIDEO_FPS, guidance: float = 2.0, temperature: float = 0.7,
                      seed: int = 0) -> Soundtrack:
    """One generated `kind` clip per hit, its window starting u ~ U[0, MAX_ONSET) s before
    the hit; the LM is told u (`conditioned`) or not (onset null). Windows are added
    into a track of n_frames / fps seconds (what falls outside is cut)."""
    from course_lib.audio.token_lm import sample_codes

    if kind not in CLASSES:
        raise ValueError(f"kind must be one of {CLASSES}; got {kind!r}")
    g = torch.Generator().manual_seed(seed)
    e = len(hits)
    length = int(round(n_frames / fps * SAMPLE_RATE))
    if e == 0:
        return Soundtrack(torch.zeros(length), torch.zeros(0, CLIP_SAMPLES), torch.zeros(0),
                          torch.zeros(0, dtype=torch.long))
    u = torch.rand(e, generator=g) * MAX_ONSET * 0.999
    labels = torch.full((e,), CLASSES.index(kind))
    onsets = u if conditioned else torch.full((e,), -1.0)
    codes = sample_codes(lm, labels, torch.full((e,), -1), torch.ones(e, dtype=torch.bool), onsets,
                         guidance=guidance, temperature=temperature, generator=g)
    clips = codec.decode(codes)                                          # (E, CLIP_SAMPLES)
    wave = torch.zeros(length + 2 * CLIP_SAMPLES)                          # room on both sides
    starts = torch.round((hits.double() / fps - u.double()) * SAMPLE_RATE).long()
    for clip, start in zip(clips, starts.tolist()):
        wave[CLIP_SAMPLES + start:CLIP_SAMPLES + start + CLIP_SAMPLES] += clip
    return Soundtrack(wave[CLIP_SAMPLES:CLIP_SAMPLES + length], clips, onsets, starts)


def impact_errors(track: Soundtrack, hits: Tensor, fps: float = VIDEO_FPS) -> Tensor:
    """(sound onset − hit time) in video frames, per hit (E,): > 0 means the sound is late.
    Each clip's onset is measured on the clip alone (neighbouring windows overlap)."""
    heard = track.window_starts.double() / SAMPLE_RATE + sound_onsets(track.clips).double()
    return (heard - hits.double() / fps) * fps
