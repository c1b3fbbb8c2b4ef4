"""Streaming video generation: chunk after chunk from a buffer of the last frames, far past
the training window, with the condition changeable between chunks (day 19).

    new = generate_chunk(trained, buffer (B, 1, C, H, W), digits (B,), actions (B, n))   # (B, 1, n, H, W)
    run = rollout(trained, start (B, 1, C, H, W), digits (B, F), actions (B, F), context=C)
    truth_actions = live_commands(actions, C, T - C)                         # what a live stream follows
    run.frames (B, 1, F, H, W); run.fps; run.chunk_seconds
    scores = frame_scores(run.frames, truth (B, 1, F, H, W), digits (B, F))   # per frame: digit read, position, identity
    session = StreamSession(trained, start, digit=3, context=2)              # interactive
    session.command(action="left"); session.step()                           # the next chunk, under the commands now
    first_visible(hits (F,) bool, since=f)                                   # frames until a change shows

A chunk is one sampling of the window: the buffer's C frames in front, T - C new ones
generated, of which the last C become the next buffer. The commands (digit, action) are
read when a chunk starts, so a change waits for the next chunk: its latency is at most
one chunk of T - C frames, plus the frames the model takes to show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.checks import check_shape
from course_lib.data.steered_digits import ACTIONS, action_id
from course_lib.diffusion.video_dit import sample_video
from course_lib.streaming.video_model import TrainedStreamVideo, stream_condition
from course_lib.video_metrics import crop_correlation, track_digit


@torch.no_grad()
def generate_chunk(trained: TrainedStreamVideo, buffer: Tensor, digits: Tensor, actions: Tensor, steps: int = 10,
                   guidance: float = 1.0, context_noise: float = 0.0,
                   generator: torch.Generator | None = None) -> Tensor:
    """The next n frames (B, 1, n, H, W), n = actions.shape[1] <= T - C, after `buffer`
    (B, 1, C, H, W), showing `digits` (B,) moved by `actions` (B, n): one DDIM sampling
    (`steps` denoiser calls, classifier-free `guidance` on the digit) of the window whose
    first C frames are the buffer (plus noise of std `context_noise`)."""
    cfg = trained.model.config
    check_shape(buffer, "buffer", "B 1 C H W", H=cfg.height, W=cfg.width)
    b, c = buffer.shape[0], buffer.shape[2]
    n = actions.shape[1] if actions.ndim == 2 else 0
    check_shape(digits, "digits", "B", B=b)
    if not 1 <= c < cfg.frames or not 1 <= n <= cfg.frames - c:
        raise ValueError(f"buffer must hold 1..{cfg.frames - 1} frames and actions 1..T - C new ones (T = "
                         f"{cfg.frames}); got C = {c}, actions {tuple(actions.shape)}")
    window = torch.zeros(b, 1, cfg.frames, cfg.height, cfg.width)
    window[:, :, :c] = buffer.cpu()
    acts = torch.zeros(b, cfg.frames, dtype=torch.long)
    acts[:, c:c + n] = actions.cpu()
    acts[:, c + n:] = actions[:, -1:].cpu()                       # the last action held to the window's end
    cond = stream_condition(window, torch.full((b,), c), acts, context_noise, generator)
    x_T = torch.randn(window.shape, generator=generator)
    out = sample_video(trained.model, digits.cpu(), trained.schedule, steps=steps, guidance=guidance, x_T=x_T,
                       kind=trained.prediction, cond=cond)
    return out[:, :, c:c + n].clamp(-1, 1)


@dataclass
class StreamRollout:
    """A generated stream: frames (B, 1, F, H, W) (the first `context` were given), and for
    each chunk its first frame and the seconds it took to generate."""
    frames: Tensor
    context: int
    chunk_starts: list[int] = field(default_factory=list)
    chunk_seconds: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Generated frames per second of generation time (all B streams together)."""
        made = self.frames.shape[0] * (self.frames.shape[2] - self.context)
        return made / max(sum(self.chunk_seconds), 1e-9)


def live_commands(commands: Tensor, context: int, per_chunk: int) -> Tensor:
    """(B, F) per-frame commands -> what a live stream follows: every frame of a chunk
    takes the command standing at the chunk's first frame (the buffer's frames, the first
    `context`, keep their own). Chunks start at context, context + per_chunk, ..."""
    check_shape(commands, "commands", "B F")
    frame = torch.arange(commands.shape[1])
    first = torch.where(frame < context, frame, context + (frame - context) // per_chunk * per_chunk)
    return commands[:, first]


def rollout(trained: TrainedStreamVideo, start: Tensor, digits: Tensor, actions: Tensor, context: int,
            steps: int = 10, guidance: float = 1.0, context_noise: float = 0.0,
            generator: torch.Generator | None = None, live: bool = True) -> StreamRollout:
    """Generate F frames chunk by chunk. start (B, 1, >= context, H, W): its first `context`
    frames open the stream; digits (B, F) and actions (B, F): the command at every frame.
    live (default): a chunk follows the commands standing at its first frame, as a live
    stream must (later presses are not known yet; `live_commands`); live=False: a scripted
    stream, each frame's own action (the digit still changes per chunk)."""
    check_shape(start, "start", "B 1 C H W")
    b, f = digits.shape if digits.ndim == 2 else (0, 0)
    check_shape(digits, "digits", "B F", B=len(start))
    check_shape(actions, "actions", "B F", B=b, F=f)
    if not 1 <= context <= start.shape[2] or context >= trained.model.config.frames or f <= context:
        raise ValueError(f"context must be in [1, {trained.model.config.frames - 1}], at most start's "
                         f"{start.shape[2]} frames and below F = {f}; got {context!r}")
    per_chunk = trained.model.config.frames - context
    if live:
        actions = live_commands(actions, context, per_chunk)
    frames = torch.empty(b, 1, f, *start.shape[-2:])
    frames[:, :, :context] = start[:, :, :context]
    run = StreamRollout(frames, context)
    first = context
    while first < f:
        n = min(per_chunk, f - first)
        tic = time.perf_counter()
        frames[:, :, first:first + n] = generate_chunk(trained, frames[:, :, first - context:first], digits[:, first],
                                                       actions[:, first:first + n], steps, guidance, context_noise,
                                                       generator)
        run.chunk_seconds.append(time.perf_counter() - tic)
        run.chunk_starts.append(first)
        first += n
    return run


def frame_scores(frames: Tensor, truth: Tensor, digits: Tensor, judge=None) -> dict[str, Tensor]:
    """Per frame of streams `frames` against the true streams `truth` (both (B, 1, F, H, W))
    meant to show `digits` (B, F): "digit" (B, F) bool, the frame judge reads the commanded
    digit; "position" (B, F) pixels between the ink centroids; "identity" (B, F) Pearson
    correlation of the digit-centred crops (1 = the true digit's very strokes)."""
    check_shape(frames, "frames", "B 1 F H W")
    check_shape(truth, "truth", "B 1 F H W", **dict(zip("BFHW", (frames.shape[0], *frames.shape[2:]))))
    check_shape(digits, "digits", "B F", B=frames.shape[0], F=frames.shape[2])
    if judge is None:
        from course_lib.data.frame_judge import load_frame_judge
        judge, _ = load_frame_judge(canvas=frames.shape[-1])
    b, _, f, h, w = frames.shape
    read = judge.predict(frames.transpose(1, 2).reshape(b * f, 1, h, w)).reshape(b, f)
    position = (track_digit(frames) - track_digit(truth)).norm(dim=-1)
    return {"digit": read == digits, "position": position, "identity": crop_correlation(frames, truth)}


def first_visible(hits: Tensor, since: int, hold: int = 2) -> int | None:
    """Frames from `since` until a change shows: the first f >= since where `hits` (F,) is
    true for `hold` frames in a row, minus `since` (0 = in the very frame commanded);
    None if it never does."""
    check_shape(hits, "hits", "F")
    run = 0
    for f in range(since, len(hits)):
        run = run + 1 if bool(hits[f]) else 0
        if run == hold:
            return f - hold + 1 - since
    return None


class StreamSession:
    """An interactive stream of one digit: `command` changes the digit or the action at any
    time; `step` generates the next chunk under the commands as they are when it starts.

    start: (1, 1, C, H, W) frames opening the stream (the buffer, `context` frames)."""

    def __init__(self, trained: TrainedStreamVideo, start: Tensor, digit: int, action: str = "stay",
                 context: int = 2, steps: int = 10, guidance: float = 1.0, seed: int = 0):
        check_shape(start, "start", "1 1 C H W")
        if not 1 <= context <= start.shape[2] or context >= trained.model.config.frames:
            raise ValueError(f"context must be in [1, {trained.model.config.frames - 1}] and at most start's "
                             f"{start.shape[2]} frames; got {context!r}")
        self.trained, self.context, self.steps, self.guidance = trained, context, steps, guidance
        self.frames = start[:, :, :context].clone()
        self.digit, self.action = 0, 0
        self.commands: list[tuple[int, int, str]] = []          # (frame index when issued, digit, action)
        self.chunk_seconds: list[float] = []
        self.generator = torch.Generator().manual_seed(seed)
        self.command(digit=digit, action=action)

    def command(self, digit: int | None = None, action: str | None = None) -> None:
        """Change what is asked for from now on (the frame count so far records when)."""
        if digit is not None:
            if not isinstance(digit, int) or not 0 <= digit <= 9:
                raise ValueError(f"digit must be an int in 0..9; got {digit!r}")
            self.digit = digit
        if action is not None:
            self.action = action_id(action)
        self.commands.append((self.frames.shape[2], self.digit, ACTIONS[self.action]))

    def step(self) -> Tensor:
        """Generate and append the next chunk; returns its frames (1, 1, n, H, W)."""
        n = self.trained.model.config.frames - self.context
        tic = time.perf_counter()
        new = generate_chunk(self.trained, self.frames[:, :, -self.context:], torch.tensor([self.digit]),
                             torch.full((1, n), self.action), self.steps, self.guidance, generator=self.generator)
        self.chunk_seconds.append(time.perf_counter() - tic)
        self.frames = torch.cat([self.frames, new], dim=2)
        return new


__all__ = ["generate_chunk", "StreamRollout", "live_commands", "rollout", "frame_scores", "first_visible", "StreamSession"]
