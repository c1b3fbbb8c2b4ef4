"""course_lib.sync.dubbing_eval: the ruler, the settings, the scores, the seam, with a
stand-in for `dub` whose answer is known (real frames of the right or wrong clip)."""

from __future__ import annotations

import pytest
import torch

from course_lib.data.faces import make_clip
from course_lib.sync import dubbing_eval
from course_lib.sync.dubbing_eval import (NEW_SENTENCES, DubbingScore, OpeningRuler, dubbing_pairs, judge_recipe,
                                          score_dubbing, seam_ratio)
from course_lib.sync.syncnet_train import PRESETS as SYNCNET_PRESETS

SENTENCES = ["call anna", "please call stella", "bring six spoons", "a big blue box"]


@pytest.fixture(scope="module")
def clips():
    return [make_clip(text, ("en-us", "en-us+f3")[i % 2], style=i) for i, text in enumerate(SENTENCES)]


@pytest.fixture(scope="module")
def ruler(clips):
    return OpeningRuler.fit(clips)


def test_the_ruler_reads_real_mouths(clips, ruler):
    assert ruler.slope > 0 and ruler.corr > 0.9
    c = clips[1]
    assert (ruler(c.video()) - c.mouth[:, 0]).abs().mean() < 0.1
    with pytest.raises(ValueError, match="clips is empty"):
        OpeningRuler.fit([])


def test_settings_pair_each_face_with_the_audio_it_is_judged_on(clips):
    own, other = dubbing_pairs(clips, "own"), dubbing_pairs(clips, "other")
    assert [p[0] for p in own] == [p[0] for p in other] == clips
    assert torch.equal(own[0][1], clips[0].wave) and torch.equal(other[0][1], clips[1].wave)
    assert torch.equal(other[-1][2], clips[0].mouth[:, 0])              # the last face takes the first's audio
    new = dubbing_pairs(clips[:2], "new")
    truth = make_clip(NEW_SENTENCES[1], "en-us+f3", style=clips[1].style, seed=1)
    assert torch.equal(new[1][1], truth.wave) and torch.equal(new[1][2], truth.mouth[:, 0])
    with pytest.raises(ValueError, match="setting must be one of"):
        dubbing_pairs(clips, "mine")


def test_a_perfect_dubber_scores_high_and_a_copying_one_does_not(clips, ruler, monkeypatch):
    """Stand-ins for `dub`: 'perfect' returns the frames of the clip whose audio it was given
    (the truth); 'copy' returns the face's own frames (no lip-sync at all)."""
    by_wave = {c.wave.data_ptr(): c for c in clips}
    perfect = lambda model, face, wave: by_wave[wave.data_ptr()].video()       # noqa: E731
    copy = lambda model, face, wave: face[torch.arange(len(wave) // 640) % len(face)]   # noqa: E731
    pairs = dubbing_pairs(clips, "other")
    monkeypatch.setattr(dubbing_eval, "dub", perfect)
    good = score_dubbing(None, pairs, ruler)
    monkeypatch.setattr(dubbing_eval, "dub", copy)
    bad = score_dubbing(None, pairs, ruler)
    assert good.corr > 0.9 and good.ratio < 0.5, good
    assert bad.ratio == pytest.approx(1.0) and bad.corr < 0.5, bad      # the undubbed mouth itself
    assert good.offsets == [] and good.within_one != good.within_one    # no judge: nan


def test_within_one_counts_offsets_and_the_judge_is_another_seed():
    assert DubbingScore(0.9, 0.1, 0.2, offsets=[0, 1, -1, 3]).within_one == 0.75
    assert DubbingScore(0.9, 0.1, 0.2).ratio == 0.5
    expert = SYNCNET_PRESETS["cpu"]
    judge = judge_recipe(expert)
    assert judge.train.seed == expert.train.seed + 1 and judge.key() != expert.key()
    assert judge.model == expert.model and judge.n_clips == expert.n_clips


def test_seam_ratio_sees_an_error_concentrated_at_the_boundary(clips, monkeypatch):
    noise = torch.Generator().manual_seed(0)

    def even(model, face, wave):          # the same error on every row
        return face + 0.05 * torch.randn(face.shape, generator=noise)

    def seamed(model, face, wave):        # an extra error on rows 15 and 16
        out = even(model, face, wave)
        out[..., 15:17, :] += 0.2
        return out

    monkeypatch.setattr(dubbing_eval, "dub", even)
    assert seam_ratio(None, clips) == pytest.approx(1.0, abs=0.1)
    monkeypatch.setattr(dubbing_eval, "dub", seamed)
    assert seam_ratio(None, clips) > 2
