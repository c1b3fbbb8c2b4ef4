"""Streaming video analysis (day 19): frames as they arrive, through day 18's CLIP-style
model, one every `every` frames, each with its measured latency.

Zero-shot classification: score a frame's embedding against one text embedding per
digit ("a d moving …", averaged over the 8 directions) and take the best, as a CLIP-based
stream analyser does with its label prompts. `window` > 1 averages the last `window`
analysed frames' scores: steadier labels for a little delay.

    analyser = StreamAnalyser(retrieval_model, every=2)
    for frame in frames:                               # (1, H, W) each, in [-1, 1]
        result = analyser.push(frame)                  # None on skipped frames
        if result: print(result.index, result.digit, result.latency_ms)
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.checks import check_positive_int, check_shape

__all__ = ["digit_prompts", "Analysis", "StreamAnalyser"]


@torch.no_grad()
def digit_prompts(model) -> Tensor:
    """(10, E) unit text embeddings, one per digit: the mean over the 8 directions of the
    model's embeddings of day 18's captions."""
    from course_lib.data.captions import tokenize
    from course_lib.video.retrieval_train import ALL_CAPTIONS

    ids, pad = tokenize(list(ALL_CAPTIONS))
    text = model.encode_text(ids, pad).view(10, len(ALL_CAPTIONS) // 10, -1)    # (digit, direction, E)
    return F.normalize(text.mean(1), dim=-1)


@dataclass(frozen=True)
class Analysis:
    """One analysed frame: its index in the stream, the digit named, the softmax
    confidence, and the wall-clock milliseconds the analysis took."""
    index: int
    digit: int
    confidence: float
    latency_ms: float


class StreamAnalyser:
    """Day 18's retrieval model (`retrieval_train.TrainedRetrieval.model`) over a stream."""

    def __init__(self, model, every: int = 1, window: int = 1):
        check_positive_int(every, "every")
        check_positive_int(window, "window")
        self.model, self.every, self.window = model.eval(), every, window
        self.prompts = digit_prompts(model)                                    # (10, E)
        self.scores: deque[Tensor] = deque(maxlen=window)
        self.seen = 0

    @torch.no_grad()
    def push(self, frame: Tensor) -> Analysis | None:
        """Take the next frame (1, H, W); analyse it if its index is a multiple of `every`."""
        check_shape(frame, "frame", "C H W", C=1)
        index, self.seen = self.seen, self.seen + 1
        if index % self.every:
            return None
        start = time.perf_counter()
        embedding = self.model.encode_video(frame[None, None], torch.zeros(1, dtype=torch.long))   # (1, E)
        self.scores.append(self.model.scale() * embedding[0] @ self.prompts.T)                 # (10,)
        probs = torch.stack(list(self.scores)).mean(0).softmax(-1)
        latency = 1000 * (time.perf_counter() - start)
        return Analysis(index, int(probs.argmax()), float(probs.max()), latency)
