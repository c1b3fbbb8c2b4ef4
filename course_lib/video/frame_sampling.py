"""Which frames a video model looks at (day 18).

A video LLM cannot afford every frame: each frame becomes `tokens_per_frame` tokens (a
ViT's patches, or a Q-Former's queries), so k frames cost k · tokens_per_frame tokens of
context. How the k are chosen decides what the model can see:

    uniform    the centres of k equal segments: frame ⌊(i + ½) T / k⌋, i = 0 .. k − 1
    random     k distinct frames drawn at random, in time order
    segment    TSN (Wang et al. 2016): k equal segments, one random frame from each
               (training), or each segment's centre (testing: the uniform sampler)
    keyframe   the first frame and the k − 1 frames that differ most from the frame
               before them (mean |x_t − x_{t−1}|): shot cuts and fast motion

    idx = segment_indices(32, 8, generator=g)          # (8,) frame indices, increasing
    frames[idx]                                          # (8, C, H, W)
    token_cost(8, tokens_per_frame=32)                   # 256

A single frame shows where a digit is, never which way it moves: direction needs two
frames or more, and their order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.checks import check_positive_int

__all__ = ["uniform_indices", "random_indices", "segment_indices", "keyframe_indices", "token_cost", "SAMPLERS"]


def _check(num_frames: int, k: int) -> None:
    check_positive_int(num_frames, "num_frames")
    check_positive_int(k, "k")
    if k > num_frames:
        raise ValueError(f"cannot sample k={k} distinct frames from a clip of {num_frames}")


def uniform_indices(num_frames: int, k: int) -> Tensor:
    """The centre frame of each of k equal segments: ⌊(i + ½) T / k⌋, (k,) long."""
    _check(num_frames, k)
    return ((torch.arange(k, dtype=torch.float64) + 0.5) * num_frames / k).floor().long()


def random_indices(num_frames: int, k: int, generator: torch.Generator | None = None) -> Tensor:
    """k distinct frames drawn uniformly at random, sorted: (k,) long."""
    _check(num_frames, k)
    return torch.randperm(num_frames, generator=generator)[:k].sort().values


def segment_indices(num_frames: int, k: int, generator: torch.Generator | None = None) -> Tensor:
    """TSN's sampler: segment i covers frames [⌊i T / k⌋, ⌊(i + 1) T / k⌋) (never empty when
    k ≤ T); one frame drawn uniformly from each, or its centre with no generator: (k,)."""
    _check(num_frames, k)
    if generator is None:
        return uniform_indices(num_frames, k)
    bounds = (torch.arange(k + 1, dtype=torch.float64) * num_frames / k).floor().long()
    starts, lengths = bounds[:-1], bounds[1:] - bounds[:-1]                     # every length >= 1
    offsets = (torch.rand(k, generator=generator, dtype=torch.float64) * lengths).floor().long()
    return starts + offsets


def keyframe_indices(frames: Tensor, k: int) -> Tensor:
    """frames (T, ...) -> (k,) sorted: frame 0 and the k − 1 frames with the largest mean
    absolute change from their predecessor (ties: the earlier frame)."""
    if not isinstance(frames, Tensor) or frames.ndim < 2:
        raise ValueError(f"frames must be a tensor (T, ...); got {getattr(frames, 'shape', type(frames))}")
    _check(frames.shape[0], k)
    change = (frames[1:].float() - frames[:-1].float()).abs().flatten(1).mean(1)   # (T - 1,): change into t + 1
    order = sorted(range(len(change)), key=lambda t: (-float(change[t]), t))[:k - 1]
    return torch.tensor(sorted([0] + [t + 1 for t in order]), dtype=torch.long)


def token_cost(k: int, tokens_per_frame: int) -> int:
    """Tokens of context that k frames cost a video LLM: k · tokens_per_frame."""
    check_positive_int(k, "k")
    check_positive_int(tokens_per_frame, "tokens_per_frame")
    return k * tokens_per_frame


SAMPLERS = {"uniform": uniform_indices, "random": random_indices, "segment": segment_indices}
