"""course_lib.speech.tacotron and tacotron_train (and the Griffin-Lim vocoder, the PocketSphinx judge)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.data.speech import collate
from course_lib.speech.tacotron import (LocationSensitiveAttention, Prenet, Tacotron,
                                        TacotronConfig, alignment_is_monotonic,
                                        guided_attention_loss, guided_attention_weights,
                                        location_features, masked_softmax, stop_targets,
                                        tacotron_loss)

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = dict(n_mels=16, reduction=2, embed_dim=16, encoder_dim=16, attention_dim=8,
            location_filters=4, location_kernel=5, prenet_dim=16, rnn_dim=24,
            postnet_channels=8, postnet_depth=3, max_steps=40)


def _batch(n_mels=16):
    g = torch.Generator().manual_seed(0)
    items = [([3, 4, 5, 6, 7, 1], torch.randn(n_mels, 11, generator=g)),
             ([5, 3, 1], torch.randn(n_mels, 6, generator=g))]
    return collate(items)


def test_config_errors():
    with pytest.raises(ValueError, match="encoder_dim must be even"):
        TacotronConfig(vocab_size=10, encoder_dim=15)
    with pytest.raises(ValueError, match="vocab_size"):
        TacotronConfig(vocab_size=-1)
    with pytest.raises(ValueError, match="vocab_size must be >= 3"):   # a recipe's 0, never filled
        Tacotron(TacotronConfig())


def test_masked_softmax():
    e = torch.tensor([[1.0, 2.0, 3.0], [0.5, 100.0, -1.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    w = masked_softmax(e, mask)
    assert torch.allclose(w.sum(-1), torch.ones(2))
    assert w[0, 2] == 0 and w[1, 1] == 0 and w[1, 0] == 1
    assert torch.allclose(w[0, :2], torch.softmax(e[0, :2], -1))
    with pytest.raises(ValueError, match="mask must be a bool"):
        masked_softmax(e, mask.float())


def test_location_features_is_a_conv_of_previous_then_cumulative():
    torch.manual_seed(0)
    conv = nn.Conv1d(2, 4, 5, padding=2, bias=False)
    prev, cum = torch.rand(3, 9), torch.rand(3, 9) * 3
    f = location_features(prev, cum, conv)
    assert f.shape == (3, 9, 4)
    manual = torch.nn.functional.conv1d(torch.stack([prev, cum], 1), conv.weight, padding=2)
    assert torch.allclose(f, manual.transpose(1, 2))
    swapped = location_features(cum, prev, conv)
    assert not torch.allclose(f, swapped)


def test_attention_ignores_padding_and_uses_location():
    torch.manual_seed(0)
    att = LocationSensitiveAttention(6, 8, 5, filters=3, kernel=5)
    memory = torch.randn(2, 7, 8)
    mask = torch.arange(7)[None] < torch.tensor([[7], [4]])
    prev = masked_softmax(torch.randn(2, 7), mask)
    context, weights = att(torch.randn(2, 6), memory, att.process_memory(memory), prev, prev, mask)
    assert context.shape == (2, 8) and weights.shape == (2, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2)) and weights[1, 4:].eq(0).all()
    assert torch.allclose(context, (weights[:, :, None] * memory).sum(1), atol=1e-6)
    # changing the padded memory changes nothing
    other = memory.clone()
    other[1, 4:] = 100.0
    c2, w2 = att(torch.randn(2, 6), other, att.process_memory(other), prev, prev, mask)
    q = torch.randn(2, 6)
    e1 = att.energies(q, att.process_memory(memory), prev, prev)
    e2 = att.energies(q, att.process_memory(memory), torch.roll(prev, 1, -1), prev)
    assert not torch.allclose(e1, e2), "energies depend on the previous attention"
    assert torch.equal(att(q, memory, att.process_memory(memory), prev, prev, mask)[1][1],
                       att(q, other, att.process_memory(other), prev, prev, mask)[1][1])


def test_prenet_dropout_stays_on_in_eval():
    prenet = Prenet(4, 32, 0.5).eval()
    x = torch.ones(1, 4)
    assert not torch.equal(prenet(x), prenet(x))


def test_stop_targets_are_one_from_the_last_frame():
    t = stop_targets(torch.tensor([3, 5]), 6)
    assert t.tolist() == [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]]


def test_guided_attention_weights():
    W = guided_attention_weights(torch.tensor([4, 2]), torch.tensor([8, 3]), 4, 8, g=0.2)
    assert W.shape == (2, 8, 4)
    n, t = 1, 6
    assert math.isclose(W[0, t, n].item(), 1 - math.exp(-((n / 4 - t / 8) ** 2) / (2 * 0.04)), rel_tol=1e-6)
    assert W[0, 0, 0] == 0 and W[0, 7, 0] > 0.9 and W[0, 0, 3] > 0.9
    assert W[1, 3:].eq(0).all() and W[1, :, 2:].eq(0).all(), "padding gets no weight"
    diagonal = torch.eye(4).repeat_interleave(2, 0)[None]              # (1, 8, 4)
    anti = diagonal.flip(-1)
    lengths = (torch.tensor([4]), torch.tensor([8]))
    assert guided_attention_loss(diagonal, *lengths) < 0.2 * guided_attention_loss(anti, *lengths)


def test_alignment_is_monotonic():
    diagonal = torch.eye(12).repeat_interleave(2, 0)                   # (24, 12)
    assert alignment_is_monotonic(diagonal, 12)
    assert not alignment_is_monotonic(diagonal.flip(0), 12)           # reads backwards
    assert not alignment_is_monotonic(diagonal[:16], 12)              # stops early
    skipping = torch.cat([diagonal[:6], diagonal[14:]])               # jumps 4 tokens ahead
    assert not alignment_is_monotonic(skipping, 12)
    stuck = torch.zeros(24, 12)
    stuck[:, 0] = 1
    assert not alignment_is_monotonic(stuck, 12)


def test_forward_shapes_masks_and_loss():
    torch.manual_seed(0)
    model = Tacotron(TacotronConfig(vocab_size=10, **TINY))
    batch = _batch()
    out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
    assert out.mel.shape == out.mel_postnet.shape == (2, 16, 12)      # ceil(11 / 2) * 2
    assert out.stop_logits.shape == (2, 6) and out.alignment.shape == (2, 6, 6)
    assert torch.allclose(out.alignment.sum(-1), torch.ones(2, 6), atol=1e-6)
    assert out.alignment[1, :, 3:].eq(0).all(), "no attention on padded tokens"
    loss, parts = tacotron_loss(out, batch, model)
    assert loss.ndim == 0 and set(parts) == {"mel", "postnet", "stop", "guided"}
    loss.backward()
    assert model.attention.location_conv.weight.grad.abs().sum() > 0
    # the padding of item 1 does not change item 0's outputs
    batch2 = dict(batch)
    batch2["tokens"] = batch["tokens"].clone()
    batch2["tokens"][1, 3:] = 7
    model.eval()
    torch.manual_seed(1)
    a = model(batch["tokens"], batch["token_lengths"], batch["mels"])
    torch.manual_seed(1)
    b = model(batch2["tokens"], batch2["token_lengths"], batch2["mels"])
    assert torch.allclose(a.mel[1], b.mel[1], atol=1e-5)


def test_teacher_forcing_feeds_the_previous_step_last_frame():
    """The decoder output at step i may depend on frames < i*r only (causality)."""
    torch.manual_seed(0)
    model = Tacotron(TacotronConfig(vocab_size=10, **TINY)).eval()
    batch = _batch()
    torch.manual_seed(3)
    a = model(batch["tokens"], batch["token_lengths"], batch["mels"]).mel
    mels = batch["mels"].clone()
    mels[:, :, 5:] += 1.0                                              # change frames >= 5
    torch.manual_seed(3)
    b = model(batch["tokens"], batch["token_lengths"], mels).mel
    r = 2
    assert torch.allclose(a[..., :3 * r], b[..., :3 * r], atol=1e-6), "steps 0-2 see frames <= 4"
    assert not torch.allclose(a[..., 3 * r:], b[..., 3 * r:])


def test_tiny_overfit_learns_alignment_and_stop():
    torch.manual_seed(0)
    cfg = TacotronConfig(vocab_size=10, **{**TINY, "prenet_dropout": 0.0})
    model = Tacotron(cfg)
    g = torch.Generator().manual_seed(1)
    # each token is a distinct "sound": 2 frames of a fixed random mel vector
    sounds = torch.randn(10, 16, generator=g)
    seqs = [[3, 4, 5, 6, 1], [6, 5, 1], [4, 4, 3, 1]]
    items = [(s, sounds[torch.tensor(s)].repeat_interleave(2, 0).T.contiguous()) for s in seqs]
    batch = collate(items)
    model.mel_norm.fit([m for _, m in items])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        out = model(batch["tokens"], batch["token_lengths"], batch["mels"], batch["mel_lengths"])
        loss, parts = tacotron_loss(out, batch, model)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert parts["postnet"] < 0.3 and parts["guided"] < 0.1, parts
    mel, alignment, lengths = model.infer(batch["tokens"][:1], batch["token_lengths"][:1])
    assert abs(int(lengths[0]) - 10) <= 2, f"stop token should end near 10 frames; got {lengths}"
    assert alignment_is_monotonic(alignment[0, :int(lengths[0]) // 2], 5)


def test_griffin_lim_vocoder_round_trip():
    from course_lib.data.speech import log_mel, speak
    from course_lib.speech.vocoder import griffin_lim_vocoder, mel_to_linear

    wave = speak("seven")
    mel = log_mel(wave)
    assert mel_to_linear(mel).shape == (401, mel.shape[1]) and mel_to_linear(mel).min() >= 0
    rebuilt = griffin_lim_vocoder(mel, n_iter=16)
    assert rebuilt.shape == ((mel.shape[1] - 1) * 200,)
    assert (log_mel(rebuilt) - mel).abs().mean() < (log_mel(torch.zeros_like(rebuilt) + 1e-3) - mel).abs().mean()
    err = (log_mel(rebuilt * wave.abs().max() / 0.9)[:, 2:-2] - mel[:, 2:-2]).abs().mean()
    assert err < 1.0, f"Griffin-Lim's mel should be close to the target; mean |log diff| {err:.2f}"


def test_word_error_rate_and_judge():
    pytest.importorskip("pocketsphinx")
    from course_lib.data.speech import speak
    from course_lib.metrics import word_error_rate
    from course_lib.speech.recognize import Recognizer

    assert word_error_rate(["a b c"], ["a c"]) == 1 / 3
    assert word_error_rate(["a b"], ["x a b y"]) == 2 / 2
    assert word_error_rate(["one two three", "four"], ["one three", "five six"]) == 3 / 4
    with pytest.raises(ValueError):
        word_error_rate(["a"], [])
    judge = Recognizer("one two three four five six seven eight nine zero".split(), {"oh": "zero"})
    assert judge.transcribe(speak("three one four one five")) == "three one four one five"
    assert judge.transcribe(torch.zeros(16000)) in ("", )
    with pytest.raises(ValueError, match="dictionary"):
        Recognizer(["zzqx"])


def test_train_tacotron_records_snapshots_and_loads_its_checkpoint(tmp_path, monkeypatch):
    from dataclasses import replace

    from course_lib.data import speech
    from course_lib.speech.tacotron_train import PRESETS, TacotronRecipe, train_tacotron
    from course_lib.train import TrainSettings

    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    monkeypatch.setitem(speech.DOMAIN_SIZES, "digits", 30)
    config = TacotronConfig(**{k: v for k, v in TINY.items() if k != "n_mels"})
    recipe = TacotronRecipe(model=config, train=TrainSettings(steps=4, batch_size=4, lr=2e-3),
                            snapshot_steps=(0, 2, 4))
    first = train_tacotron(recipe, progress=False)
    assert len(first.run.history) == 4 and not first.run.cached and sorted(first.snapshots) == [0, 2, 4]
    assert set(first.run.metrics) == {"mel", "postnet", "stop", "guided"}
    assert first.model.config.vocab_size == len(first.table)
    n_tokens = len(first.table.encode(first.probe.phonemes))
    assert first.snapshots[4].shape == (-(-first.probe.n_frames // 2), n_tokens)
    assert not torch.equal(first.snapshots[0], first.snapshots[4]), "the snapshots follow training"
    assert not first.model.training
    assert (tmp_path / "checkpoints" / f"tacotron_{recipe.key()}.pt").exists()
    again = train_tacotron(recipe, progress=False)      # loads, no training
    assert again.run.cached and again.run.history == first.run.history
    assert sorted(again.snapshots) == [0, 2, 4], "the snapshots are saved with the checkpoint"
    assert all(torch.equal(again.snapshots[k], first.snapshots[k]) for k in first.snapshots)
    for a, b in zip(again.model.parameters(), first.model.parameters()):
        assert torch.equal(a, b)
    assert recipe.key() != replace(recipe, guided_weight=0.0).key()
    assert PRESETS["cpu"] == TacotronRecipe() and PRESETS["cpu"].model.vocab_size == 0
