"""Day 19's streaming video model, trained here first in `make test` (the lesson loads
it): it goes where it is steered — not where another script would have taken it — and
still shows the commanded digit four training windows later."""

import pytest
import torch

from course_lib.data.steered_digits import steering_scripts
from course_lib.runtime import get_device
from course_lib.streaming.video import frame_scores, live_commands, rollout
from course_lib.streaming.video_model import STREAM_VIDEO_PRESETS, train_stream_video
from course_lib.train import preset

pytestmark = pytest.mark.builds_cache          # day 19's lesson loads this model

STREAMS, FRAMES, CONTEXT = 16, 32, 2


@pytest.fixture(scope="module")
def trained():
    model = train_stream_video(preset(STREAM_VIDEO_PRESETS, get_device()), progress=False)
    model.model.to("cpu")
    return model


def test_the_stream_goes_where_it_is_steered(trained):
    scripts, other = steering_scripts(STREAMS, FRAMES, seed=5), steering_scripts(STREAMS, FRAMES, seed=6)
    per_chunk = trained.model.config.frames - CONTEXT
    truth = scripts.render(live_commands(scripts.actions, CONTEXT, per_chunk))
    elsewhere = scripts.render(live_commands(other.actions, CONTEXT, per_chunk))   # same digits, other steering
    digits = scripts.digits[:, None].expand(-1, FRAMES)
    run = rollout(trained, truth[:, :, :CONTEXT], digits, scripts.actions, CONTEXT, steps=5, guidance=2.0,
                  generator=torch.Generator().manual_seed(0))
    own, wrong = frame_scores(run.frames, truth, digits), frame_scores(run.frames, elsewhere, digits)
    new = slice(CONTEXT, FRAMES)
    assert own["position"][:, new].mean() < 0.4 * wrong["position"][:, new].mean()
    assert own["digit"][:, -8:].float().mean() >= 0.8
