"""Day 11's 27-voice FastSpeech (with its speaker encoder) and the neural vocoder, trained
and cached before the lessons run (about 45 s together), so day 11's lesson keeps its
budget's headroom; days 12, 18 and 19 load them too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.speech.fastspeech_train import PRESETS, train_fastspeech
from course_lib.speech.vocoder_train import PRESETS as VOCODER_PRESETS
from course_lib.speech.vocoder_train import train_vocoder

pytestmark = pytest.mark.builds_cache


def test_the_lessons_tts_and_vocoder_train_and_their_losses_fall():
    tts = train_fastspeech(PRESETS["cpu"], device=torch.device("cpu"), progress=False)
    vocoder = train_vocoder(VOCODER_PRESETS["cpu"], device=torch.device("cpu"), progress=False)
    for name, h in (("fastspeech", tts.run.history), ("vocoder", vocoder.run.history)):
        assert np.mean(h[-20:]) < 0.7 * np.mean(h[:5]), (name, h[:3], h[-3:])       # measured 6.2 -> 0.88, 3.3 -> 1.6
    wave = tts.synthesize("four two seven", "en-us")
    assert wave.ndim == 1 and len(wave) > 0.3 * 16000 and np.isfinite(wave).all()
