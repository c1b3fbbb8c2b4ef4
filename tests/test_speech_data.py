"""course_lib.data.speech: sentence generators, features, durations, corpus, collate."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from course_lib.data import speech
from course_lib.data.speech import (HOP_LENGTH, N_MELS, SAMPLE_RATE, collate, durations_to_frames,
                                    load_corpus, log_mel, make_utterance, sentences, split_of)


def test_sentences_are_deterministic_distinct_and_normalised():
    for domain in speech.DOMAINS:
        pairs = sentences(domain, 30)
        assert pairs == sentences(domain, 30)
        texts = [t for _, t in pairs]
        assert len(set(texts)) == len(texts) == 30
        assert all(t == t.lower() and not any(c.isdigit() for c in t) for t in texts)
    with pytest.raises(ValueError, match="domain"):
        sentences("poems")


def test_split_is_by_text_and_roughly_80_10_10():
    texts = [t for d in speech.DOMAINS for _, t in sentences(d)]
    splits = [split_of(t) for t in texts]
    for name, fraction in zip(speech.SPLITS, speech.SPLIT_FRACTIONS):
        assert abs(splits.count(name) / len(texts) - fraction) < 0.04
    assert split_of("one two three") == split_of("one two three")


def test_log_mel_matches_librosa():
    wave = torch.randn(8000, generator=torch.Generator().manual_seed(0)) * 0.1
    ours = log_mel(wave)
    ref = librosa.feature.melspectrogram(y=wave.numpy(), sr=SAMPLE_RATE, n_fft=speech.N_FFT,
                                         hop_length=HOP_LENGTH, n_mels=N_MELS, power=1.0,
                                         fmax=speech.F_MAX, pad_mode="reflect")
    ref = np.log(np.maximum(ref, speech.LOG_FLOOR))
    assert ours.shape == (N_MELS, 1 + 8000 // HOP_LENGTH)
    assert np.allclose(ours.numpy(), ref, atol=1e-3)


def test_durations_to_frames_rounds_boundaries_not_durations():
    # 22,050 Hz samples -> 16 kHz frames of 200 samples: one frame = 275.625 input samples.
    durations = [100] * 30                          # each phoneme is 0.36 frames long
    frames = durations_to_frames(durations, 22050, n_frames=12)
    assert sum(frames) == 12 and len(frames) == 30
    # per-duration rounding would give round(0.36) = 0 frames each: nothing at all
    assert max(frames) == 1
    # a frame centred at m * 275.625 belongs to the phoneme sounding there
    ends = np.cumsum(durations)
    for m in range(11):
        owner = int(np.searchsorted(ends, m * 275.625, side="right"))
        assert np.cumsum(frames)[owner] > m >= np.cumsum([0, *frames])[owner]
    assert durations_to_frames([275, 276], 22050, 2) == [1, 1]
    with pytest.raises(ValueError):
        durations_to_frames([-1, 3], 22050, 2)


def test_make_utterance_lines_up_phonemes_frames_and_wave():
    u = make_utterance("Call Emma at 7:05.", voice="en-us", domain="commands")
    assert u.text == "call emma at seven oh five."
    assert u.mel.shape[0] == N_MELS and sum(u.durations) == u.n_frames
    assert len(u.durations) == len(u.events)
    assert [e for e in u.events if e != "_"] == [p for p in u.phonemes if p != " "]
    wave = u.wave()
    assert 1 + len(wave) // HOP_LENGTH == u.n_frames
    assert torch.allclose(log_mel(wave), u.mel)
    # durations: the frames of a vowel are louder than those of the pauses
    energy = u.mel.exp().sum(0)
    starts = np.cumsum([0, *u.durations])
    pause = [energy[a:b].mean() for e, a, b in zip(u.events, starts, starts[1:]) if e == "_" and b > a]
    vowel = [energy[a:b].mean() for e, a, b in zip(u.events, starts, starts[1:]) if "ˈ" in e and b > a]
    assert min(vowel) > 3 * max(pause)


def test_load_corpus_caches_and_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    monkeypatch.setitem(speech.DOMAIN_SIZES, "digits", 12)
    corpus = load_corpus(("digits",), ("en-us", "en-us+f3"), progress=False)
    assert len(corpus) == 24 and len(list(tmp_path.rglob("*.pt"))) == 2
    again = load_corpus(("digits",), ("en-us", "en-us+f3"), progress=False)
    assert [u.text for u in again.utterances] == [u.text for u in corpus.utterances]
    assert torch.equal(again.utterances[3].mel, corpus.utterances[3].mel)
    by_voice = {}
    for u in corpus.utterances:
        by_voice.setdefault(u.text, set()).add((u.voice, u.split))
    assert all(len({s for _, s in v}) == 1 for v in by_voice.values()), "a text is in one split"
    assert " " in corpus.phoneme_table.symbols
    assert sum(len(corpus.split(s)) for s in speech.SPLITS) == len(corpus)
    with pytest.raises(ValueError, match="voice"):
        load_corpus(("digits",), ("klingon",))
    with pytest.raises(TypeError):
        load_corpus("digits")


def test_voice_utterances_of_extra_voices_are_cached_and_split_like_the_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    utts = speech.voice_utterances("en-us+m3", "digits", 4)
    assert [u.text for u in utts] == [t for _, t in sentences("digits", 4)]
    assert all(u.voice == "en-us+m3" and u.split == split_of(u.text) and sum(u.durations) == u.n_frames
               for u in utts)
    assert [p.name for p in (tmp_path / "speech" / f"voices_v{speech.VOICE_VERSION}").iterdir()] == \
        ["en-us+m3_digits_4.pt"]
    again = speech.voice_utterances("en-us+m3", "digits", 4)         # from the cache
    assert all(torch.equal(a.mel, b.mel) and a.phonemes == b.phonemes for a, b in zip(utts, again))
    assert speech.voice_language("en-us+f4") == "en-us" and len(speech.TTS_VOICES) == 27
    assert not set(speech.UNSEEN_VOICES) & set(speech.TTS_VOICES)


def test_collate_pads_and_masks():
    items = [([5, 6, 7, 1], torch.ones(N_MELS, 10)), ([8, 1], 2 * torch.ones(N_MELS, 4))]
    batch = collate(items)
    assert batch["tokens"].tolist() == [[5, 6, 7, 1], [8, 1, 0, 0]]
    assert batch["token_mask"].tolist() == [[True] * 4, [True, True, False, False]]
    assert batch["mels"].shape == (2, N_MELS, 10)
    assert batch["mel_lengths"].tolist() == [10, 4]
    assert batch["mels"][1, :, 4:].abs().sum() == 0 and batch["mels"][1, :, :4].eq(2).all()
    assert batch["mel_mask"].sum(1).tolist() == [10, 4]
    with pytest.raises(ValueError, match="mel must be"):
        collate([([1], torch.ones(3, 5)), ([1], torch.ones(4, 5))])
