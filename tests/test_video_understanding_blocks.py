"""Day 18's first blocks: frame samplers (coverage, order, TSN segments never empty,
keyframes at cuts) and subtitles (timestamps in both formats, cues that respect line
length, pauses and minimum duration, documents players accept)."""

import pytest
import torch

from course_lib.video import frame_sampling as fs
from course_lib.video import subtitles as st


@pytest.mark.parametrize("num_frames,k", [(32, 8), (10, 10), (7, 3), (100, 1)])
def test_samplers_give_k_distinct_increasing_frames_inside_the_clip(num_frames, k):
    g = torch.Generator().manual_seed(0)
    for idx in (fs.uniform_indices(num_frames, k), fs.random_indices(num_frames, k, g),
                fs.segment_indices(num_frames, k, g), fs.segment_indices(num_frames, k)):
        assert idx.shape == (k,) and idx.dtype == torch.long
        assert (idx[1:] > idx[:-1]).all() and idx.min() >= 0 and idx.max() < num_frames


def test_uniform_is_the_segment_centres_and_tsn_draws_one_per_segment():
    assert fs.uniform_indices(32, 4).tolist() == [4, 12, 20, 28]
    assert fs.uniform_indices(10, 10).tolist() == list(range(10))
    seen = set()
    for seed in range(200):
        idx = fs.segment_indices(10, 3, torch.Generator().manual_seed(seed))   # segments [0,3) [3,6) [6,10)
        assert 0 <= idx[0] < 3 <= idx[1] < 6 <= idx[2] < 10
        seen.add(int(idx[2]))
    assert seen == {6, 7, 8, 9}                                   # the last frame can be drawn
    with pytest.raises(ValueError, match="distinct frames"):
        fs.segment_indices(4, 5, torch.Generator())


def test_keyframes_find_the_cuts_and_tokens_cost_what_they_say():
    frames = torch.zeros(12, 1, 4, 4)
    frames[5:] = 1.0                                              # a cut at frame 5
    frames[9:] = -1.0                                             # and a bigger one at frame 9
    assert fs.keyframe_indices(frames, 3).tolist() == [0, 5, 9]
    assert fs.keyframe_indices(frames, 1).tolist() == [0]
    assert fs.token_cost(8, 32) == 256
    with pytest.raises(ValueError, match="frames"):
        fs.keyframe_indices(torch.zeros(5), 2)


def test_timestamps_in_both_formats():
    assert st.format_timestamp(0.0) == "00:00:00.000"
    assert st.format_timestamp(3723.4567) == "01:02:03.457"
    assert st.format_timestamp(1.25, "srt") == "00:00:01,250"
    for bad, match in ((-1.0, "seconds"), (float("nan"), "seconds")):
        with pytest.raises(ValueError, match=match):
            st.format_timestamp(bad)
    with pytest.raises(ValueError, match="style"):
        st.format_timestamp(1.0, "ass")


def test_cues_respect_line_length_pauses_and_minimum_duration():
    words = [("three", 0.0, 0.3), ("one", 0.35, 0.5), ("four", 0.6, 0.9), ("one", 2.5, 2.7), ("five", 2.75, 3.0)]
    cues = st.words_to_cues(words, max_chars=14, min_duration=0.7, max_gap=1.0)
    assert [c.text for c in cues] == ["three one four", "one five"]            # the 1.6 s pause splits
    assert cues[0].start == 0.0 and cues[0].end == 0.9 and cues[1].end == pytest.approx(3.2)   # 0.5 s -> 0.7 s
    short = st.words_to_cues(words, max_chars=9)
    assert all(len(c.text) <= 9 for c in short) and " ".join(c.text for c in short) == "three one four one five"
    tight = st.words_to_cues([("a", 0.0, 0.1), ("b", 0.3, 0.4)], max_chars=1)
    assert tight[0].end == 0.3                                                 # never overlaps the next cue
    with pytest.raises(ValueError, match="time order"):
        st.words_to_cues([("a", 1.0, 1.2), ("b", 0.5, 0.6)])


def test_documents():
    cues = [st.Cue(0.1, 0.8, "one two"), st.Cue(1.0, 1.9, "three")]
    assert st.write_webvtt(cues) == ("WEBVTT\n\n1\n00:00:00.100 --> 00:00:00.800\none two\n\n"
                                     "2\n00:00:01.000 --> 00:00:01.900\nthree\n")
    assert st.write_srt(cues).startswith("1\n00:00:00,100 --> 00:00:00,800\none two\n\n2\n")


def _dtw_brute(cost):
    """Every monotonic path by recursion (small matrices only)."""
    n, m = cost.shape
    best = {}

    def go(i, j):
        if (i, j) == (0, 0):
            return cost[0, 0].item()
        if (i, j) not in best:
            options = [go(a, b) for a, b in ((i - 1, j - 1), (i - 1, j), (i, j - 1)) if a >= 0 and b >= 0]
            best[(i, j)] = cost[i, j].item() + min(options)
        return best[(i, j)]
    return go(n - 1, m - 1)


def test_dtw_finds_the_least_cost_monotonic_path():
    from course_lib.speech.word_timestamps import dtw_path

    g = torch.Generator().manual_seed(0)
    for shape in ((1, 1), (1, 5), (4, 1), (5, 7), (6, 6)):
        cost = torch.rand(shape, generator=g)
        path = dtw_path(cost)
        assert path[0].tolist() == [0, 0] and path[-1].tolist() == [shape[0] - 1, shape[1] - 1]
        steps = path[1:] - path[:-1]
        assert ((steps == 0) | (steps == 1)).all() and (steps.sum(1) >= 1).all()      # monotonic, no jumps
        assert cost[path[:, 0], path[:, 1]].sum().item() == pytest.approx(_dtw_brute(cost))
    with pytest.raises(ValueError, match="cost"):
        dtw_path(torch.zeros(0, 3))


def test_an_attention_diagonal_gives_the_words_times():
    from course_lib.speech.word_timestamps import dtw_path, median_filter, token_spans, word_times

    attention = torch.zeros(3, 30)                            # 3 tokens over 30 frames of 20 ms
    attention[0, 2:10] = attention[1, 10:18] = attention[2, 18:28] = 1.0
    attention = attention + 0.05 * torch.rand(3, 30, generator=torch.Generator().manual_seed(1))
    smooth = median_filter(attention, 3)
    assert smooth.shape == attention.shape
    spans = token_spans(dtw_path(-smooth), 3)
    times = word_times(spans, [0, 0, 1], 0.02)                # tokens 0 and 1 form word 0
    assert times[0][1] == pytest.approx(0.36, abs=0.041) and times[1][0] == pytest.approx(0.36, abs=0.041)
    assert times[1][1] >= 0.54
    with pytest.raises(ValueError, match="odd"):
        median_filter(attention, 4)


def test_side_by_side_aligns_two_clips_in_time_and_size():
    from course_lib.video.pipeline import side_by_side

    digit = torch.linspace(-1, 1, 4).view(4, 1, 1, 1).expand(4, 1, 16, 16)       # 4 frames at 4 fps: 1 s
    face = torch.rand(10, 3, 32, 32)                                             # 10 frames at 25 fps: 0.4 s
    both = side_by_side(digit, 4, face, 25, fps=25)
    assert both.shape == (25, 3, 32, 64) and 0 <= both.min() and both.max() <= 1
    # frame i shows the digit frame under its middle, (i + 0.5) * 4 / 25, upscaled 2x, grey on all channels
    assert torch.equal(both[:6, :, :, :32], torch.zeros(6, 3, 32, 32))              # 5.5 * 4 / 25 < 1
    assert torch.allclose(both[6, :, :, :32], torch.full((3, 32, 32), 1 / 3))        # 6.5 * 4 / 25 >= 1
    assert torch.equal(both[-1, :, :, :32], torch.ones(3, 32, 32))
    assert torch.equal(both[:10, :, :, 32:], face) and torch.equal(both[10:, :, :, 32:], face[-1:].expand(15, -1, -1, -1))
    with pytest.raises(ValueError, match="heights must divide"):
        side_by_side(digit, 4, torch.rand(3, 3, 24, 24), 25)
    with pytest.raises(ValueError, match="left_fps"):
        side_by_side(digit, 0, face, 25)
    with pytest.raises(ValueError, match="right must have 1 or 3 channels"):
        side_by_side(digit, 4, torch.rand(3, 2, 32, 32), 25)


def test_the_summary_says_what_was_seen_and_heard():
    from course_lib.video.pipeline import MultimodalPipeline

    answers = {"caption": "a 8 moving up", "wall": "no"}
    english = MultimodalPipeline.summarise(answers, "en", "one two", "one two")
    assert english == "The video shows an 8 moving up; it does not reach a wall. The speaker says, in English, “one two”."
    german = MultimodalPipeline.summarise({"caption": "a 3 moving left", "wall": "yes"}, "de", "eins", "one")
    assert german.endswith("in German, “eins” (in English: “one”).") and "bounces off a wall" in german
