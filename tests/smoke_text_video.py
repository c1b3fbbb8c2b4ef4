"""Smoke functions (tests/smoke.py) for day 08's caption-conditioned video presets."""

from functools import partial

import torch

from course_lib.data.captions import tokenize
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.text_video_train import captioned_loss, new_text_video_model
from course_lib.diffusion.video_dit import first_frame_condition, sample_video
from course_lib.diffusion.video_dit_train import new_video_dit
from tests.smoke import smoke, train_one_step


@smoke("course_lib.diffusion.text_video_train.TEXT_VIDEO_PRESETS")
@smoke("course_lib.diffusion.text_video_train.IMAGE_TO_VIDEO_PRESETS")
@smoke("course_lib.diffusion.text_video_train.UNET_VIDEO_PRESETS")
def text_video_model(recipe):
    start = new_video_dit(recipe.base)
    if recipe.start_from is not None:                    # image-to-video: from the caption model
        start = new_text_video_model(recipe.start_from, start)
    model = new_text_video_model(recipe, start)
    schedule = make_schedule("cosine", recipe.base.num_steps)
    c = recipe.model
    ids, _ = tokenize(["a 3 moving up-left", "a 7 moving down"])
    clips = torch.randn(2, c.in_channels, c.frames, c.height, c.width)
    train_one_step(model, partial(captioned_loss, schedule=schedule, recipe=recipe), (clips, ids))
    cond = first_frame_condition(clips, layout=recipe.still_layout) if recipe.first_frame else None
    out = sample_video(model, ids, schedule, steps=1, kind=recipe.base.prediction, cond=cond,
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == clips.shape and torch.isfinite(out).all()
