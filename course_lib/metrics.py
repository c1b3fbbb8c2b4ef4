"""Quality metrics shared by the days: Frechet distance and diversity of samples (on the
judge's features), and the word error rate of transcripts (jiwer underneath)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def _sqrtm_psd(m: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D):

        d^2 = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^(1/2) S_b S_a^(1/2))^(1/2))

    the formula of FID (Heusel et al. 2017), here on the course judge's features.
    Computed in float64; symmetric form so only symmetric square roots are needed."""
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feats_a and feats_b must be (N, D) and (M, D) with the same D; "
                         f"got {tuple(feats_a.shape)} and {tuple(feats_b.shape)}")
    if len(feats_a) < 2 or len(feats_b) < 2:
        raise ValueError("each feature set needs at least 2 rows")
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_a = _sqrtm_psd(cov_a)
    cross = _sqrtm_psd(root_a @ cov_b @ root_a)
    return float((mu_a - mu_b).square().sum() + torch.trace(cov_a + cov_b - 2 * cross))


def mean_pairwise_distance(feats: Tensor) -> float:
    """Mean Euclidean distance over all pairs i < j of the rows of feats (N, D), N >= 2.

        div = 2 / (N (N - 1)) sum_{i<j} |f_i - f_j|

    A diversity score: samples that all look alike (mode collapse, strong guidance)
    score low. Use it within one class, on the judge's features."""
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"feats must be (N, D) with N >= 2; got {tuple(feats.shape)}")
    d = torch.cdist(feats.double()[None], feats.double()[None])[0]     # (N, N)
    n = len(feats)
    return float(d.triu(diagonal=1).sum() / (n * (n - 1) / 2))


def word_error_rate(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Corpus word error rate, (S + D + I) / N: the word substitutions, deletions and
    insertions of the best alignment of every hypothesis to its reference, summed, over
    the N reference words (so it may exceed 1). Computed by jiwer."""
    import jiwer

    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"references and hypotheses must be equally many (> 0); got "
                         f"{len(references)} and {len(hypotheses)}")
    for name, texts in (("references", references), ("hypotheses", hypotheses)):
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{name} must be strings")
    if not all(r.split() for r in references):
        raise ValueError("every reference must contain at least one word")
    return float(jiwer.wer(references, hypotheses))
