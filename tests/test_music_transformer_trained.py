"""Day 14's two Music Transformers (relative attention and the absolute-position
baseline), trained and cached before the lessons run (about 80 s together), so the
lesson keeps its budget's headroom on a slow machine."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from course_lib.music.transformer import sequence_nll
from course_lib.music.transformer_train import PRESETS, chorale_token_splits, train_music_transformer

pytestmark = pytest.mark.builds_cache          # day 14's lesson (and day 22's soundtrack) load these


def test_both_music_transformers_learn_and_relative_attention_wins_on_held_out_chorales():
    recipe = PRESETS["cpu"]
    absolute = replace(recipe, model=replace(recipe.model, relative=False))     # the lesson's ABSOLUTE
    trained = {name: train_music_transformer(r, device=torch.device("cpu"), progress=False)
               for name, r in (("relative", recipe), ("absolute", absolute))}
    for name, t in trained.items():
        h = t.run.history
        assert np.mean(h[-20:]) < 0.6 * np.mean(h[:10]), (name, h[:3], h[-3:])      # measured 4.4 -> 1.05, 4.5 -> 1.1
    _, valid, _ = chorale_token_splits(trained["relative"].tokenizer)
    nll = {name: sequence_nll(t.model, valid, t.recipe.model.context) for name, t in trained.items()}
    assert nll["relative"] < nll["absolute"], nll
