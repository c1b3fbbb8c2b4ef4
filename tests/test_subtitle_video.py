"""Day 18's subtitles in an MP4: a soft track that reads back cue for cue, and burned text
that changes the pixels only while a cue is on screen."""

import numpy as np
import pytest
import torch

from course_lib.video.subtitle_video import burn_subtitles, extract_subtitles, font_dir, mux_subtitles
from course_lib.video.subtitles import Cue
from course_lib.viz import encode_video

CUES = [Cue(0.25, 1.0, "one two"), Cue(1.5, 2.5, "three")]


def _frames(mp4: bytes) -> np.ndarray:
    import tempfile

    import imageio_ffmpeg

    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(mp4)
        f.flush()
        reader = imageio_ffmpeg.read_frames(f.name)
        meta = next(reader)
        w, h = meta["size"]
        return np.stack([np.frombuffer(fr, np.uint8).reshape(h, w, 3) for fr in reader])


@pytest.fixture(scope="module")
def plain_mp4():
    frames = torch.full((24, 1, 36, 64), -0.6)                       # 3 s at 8 fps, dark grey
    wave = 0.1 * torch.sin(torch.arange(48000) / 10.0)
    return encode_video(frames, fps=8, scale=4, audio=wave, sample_rate=16000)


def test_a_soft_track_reads_back_cue_for_cue(plain_mp4):
    soft = mux_subtitles(plain_mp4, CUES)
    vtt = extract_subtitles(soft)
    assert vtt.startswith("WEBVTT")
    assert "00:00.250 --> 00:01.000" in vtt and "one two" in vtt and "00:01.500 --> 00:02.500" in vtt
    assert np.array_equal(_frames(soft), _frames(plain_mp4))       # the picture is copied, not re-encoded
    with pytest.raises(RuntimeError, match="ffmpeg failed"):
        extract_subtitles(plain_mp4)                                # no subtitle stream in it
    with pytest.raises(ValueError, match="cues"):
        mux_subtitles(plain_mp4, [])


def test_burned_text_shows_only_while_its_cue_is_on(plain_mp4):
    assert (font_dir() / "DejaVuSans.ttf").exists()
    burned, plain = _frames(burn_subtitles(plain_mp4, CUES)), _frames(plain_mp4)
    changed = np.abs(burned.astype(int) - plain.astype(int)).max(axis=(1, 2, 3))      # per frame
    on = [t for t in range(24) if any(c.start <= t / 8 < c.end for c in CUES)]
    off = [t for t in range(24) if t not in on]
    assert all(changed[t] > 100 for t in on), changed                  # white text on dark grey
    assert all(changed[t] < 20 for t in off), changed                  # only re-encoding noise
