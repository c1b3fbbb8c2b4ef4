"""n-gram language models with add-k smoothing: the baseline a Music Transformer must beat.

    P(w | h) = (c(h, w) + k) / (c(h) + k · V)

h = the n - 1 previous tokens (a sequence is preceded by n - 1 PAD tokens, so its first
tokens have a history too), c = counts on the training sequences, V = vocabulary size.
k = 1 is Laplace smoothing; small k trusts the counts more. Scoring matches
`transformer.sequence_nll`: every token after the first of each sequence, once.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from course_lib.music.tokenizer import PAD


def _grams(seq: list[int], n: int):
    padded = [PAD] * (n - 1) + list(seq)
    for t in range(n, len(padded)):                 # targets: seq[1:] (the first token is given)
        yield tuple(padded[t - n + 1:t]), padded[t]


class NGramModel:
    """Counts of (history, next token) for one order n; nll(sequences, k) for any k."""

    def __init__(self, n: int, vocab_size: int):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        self.n, self.vocab_size = n, vocab_size
        self.joint: Counter = Counter()             # (h, w) -> count
        self.history: Counter = Counter()           # h -> count

    def fit(self, sequences: list[list[int]]) -> "NGramModel":
        for seq in sequences:
            for h, w in _grams(seq, self.n):
                self.joint[(h, w)] += 1
                self.history[h] += 1
        return self

    def counts(self, sequences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """c(h, w) and c(h) for every scored token of `sequences`, as two arrays."""
        hw, h = [], []
        for seq in sequences:
            for hist, w in _grams(seq, self.n):
                hw.append(self.joint.get((hist, w), 0))
                h.append(self.history.get(hist, 0))
        return np.array(hw, dtype=np.float64), np.array(h, dtype=np.float64)

    def nll(self, sequences: list[list[int]], k: float) -> float:
        """Mean negative log-likelihood (nats) per scored token with add-k smoothing."""
        if k <= 0:
            raise ValueError(f"k must be positive; got {k}")
        c_hw, c_h = self.counts(sequences)
        return float(-np.mean(np.log((c_hw + k) / (c_h + k * self.vocab_size))))

    def probs(self, history: list[int], k: float) -> np.ndarray:
        """P(. | last n-1 tokens of history), (V,)."""
        h = tuple(([PAD] * (self.n - 1) + list(history))[len(history):]) if self.n > 1 else ()
        counts = np.array([self.joint.get((h, w), 0) for w in range(self.vocab_size)], dtype=np.float64)
        return (counts + k) / (self.history.get(h, 0) + k * self.vocab_size)


def tune_ngram(train: list[list[int]], valid: list[list[int]], vocab_size: int,
               orders=(1, 2, 3, 4, 5), ks=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)):
    """Fit every order on `train`, score every k on `valid`.

    Returns (best (n, k), {(n, k): valid nll}, {n: fitted NGramModel}).
    """
    models, table = {}, {}
    for n in orders:
        model = NGramModel(n, vocab_size).fit(train)
        c_hw, c_h = model.counts(valid)
        for k in ks:
            table[(n, k)] = float(-np.mean(np.log((c_hw + k) / (c_h + k * vocab_size))))
        models[n] = model
    best = min(table, key=table.get)
    return best, table, models


def perplexity(nll: float) -> float:
    return math.exp(nll)
