"""course_lib.speech.fastspeech (+ fastspeech_train), speech.speaker (+ speaker_train) and
audio.prosody: targets, length regulator, model, encoder, load-or-train, synthesis."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from course_lib.audio.prosody import frame_pitch, token_average
from course_lib.data.speech import make_utterance, voice_language
from course_lib.speech.fastspeech import (FastSpeech, FastSpeechConfig, duration_loss, fastspeech_loss,
                                          length_regulate, token_durations)
from course_lib.speech.fastspeech_train import collate_items
from course_lib.speech.speaker import SpeakerEncoder, SpeakerEncoderConfig, embed_batch


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- targets

def test_token_durations_assigns_pauses():
    phonemes = ["w", "ʌ", "n", " ", "t", "uː"]
    events = ["w", "ʌ", "n", "_", "t", "uː", "_", "_"]
    got = token_durations(phonemes, events, [3, 5, 2, 4, 3, 6, 1, 2])
    assert got == [3, 5, 2, 4, 3, 6, 3]          # pause -> word boundary, trailing -> EOS
    assert token_durations(phonemes, events[:3] + events[4:], [3, 5, 2, 3, 6, 1, 2])[3] == 0
    with pytest.raises(ValueError, match="non-pause events"):
        token_durations(phonemes, ["w", "ʌ"], [1, 2])
    with pytest.raises(ValueError, match="same length"):
        token_durations(phonemes, events, [1])


@pytest.mark.parametrize("text, voice", [("four zero seven", "en-us"), ("nine one", "en-gb-x-rp"),
                                         ("turn off the kitchen lights, please.", "en-us+f3")])
def test_token_durations_on_espeak_utterances(text, voice):
    u = make_utterance(text, voice)
    d = token_durations(u.phonemes, u.events, u.durations)
    assert len(d) == len(u.phonemes) + 1 and sum(d) == u.n_frames
    assert all(x > 0 for x, p in zip(d, u.phonemes) if p != " "), "every phoneme is heard"


def test_frame_pitch_matches_librosa_yin_on_a_harmonic_tone():
    sr = 16_000
    t = np.arange(sr) / sr
    f = 150.0
    x = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6)).astype(np.float32) * 0.3
    x[: sr // 4] = 0                                     # a silent start
    f0, voiced = frame_pitch(torch.from_numpy(x))
    assert len(f0) == 1 + len(x) // 200
    ref = librosa.yin(x, fmin=60, fmax=500, sr=sr, frame_length=800, hop_length=200)
    inner = slice(25, -5)
    assert voiced[inner].all() and not voiced[:15].any()
    assert np.allclose(f0[inner].numpy(), f, rtol=0.01)
    assert np.allclose(f0[inner].numpy(), ref[inner], rtol=0.01)


def test_token_average():
    values = torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0])
    assert torch.allclose(token_average(values, [2, 0, 3]), torch.tensor([1.5, 0.0, 11.0]))
    mask = torch.tensor([True, False, True, False, False])
    assert torch.allclose(token_average(values, [2, 0, 3], mask), torch.tensor([1.0, 0.0, 3.0]))
    with pytest.raises(ValueError, match="sum to"):
        token_average(values, [1, 1])


# ---------------------------------------------------------------- length regulator and losses

def test_length_regulate_against_a_loop():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3)
    d = torch.tensor([[2, 0, 3, 1], [1, 1, 0, 0]])
    out, lengths = length_regulate(x, d)
    assert out.shape == (2, 6, 3) and lengths.tolist() == [6, 2]
    for b in range(2):
        rows = [x[b, i] for i in range(4) for _ in range(int(d[b, i]))]
        assert torch.equal(out[b, :len(rows)], torch.stack(rows))
        assert (out[b, len(rows):] == 0).all()
    cut, cut_len = length_regulate(x, d, max_frames=4)
    assert cut.shape == (2, 4, 3) and cut_len.tolist() == [4, 2]
    with pytest.raises(ValueError, match="non-negative integers"):
        length_regulate(x, d.float())
    with pytest.raises(ValueError, match=r"durations must be \(B=2, N=4\)"):
        length_regulate(x, d[:, :2])


def test_duration_loss_is_mse_on_log_d_plus_one():
    d = torch.tensor([[0, 3, 7], [2, 0, 0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    assert float(duration_loss(torch.log(d.float() + 1), d, mask)) == 0.0
    pred = torch.zeros(2, 3)
    expected = (np.log(4) ** 2 + np.log(8) ** 2 + np.log(3) ** 2) / 4
    assert float(duration_loss(pred, d, mask)) == pytest.approx(expected)


# ---------------------------------------------------------------- the model

TINY = dict(vocab_size=12, n_mels=8, dim=16, heads=2, encoder_depth=1, decoder_depth=1, mlp_ratio=1.0,
            predictor_dim=8, speaker_dim=4, dropout=0.0, max_frames=64)


def _items(n_mels=8):
    g = torch.Generator().manual_seed(0)
    out = []
    for tokens, durations in (([3, 4, 5, 1], [2, 3, 0, 1]), ([6, 7, 1], [4, 1, 2])):
        T = sum(durations)
        out.append({"tokens": torch.tensor(tokens), "durations": torch.tensor(durations),
                    "pitch": torch.randn(len(tokens), generator=g), "energy": torch.randn(len(tokens), generator=g),
                    "mel": torch.randn(n_mels, T, generator=g), "speaker": torch.randn(4, generator=g)})
    return out


def test_forward_shapes_loss_and_padding_independence():
    torch.manual_seed(0)
    model = FastSpeech(FastSpeechConfig(**TINY)).eval()
    items = _items()
    batch = collate_items(items)
    out = model(batch["tokens"], batch["durations"], batch["speakers"], batch["pitch"], batch["energy"])
    assert out.mel.shape == (2, 8, 7) and out.mel_lengths.tolist() == [6, 7]
    assert out.log_durations.shape == (2, 4)
    assert (out.mel[0, :, 6:] == 0).all(), "frames after the end are zero"
    alone = collate_items(items[:1])
    single = model(alone["tokens"], alone["durations"], alone["speakers"], alone["pitch"], alone["energy"])
    assert torch.allclose(single.mel[0], out.mel[0, :, :6], atol=1e-5), "padding changed a real item"
    loss, parts = fastspeech_loss(out, batch, model)
    loss.backward()
    assert set(parts) == {"mel", "duration", "pitch", "energy"} and np.isfinite(float(loss.detach()))


def test_infer_speed_and_pitch_controls():
    torch.manual_seed(0)
    model = FastSpeech(FastSpeechConfig(**TINY)).eval()
    with torch.no_grad():
        model.duration_predictor.out.bias.fill_(np.log(9.0))      # every token ~8 frames
    tokens, speaker = torch.tensor([[3, 4, 5, 1]]), torch.randn(1, 4)
    _, n1, d1 = model.infer(tokens, speaker)
    _, n2, d2 = model.infer(tokens, speaker, speed=2.0)
    assert (d2 - torch.round(d1 / 2)).abs().max() <= 1 and int(n2) < 0.6 * int(n1)
    m0, _, _ = model.infer(tokens, speaker)
    m1, _, _ = model.infer(tokens, speaker, pitch_shift=1.0)
    assert not torch.allclose(m0, m1), "the pitch shift reaches the decoder"
    with pytest.raises(ValueError, match="speed must be > 0"):
        model.infer(tokens, speaker, speed=0)
    with pytest.raises(ValueError, match="speaker must be"):
        model.infer(tokens, None)
    with pytest.raises(ValueError, match="tokens must be"):
        model.infer(tokens.float(), speaker)


def test_config_errors():
    with pytest.raises(ValueError, match="vocab_size"):
        FastSpeechConfig(vocab_size=1)
    with pytest.raises(ValueError, match="vocab_size must be >= 3"):   # a recipe's 0, never filled
        FastSpeech(FastSpeechConfig())
    with pytest.raises(ValueError, match="divisible by heads"):
        FastSpeechConfig(vocab_size=10, dim=30, heads=4)


# ---------------------------------------------------------------- speaker encoder

def test_speaker_encoder_unit_vectors_and_padding():
    torch.manual_seed(0)
    enc = SpeakerEncoder(SpeakerEncoderConfig(n_mels=8, channels=8, dim=5)).eval()
    mels = [torch.randn(8, 30), torch.randn(8, 17)]
    batched = embed_batch(enc, mels)
    assert all(torch.allclose(e.norm(), torch.tensor(1.0)) for e in batched)
    assert torch.allclose(batched[1], enc.embed(mels[1]), atol=1e-5), "padding changed the d-vector"
    with pytest.raises(ValueError, match=r"mels must be \(B, n_mels=8, T\)"):
        enc(torch.randn(2, 7, 10))
    with pytest.raises(ValueError, match=r"mel must be \(n_mels=8, frames\)"):
        enc.embed(torch.randn(1, 8, 10))
    assert voice_language("en-us+f4") == "en-us"
    with pytest.raises(ValueError, match="voice must be"):
        voice_language("")


# ---------------------------------------------------------------- load or train, synthesize

def test_train_fastspeech_tiny_recipe_loads_from_its_checkpoint_and_speaks(tmp_path, monkeypatch):
    from course_lib.data import speech
    from course_lib.speech.fastspeech_train import FastSpeechRecipe, train_fastspeech
    from course_lib.speech.speaker_train import SpeakerRecipe
    from course_lib.train import TrainSettings

    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))       # keep test files out of artifacts/
    monkeypatch.setitem(speech.DOMAIN_SIZES, "digits", 30)
    voices = ("en-us", "en-us+f3")
    speaker = SpeakerRecipe(model=SpeakerEncoderConfig(channels=8, dim=8), voices=voices,
                            train=TrainSettings(steps=2, batch_size=4, lr=3e-3))
    recipe = FastSpeechRecipe(model=FastSpeechConfig(dim=16, mlp_ratio=1.0, predictor_dim=8, encoder_depth=1,
                                                     decoder_depth=1, speaker_dim=8),
                              train=TrainSettings(steps=2, batch_size=4, lr=2e-3), speaker=speaker,
                              voices=voices, max_per_voice=8, condition="other")
    first = train_fastspeech(recipe, progress=False)
    assert not first.run.cached and len(first.run.history) == 2
    assert set(first.run.metrics) == {"mel", "duration", "pitch", "energy"}
    assert first.model.config.vocab_size == len(first.table) and first.model.config.speaker_dim == 8
    checkpoints = tmp_path / "checkpoints"
    assert (checkpoints / f"fastspeech_{recipe.key()}.pt").exists()
    assert (checkpoints / f"speaker_encoder_{speaker.key()}.pt").exists(), "the speaker encoder trained first"
    again = train_fastspeech(recipe, progress=False)
    assert again.run.cached and again.speaker.run.cached and again.run.history == first.run.history
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    assert set(first.voices) == set(voices)
    with torch.no_grad():                      # 2 steps teach no durations: ask for ~6 frames
        first.model.duration_predictor.out.bias.fill_(2.0)
    wave = first.synthesize("four two", voice="en-us+f3", speed=2.0, vocoder="griffin_lim")
    assert wave.ndim == 1 and torch.isfinite(wave).all()
    mel = first.mel("four two", "en-us")
    vec = first.clone("mine", mel)
    assert vec.shape == (8,) and "mine" in first.voices
    reference = speech.voice_utterances("en-us+f3", "digits", 4)[0]
    adapted = first.clone("adapted", reference, adapt_steps=3)
    assert adapted.shape == (8,) and torch.equal(first.voices["adapted"][0], adapted)
    assert not torch.equal(adapted, first.speaker.model.embed(reference.mel).cpu())
    with pytest.raises(ValueError, match="needs reference as a data.speech.Utterance"):
        first.clone("no", mel, adapt_steps=3)
    with pytest.raises(ValueError, match="unknown voice"):
        first.mel("four", "nobody")
    with pytest.raises(ValueError, match="text must be a non-empty str"):
        first.mel("  ", "en-us")
    with pytest.raises(ValueError, match="vocoder must be"):
        first.vocode(mel, "wavenet")


def test_fastspeech_recipe_checks_the_speaker_width_and_presets_hold_the_lessons_settings():
    from course_lib.speech.fastspeech_train import PRESETS, FastSpeechRecipe
    from course_lib.speech.speaker_train import SpeakerRecipe

    with pytest.raises(ValueError, match="speaker_dim"):
        FastSpeechRecipe(speaker=SpeakerRecipe(model=SpeakerEncoderConfig(dim=32)))
    with pytest.raises(ValueError, match="not among the speaker encoder's voices"):
        FastSpeechRecipe(speaker=SpeakerRecipe(voices=("en-us", "en-us+f3")))
    cpu, gpu = PRESETS["cpu"], PRESETS["gpu"]
    assert (cpu.train.steps, cpu.train.batch_size, gpu.train.steps, gpu.train.batch_size) == (250, 16, 1500, 32)
    assert len(cpu.voices) == 27 and cpu.speaker.voices == cpu.voices and cpu.model.vocab_size == 0
    with pytest.raises(ValueError, match="condition must be"):
        FastSpeechRecipe(condition="mine")
    from course_lib.speech.fastspeech_train import CLONING_PRESETS
    cloning = CLONING_PRESETS["cpu"]
    assert (cloning.condition, cloning.model.speaker_film, cloning.train.steps) == ("other", True, 1000)
    assert len(cloning.voices) == 75 and cloning.speaker.voices == cloning.voices
    from course_lib.data.speech import UNSEEN_VOICES
    assert not set(cloning.voices) & set(UNSEEN_VOICES), "the voices to clone must stay unseen"
    assert cloning.speaker.train.steps == 600
