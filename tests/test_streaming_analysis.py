"""Day 19's streaming analyser: every k-th frame analysed, the window's scores averaged,
each analysis timed; the prompts are the captions' mean per digit."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.captions import tokenize
from course_lib.streaming.analysis import StreamAnalyser, digit_prompts
from course_lib.video.retrieval import RetrievalConfig, VideoTextModel
from course_lib.video.retrieval_train import ALL_CAPTIONS


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VideoTextModel(RetrievalConfig()).eval()


def test_prompts_are_the_normalised_mean_caption_per_digit(model):
    prompts = digit_prompts(model)
    ids, pad = tokenize([c for c in ALL_CAPTIONS if c.split()[1] == "3"])
    with torch.no_grad():
        three = F.normalize(model.encode_text(ids, pad).mean(0), dim=-1)
    assert prompts.shape[0] == 10 and torch.allclose(prompts[3], three, atol=1e-6)


def test_every_kth_frame_is_analysed_and_the_window_averages(model):
    frames = torch.rand(7, 1, 16, 16) * 2 - 1
    every2 = StreamAnalyser(model, every=2)
    results = [every2.push(f) for f in frames]
    assert [r.index for r in results if r] == [0, 2, 4, 6] and results[1] is None
    assert all(r.latency_ms > 0 and 0 < r.confidence <= 1 and 0 <= r.digit < 10 for r in results if r)
    single, windowed = StreamAnalyser(model), StreamAnalyser(model, window=3)
    scores = []
    with torch.no_grad():
        for f in frames[:3]:
            e = model.encode_video(f[None, None], torch.zeros(1, dtype=torch.long))[0]
            scores.append(model.scale() * e @ single.prompts.T)
            last = windowed.push(f)
    assert last.digit == int(torch.stack(scores).mean(0).argmax())
    with pytest.raises(ValueError, match="every"):
        StreamAnalyser(model, every=0)
    with pytest.raises(ValueError, match="frame"):
        every2.push(torch.zeros(3, 16, 16))
