"""Day 15's timbre transfer: AdaIN with learned features (course_lib.audio.timbre_transfer)."""

from dataclasses import replace

import pytest
import torch

from course_lib.audio.style import adain
from course_lib.audio.timbre_transfer import (TIMBRE_TRANSFER_PRESETS, TimbreTransfer, TimbreTransferConfig,
                                              _pair_batches, random_melodies, score_transfers, train_timbre_transfer)
from course_lib.data.sound_clips import PITCHES


def test_the_converter_keeps_the_contents_length_and_only_uses_the_styles_statistics():
    model = TimbreTransfer(TimbreTransferConfig(latent_dim=4, hidden=8, kernel=3)).eval()
    content, style = torch.randn(2, 7, 4), torch.randn(2, 11, 4)
    assert model(content, style).shape == (2, 7, 4)
    # the style enters through AdaIN only: features with the same per-channel mean and std give the same output
    features = model.style_encoder(style.transpose(1, 2)).transpose(1, 2)
    h = model.content_encoder(content.transpose(1, 2)).transpose(1, 2)
    expected = model.decoder(adain(h, features).transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(model(content, style), expected, atol=1e-6)
    for kwargs, match in ((dict(kernel=4), "kernel"), (dict(pairing="swap"), "pairing"), (dict(hidden=0), "hidden")):
        with pytest.raises(ValueError, match=match):
            TimbreTransferConfig(**kwargs)
    with pytest.raises(ValueError, match="content"):
        model(torch.randn(2, 7, 5), style)


def test_training_pairs_follow_the_pairing():
    latents = torch.arange(5 * 4).float().view(5, 4, 1, 1).expand(5, 4, 3, 2)   # value = 4 · melody + timbre
    for pairing in ("parallel", "self"):
        content, style, target = _pair_batches(latents, pairing, batch_size=64, seed=0)(3)
        c, s, t = (x[:, 0, 0].long() for x in (content, style, target))
        assert torch.equal(t // 4, c // 4)                                          # the content's melody ...
        assert bool((s // 4 != c // 4).all())                                       # ... the style's is another
        assert torch.equal(t % 4, s % 4)                                            # the target has the style's timbre
        if pairing == "self":
            assert torch.equal(s % 4, c % 4)                                        # AdaIN-VC: the same timbre
    melodies = random_melodies(50)
    assert melodies.shape == (50, 4) and bool(torch.isin(melodies, torch.tensor(PITCHES)).all())


def test_the_lessons_transfer_moves_the_timbre_and_keeps_the_notes():
    """Trains (or loads) the cpu preset (~20 s after the codec) so day 15 loads it. Measured
    on 72 held-out transfers over three training seeds: the judge named the style's timbre
    on 67-79 % (its ceiling, the melodies really played in that timbre, 71-75 %), YIN heard
    97-100 % of the notes within a semitone; AdaIN on the codec's own latents: 42-47 %, 54-57 %;
    trained on AdaIN-VC's self pairs: 22-24 % (seed 0, two codecs)."""
    from course_lib.data.sound_judge import load_sound_judge

    recipe = TIMBRE_TRANSFER_PRESETS["cpu"]
    trained = train_timbre_transfer(recipe, progress=False)
    self_paired = train_timbre_transfer(replace(recipe, model=replace(recipe.model, pairing="self")), progress=False)
    judge, _ = load_sound_judge()
    g = torch.Generator().manual_seed(0)
    melodies = [torch.randint(52, 70, (4,), generator=g).tolist() for _ in range(6)]
    with torch.no_grad():
        learned = score_transfers(trained.model, trained.codec, judge, melodies)
        raw = score_transfers(adain, trained.codec, judge, melodies)
        self_scores = score_transfers(self_paired.model, trained.codec, judge, melodies)
    assert learned["transfers"] == 72
    assert learned["style"] >= 0.55 and learned["style"] >= raw["style"] + 0.1, (learned, raw)
    assert learned["notes"] >= 0.9 and learned["notes"] > raw["notes"] + 0.2, (learned, raw)
    # AdaIN-VC's self pairs (measured 22-24 %) leave the timbre where it was: the lesson explains why
    assert self_scores["style"] <= learned["style"] - 0.25, (self_scores, learned)
