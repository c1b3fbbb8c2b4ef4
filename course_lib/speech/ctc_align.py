"""Forced alignment with a CTC head (day 18): where each word of a known transcript is said.

WhisperX times words with a separate CTC model instead of attention, because a CTC head
is trained to say *which* label each frame holds. Given its log-probabilities (S, C)
(class 0 = blank) and the transcript's labels l_1..l_L, forced alignment finds the single
most likely frame-level path that collapses to exactly those labels (Viterbi over the CTC
trellis). The trellis states are the labels with blanks between them and at both ends,

    z = (∅, l_1, ∅, l_2, ..., ∅, l_L, ∅),   E = 2L + 1 states,

and a path may stay in its state, move to the next, or skip a blank between two
*different* labels:

    δ_t(s) = log p_t(z_s) + max(δ_{t−1}(s), δ_{t−1}(s − 1), δ_{t−1}(s − 2) if z_s ≠ ∅ and z_s ≠ z_{s−2}),

starting in ∅ or l_1 and ending in l_L or the last ∅. This is `F.ctc_loss` with the sum
over paths replaced by a max.

    states = ctc_viterbi(log_probs, labels)         # (S,): each frame's state in z
    spans = label_spans(states, len(labels))        # (L, 2): first and last frame of each label

For day 12's ASR (`WhisperASR` has a CTC head on its encoder, word-level labels):

    ctc_align_words(asr, tokenizer, wave, "three seven one")    # [(0.36, 0.40), ...] seconds

A CTC model emits each label in a short *spike* (one or two frames) and fills the rest
with blanks, so a word's span is where its spike fires, usually inside the word: good
starts need a correction, measured on training clips rather than assumed
(`calibrate_spike_lag`: about 0.11 s for day 12's model).
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.checks import check_shape

__all__ = ["ctc_viterbi", "label_spans", "ctc_log_probs", "ctc_align_words", "calibrate_spike_lag"]


def ctc_viterbi(log_probs: Tensor, labels: list[int], blank: int = 0) -> Tensor:
    """The best CTC path: (S,) index into z = (∅, l_1, ∅, ..., l_L, ∅) for every frame.

    log_probs: (S, C) log-probabilities of one clip; labels: L class ids (none = blank).
    """
    check_shape(log_probs, "log_probs", "S C")
    labels = [int(l) for l in labels]
    if any(l == blank or not 0 <= l < log_probs.shape[1] for l in labels):
        raise ValueError(f"labels must be class ids in [0, {log_probs.shape[1]}) other than the blank {blank}; "
                         f"got {labels}")
    n_frames = log_probs.shape[0]
    z = torch.full((2 * len(labels) + 1,), blank, dtype=torch.long)
    z[1::2] = torch.tensor(labels, dtype=torch.long)
    repeats = sum(a == b for a, b in zip(labels, labels[1:]))
    if n_frames < len(labels) + repeats:
        raise ValueError(f"{n_frames} frames cannot hold {len(labels)} labels ({repeats} repeated ones need "
                         f"a blank between them)")
    E = len(z)
    emit = log_probs.double()[:, z]                                         # (S, E)
    can_skip = torch.zeros(E, dtype=torch.bool)
    can_skip[2:] = (z[2:] != blank) & (z[2:] != z[:-2])
    neg = torch.tensor(float("-inf"), dtype=torch.float64)
    delta = torch.full((E,), float("-inf"), dtype=torch.float64)
    delta[:2] = emit[0, :2]
    back = torch.zeros(n_frames, E, dtype=torch.long)                      # 0 stay, 1 step, 2 skip
    for t in range(1, n_frames):
        step = torch.cat([neg[None], delta[:-1]])
        skip = torch.where(can_skip, torch.cat([neg[None].expand(2), delta[:-2]]), neg)
        best, move = torch.stack([delta, step, skip]).max(0)
        back[t] = move
        delta = best + emit[t]
    state = E - 1 if E == 1 or delta[E - 1] >= delta[E - 2] else E - 2
    path = torch.empty(n_frames, dtype=torch.long)
    for t in range(n_frames - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    return path


def label_spans(states: Tensor, n_labels: int) -> Tensor:
    """(n_labels, 2): first and last frame of each label on a `ctc_viterbi` path (label k is
    state 2k + 1; blank frames belong to no label)."""
    from course_lib.speech.word_timestamps import token_spans

    on_labels = [(s // 2, t) for t, s in enumerate(states.tolist()) if s % 2 == 1]
    try:
        return token_spans(torch.tensor(on_labels, dtype=torch.long).reshape(-1, 2), n_labels)
    except ValueError:
        raise ValueError("the path does not visit every label") from None


@torch.no_grad()
def ctc_log_probs(model, wave: Tensor) -> Tensor:
    """(S, V + 1) log-probabilities of `model`'s CTC head (a `WhisperASR` with ctc_head) over
    the 20 ms encoder frames of wave (T,) at 16 kHz."""
    from course_lib.speech.asr import features

    check_shape(wave, "wave", "T")
    if getattr(model, "ctc", None) is None:
        raise ValueError("model has no CTC head (AsrConfig.ctc_head=False): align with attention instead")
    model.eval()
    device = next(model.parameters()).device
    mel = features(wave.float().cpu()).to(device)
    audio, _ = model.encoder(mel[None], torch.tensor([mel.shape[1]], device=device))
    return model.ctc(audio[0]).log_softmax(-1).double().cpu()


def ctc_align_words(model, tokenizer, wave: Tensor, text: str, spike_lag: float = 0.0,
                    log_probs: Tensor | None = None) -> list[tuple[float, float]]:
    """(start, end) seconds of each word of `text` in wave (T,) at 16 kHz by CTC forced
    alignment: a word starts `spike_lag` seconds before its label's first frame and ends
    where the next word starts (the last one at its own last frame). Word-level tokens."""
    from course_lib.speech.word_timestamps import ENCODER_FRAME_SECONDS

    if getattr(tokenizer, "level", "word") != "word":
        raise ValueError("ctc_align_words needs a word-level tokenizer (one token per word)")
    labels = [i + 1 for i in tokenizer.encode(text)]                      # class 0 is the blank
    if not labels:
        return []
    if log_probs is None:
        log_probs = ctc_log_probs(model, wave)
    spans = label_spans(ctc_viterbi(log_probs, labels), len(labels)).double() * ENCODER_FRAME_SECONDS
    starts = (spans[:, 0] - spike_lag).clamp_min(0.0).tolist()
    ends = starts[1:] + [spans[-1, 1].item() + ENCODER_FRAME_SECONDS]
    return [(s, max(s, e)) for s, e in zip(starts, ends)]


def calibrate_spike_lag(model, tokenizer, examples: list[tuple[Tensor, str, list[tuple[float, float]]]]) -> float:
    """The median of (first spike frame − true start) over every word of `examples`
    ((wave, text, true word times) triples: training clips), in seconds: how late this
    model's CTC spikes fire after a word begins."""
    if not examples:
        raise ValueError("examples must hold at least one (wave, text, word times) triple")
    lags = []
    for wave, text, truth in examples:
        predicted = ctc_align_words(model, tokenizer, wave, text)
        if len(predicted) != len(truth):
            raise ValueError(f"{text!r} has {len(predicted)} words but {len(truth)} true times")
        lags += [p[0] - t[0] for p, t in zip(predicted, truth)]
    return float(torch.tensor(lags).median())
