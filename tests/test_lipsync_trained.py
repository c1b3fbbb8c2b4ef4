"""Day 17's trained lip-sync generator, judged by what it was not trained on: dubbing the
test faces with *other* clips' audio, read by the pixel ruler and by an independent
expert (another seed). Trains and caches the generator (about 140 s), its expert and the
judge that day 17's lesson loads."""

from __future__ import annotations

import pytest
import torch

from course_lib.data import faces
from course_lib.sync.dubbing_eval import OpeningRuler, dubbing_pairs, judge_recipe, score_dubbing, seam_ratio
from course_lib.sync.lipsync_train import PRESETS, train_lipsync
from course_lib.sync.syncnet_train import train_syncnet

pytestmark = pytest.mark.builds_cache          # day 17's lesson and day 18's dubbing load these models


def test_dubbed_mouths_follow_another_clips_audio():
    """Measured (2,000 steps, 23 test faces, each with the next test clip's audio): opening
    correlation 0.89 / 0.91 / 0.90 for training seeds 0 / 1 / 17, MAE 0.31-0.36 of the
    undubbed mouth's, the independent expert at offset 0 on every clip, seam ratio 0.7-0.9.
    The design of v1 (audio at the bottleneck only, plain L1) reached 0.70 and 0.60."""
    recipe = PRESETS["cpu"]
    device = torch.device("cpu")
    generator = train_lipsync(recipe, device=device, progress=False)
    judge = train_syncnet(judge_recipe(recipe.expert), device=device, progress=False)
    assert generator.sync_started == 0 and judge.valid_accuracy > 0.6
    data = faces.load_faces(recipe.expert.n_clips, progress=False)
    test = data.split("test")
    score = score_dubbing(generator.model, dubbing_pairs(test, "other"), OpeningRuler.fit(data.split("train")),
                          judge.model)
    assert score.corr >= 0.85 and score.ratio <= 0.5, score
    assert score.within_one >= 0.9, score.offsets
    assert seam_ratio(generator.model, test) <= 1.0
