"""Steered digits: a digit on a small canvas that moves where a player steers it — the data
of day 19's interactive video model (an action-conditioned "world model" in miniature).

Every frame the player holds one of nine `ACTIONS` ("stay" or a compass direction); the
digit's top-left corner moves one pixel that way and stops at the walls (clamped, no
bounce), so what happens next depends only on where the digit is and what is pressed:

    p_f = clip(p_{f-1} + move(a_f), 0, span),   span = canvas - 8

Training windows are short clips cut the way a streaming generator uses them: the first
`context` frames are the buffer it is given (the digit moving under an earlier action),
the rest are what it must generate under the new actions (sometimes a second turn inside
the window, sometimes a new digit — what a user changing the condition mid-stream asks).

    spec = SteeredWindowsSpec()                 # 12,000 windows of 8 frames on a 12x12 canvas
    w = spec.load("train")                      # SteeredWindows, generated in memory (~1 s)
    w.videos (N, 1, T, H, W) in [-1, 1]; w.digits (N,) class of the new frames;
    w.actions (N, T) action ids; w.context (N,) buffer lengths; w.positions (N, T, 2)
    positions = steer(start (N, 2), actions (N, T), span)      # the physics
    videos = render(images (N, [T,] 1, 8, 8), positions, canvas)
    scripts = steering_scripts(n=24, frames=64)  # test streams: digits, starts, actions held 6-10 frames
    truth = scripts.render()                    # (N, 1, F, H, W)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.checks import check_shape
from course_lib.data.digits import IMAGE_SIZE, digits_split, load_digits

ACTIONS = ("stay", "up", "down", "left", "right", "up-left", "up-right", "down-left", "down-right")
MOVES = torch.tensor([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)])   # (9, 2) (row, col)


def action_id(name: str) -> int:
    """The index of an action name in `ACTIONS`."""
    if name not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}; got {name!r}")
    return ACTIONS.index(name)


def steer(start: Tensor, actions: Tensor, span: int) -> Tensor:
    """Top-left corners (N, T, 2) (row, col) of digits starting at `start` (N, 2) and moved
    by `actions` (N, T) (frame 0's action is ignored: it is where the digit starts), one
    pixel per frame, clamped to [0, span] on both axes."""
    check_shape(start, "start", "N 2")
    check_shape(actions, "actions", "N T", N=len(start))
    if not ((start >= 0) & (start <= span)).all():
        raise ValueError(f"start must lie in [0, {span}] on both axes")
    if actions.numel() and not ((actions >= 0) & (actions < len(ACTIONS))).all():
        raise ValueError(f"actions must be ids in [0, {len(ACTIONS)})")
    positions = [start.long()]
    for f in range(1, actions.shape[1]):
        positions.append((positions[-1] + MOVES[actions[:, f]]).clamp(0, span))
    return torch.stack(positions, dim=1)


def render(images: Tensor, positions: Tensor, canvas: int) -> Tensor:
    """Paste 8x8 digits at `positions` (N, T, 2) on black canvas x canvas frames.
    images: (N, 1, 8, 8), one per clip, or (N, T, 1, 8, 8), one per frame (a digit that
    changes). -> videos (N, 1, T, canvas, canvas) in [-1, 1]."""
    check_shape(positions, "positions", "N T 2")
    n, t = positions.shape[:2]
    if images.ndim == 4:
        images = images[:, None].expand(n, t, *images.shape[1:])
    check_shape(images, "images", "N T 1 S S", N=n, T=t, S=IMAGE_SIZE)
    if positions.numel() and (positions.min() < 0 or positions.max() > canvas - IMAGE_SIZE):
        raise ValueError(f"positions must lie in [0, {canvas - IMAGE_SIZE}] for a {canvas}x{canvas} canvas")
    grid = torch.arange(canvas)
    rows = grid[None, None, :, None] - positions[..., 0, None, None]        # (N, T, H, 1): row inside the digit
    cols = grid[None, None, None, :] - positions[..., 1, None, None]        # (N, T, 1, W)
    inside = (rows >= 0) & (rows < IMAGE_SIZE) & (cols >= 0) & (cols < IMAGE_SIZE)
    index = rows.clamp(0, IMAGE_SIZE - 1) * IMAGE_SIZE + cols.clamp(0, IMAGE_SIZE - 1)   # (N, T, H, W)
    pixels = torch.gather(images.reshape(n, t, -1), 2, index.reshape(n, t, -1)).reshape(index.shape)
    return torch.where(inside, pixels, torch.tensor(-1.0)).unsqueeze(1)


@dataclass
class SteeredWindows:
    """N training windows. videos (N, 1, T, H, W) in [-1, 1]; digits (N,) the class shown in
    the new frames; actions (N, T) action ids; context (N,) how many leading frames are the
    buffer; positions (N, T, 2) top-left corners; swapped (N,) bool: the buffer shows
    another digit than the new frames."""
    videos: Tensor
    digits: Tensor
    actions: Tensor
    context: Tensor
    positions: Tensor
    swapped: Tensor

    def __len__(self) -> int:
        return len(self.digits)


@dataclass(frozen=True)
class SteeredWindowsSpec:
    """Which windows a streaming video model trains on: `windows` windows of `frames`
    frames on a `canvas` canvas; the buffer is `contexts[k]` frames (k uniform); the new
    frames keep the buffer's action with probability `keep_action` (else a random one),
    turn once more at a random new frame with probability `turn`, and show another digit
    (a random different class, same place) with probability `swap`. Digits come from the
    split's images (`digits_split`), so "test" windows hold digits never trained on."""
    windows: int = 12000
    frames: int = 8
    canvas: int = 12
    contexts: tuple[int, ...] = (1, 2, 4)
    keep_action: float = 0.5
    turn: float = 0.25
    swap: float = 0.3
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "contexts", tuple(self.contexts))
        if not isinstance(self.windows, int) or self.windows < 1:
            raise ValueError(f"windows must be a positive int; got {self.windows!r}")
        if self.canvas < IMAGE_SIZE:
            raise ValueError(f"canvas must be >= {IMAGE_SIZE} (the digit size); got {self.canvas!r}")
        if not self.contexts or any(not isinstance(c, int) or not 1 <= c < self.frames for c in self.contexts):
            raise ValueError(f"contexts must be ints in [1, frames); got {self.contexts!r} with frames={self.frames}")
        for name in ("keep_action", "turn", "swap"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1]; got {getattr(self, name)!r}")

    def load(self, split: str = "train") -> SteeredWindows:
        """The windows of `split` ("train" or "test"), the same for the same spec."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
        images, labels = load_digits()
        pool = digits_split()[0 if split == "train" else 1]
        g = torch.Generator().manual_seed(self.seed * 2 + (split == "test"))
        n, t, span = self.windows, self.frames, self.canvas - IMAGE_SIZE
        draw = lambda high, size=(n,): torch.randint(0, high, size, generator=g)   # noqa: E731
        chance = lambda p: torch.rand(n, generator=g) < p                          # noqa: E731

        context = torch.tensor(self.contexts)[draw(len(self.contexts))]               # (N,)
        before, after = draw(len(ACTIONS)), draw(len(ACTIONS))
        after = torch.where(chance(self.keep_action), before, after)
        frame = torch.arange(t)[None]
        actions = torch.where(frame < context[:, None], before[:, None], after[:, None])   # (N, T)
        turn_at = context + draw(t, (n,)) % (t - context)                             # a new frame
        turned = chance(self.turn)[:, None] & (frame >= turn_at[:, None])
        actions = torch.where(turned, draw(len(ACTIONS))[:, None], actions)
        positions = steer(torch.stack([draw(span + 1), draw(span + 1)], 1), actions, span)

        first = pool[draw(len(pool))]                                                 # image of the buffer
        digits = labels[first]
        swapped = chance(self.swap)
        new_class = (digits + 1 + draw(9)) % 10                                       # any other class
        second = _images_of_classes(pool, labels, new_class, g)
        second = torch.where(swapped, second, first)
        digits = torch.where(swapped, new_class, digits)
        per_frame = torch.where((frame < context[:, None])[..., None, None, None],
                                images[first][:, None], images[second][:, None])      # (N, T, 1, 8, 8)
        videos = render(per_frame, positions, self.canvas)
        return SteeredWindows(videos, digits, actions, context, positions, swapped)


@dataclass
class SteeringScripts:
    """N test streams a player steers: images (N, 1, 8, 8) of `digits` (N,), start corners
    (N, 2), and the action held at every frame (N, F), each held for a random 6-10 frames."""
    images: Tensor
    digits: Tensor
    start: Tensor
    actions: Tensor
    canvas: int

    def render(self, actions: Tensor | None = None, images: Tensor | None = None) -> Tensor:
        """The true streams (N, 1, F, H, W) under `actions` (default: the script's) — e.g.
        the actions a live stream followed — with `images` (default: the script's)."""
        actions = self.actions if actions is None else actions
        positions = steer(self.start, actions, self.canvas - IMAGE_SIZE)
        return render(self.images if images is None else images, positions, self.canvas)


def steering_scripts(n: int, frames: int, canvas: int = 12, split: str = "test", hold: tuple[int, int] = (6, 10),
                     seed: int = 0) -> SteeringScripts:
    """`n` random streams of `frames` frames: digits of `split`'s images at random corners,
    each action held for hold[0]..hold[1] frames before the next random one."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if not 1 <= hold[0] <= hold[1]:
        raise ValueError(f"hold must be (low, high) with 1 <= low <= high; got {hold!r}")
    g = torch.Generator().manual_seed(seed)
    images, labels = load_digits()
    pool = digits_split()[0 if split == "train" else 1]
    index = pool[torch.randint(0, len(pool), (n,), generator=g)]
    actions = torch.zeros(n, frames, dtype=torch.long)
    for i in range(n):
        f = 0
        while f < frames:
            k = int(torch.randint(hold[0], hold[1] + 1, (), generator=g))
            actions[i, f:f + k] = int(torch.randint(0, len(ACTIONS), (), generator=g))
            f += k
    start = torch.randint(0, canvas - IMAGE_SIZE + 1, (n, 2), generator=g)
    return SteeringScripts(images[index], labels[index], start, actions, canvas)


def _images_of_classes(pool: Tensor, labels: Tensor, classes: Tensor, g: torch.Generator) -> Tensor:
    """(N,) random image indices from `pool`, the i-th of class `classes[i]`."""
    by_class = [pool[labels[pool] == c] for c in range(10)]
    counts = torch.tensor([len(b) for b in by_class])
    table = torch.nn.utils.rnn.pad_sequence(by_class, batch_first=True)          # (10, most)
    pick = (torch.rand(len(classes), generator=g) * counts[classes]).long()
    return table[classes, pick]


__all__ = ["ACTIONS", "MOVES", "action_id", "steer", "render", "SteeredWindows", "SteeredWindowsSpec", "SteeringScripts",
           "steering_scripts"]
