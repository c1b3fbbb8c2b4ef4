"""course_lib.data.multilingual: digit strings and phrases in en/de/es/fr via eSpeak NG."""

from __future__ import annotations

import pytest
import torch

from course_lib.data import multilingual as ml
from course_lib.data.speech import sentences, split_of
from course_lib.speech import espeak


def test_every_language_has_an_espeak_voice():
    for language, voice in ml.VOICES.items():
        assert any(voice in v.languages for v in espeak.voices(language)), (language, voice)


def test_translate_digits_word_by_word():
    assert ml.translate_digits("three seven one", "de") == "drei sieben eins"
    assert ml.translate_digits("zero nine", "es") == "cero nueve"
    assert ml.translate_digits("one eight", "fr") == "un huit"
    assert ml.translate_digits("four two", "en") == "four two"
    with pytest.raises(ValueError, match="English digit words"):
        ml.translate_digits("drei", "de")
    with pytest.raises(ValueError, match="language must be one of"):
        ml.translate_digits("one", "it")


def test_digit_sentences_share_text_and_split_across_languages():
    english = [t for _, t in sentences("digits", 30)]
    for language in ml.LANGUAGES:
        pairs = ml.digit_sentences(language, 30)
        assert [e for _, e in pairs] == english
        assert all(len(n.split()) == len(e.split()) for n, e in pairs)
    de = ml.digit_sentences("de", 30)
    assert de[0][0] == ml.translate_digits(de[0][1], "de")
    with pytest.raises(ValueError, match="n must be a positive int"):
        ml.digit_sentences("de", 0)


def test_phrase_book_is_lower_case_without_punctuation():
    for language in ml.LANGUAGES:
        pairs = ml.phrase_sentences(language)
        assert [e for _, e in pairs] == list(ml.PHRASES)
        for native, _ in pairs:
            assert native == native.lower() and not any(c in native for c in ".,?!")
    assert ml.phrase_sentences("en")[0] == ("good morning", "good morning")
    assert ml.phrase_sentences("de")[1] == ("danke", "thank you")


def test_load_clips_is_cached_deterministic_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    clips = ml.load_clips("de", n=3, progress=False)
    assert [c.text for c in clips] == [n for n, _ in ml.digit_sentences("de", 3)]
    for c in clips:
        assert c.language == "de" and c.voice == "de" and c.kind == "digits"
        assert c.split == split_of(c.english)
        assert c.wave.dtype == torch.float32 and c.wave.ndim == 1
        assert 0.3 < c.seconds < 3.0 and c.wave.abs().max() > 0.05
    path = tmp_path / f"multilingual_v{ml.VERSION}" / "de_digits_3.pt"
    assert path.exists()
    again = ml.load_clips("de", n=3, progress=False)                  # from the cache
    assert all(torch.equal(a.wave, b.wave) for a, b in zip(clips, again))
    path.unlink()
    rebuilt = ml.load_clips("de", n=3, progress=False)                # synthesised again
    assert all(torch.equal(a.wave, b.wave) for a, b in zip(clips, rebuilt))
    # another voice for the same language is a separate shard
    other = ml.load_clips("en", "en-gb-x-rp", n=2, progress=False)
    assert other[0].voice == "en-gb-x-rp" and other[0].text == other[0].english
    with pytest.raises(ValueError, match="kind must be one of"):
        ml.load_clips("de", kind="numbers")
    with pytest.raises(ValueError, match="language must be one of"):
        ml.load_clips("xx")
    with pytest.raises(ValueError, match="voice must be"):
        ml.load_clips("de", voice="")
    with pytest.raises(TypeError, match="languages must be a sequence"):
        ml.load_multilingual("de")
    with pytest.raises(ValueError, match="split must be one of"):
        ml.split(clips, "dev")


def test_the_asr_tokenizer_has_a_language_token_for_every_language():
    from course_lib.speech import asr_tokenizer
    assert asr_tokenizer.LANGUAGES == ml.LANGUAGES
