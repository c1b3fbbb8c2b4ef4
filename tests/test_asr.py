"""course_lib.speech: the ASR tokenizer, Whisper-style model and decoding (asr), the CTC
baseline (ctc), WER, and the recipes / load-or-train of asr_train."""

from __future__ import annotations

import itertools
import math
import random

import jiwer
import pytest
import torch

from course_lib.metrics import word_error_rate
from course_lib.speech import asr, asr_tokenizer, asr_train, ctc
from course_lib.speech.asr import (AsrConfig, ConvStem, WhisperASR, asr_loss, beam_search,
                                   collate_features, greedy_decode)
from course_lib.speech.asr_tokenizer import Tokenizer
from course_lib.speech.ctc import CTCModel, ctc_greedy
from course_lib.train import TrainSettings


pytestmark = pytest.mark.usefixtures("one_thread")


TINY = dict(n_mels=16, dim=32, heads=4, encoder_depth=2, decoder_depth=2, max_tokens=16)


def _model(vocab_size=20, seed=0, **kw):
    torch.manual_seed(seed)
    return WhisperASR(AsrConfig(vocab_size=vocab_size, **{**TINY, **kw})).eval()


def _mels(lengths=(23, 14), n_mels=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return collate_features([torch.randn(n_mels, t, generator=g) for t in lengths])


# ---------------------------------------------------------------- tokenizer

def test_tokenizer_special_tokens_prompt_and_round_trip():
    tok = Tokenizer.from_texts(["three seven one", "drei sieben eins"])
    assert tok.vocabulary == ("drei", "eins", "one", "seven", "sieben", "three")
    assert len(tok) == len(asr_tokenizer.SPECIAL_TOKENS) + 6
    assert tok.eot == 0 and tok.sot == 1
    assert [tok.token_id(t) for t in asr_tokenizer.LANGUAGE_TOKENS] == tok.language_ids == [2, 3, 4, 5]
    assert tok.prompt("de", "translate") == [1, 3, 7]
    assert tok.prompt(None) == [1]
    seq = tok.sequence("drei sieben eins", "de", "translate")
    assert seq[:3] == [1, 3, 7] and seq[-1] == tok.eot
    assert tok.decode(seq) == "drei sieben eins"                       # specials skipped
    assert tok.decode([*tok.encode("one"), tok.eot, *tok.encode("three")]) == "one"  # stops at EOT
    chars = Tokenizer.from_texts(["ab a"], level="char")
    assert chars.decode(chars.encode("ab a")) == "ab a"


def test_tokenizer_errors():
    tok = Tokenizer.from_texts(["one two"])
    with pytest.raises(ValueError, match="not in the vocabulary: \\['three'\\]"):
        tok.encode("one three")
    with pytest.raises(ValueError, match="language must be one of"):
        tok.prompt("it")
    with pytest.raises(ValueError, match="task must be one of"):
        tok.prompt("en", "summarize")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([99])
    with pytest.raises(ValueError, match="level must be"):
        Tokenizer(("a",), level="bpe")
    with pytest.raises(ValueError, match="special tokens"):
        Tokenizer((asr_tokenizer.SOT,))
    with pytest.raises(TypeError, match="sequence of strings"):
        Tokenizer.from_texts("one two")


# ---------------------------------------------------------------- model

def test_features_are_whisper_log_mel_and_checked():
    from course_lib.audio.dsp import log_mel_whisper
    wave = torch.randn(16000) * 0.1
    assert torch.equal(asr.features(wave), log_mel_whisper(wave))
    assert asr.features(wave).shape == (80, 100)
    with pytest.raises(ValueError, match=r"wave16k must be \(T\)"):
        asr.features(torch.zeros(2, 16000))


@pytest.mark.parametrize("frames", [1, 2, 7, 8, 31])
def test_conv_stem_output_length(frames):
    stem = ConvStem(16, 8)
    out = stem(torch.randn(1, 16, frames))
    assert out.shape == (1, ConvStem.output_lengths(torch.tensor([frames])).item(), 8)
    assert out.shape[1] == math.ceil(frames / 2)


def test_encoder_gives_the_same_features_alone_and_padded_in_a_batch():
    model = _model()
    batch = _mels((23, 14))
    audio, pad = model.encoder(batch["mels"], batch["mel_lengths"])       # (2, 12, D)
    alone, _ = model.encoder(batch["mels"][1:, :, :14], batch["mel_lengths"][1:])
    assert pad.tolist()[1] == [False] * 7 + [True] * 5
    torch.testing.assert_close(audio[1, :7], alone[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"mels must be \(B, n_mels=16, T\)"):
        model.encoder(torch.randn(2, 80, 10))
    with pytest.raises(ValueError, match=r"lengths must be \(B=2\)"):
        model.encoder(batch["mels"], torch.tensor([3]))


def test_decoder_is_causal():
    model = _model()
    batch = _mels()
    tokens = torch.tensor([[1, 2, 6, 9, 10, 11], [1, 3, 6, 12, 13, 14]])
    logits = model(batch["mels"], batch["mel_lengths"], tokens)
    changed = tokens.clone()
    changed[:, 4:] = 15
    logits2 = model(batch["mels"], batch["mel_lengths"], changed)
    torch.testing.assert_close(logits[:, :4], logits2[:, :4])
    assert not torch.allclose(logits[:, 4:], logits2[:, 4:])


def test_decoder_with_kv_cache_matches_full_recompute():
    model = _model()
    batch = _mels()
    audio, pad = model.encoder(batch["mels"], batch["mel_lengths"])
    tokens = torch.tensor([[1, 2, 6, 9, 10, 11], [1, 3, 6, 12, 13, 14]])
    full = model.decoder(tokens, audio, pad)                           # (2, 6, V)
    caches = model.decoder.new_caches()
    steps = [model.decoder(tokens[:, :3], audio, pad, caches)]         # the prompt at once
    steps += [model.decoder(tokens[:, i:i + 1], audio, pad, caches) for i in range(3, 6)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert len(caches[0][0]) == 6 and len(caches[0][1]) == audio.shape[1]


def test_greedy_with_cache_equals_greedy_without_cache():
    model = _model(vocab_size=30, max_tokens=24)
    batch = _mels((40, 33, 17))
    prompt = torch.tensor([[1, 2, 6], [1, 3, 6], [1, 2, 7]])
    cached = greedy_decode(model, batch["mels"], batch["mel_lengths"], prompt, 20, use_cache=True)
    plain = greedy_decode(model, batch["mels"], batch["mel_lengths"], prompt, 20, use_cache=False)
    assert cached == plain
    assert any(len(ids) > 3 for ids in cached)                         # a real test: long outputs
    # each item decodes as it would alone
    alone = greedy_decode(model, batch["mels"][2:, :, :17], batch["mel_lengths"][2:], prompt[2], 20)
    assert alone == cached[2:]


def _sequence_logprob(model, mel, prompt, ids):
    tokens = torch.tensor([prompt + ids])
    logp = model(mel[None], None, tokens[:, :-1]).log_softmax(-1)[0]
    return sum(logp[len(prompt) - 1 + i, t].item() for i, t in enumerate(ids))


def test_beam_search_finds_the_exhaustive_best_and_beam_one_is_greedy():
    model = _model(vocab_size=4, max_tokens=8, seed=3)
    mel = torch.randn(16, 20, generator=torch.Generator().manual_seed(1))
    prompt, eot = [1], 0
    # exhaustive oracle over every ending sequence with at most 2 tokens before EOT
    candidates = [list(p) + [eot] for n in range(3) for p in itertools.product((1, 2, 3), repeat=n)]
    with torch.no_grad():
        scored = [(_sequence_logprob(model, mel, prompt, c) / len(c), c) for c in candidates]
    best = max(scored)[1]
    found = beam_search(model, mel, prompt, beam_size=27, max_new_tokens=3, eot=eot)
    assert found + [eot] == best
    greedy = greedy_decode(model, mel[None], None, prompt, 3, eot=eot)[0]
    assert beam_search(model, mel, prompt, beam_size=1, max_new_tokens=3, length_penalty=0.0) == greedy
    with pytest.raises(ValueError, match="beam_size must be a positive int"):
        beam_search(model, mel, prompt, beam_size=0)
    with pytest.raises(ValueError, match="mel must be one clip"):
        beam_search(model, mel[None], prompt)


def test_asr_loss_skips_padding_and_the_task_token():
    model = _model()
    batch = _mels()
    batch.update(tokens=torch.tensor([[1, 2, 6, 9, 10, 0], [1, 3, 7, 12, 0, 0]]),
                 token_lengths=torch.tensor([6, 5]))
    loss = asr_loss(model, batch)
    other = {**batch, "tokens": batch["tokens"].clone()}
    other["tokens"][1, 5] = 17                                         # padding
    torch.testing.assert_close(asr_loss(model, other), loss)
    logits = model(batch["mels"], batch["mel_lengths"], batch["tokens"][:, :-1])
    targets = [(0, 0, 2), (0, 2, 9), (0, 3, 10), (0, 4, 0), (1, 0, 3), (1, 2, 12), (1, 3, 0)]
    manual = -torch.stack([logits[b, i].log_softmax(-1)[t] for b, i, t in targets]).mean()
    torch.testing.assert_close(loss, manual)
    # joint CTC: a convex mixture of the two terms
    batch["labels"], batch["label_lengths"] = torch.tensor([[7, 8, 9], [10, 11, 0]]), torch.tensor([3, 2])
    mixed = asr_loss(model, batch, ctc_weight=0.5)
    assert torch.isfinite(mixed) and not torch.allclose(mixed, loss)


def test_detect_language_returns_a_distribution_over_the_four_languages():
    model = _model()
    tok = Tokenizer.from_texts(["a b c d e f g h i j k l"])
    batch = _mels()
    codes, probs = asr.detect_language(model, batch["mels"], batch["mel_lengths"], tok)
    assert probs.shape == (2, 4) and torch.allclose(probs.sum(-1), torch.ones(2))
    assert all(c in asr_tokenizer.LANGUAGES for c in codes)


# ---------------------------------------------------------------- CTC

def test_ctc_greedy_collapses_repeats_then_drops_blanks():
    def one_hot(path, classes=4):
        return torch.nn.functional.one_hot(torch.tensor(path), classes).float().log()
    assert ctc_greedy(one_hot([1, 1, 0, 1, 2, 2]))[0] == [1, 1, 2]
    assert ctc_greedy(one_hot([0, 0, 3, 3, 3, 0]))[0] == [3]
    assert ctc_greedy(one_hot([2, 2, 2, 2]))[0] == [2]
    batch = torch.stack([one_hot([1, 0, 1, 3]), one_hot([2, 2, 3, 0])])
    assert ctc_greedy(batch, torch.tensor([3, 4])) == [[1, 1], [2, 3]]   # lengths respected
    with pytest.raises(ValueError, match="log_probs must be"):
        ctc_greedy(torch.zeros(4))


def test_ctc_model_learns_a_toy_task():
    """Frames whose features announce a label: a tiny CTC model must learn to read them."""
    torch.manual_seed(0)
    model = CTCModel(AsrConfig(vocab_size=4, **{**TINY, "ctc_head": False}))
    g = torch.Generator().manual_seed(0)

    def batch():
        labels = torch.randint(1, 5, (8, 3), generator=g)
        mels = torch.zeros(8, 16, 24)
        for b in range(8):
            for j, y in enumerate(labels[b]):
                mels[b, 4 * int(y) - 4:4 * int(y), 8 * j + 1:8 * j + 6] = 3.0
        return {"mels": mels, "mel_lengths": torch.full((8,), 24), "labels": labels,
                "label_lengths": torch.full((8,), 3)}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        loss = ctc.ctc_loss(model, batch())
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = batch()
    with torch.no_grad():
        log_probs, lengths = model(test["mels"], test["mel_lengths"])
    decoded = ctc_greedy(log_probs, lengths)
    assert decoded == test["labels"].tolist(), (decoded, test["labels"].tolist())


# ---------------------------------------------------------------- WER

def _edit_distance(reference, hypothesis):
    """Levenshtein distance in words (the oracle): one row of the table at a time."""
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        previous, row[0] = row[:], i
        for j, hyp_word in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
    return row[-1]


def test_wer_agrees_with_jiwer_and_with_an_edit_distance():
    rng = random.Random(0)
    words = ["one", "two", "three", "four"]
    refs = [" ".join(rng.choices(words, k=rng.randint(1, 6))) for _ in range(200)]
    hyps = [" ".join(rng.choices(words, k=rng.randint(0, 7))) for _ in range(200)]
    assert word_error_rate(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))
    edits = sum(_edit_distance(r.split(), h.split()) for r, h in zip(refs, hyps))
    assert word_error_rate(refs, hyps) == pytest.approx(edits / sum(len(r.split()) for r in refs))
    for r, h in zip(refs, hyps):
        out = jiwer.process_words(r, h)
        assert _edit_distance(r.split(), h.split()) == out.substitutions + out.deletions + out.insertions
    assert word_error_rate(["a b c"], ["a x c d"]) == pytest.approx(2 / 3)     # 1 sub + 1 insertion
    with pytest.raises(ValueError, match="equally many"):
        word_error_rate(["a"], [])
    with pytest.raises(ValueError, match="at least one word"):
        word_error_rate([""], ["a"])


# ---------------------------------------------------------------- recipes and load-or-train

def test_recipes_are_typed_frozen_and_keyed():
    recipe = asr_train.AsrRecipe()
    assert asr_train.PRESETS["cpu"] == recipe and recipe.model.vocab_size == 0   # filled by train_asr
    assert isinstance(recipe.model, AsrConfig) and isinstance(recipe.train, TrainSettings)
    with pytest.raises(Exception):
        recipe.model.dim = 8                                            # frozen
    faster = asr_train.AsrRecipe(train=TrainSettings(steps=5, batch_size=4, lr=1e-3))
    assert faster.key() != asr_train.AsrRecipe(train=TrainSettings(steps=6, batch_size=4, lr=1e-3)).key()
    base_changed = asr_train.AsrFinetuneRecipe(base=faster)
    assert base_changed.key() != asr_train.AsrFinetuneRecipe().key()    # the base is part of the key
    with pytest.raises(ValueError, match="ctc_head must be True exactly when ctc_weight > 0"):
        asr_train.AsrRecipe(ctc_weight=0.0)
    pure = asr_train.AsrRecipe(ctc_weight=0.0, model=AsrConfig(ctc_head=False))
    assert pure.model.ctc_head is False
    with pytest.raises(ValueError, match="each data entry must be"):
        asr_train.AsrRecipe(data=(("en", "en-us", "digits", 10, "transcribe"),))
    with pytest.raises(ValueError, match="vocab_size is 0"):
        WhisperASR(AsrConfig())
    assert AsrConfig(dim=32, mlp_ratio=1.5).mlp_ratio == 1.5
    model = WhisperASR(AsrConfig(vocab_size=10, dim=32, mlp_ratio=1.5))
    assert model.decoder.blocks[0].mlp[0].out_features == 48           # int(dim * mlp_ratio)


def test_train_asr_finetune_and_ctc_train_then_load(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    data = (("en", "en-us", "digits", 10, ("transcribe",)),
            ("de", "de", "digits", 10, ("transcribe", "translate")))
    recipe = asr_train.AsrRecipe(model=AsrConfig(dim=32, max_tokens=16), data=data,
                                 train=TrainSettings(steps=4, batch_size=4, lr=2e-3, warmup=2))
    trained = asr_train.train_asr(recipe, progress=False)
    assert len(trained.run.history) == 4 and not trained.run.cached
    assert trained.model.config.vocab_size == len(trained.tokenizer)
    assert (tmp_path / "checkpoints" / f"asr_{recipe.key()}.pt").exists()
    again = asr_train.train_asr(recipe, progress=False)                 # loaded, not retrained
    assert again.run.cached and again.run.history == trained.run.history
    for a, b in zip(trained.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
    clips = asr_train.load_data(data, progress=False)
    texts = trained.transcribe([c.wave for c in clips[:2]], language="en")
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    by_ctc = trained.transcribe([c.wave for c in clips[:2]], decode="ctc")
    assert len(by_ctc) == 2 and all(set(t.split()) <= set(trained.tokenizer.vocabulary) for t in by_ctc)
    with pytest.raises(ValueError, match="can only transcribe"):
        trained.transcribe([clips[0].wave], task="translate", decode="ctc")
    with pytest.raises(ValueError, match="decode"):
        trained.transcribe([clips[0].wave], decode="joint")
    assert len(trained.detect_language([clips[0].wave])) == 1
    with pytest.raises(ValueError, match="each data entry must be"):
        asr_train.load_data([("en", "en-us", "digits", 10, "transcribe")])

    tune = asr_train.AsrFinetuneRecipe(base=recipe, data=data[:1],
                                       train=TrainSettings(steps=2, batch_size=2, lr=5e-4, seed=1))
    tuned = asr_train.finetune_asr(tune, progress=False)
    assert len(tuned.run.history) == 2 and tuned.recipe == tune
    assert (tmp_path / "checkpoints" / f"asr_finetune_{tune.key()}.pt").exists()
    assert not all(torch.equal(a, b) for a, b in zip(trained.model.parameters(), tuned.model.parameters()))
    for a, b in zip(again.model.parameters(), asr_train.train_asr(recipe, progress=False).model.parameters()):
        assert torch.equal(a, b)                                        # the base is left unchanged
    assert asr_train.finetune_asr(tune, progress=False).run.cached

    ctc_recipe = asr_train.CTCRecipe(model=AsrConfig(dim=32, ctc_head=False), data=data[:1],
                                     train=TrainSettings(steps=3, batch_size=4, lr=2e-3))
    baseline = asr_train.train_ctc(ctc_recipe, progress=False)
    assert len(baseline.run.history) == 3
    assert (tmp_path / "checkpoints" / f"asr_ctc_{ctc_recipe.key()}.pt").exists()
    assert asr_train.train_ctc(ctc_recipe, progress=False).run.cached
    assert all(isinstance(t, str) for t in baseline.transcribe([c.wave for c in clips[:2]]))


def test_example_batches_are_pure_functions_of_the_step():
    made = []

    def make():
        made.append(1)
        return [(torch.randn(80, 10 + i), [1, 2, 6, 8 + i % 3, 0], [i % 3 + 1]) for i in range(12)]
    data = asr_train.example_batches(make, batch_size=4, seed=3)
    assert not made                                                     # nothing made until asked
    first, again = data(7), data(7)
    assert len(made) == 1                                               # made once
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(data(8)["mel_lengths"], first["mel_lengths"]) or \
        not torch.equal(data(8)["tokens"], first["tokens"])
    assert set(first) == {"mels", "mel_lengths", "tokens", "token_lengths", "labels", "label_lengths"}


def test_long_examples_join_clips_of_one_voice_with_their_transcripts():
    from types import SimpleNamespace

    def clip(language, text, english, seconds, split="train"):
        return SimpleNamespace(language=language, voice=language, kind="digits", split=split, text=text,
                               english=english, wave=torch.full((int(seconds * 16_000),), 0.1))
    clips = [clip("en", "one two", "one two", 0.5), clip("en", "three", "three", 0.3),
             clip("en", "four five", "four five", 0.4), clip("en", "six", "six", 0.2, split="test"),
             clip("de", "eins", "one", 0.3), clip("de", "zwei drei", "two three", 0.6)]
    data = (("en", "en", "digits", 4, ("transcribe",)), ("de", "de", "digits", 2, ("transcribe", "translate")))
    tokenizer = asr_tokenizer.Tokenizer(("one", "two", "three", "four", "five", "six", "eins", "zwei", "drei"))
    joined = asr_train.long_examples(clips, data, tokenizer, concat=3, seed=0)
    assert asr_train.long_examples(clips, data, tokenizer, concat=1, seed=0) == []
    assert len(joined) == 3 + 2 * 2                            # one per training clip, per task of its set
    singles = {c.text: c for c in clips if c.split == "train"}
    for mel, sequence, labels in joined:
        text = tokenizer.decode([i - 1 for i in labels])
        language = tokenizer.symbols()[sequence[1]].strip("<|>")
        parts = [t for t in singles if f" {t} " in f" {text} " and singles[t].language == language]
        assert 2 <= len(parts) <= 3 and sorted(text.split()) == sorted(" ".join(parts).split())
        seconds = sum(len(singles[t].wave) for t in parts) / 16_000
        assert seconds / 0.01 <= mel.shape[1] <= (seconds + 0.1 * (len(parts) - 1)) / 0.01 + 2   # + short gaps
        target = tokenizer.decode(sequence)
        assert target == text or target == " ".join(singles[t].english for t in text_order(text, parts))
        assert "six" not in text                               # test clips never join
    again = asr_train.long_examples(clips, data, tokenizer, concat=3, seed=0)
    assert [j[2] for j in again] == [j[2] for j in joined]     # seeded


def text_order(text, parts):
    """The parts in the order they occur in text."""
    return sorted(parts, key=lambda t: f" {text} ".index(f" {t} "))
