"""Word timestamps from attention (day 18): Whisper's recipe, the alignment part.

Whisper times its words without a separate aligner: a few cross-attention heads of the
decoder look at the audio frames where each text token is spoken. Their weights, averaged
and median-filtered, form a (tokens × frames) matrix A; dynamic time warping (DTW) finds
the monotonic path through −A of least cost, and each word starts at the first frame its
tokens occupy on the path and ends at the last.

DTW over a cost matrix C (N × M), steps down, right or diagonal:

    D[i, j] = C[i, j] + min(D[i−1, j−1], D[i−1, j], D[i, j−1]),   D[0, 0] = C[0, 0]

then backtracking from (N−1, M−1) to (0, 0) gives the path.

    path = dtw_path(-attention)                   # (L, 2): (token, frame) pairs, monotonic
    spans = token_spans(path, n_tokens)           # first and last frame of each token
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.checks import check_positive_int

__all__ = ["dtw_path", "median_filter", "token_spans", "word_times"]


def dtw_path(cost: Tensor) -> Tensor:
    """The least-cost monotonic path through cost (N, M) from (0, 0) to (N − 1, M − 1) with
    steps (1, 0), (0, 1), (1, 1): (L, 2) long, rows (i, j) in order. Ties prefer the
    diagonal, then a step down (i + 1)."""
    if not isinstance(cost, Tensor) or cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"cost must be a non-empty (N, M) tensor; got {getattr(cost, 'shape', type(cost))}")
    c = cost.double().tolist()
    n, m = len(c), len(c[0])
    inf = float("inf")
    d = [[inf] * (m + 1) for _ in range(n + 1)]
    d[0][0] = 0.0
    step = [[0] * (m + 1) for _ in range(n + 1)]             # 0 diagonal, 1 down (from i-1), 2 right (from j-1)
    for i in range(1, n + 1):
        row, prev = d[i], d[i - 1]
        for j in range(1, m + 1):
            options = (prev[j - 1], prev[j], row[j - 1])
            k = min(range(3), key=options.__getitem__)
            row[j] = c[i - 1][j - 1] + options[k]
            step[i][j] = k
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        k = step[i][j]
        i, j = (i - 1, j - 1) if k == 0 else (i - 1, j) if k == 1 else (i, j - 1)
    if (i, j) != (0, 0):
        raise RuntimeError("DTW did not reach the start")       # unreachable with finite costs
    return torch.tensor(path[::-1], dtype=torch.long)


def median_filter(x: Tensor, width: int) -> Tensor:
    """Median over a window of `width` (odd) along the last axis, edges reflected: same shape."""
    check_positive_int(width, "width")
    if width % 2 == 0:
        raise ValueError(f"width must be odd; got {width}")
    if width == 1:
        return x
    pad = width // 2
    padded = F.pad(x[None], (pad, pad), mode="reflect")[0] if x.shape[-1] > pad else x
    return padded.unfold(-1, width, 1).median(-1).values


def token_spans(path: Tensor, n_tokens: int) -> Tensor:
    """(n_tokens, 2): the first and last frame the path assigns to each token."""
    spans = torch.full((n_tokens, 2), -1, dtype=torch.long)
    for i, j in path.tolist():
        if spans[i, 0] < 0:
            spans[i, 0] = j
        spans[i, 1] = j
    if (spans < 0).any():
        raise ValueError("the path does not visit every token")
    return spans


def word_times(spans: Tensor, token_words: list[int], frame_seconds: float) -> list[tuple[float, float]]:
    """Tokens' frame spans (T, 2) and the word index of each token (T,) -> (start, end)
    seconds per word: from its first token's first frame to the end of its last token's
    last frame."""
    if len(token_words) != len(spans):
        raise ValueError(f"token_words has {len(token_words)} entries for {len(spans)} tokens")
    out: dict[int, list[int]] = {}
    for (a, b), w in zip(spans.tolist(), token_words):
        lo, hi = out.get(w, [a, b])
        out[w] = [min(lo, a), max(hi, b)]
    return [(out[w][0] * frame_seconds, (out[w][1] + 1) * frame_seconds) for w in sorted(out)]
