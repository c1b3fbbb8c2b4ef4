"""Day 22's ffmpeg stages and stage cache: the picture-in-picture lands where the layout
says, the music is ducked under the voice (measured in the output's spectrum), subtitles
are burned in, cuts sit on beats, and a stage key changes with every input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.ad import cache, compose
from course_lib.video.subtitles import Cue
from course_lib.viz import encode_video

SR, FPS, SECONDS = 16000, 8, 2.0


def _clip(value: float, size: int) -> bytes:
    """A flat grey clip (T, H, W) of `value` in [0, 1]."""
    return encode_video(np.full((int(SECONDS * FPS), size, size), value, np.float32), fps=FPS)


def _tone(freq: float, start: float = 0.0, stop: float = SECONDS, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t) * ((t >= start) & (t < stop))).astype(np.float32)


def _band_level(wave: np.ndarray, freq: float, t0: float, t1: float) -> float:
    """Amplitude of the `freq` component of wave[t0:t1] (a windowed DFT bin)."""
    seg = wave[int(t0 * SR):int(t1 * SR)]
    t = np.arange(len(seg)) / SR
    return float(2 * np.abs(np.mean(seg * np.exp(-2j * np.pi * freq * t))))


@pytest.fixture(scope="module")
def ads():
    """The same inputs composited with and without ducking: music 300 Hz throughout,
    voice 1 kHz from 0.6 to 1.4 s; product black, avatar white."""
    voice, music = _tone(1000, 0.6, 1.4), _tone(300, amp=0.8)
    product, avatar = _clip(0.0, 32), _clip(1.0, 32)
    layout = compose.Layout(width=128, height=128, pip_fraction=0.25, margin=8, corner="br")
    cues = [Cue(0.0, 2.0, "BUY NOW")]
    return {name: compose.composite(product, avatar, voice, music, SR, cues if name == "ducked" else None, layout,
                                    ducking) for name, ducking in (("ducked", compose.Ducking()), ("plain", None))}, layout


def test_the_ad_plays_with_h264_and_aac_of_the_asked_length(ads):
    (mp4s, layout) = ads
    info = compose.probe_mp4(mp4s["ducked"])
    assert info["video"] == "h264" and info["audio"] == "aac"
    assert (info["width"], info["height"]) == (layout.width, layout.height)
    assert abs(info["duration"] - SECONDS) < 0.15


def test_the_avatar_is_inset_where_the_layout_says(ads):
    (mp4s, layout) = ads
    frames, _ = compose.decode_mp4(mp4s["plain"], SR)
    grey = frames.mean(axis=(0, 3))                     # (H, W) mean over time and colour
    x, y = layout.pip_xy()
    s = layout.pip_size
    assert grey[y + 2:y + s - 2, x + 2:x + s - 2].mean() > 230          # white avatar
    outside = np.ones_like(grey, bool)
    outside[y - 2:y + s + 2, x - 2:x + s + 2] = False
    assert grey[outside].mean() < 25                                      # black product


def test_subtitles_are_burned_in_the_bottom_of_the_frame(ads):
    (mp4s, layout) = ads
    with_subs, _ = compose.decode_mp4(mp4s["ducked"], SR)
    without, _ = compose.decode_mp4(mp4s["plain"], SR)
    diff = np.abs(with_subs.astype(float) - without.astype(float)).mean(axis=(0, 3))     # (H, W)
    assert diff[layout.height // 2:].sum() > 20 * diff[:layout.height // 2].sum()         # text at the bottom
    assert diff.max() > 100


def test_the_music_is_ducked_under_the_voice_and_comes_back(ads):
    (mp4s, _) = ads
    levels = {}
    for name, mp4 in mp4s.items():
        _, wave = compose.decode_mp4(mp4, SR)
        levels[name] = {"before": _band_level(wave, 300, 0.2, 0.55), "during": _band_level(wave, 300, 0.8, 1.35),
                        "after": _band_level(wave, 300, 1.75, 1.95), "voice": _band_level(wave, 1000, 0.8, 1.35)}
    plain, ducked = levels["plain"], levels["ducked"]
    assert plain["during"] > 0.8 * plain["before"]                 # no ducking: the music stays
    assert ducked["during"] < 0.3 * ducked["before"]               # ducked by more than 10 dB under the voice
    assert ducked["after"] > 0.7 * ducked["before"]                # and back after the release
    assert ducked["voice"] == pytest.approx(plain["voice"], rel=0.1)   # the voice itself is untouched


def test_a_short_product_clip_is_looped_to_fill_the_ad():
    half = encode_video(np.linspace(0, 1, 8, dtype=np.float32)[:, None, None] * np.ones((8, 16, 16), np.float32), fps=FPS)
    mp4 = compose.composite(half, _clip(1.0, 16), _tone(1000), _tone(300), SR, None, compose.Layout(width=64, height=64))
    assert abs(compose.probe_mp4(mp4)["duration"] - SECONDS) < 0.15
    frames, _ = compose.decode_mp4(mp4, SR)
    brightness = frames[:, :8, :8].mean(axis=(1, 2, 3))          # a corner of the product, away from the inset
    assert len(frames) >= 15 and brightness[8] < brightness[7] - 100    # the ramp starts again at 1 s


def test_filtergraph_feeds_the_voice_as_the_sidechain_key():
    graph = compose.composite_filtergraph(compose.Layout())
    assert "[music][key]sidechaincompress" in graph                # music compressed, keyed by the voice
    assert graph.index("[0:v]") < graph.index("[1:v]") and "[bg][pip]overlay" in graph
    assert "sidechaincompress" not in compose.composite_filtergraph(compose.Layout(), ducking=None)


def test_composite_refuses_bad_inputs_with_the_argument_named():
    voice = _tone(1000)
    with pytest.raises(ValueError, match="product_mp4"):
        compose.composite(b"", _clip(1.0, 16), voice, voice, SR, None)
    with pytest.raises(ValueError, match="music"):
        compose.composite(_clip(0.0, 16), _clip(1.0, 16), voice, np.zeros((2, 5), np.float32), SR, None)
    with pytest.raises(RuntimeError, match="ffmpeg"):
        compose.composite(b"not an mp4", _clip(1.0, 16), voice, voice, SR, None)
    with pytest.raises(ValueError, match="Layout.width"):
        compose.Layout(width=101)


def test_beat_snapped_cuts_are_beats_sorted_spaced_and_inside():
    rng = np.random.default_rng(0)
    for _ in range(200):
        duration = float(rng.uniform(2, 15))
        beats = rng.uniform(-1, duration + 1, size=int(rng.integers(0, 40)))
        n, gap = int(rng.integers(0, 6)), float(rng.uniform(0.2, 1.0))
        cuts = compose.beat_snapped_cuts(beats, n, duration, gap)
        assert len(cuts) <= n and np.all(np.diff(cuts) >= gap - 1e-9)
        assert np.all((cuts >= gap) & (cuts <= duration - gap))
        assert all(np.isclose(beats, c).any() for c in cuts)           # every cut is a beat
    # a regular beat gets every cut it asks for, each the beat nearest its even spacing
    beats = np.arange(0, 12, 0.5)
    assert compose.beat_snapped_cuts(beats, 3, 12.0).tolist() == [3.0, 6.0, 9.0]
    with pytest.raises(ValueError, match="n_cuts"):
        compose.beat_snapped_cuts(beats, -1, 12.0)


def test_stage_key_changes_with_every_input_and_only_then():
    image = np.zeros((8, 8, 3), np.uint8)
    base = cache.stage_key("product", image, "a red mug", 0.5, upstream=["k1"])
    assert base == cache.stage_key("product", image.copy(), "a red mug", 0.5, upstream=["k1"])
    changed = image.copy()
    changed[3, 4, 1] = 1
    others = [cache.stage_key("product", changed, "a red mug", 0.5, upstream=["k1"]),
              cache.stage_key("product", image.reshape(8, 24), "a red mug", 0.5, upstream=["k1"]),
              cache.stage_key("product", image, "a red mug!", 0.5, upstream=["k1"]),
              cache.stage_key("product", image, "a red mug", 0.25, upstream=["k1"]),
              cache.stage_key("product", image, "a red mug", 0.5, upstream=["k2"]),
              cache.stage_key("avatar", image, "a red mug", 0.5, upstream=["k1"]),
              cache.stage_key("product", torch.zeros(8, 8, 3), "a red mug", 0.5, upstream=["k1"])]
    assert len({base, *others}) == len(others) + 1
    assert cache.stage_key("s", compose.Layout()) != cache.stage_key("s", compose.Layout(corner="tl"))
    with pytest.raises(TypeError, match="cannot hash"):
        cache.stage_key("s", object())


def test_stage_cache_round_trips_and_writes_atomically(tmp_path):
    store = cache.StageCache(tmp_path)
    key = cache.stage_key("voiceover", "hello")
    assert store.get("voiceover", key) is None
    wave = np.linspace(-1, 1, 50, dtype=np.float32)
    store.put("voiceover", key, {"wave": wave, "text": "hello", "mp4": b"\x00\x01"})
    got = store.get("voiceover", key)
    assert np.array_equal(got["wave"], wave) and str(got["text"]) == "hello" and got["mp4"].tobytes() == b"\x00\x01"
    assert [p.name for p in (tmp_path / "voiceover").iterdir()] == [f"{key}.npz"]    # no temporary left
