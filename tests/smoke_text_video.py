"""Smoke functions (tests/smoke.py) for day 08's caption-conditioned video DiT presets."""

from functools import partial

import torch

from course_lib.data.captions import tokenize
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.text_video_train import new_text_video_model
from course_lib.diffusion.video_dit import sample_video, video_loss
from course_lib.diffusion.video_dit_train import new_video_dit
from tests.smoke import smoke, train_one_step


@smoke("course_lib.diffusion.text_video_train.TEXT_VIDEO_PRESETS")
@smoke("course_lib.diffusion.text_video_train.UNET_VIDEO_PRESETS")
def text_video_dit(recipe):
    model = new_text_video_model(recipe, new_video_dit(recipe.base))
    schedule = make_schedule("cosine", recipe.base.num_steps)
    c = recipe.model
    ids, _ = tokenize(["a 3 moving up-left", "a 7 moving down"])
    batch = (torch.randn(2, c.in_channels, c.frames, c.height, c.width), ids)
    train_one_step(model, partial(video_loss, schedule=schedule, kind=recipe.base.prediction), batch)
    out = sample_video(model, ids, schedule, steps=1, kind=recipe.base.prediction,
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == batch[0].shape and torch.isfinite(out).all()
