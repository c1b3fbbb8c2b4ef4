"""Smoke functions (tests/smoke.py) for day 15's codec presets."""

import torch

from course_lib.audio.codec import Codec, codec_loss
from tests.smoke import smoke, train_one_step


@smoke("course_lib.audio.codec_train.CODEC_PRESETS")
def codec(recipe):
    hop = recipe.model.hop
    wave = 0.5 * torch.sin(torch.arange(4 * hop) / 7.0).repeat(2, 1)     # (2, 4 hops)
    model = Codec(recipe.model).fit_normalizers(wave)
    train_one_step(model, codec_loss, wave)
    codes = model.eval().encode(wave)
    assert codes.shape == (2, recipe.model.num_quantizers, 4)
    assert model.decode(codes).shape == wave.shape
