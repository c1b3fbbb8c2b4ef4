"""Audio-visual offset: is the sound late or early relative to the picture, and by how much?

    result = offset_search(video_emb, audio_emb, max_offset=15)    # (T, D), (T, D) per frame
    result.offset, result.min_distance, result.confidence          # frames, LSE-D, LSE-C style

Two ways to get per-frame features to compare, both searched the same way:
- day 16: a hand-made 1-D pair, the audio onset strength pooled per video frame
  (`audio_onset_envelope`) and the visual motion energy (`motion_energy`), compared by
  normalised cross-correlation (`cross_correlation_offset`);
- day 17: learned SyncNet-style embeddings of 5-frame video windows (`video_windows`) and
  the matching 0.2 s of 80 Hz mels (`mel_windows`), compared by a distance.

SIGN CONVENTION (shared by every function here): offset k > 0 means the AUDIO IS DELAYED
by k video frames: the sound of video frame t is heard at audio frame t + k.
`delay_audio(wave, k, sample_rate)` makes such a clip from a synced one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.checks import check_choice, check_positive_int, check_range

__all__ = ["VIDEO_FPS", "MEL_RATE", "OffsetResult", "offset_result", "offset_search",
           "cross_correlation_offset", "delay_audio", "mel_windows", "video_windows",
           "audio_onset_envelope", "motion_energy", "av_offset", "peak_margin", "AVClip",
           "cut_video", "event_clip"]

VIDEO_FPS = 25          # frames per second of every video in days 16-17
MEL_RATE = 80           # mel frames per second: data.speech.log_mel (16 kHz, hop 200)
DISTANCES = ("cosine", "euclidean")


@dataclass
class OffsetResult:
    """The outcome of an offset search over candidates -K..K (video frames).

    offset: the best candidate, argmin of `distances` (k > 0: audio delayed by k frames).
    offsets: (2K+1,) the candidates -K..K. distances: (2K+1,) mean distance at each.
    min_distance: distances.min() (SyncNet's LSE-D; lower = better matched).
    confidence: distances.median() - distances.min() (SyncNet's LSE-C; higher = surer).
    """

    offset: int
    offsets: Tensor
    distances: Tensor
    min_distance: float
    confidence: float


# ---------------------------------------------------------------- argument checks

def _check_tensor(x, name: str, ndims: tuple[int, ...], what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim not in ndims or not x.is_floating_point():
        raise ValueError(f"{name} must be a {what} float tensor; got {tuple(x.shape)} {x.dtype}")


def _check_max_offset(max_offset, length: int) -> None:
    check_positive_int(max_offset, "max_offset", allow_zero=True)
    if length <= max_offset:
        raise ValueError(f"need more frames than max_offset ({max_offset}) so every candidate "
                         f"offset has frames to compare; got T = {length}")


def offset_result(offsets: Tensor, distances: Tensor) -> OffsetResult:
    """The OffsetResult of a distance curve: (2K+1,) candidate offsets and distances."""
    best = int(torch.argmin(distances))
    return OffsetResult(offset=int(offsets[best]), offsets=offsets, distances=distances,
                        min_distance=float(distances[best]),
                        confidence=float(distances.median() - distances[best]))


def _overlap(k: int, length: int) -> tuple[slice, slice]:
    """Frames t with 0 <= t < T and 0 <= t + k < T: (video slice, audio slice)."""
    return slice(max(0, -k), length - max(0, k)), slice(max(0, k), length - max(0, -k))


# ---------------------------------------------------------------- offset search

def offset_search(video_emb: Tensor, audio_emb: Tensor, max_offset: int = 15,
                  distance: str = "cosine") -> OffsetResult:
    """Try every offset k in -K..K; keep the one where video and audio agree best.

        d(k) = mean_t dist(v_t, a_{t+k})   over the frames t where both exist,
        offset = argmin_k d(k),  LSE-D = min_k d(k),  LSE-C = median_k d(k) - min_k d(k)

    dist is "cosine" (1 - cos(v, a), in [0, 2]) or "euclidean" (||v - a||_2, SyncNet's).
    video_emb: (T, D), one embedding per video frame; audio_emb: (T, D), the audio
    embedding aligned to each video frame. k > 0: the audio is delayed by k frames.
    Returns an OffsetResult with offsets and distances of shape (2K+1,).
    """
    _check_tensor(video_emb, "video_emb", (2,), "(T, D)")
    _check_tensor(audio_emb, "audio_emb", (2,), "(T, D)")
    if video_emb.shape != audio_emb.shape:
        raise ValueError(f"video_emb and audio_emb must have the same (T, D) shape; "
                         f"got {tuple(video_emb.shape)} and {tuple(audio_emb.shape)}")
    check_choice(distance, "distance", DISTANCES)
    length = video_emb.shape[0]
    _check_max_offset(max_offset, length)
    video_emb, audio_emb = video_emb.detach().double(), audio_emb.detach().double()
    offsets = torch.arange(-max_offset, max_offset + 1)
    distances = torch.empty(len(offsets), dtype=torch.float64)
    for i, k in enumerate(offsets.tolist()):
        v_idx, a_idx = _overlap(k, length)
        v, a = video_emb[v_idx], audio_emb[a_idx]                  # (T - |k|, D) each
        if distance == "cosine":
            d = 1.0 - F.cosine_similarity(v, a, dim=-1, eps=1e-8)
        else:
            d = (v - a).norm(dim=-1)
        distances[i] = d.mean()
    return offset_result(offsets, distances.float())


def cross_correlation_offset(audio_env: Tensor, video_env: Tensor,
                             max_offset: int = 15) -> OffsetResult:
    """Offset from the normalised cross-correlation of two per-frame envelopes.

        rho(k) = corr_t(v_t, a_{t+k})   Pearson correlation over the frames where both exist
        distance(k) = -rho(k),   offset = argmax_k rho(k)

    audio_env: (T,) audio feature per video frame (e.g. `audio_onset_envelope`);
    video_env: (T,) visual feature per frame (e.g. `motion_energy`). Same sign
    convention as `offset_search`: k > 0 means the audio is delayed by k frames.
    Distances lie in [-1, 1]; a constant overlap counts as correlation 0.
    """
    _check_tensor(audio_env, "audio_env", (1,), "(T,)")
    _check_tensor(video_env, "video_env", (1,), "(T,)")
    if audio_env.shape != video_env.shape:
        raise ValueError(f"audio_env and video_env must have the same length; "
                         f"got {tuple(audio_env.shape)} and {tuple(video_env.shape)}")
    length = audio_env.shape[0]
    _check_max_offset(max_offset, length)
    if length - max_offset < 2:
        raise ValueError(f"need at least max_offset + 2 = {max_offset + 2} frames for a "
                         f"correlation at every offset; got T = {length}")
    audio_env, video_env = audio_env.detach().double(), video_env.detach().double()
    offsets = torch.arange(-max_offset, max_offset + 1)
    distances = torch.empty(len(offsets), dtype=torch.float64)
    for i, k in enumerate(offsets.tolist()):
        v_idx, a_idx = _overlap(k, length)
        v = video_env[v_idx] - video_env[v_idx].mean()
        a = audio_env[a_idx] - audio_env[a_idx].mean()
        denominator = v.norm() * a.norm()
        rho = (v @ a) / denominator if denominator > 1e-12 else torch.zeros((), dtype=v.dtype)
        distances[i] = -rho
    return offset_result(offsets, distances.float())


def peak_margin(result: OffsetResult, exclude: int = 2) -> float:
    """How much better the best offset is than the best *other* one: d(k') - d(k*).

    k' ranges over the candidates more than `exclude` frames from the best k*, so the
    best peak's own shoulders do not count. Near 0: a second offset fits about as well
    (periodic content, e.g. cuts on every beat), whatever the confidence says.
    """
    check_positive_int(exclude, "exclude", allow_zero=True)
    others = (result.offsets - result.offset).abs() > exclude
    if not bool(others.any()):
        raise ValueError(f"no candidate lies more than exclude={exclude} frames from the best")
    return float(result.distances[others].min() - result.min_distance)


# ---------------------------------------------------------------- making offset clips

def delay_audio(wave: Tensor, frames: float, sample_rate: int, fps: float = VIDEO_FPS) -> Tensor:
    """Delay the audio by `frames` video frames: shift right by frames / fps seconds.

        out[n] = wave[n - s],  s = round(frames * sample_rate / fps),  zeros where n - s < 0

    Negative frames advance the audio (zeros enter at the end). Same length as the input.
    wave: (T,) or (B, T) float. A clip made with frames = k has offset +k.
    """
    _check_tensor(wave, "wave", (1, 2), "(T,) or (B, T)")
    check_positive_int(sample_rate, "sample_rate")
    if not fps > 0:
        raise ValueError(f"fps must be > 0; got {fps!r}")
    shift = int(round(float(frames) * sample_rate / fps))
    length = wave.shape[-1]
    if shift >= 0:
        return F.pad(wave[..., :max(0, length - shift)], (min(shift, length), 0))
    return F.pad(wave[..., min(-shift, length):], (0, min(-shift, length)))


# ---------------------------------------------------------------- windows per video frame

def mel_windows(mel: Tensor, n_video_frames: int, window: int = 16, fps: float = VIDEO_FPS,
                mel_rate: float = MEL_RATE) -> Tensor:
    """The mel frames heard during each video frame's window, (T, n_mels, window).

    The window of video frame t starts at mel frame s_t = round(t * mel_rate / fps)
    (t * 3.2 at 80 Hz / 25 fps) and covers mel frames s_t .. s_t + window - 1 (16 frames
    = 0.2 s = 5 video frames); frames past the end of the mel are zeros.
    mel: (n_mels, F) or (B, n_mels, F). Returns (T, n_mels, window) or
    (B, T, n_mels, window), T = n_video_frames.
    """
    _check_tensor(mel, "mel", (2, 3), "(n_mels, F) or (B, n_mels, F)")
    check_positive_int(n_video_frames, "n_video_frames")
    check_positive_int(window, "window")
    if not fps > 0 or not mel_rate > 0:
        raise ValueError(f"fps and mel_rate must be > 0; got fps={fps!r}, mel_rate={mel_rate!r}")
    starts = [math.floor(t * mel_rate / fps + 0.5) for t in range(n_video_frames)]
    needed = starts[-1] + window
    padded = F.pad(mel, (0, max(0, needed - mel.shape[-1])))       # (..., n_mels, >= needed)
    index = torch.tensor(starts)[:, None] + torch.arange(window)   # (T, window)
    windows = padded[..., index]                                   # (..., n_mels, T, window)
    return windows.movedim(-2, -3)                                 # (..., T, n_mels, window)


def video_windows(frames: Tensor, window: int = 5) -> Tensor:
    """Frames t .. t + window - 1 stacked on the channel axis, (T, window * C, H, W).

    Channels of the output for frame t: [frame t's C channels, frame t+1's, ...]. Past
    the last frame the final frame repeats. frames: (T, C, H, W) or (B, T, C, H, W).
    """
    _check_tensor(frames, "frames", (4, 5), "(T, C, H, W) or (B, T, C, H, W)")
    check_positive_int(window, "window")
    length = frames.shape[-4]
    index = (torch.arange(length)[:, None] + torch.arange(window)).clamp_max(length - 1)
    stacked = frames[..., index, :, :, :]                          # (..., T, window, C, H, W)
    return stacked.flatten(-4, -3)                                 # (..., T, window*C, H, W)


# ---------------------------------------------------------------- hand-made 1-D features

def audio_onset_envelope(wave: Tensor, sample_rate: int, n_video_frames: int,
                         fps: float = VIDEO_FPS, hop_length: int = 256,
                         n_fft: int = 1024) -> Tensor:
    """Audio onset strength pooled per video frame, (n_video_frames,).

    The spectral flux `beats.onset_strength` (hop_length samples per onset frame) is
    max-pooled over the onset frames whose time m * hop / sr falls in video frame t's
    interval [t / fps, (t + 1) / fps). wave: (T,) float.
    """
    from course_lib.sync.beats import onset_strength

    _check_tensor(wave, "wave", (1,), "(T,)")
    check_positive_int(n_video_frames, "n_video_frames")
    env = onset_strength(wave, sample_rate, n_fft=n_fft, hop_length=hop_length)  # (M,)
    times = torch.arange(env.shape[0], dtype=torch.float64) * hop_length / sample_rate
    frame_of = torch.floor(times * fps + 1e-9).long()                            # (M,)
    keep = frame_of < n_video_frames
    pooled = torch.zeros(n_video_frames, dtype=env.dtype)
    return pooled.scatter_reduce(0, frame_of[keep], env[keep], reduce="amax")


def motion_energy(frames: Tensor) -> Tensor:
    """Mean absolute frame difference, (T,): e_0 = 0, e_t = mean |x_t - x_{t-1}|.

    A cut or a jump at frame t gives a peak at t. frames: (T, H, W) or (T, C, H, W).
    """
    _check_tensor(frames, "frames", (3, 4), "(T, H, W) or (T, C, H, W)")
    diff = (frames[1:] - frames[:-1]).abs().flatten(1).mean(dim=1)   # (T - 1,)
    return torch.cat([diff.new_zeros(1), diff])


def av_offset(wave: Tensor, sample_rate: int, frames: Tensor, max_offset: int = 15,
              fps: float = VIDEO_FPS) -> OffsetResult:
    """Offset of a clip by cross-correlating audio onsets with visual motion energy.

    wave: (T_audio,) float; frames: (T, H, W) or (T, C, H, W) at `fps`.
    k > 0: the audio is delayed by k video frames.
    """
    video_env = motion_energy(frames)
    audio_env = audio_onset_envelope(wave, sample_rate, frames.shape[0], fps=fps)
    return cross_correlation_offset(audio_env, video_env, max_offset)


# ---------------------------------------------------------------- clips with known events

@dataclass
class AVClip:
    """A synced clip: frames (T, 1, H, W) in [-1, 1] at `fps`, wave (N,) float32 at
    `sample_rate`, and the video frames where something happens, event_frames (E,) long."""

    frames: Tensor
    wave: Tensor
    sample_rate: int
    fps: float
    event_frames: Tensor


def cut_video(event_frames, n_frames: int, canvas: int = 48, seed: int = 0) -> Tensor:
    """A bouncing 16x16 digit that cuts to a new digit, place and direction at each event.

    Between events the digit moves 1-2 pixels a frame (bouncing off the walls, as
    `data.digits.bounce_positions`), so the motion energy has a floor; a cut at frame t
    makes it jump at t. Returns (n_frames, 1, canvas, canvas) in [-1, 1].
    """
    from course_lib.data import digits

    check_positive_int(n_frames, "n_frames")
    images, _ = digits.load_digits16()                                    # (N, 1, 16, 16)
    size = images.shape[-1]
    if canvas < size:
        raise ValueError(f"canvas must be >= the digit size {size}; got {canvas}")
    generator = torch.Generator().manual_seed(seed)
    cuts = sorted({0, *[int(e) for e in event_frames if 0 < int(e) < n_frames]})
    video = torch.full((n_frames, 1, canvas, canvas), -1.0)
    for begin, end in zip(cuts, cuts[1:] + [n_frames]):
        image = images[int(torch.randint(len(images), (), generator=generator))]
        start = tuple(torch.randint(0, canvas - size + 1, (2,), generator=generator).tolist())
        speed = torch.randint(1, 3, (2,), generator=generator)
        sign = torch.randint(0, 2, (2,), generator=generator) * 2 - 1
        velocity = tuple((speed * sign).tolist())
        positions = digits.bounce_positions(end - begin, canvas, size, start, velocity)
        for f, (r, c) in zip(range(begin, end), positions.tolist()):
            video[f, :, r:r + size, c:c + size] = image
    return video


def event_clip(n_frames: int = 100, seed: int = 0, sample_rate: int = 16000,
               fps: float = VIDEO_FPS, min_gap: int = 4, max_gap: int = 14,
               unmatched: float = 0.25, canvas: int = 48) -> AVClip:
    """A synced clip with irregular events: at each event frame t the video cuts
    (`cut_video`) and a drum (kick, snare or click) is heard at t / fps seconds.

    Gaps between events are uniform in [min_gap, max_gap] frames, so the event pattern
    does not repeat (a periodic pattern would match at several offsets). A fraction
    `unmatched` of the events is one-sided, as in real footage: half of those are a cut
    with no sound, half a sound with no cut. `event_frames` lists the events with both.
    The audio also has a soft pad (a chord of three tones) and faint noise.
    """
    from course_lib.data import sounds

    if not 0 < min_gap <= max_gap:
        raise ValueError(f"need 0 < min_gap <= max_gap; got {min_gap}, {max_gap}")
    check_range(unmatched, "unmatched", 0.0, 1.0)
    generator = torch.Generator().manual_seed(10_000 + seed)
    events, t = [], int(torch.randint(1, max_gap + 1, (), generator=generator))
    while t < n_frames:
        events.append(t)
        t += int(torch.randint(min_gap, max_gap + 1, (), generator=generator))
    one_sided = torch.rand(len(events), generator=generator) < unmatched
    heard = torch.rand(len(events), generator=generator) < 0.5       # one-sided: sound only?
    cuts = [e for e, o, h in zip(events, one_sided.tolist(), heard.tolist()) if not (o and h)]
    sounded = [e for e, o, h in zip(events, one_sided.tolist(), heard.tolist()) if not o or h]
    both = [e for e, o in zip(events, one_sided.tolist()) if not o]
    length = int(round(n_frames / fps * sample_rate))
    drums = [sounds.kick(sample_rate), sounds.snare(sample_rate, generator=generator),
             sounds.click(sample_rate, 1500.0)]
    hits = [(e / fps, drums[int(torch.randint(3, (), generator=generator))], 1.0) for e in sounded]
    pad = sum(sounds.tone(f, n_frames / fps, sample_rate) for f in (220.0, 277.2, 329.6))
    wave = sounds.mix(hits + [(0.0, pad, 0.05)], length, sample_rate)
    wave = wave + 0.003 * torch.randn(length, generator=generator, dtype=torch.float64)
    return AVClip(frames=cut_video(cuts, n_frames, canvas, seed), wave=wave.float(),
                  sample_rate=sample_rate, fps=fps, event_frames=torch.tensor(both))
