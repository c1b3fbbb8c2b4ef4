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

For day 12's ASR (`WhisperASR`, word-level tokens, 20 ms encoder frames):

    heads = choose_alignment_heads(asr, tokenizer, training_examples)   # [(block, head), ...]
    align_words(asr, tokenizer, wave, "three seven one", heads)         # [(0.01, 0.24), ...] s

The attention rows are those of the positions that *predict* each text token and the
closing <|endoftext|> (as in Whisper's `find_alignment`): word k starts where its row's
path starts and ends where word k + 1's (or <|endoftext|>'s) starts. The path starts at
frame 0, so the first word does too, as in Whisper (whisper-timestamped and WhisperX
trim it with voice activity detection). Whisper's authors
chose each model's alignment heads by checking them against labelled audio;
`choose_alignment_heads` does that on training clips with eSpeak's word times.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.checks import check_positive_int

__all__ = ["dtw_path", "median_filter", "token_spans", "word_times", "ENCODER_FRAME_SECONDS",
           "cross_attention", "alignment_matrix", "align_words", "choose_alignment_heads", "start_errors"]

ENCODER_FRAME_SECONDS = 0.02        # day 12's encoder: 10 ms log-mel frames, stride 2 in the conv stem


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
    if x.shape[-1] <= pad:
        return x
    rows = x.reshape(-1, x.shape[-1])                                       # (N, S): reflect pads 2-D input
    return F.pad(rows, (pad, pad), mode="reflect").unfold(-1, width, 1).median(-1).values.reshape(x.shape)


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


@torch.no_grad()
def cross_attention(model, tokenizer, wave: Tensor, text: str, language: str = "en") -> Tensor:
    """Teacher-forced cross-attention of `model` (a `WhisperASR`) reading `text` from wave
    (T,) at 16 kHz: (blocks, heads, n + 1, S) for the n text tokens and <|endoftext|> (the
    rows of the positions that predict them), over the S encoder frames of the clip."""
    from course_lib.speech.asr import features

    if getattr(tokenizer, "level", "word") != "word":
        raise ValueError("align_words needs a word-level tokenizer (one token per word)")
    model.eval()
    device = next(model.parameters()).device
    mel = features(wave.float().cpu()).to(device)                          # (80, T // 160)
    sequence = tokenizer.sequence(text, language)                         # prompt + text + eot
    prompt = len(tokenizer.prompt(language))
    audio, pad = model.encoder(mel[None], torch.tensor([mel.shape[1]], device=device))
    tokens = torch.tensor(sequence[:-1], device=device)[None]
    _, weights = model.decoder(tokens, audio, pad, return_attention=True)  # (blocks, 1, H, N - 1, S)
    return weights[:, 0, :, prompt - 1:].float().cpu()


def alignment_matrix(weights: Tensor, heads: list[tuple[int, int]], filter_width: int = 7) -> Tensor:
    """Cross-attention weights (blocks, H, n, S) -> the (n, S) matrix DTW walks: each chosen
    head's weights standardised over the tokens at every frame (so a frame that every token
    attends to does not pull them all), median-filtered along the frames, then averaged."""
    if not heads:
        raise ValueError("heads must name at least one (block, head) pair")
    picked = torch.stack([weights[b, h] for b, h in heads])               # (k, n, S)
    z = (picked - picked.mean(-2, keepdim=True)) / picked.std(-2, keepdim=True).clamp_min(1e-6)
    return median_filter(z, filter_width).mean(0)


def align_words(model, tokenizer, wave: Tensor, text: str, heads: list[tuple[int, int]],
                language: str = "en", filter_width: int = 7,
                weights: Tensor | None = None) -> list[tuple[float, float]]:
    """(start, end) seconds of each word of `text` in wave (T,) at 16 kHz, from the chosen
    cross-attention `heads` and DTW (`weights`: `cross_attention`'s, if already computed)."""
    if weights is None:
        weights = cross_attention(model, tokenizer, wave, text, language)
    matrix = alignment_matrix(weights, heads, filter_width)               # (n + 1, S)
    starts = token_spans(dtw_path(-matrix), matrix.shape[0])[:, 0].double() * ENCODER_FRAME_SECONDS
    return [(starts[k].item(), starts[k + 1].item()) for k in range(matrix.shape[0] - 1)]


def start_errors(predicted: list[tuple[float, float]], truth: list[tuple[float, float]]) -> list[float]:
    """|predicted start − true start| of every word, in seconds."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted words for {len(truth)} true ones")
    return [abs(p[0] - t[0]) for p, t in zip(predicted, truth)]


def choose_alignment_heads(model, tokenizer, examples: list[tuple[Tensor, str, list[tuple[float, float]]]],
                           k: int = 2, language: str = "en") -> list[tuple[int, int]]:
    """The k (block, head) pairs whose alignments alone put the word starts of `examples`
    ((wave, text, true word times) triples, training clips) closest to the truth (median
    error), best first."""
    check_positive_int(k, "k")
    if not examples:
        raise ValueError("examples must hold at least one (wave, text, word times) triple")
    weights = [cross_attention(model, tokenizer, w, text, language) for w, text, _ in examples]
    blocks, n_heads = weights[0].shape[:2]
    scores = {}
    for b in range(blocks):
        for h in range(n_heads):
            errors = []
            for wts, (_, _, truth) in zip(weights, examples):
                errors += start_errors(align_words(model, tokenizer, None, "", [(b, h)], weights=wts), truth)
            scores[(b, h)] = float(torch.tensor(errors).median())
    return sorted(scores, key=scores.get)[:k]
