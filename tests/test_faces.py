"""course_lib.data.faces: viseme table, mouth track, drawing, clips, cached data set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.data import faces
from course_lib.data.faces import (FACE_STYLES, PHONEME_TO_VISEME, VISEME_SHAPES, VISEMES,
                                   make_clip, mouth_height, mouth_track, render_face, viseme_of)
from course_lib.data.speech import sentences
from course_lib.speech import espeak
from course_lib.speech.espeak import PhonemeEvent


def test_viseme_table_is_complete_and_in_range():
    assert set(VISEME_SHAPES) == set(VISEMES)
    assert set(PHONEME_TO_VISEME.values()) <= set(VISEMES)
    for name, shape in VISEME_SHAPES.items():
        assert len(shape) == 3 and all(0.0 <= v <= 1.0 for v in shape), name
    # the open vowel opens widest, bilabials close the lips, U is the roundest
    assert VISEME_SHAPES["aa"][0] == max(s[0] for s in VISEME_SHAPES.values())
    assert VISEME_SHAPES["PP"][0] == 0.0
    assert VISEME_SHAPES["U"][2] == max(s[2] for s in VISEME_SHAPES.values())


def test_viseme_table_covers_espeak_en_us_inventory():
    """Every phoneme eSpeak NG says in a broad sample of en-us text has an explicit entry."""
    texts = [t for d in ("general", "commands", "times") for _, t in sentences(d)]
    texts += ["the judge's pleasure was a measure of genre and vision",      # ʒ dʒ
              "boy toy noise, cure the tour, hair and ear, poor fire"]       # ɔɪ ʊɹ ɛɹ ɪɹ aɪɚ
    symbols = {e.symbol for t in texts for e in espeak.synthesize(t, "en-us").events}
    assert len(symbols) > 60
    missing = []
    for s in symbols:
        try:
            viseme_of(s, strict=True)
        except ValueError:
            missing.append(s)
    assert not missing, f"no viseme for {missing}"


def test_viseme_of_strips_stress_and_length_and_falls_back():
    assert viseme_of("ˈaɪ") == viseme_of("aɪ") == "aa"
    assert viseme_of("ˌoʊ") == "O"
    assert viseme_of("_") == "sil"
    assert viseme_of("m") == "PP" and viseme_of("f") == "FF" and viseme_of("uː") == "U"
    assert viseme_of("eːx") == "E"                       # unknown: longest known prefix "e"
    with pytest.raises(ValueError, match="no viseme"):
        viseme_of("eːx", strict=True)
    with pytest.raises(TypeError):
        viseme_of(3)


def test_mouth_track_is_a_gaussian_smoothed_step():
    """One 'aa' from 0.4 s to 1.2 s between pauses: the opening is sigma-smoothed steps,
    0.5 (1 + erf((tau - s) / (sigma sqrt 2))) near each edge (closed form)."""
    sr, sigma = 16_000, faces.SMOOTH_S
    events = [PhonemeEvent("_", 0), PhonemeEvent("ˈɑː", int(0.4 * sr)), PhonemeEvent("_", int(1.2 * sr))]
    visemes, mouth = mouth_track(events, int(1.6 * sr), sr, n_frames=40)
    assert mouth.shape == (40, 3) and len(visemes) == 40
    tau = (np.arange(40) + 0.5) / faces.FPS
    phi = lambda z: 0.5 * (1 + np.vectorize(math.erf)(z / (sigma * math.sqrt(2))))
    expected = phi(tau - 0.4) - phi(tau - 1.2)
    np.testing.assert_allclose(mouth[:, 0].numpy(), expected, atol=0.03)
    assert visemes[15] == "aa" and visemes[5] == "sil" and visemes[35] == "sil"
    _, sharp = mouth_track(events, int(1.6 * sr), sr, 40, smooth_s=0.0)
    np.testing.assert_allclose(sharp[:, 0].numpy(), (tau >= 0.4) & (tau < 1.2), atol=1e-6)
    with pytest.raises(ValueError, match="n_frames"):
        mouth_track(events, 100, sr, -1)


def test_render_face_shapes_range_and_mouth_height_follows_opening():
    openings = torch.linspace(0, 1, 6)
    mouth = torch.stack([openings, torch.full((6,), 0.5), torch.zeros(6)], 1)
    for style in FACE_STYLES:
        frames = render_face(mouth, style)
        assert frames.shape == (6, 3, 32, 32) and frames.dtype == torch.float32
        assert frames.min() >= 0 and frames.max() <= 1
        heights = mouth_height(frames)
        assert torch.all(heights[1:] > heights[:-1]), f"mouth height must grow with opening: {heights}"
        assert heights[0] < 0.5                       # closed: no dark interior
    # the upper half does not depend on the mouth
    upper = render_face(mouth, FACE_STYLES[0])[:, :, :14]
    assert torch.allclose(upper, upper[:1].expand_as(upper))
    with pytest.raises(ValueError, match=r"mouth must be \(T, 3\)"):
        render_face(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="size"):
        render_face(mouth, size=8)


def test_make_clip_lengths_and_determinism():
    a = make_clip("call anna", "en-us", style=3, seed=1)
    b = make_clip("call anna", "en-us", style=3, seed=1)
    assert a.n_frames == len(a.wave) // faces.SAMPLES_PER_FRAME
    assert a.mel.shape == (80, 1 + len(a.wave) // 200)
    assert a.frames.dtype == torch.uint8 and a.frames.shape == (a.n_frames, 3, 32, 32)
    assert len(a.visemes) == a.n_frames and a.mouth.shape == (a.n_frames, 3)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.wave, b.wave)
    assert a.visemes.count("PP") >= 1 or a.visemes.count("kk") >= 1
    # measured mouth height tracks the true opening
    r = np.corrcoef(mouth_height(a.video()).numpy(), a.mouth[:, 0].numpy())[0, 1]
    assert r > 0.9, r
    with pytest.raises(ValueError, match="style"):
        make_clip("hi", style=99)


def test_load_faces_caches_and_splits(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    ds = faces.load_faces(4, progress=False)
    assert len(ds) == 4 and len(list((tmp_path / f"faces_v{faces.VERSION}").glob("*.pt"))) == 1
    again = faces.load_faces(4, progress=False)
    assert all(torch.equal(x.frames, y.frames) and x.visemes == y.visemes
               for x, y in zip(ds.clips, again.clips))
    assert {c.split for c in ds.clips} <= {"train", "valid", "test"}
    assert sum(len(ds.split(s)) for s in ("train", "valid", "test")) == 4
    assert [c.style for c in ds.clips] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="split"):
        ds.split("dev")
    with pytest.raises(TypeError, match="voices"):
        faces.load_faces(4, voices="en-us")
