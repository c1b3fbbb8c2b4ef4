"""CTC forced alignment (day 18): the Viterbi path against brute force over every frame
labelling, its spans, word times from spikes, and bad input."""

import itertools

import pytest
import torch

from course_lib.speech.asr_tokenizer import Tokenizer
from course_lib.speech.ctc_align import ctc_align_words, ctc_viterbi, label_spans


def collapse(sequence):
    out, previous = [], None
    for c in sequence:
        if c != previous and c != 0:
            out.append(c)
        previous = c
    return out


def test_viterbi_path_is_the_best_labelling_that_collapses_to_the_labels():
    """Brute force: every labelling of S frames with C classes, the best one that collapses
    to the labels (repeats included, which need a blank between them)."""
    torch.manual_seed(0)
    checked = 0
    for labels, frames in [([1], 3), ([2, 2], 4), ([1, 2], 3), ([3, 1, 3], 5), ([1, 1, 2], 6), ([2, 3, 1], 6)]:
        for _ in range(3):
            log_probs = torch.randn(frames, 4).mul(2).log_softmax(-1).double()
            best = max(sum(log_probs[t, c].item() for t, c in enumerate(seq))
                       for seq in itertools.product(range(4), repeat=frames) if collapse(seq) == labels)
            states = ctc_viterbi(log_probs, labels)
            z = [0] + [x for label in labels for x in (label, 0)]
            path = [z[s] for s in states.tolist()]
            assert collapse(path) == labels
            assert sum(log_probs[t, c].item() for t, c in enumerate(path)) == pytest.approx(best, abs=1e-9)
            checked += 1
    assert checked == 18


def test_spans_follow_clear_spikes():
    """Spikes of labels 1, 2, 1 at frames 2, 5-6 and 9 among blanks: the path finds them."""
    log_probs = torch.full((12, 3), -8.0)
    log_probs[:, 0] = 0.0
    for label, frames in ((1, [2]), (2, [5, 6]), (1, [9])):
        log_probs[frames, 0], log_probs[frames, label] = -8.0, 0.0
    spans = label_spans(ctc_viterbi(log_probs.log_softmax(-1), [1, 2, 1]), 3)
    assert spans.tolist() == [[2, 2], [5, 6], [9, 9]]


def test_word_times_from_spikes_with_a_lag():
    tokenizer = Tokenizer(("one", "two", "three"))
    one, three = tokenizer.encode("one three")
    log_probs = torch.full((50, len(tokenizer) + 1), -9.0)
    log_probs[:, 0] = 0.0
    log_probs[[10, 30], 0] = -9.0
    log_probs[10, one + 1] = log_probs[30, three + 1] = 0.0
    times = ctc_align_words(None, tokenizer, None, "one three", spike_lag=0.1, log_probs=log_probs.log_softmax(-1))
    assert times == [pytest.approx((0.1, 0.5)), pytest.approx((0.5, 0.62))]     # 20 ms frames
    assert ctc_align_words(None, tokenizer, None, "", log_probs=log_probs) == []


def test_bad_input_is_named():
    log_probs = torch.zeros(3, 4).log_softmax(-1)
    with pytest.raises(ValueError, match="labels must be class ids"):
        ctc_viterbi(log_probs, [0, 1])
    with pytest.raises(ValueError, match="labels must be class ids"):
        ctc_viterbi(log_probs, [4])
    with pytest.raises(ValueError, match="cannot hold 2 labels"):
        ctc_viterbi(log_probs[:2], [1, 1])              # "1 ∅ 1": a repeat needs 3 frames
    with pytest.raises(ValueError, match="log_probs"):
        ctc_viterbi(torch.zeros(3), [1])
    with pytest.raises(ValueError, match="word-level"):
        ctc_align_words(None, Tokenizer(("a", "b"), level="char"), None, "ab", log_probs=log_probs)
