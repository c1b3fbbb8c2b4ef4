"""Day 18's word timestamps for day 12's ASR: cross-attention comes out of the decoder
unchanged by asking for it, eSpeak's word times are sane, the alignment of a clean
attention diagonal is exact, and the trained model's words land within 60 ms."""

import statistics

import pytest
import torch

from course_lib.speech.asr import AsrConfig, WhisperASR
from course_lib.speech.asr_tokenizer import Tokenizer
from course_lib.speech.word_timestamps import (ENCODER_FRAME_SECONDS, align_words, alignment_matrix, cross_attention,
                                               median_filter, start_errors)


def test_asking_for_the_attention_changes_nothing_and_gives_one_row_per_predicted_token():
    tok = Tokenizer.from_texts(["three seven one"])
    torch.manual_seed(0)
    model = WhisperASR(AsrConfig(vocab_size=len(tok), dim=32, heads=2, encoder_depth=1, decoder_depth=2,
                                 max_tokens=16)).eval()
    wave = torch.randn(16000) * 0.1
    weights = cross_attention(model, tok, wave, "three seven one")
    assert weights.shape == (2, 2, 4, 50)                  # blocks, heads, 3 words + eot, 1 s at 20 ms
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 4))
    tokens = torch.tensor(tok.sequence("three seven one", "en"))[None]
    audio, pad = model.encoder(torch.randn(1, 80, 100))
    plain = model.decoder(tokens, audio, pad)
    logits, stacked = model.decoder(tokens, audio, pad, return_attention=True)
    torch.testing.assert_close(plain, logits)
    assert stacked.shape == (2, 1, 2, tokens.shape[1], 50)
    with pytest.raises(ValueError, match="word-level"):
        cross_attention(model, Tokenizer.from_texts(["ab"], level="char"), wave, "ab")


def test_a_clean_diagonal_aligns_exactly_and_errors_are_per_word():
    weights = torch.full((1, 2, 4, 40), 0.01)              # 3 words + eot over 40 frames
    for row, (a, b) in enumerate(((5, 12), (12, 20), (20, 31), (31, 40))):
        weights[0, 1, row, a:b] = 1.0                       # head 1 knows; head 0 is flat
    words = align_words(None, None, None, "", [(0, 1)], weights=weights)
    starts_ends = [x for w in words for x in w]
    # the path starts at frame 0, so the first word does too (as in Whisper: voice activity trims it)
    assert starts_ends == pytest.approx([0.0, 12 * 0.02, 12 * 0.02, 20 * 0.02, 20 * 0.02, 31 * 0.02])
    assert ENCODER_FRAME_SECONDS == 0.02
    assert start_errors(words, [(0.0, 0.3), (0.3, 0.4), (0.45, 0.7)]) == pytest.approx([0.0, 0.06, 0.05])
    assert alignment_matrix(weights, [(0, 1), (0, 0)]).shape == (4, 40)
    with pytest.raises(ValueError, match="heads"):
        alignment_matrix(weights, [])
    with pytest.raises(ValueError, match="predicted"):
        start_errors(words, [(0.1, 0.3)])
    assert median_filter(torch.arange(24.0).view(2, 3, 4), 3).shape == (2, 3, 4)   # any leading dims


def test_espeak_word_times_follow_the_words():
    from course_lib.data.speech import speak_timed

    wave, times = speak_timed("three seven one nine")
    assert len(times) == 4 and wave.ndim == 1
    assert all(0 <= a < b for a, b in times) and times[-1][1] <= len(wave) / 16000 + 1e-6
    assert all(times[k][1] <= times[k + 1][0] + 1e-9 for k in range(3))
    assert 0.2 < times[1][0] < 0.3                          # "seven" begins after a ~0.23 s "three"


def test_day12s_asr_times_held_out_words_within_60_ms():
    """Trains (or loads) day 12's cpu preset (about a minute with its clips), so the lesson
    loads it. Measured with heads chosen on 20 training strings, on 40 held-out strings:
    the word starts' median error was 20 ms in one training run of the recipe and 48 ms in
    another (a fresh clone's: training is not bit-for-bit repeatable across runs); words
    spread evenly between the true first start and last end: 41 ms. So only the issue's
    bound is asserted, not a win over that oracle-assisted spread."""
    from course_lib.data.multilingual import digit_sentences
    from course_lib.data.speech import speak_timed, split_of
    from course_lib.speech.asr_train import PRESETS, train_asr
    from course_lib.speech.word_timestamps import choose_alignment_heads

    trained = train_asr(PRESETS["cpu"], progress=False)
    model, tok = trained.model.cpu().eval(), trained.tokenizer
    english = [e for e, _ in digit_sentences("en", 400)]
    seen = [text for text in english if split_of(text) == "train"][:20]
    held_out = [text for text in english if split_of(text) != "train"][:40]
    timed = [speak_timed(text) for text in seen]
    heads = choose_alignment_heads(model, tok, [(wave, text, times) for text, (wave, times) in zip(seen, timed)])
    errors = []
    for text in held_out:
        wave, truth = speak_timed(text)
        errors += start_errors(align_words(model, tok, wave, text, heads), truth)
    assert statistics.median(errors) <= 0.06, statistics.median(errors)
