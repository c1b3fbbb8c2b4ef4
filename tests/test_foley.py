"""Day 16's foley helpers: wall hits read from pixels agree with the trajectory, onsets of
clips are found to 10 ms, and a soundtrack places each clip where its window starts."""

import pytest
import torch

from course_lib.data import digits
from course_lib.data.sound_clips import CLIP_SAMPLES, SAMPLE_RATE, make_clip
from course_lib.data.sound_judge import sound_onsets
from course_lib.sync import foley


def test_hits_from_pixels_are_the_turns_of_the_trajectory():
    clip = foley.bouncing_clip(100, seed=3)
    assert clip.frames.shape == (100, 1, 48, 48) and len(clip.hits) >= 4
    positions = digits.bounce_positions(100, 48, 16, (0, 0), (3, -2))      # an independent trajectory
    v = positions[1:] - positions[:-1]
    turns = torch.nonzero((v[:-1] * v[1:] < 0).any(1)).flatten() + 1
    centres = positions.double() + 7.5                                      # a sprite's centre
    assert torch.equal(foley.wall_hits(centres, merge=1), turns)
    still = torch.tensor([[0.0], [4.0], [8.0], [8.0], [4.0], [0.0], [0.0], [4.0]])   # walls reached between frames
    assert foley.wall_hits(still).tolist() == [2, 5]
    corner = torch.tensor([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0], [2.0, 6.0], [0.0, 4.0], [2.0, 2.0]])   # turns at 2, 4; 3
    assert foley.wall_hits(corner, merge=1).tolist() == [2, 3, 4]
    assert foley.wall_hits(corner, merge=3).tolist() == [2]                 # one impact in a corner
    with pytest.raises(ValueError, match="frames"):
        foley.digit_centres(torch.zeros(3, 48, 48))


def test_sound_onsets_find_the_start_to_ten_milliseconds():
    onsets = torch.tensor([0.0, 0.05, 0.137, 0.19])
    clips = torch.stack([make_clip(kind, 60, True, float(o), seed=i)
                         for i, (kind, o) in enumerate(zip(("kick", "snare", "beep", "bright"), onsets))])
    found = sound_onsets(clips)
    assert (found - onsets).abs().max() <= 0.011
    with pytest.raises(ValueError, match="clips"):
        sound_onsets(clips[0])


class _Placed:
    """A stand-in LM + codec: the decoded clip of hit i is a click at the onset asked
    (or at 0.1 s when none is asked)."""
    config = None

    def decode(self, codes):
        out = torch.zeros(len(codes), CLIP_SAMPLES)
        for i, o in enumerate(codes[:, 0, 0].tolist()):
            start = int(o / 1000 * SAMPLE_RATE)
            out[i, start:start + 400] = 1.0
        return out


def test_a_soundtrack_puts_each_clip_on_its_hit_when_the_onset_is_obeyed(monkeypatch):
    def fake_sample(lm, labels, pitches, loud, onsets, **kw):           # codes carry the onset in ms
        ms = torch.where(onsets >= 0, onsets * 1000, torch.full_like(onsets, 100.0)).round().long()
        return ms[:, None, None].expand(len(labels), 1, 50)

    monkeypatch.setattr("course_lib.audio.token_lm.sample_codes", fake_sample)
    hits = torch.tensor([10, 30, 55, 80])
    track = foley.impact_soundtrack(None, _Placed(), hits, 100, conditioned=True)
    assert track.wave.shape == (4 * SAMPLE_RATE,)
    assert foley.impact_errors(track, hits).abs().max() < 0.3              # within a third of a frame
    blind = foley.impact_soundtrack(None, _Placed(), hits, 100, conditioned=False)
    assert foley.impact_errors(blind, hits).abs().mean() > 0.5             # 0.1 s instead of u: off by frames
    with pytest.raises(ValueError, match="kind"):
        foley.impact_soundtrack(None, _Placed(), hits, 100, kind="laugh")
