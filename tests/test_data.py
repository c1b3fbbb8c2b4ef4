import pytest
import torch

from course_lib.data.chorales import chorale_notes
from course_lib.data.digits import bounce_positions, load_digits, moving_digit_clip


def test_digits_are_scaled_to_unit_range():
    images, labels = load_digits()
    assert images.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert images.min() == -1 and images.max() == 1
    assert torch.bincount(labels).min() >= 170


def test_bounce_reflects_and_stays_inside():
    pos = bounce_positions(30, canvas=20, size=8, start=(0, 12), velocity=(5, -3))
    assert pos.shape == (30, 2)
    assert pos.min() >= 0 and pos.max() <= 12
    assert pos[:4, 0].tolist() == [0, 5, 10, 9], "row must reflect off the far wall (12)"
    assert pos[:6, 1].tolist() == [12, 9, 6, 3, 0, 3], "col must reflect off 0"
    steps = (pos[1:] - pos[:-1]).abs()
    assert (steps[:, 0] <= 5).all() and (steps[:, 1] <= 3).all(), "no teleporting across the canvas"


def test_moving_digit_clip_places_the_digit():
    images, _ = load_digits()
    clip = moving_digit_clip(images[0], frames=5, canvas=16, start=(2, 3), velocity=(1, 2))
    assert clip.shape == (5, 1, 16, 16)
    assert torch.equal(clip[0, :, 2:10, 3:11], images[0]) and torch.equal(clip[4, :, 6:14, 5:13], images[0])  # col 3+8=11 reflects to 5
    assert (clip[0].sum() - images[0].sum()) == -1.0 * (256 - 64), "outside the digit the canvas is -1"
    with pytest.raises(ValueError, match=r"image must be \(1, h, w\)"):
        moving_digit_clip(images[:2])
    with pytest.raises(ValueError, match="start must lie"):
        moving_digit_clip(images[0], canvas=10, start=(5, 0))


def test_moving_digits_spec_names_the_clips(tmp_path, monkeypatch):
    from dataclasses import replace

    from course_lib.data.digits import MovingDigitsSpec, load_moving_digits
    from course_lib.runtime import settings_key
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    spec = MovingDigitsSpec(clips=6, frames=3, canvas=10, speeds=[1, 2], seed=4)
    assert spec.speeds == (1, 2) and hash(spec) == hash(replace(spec))      # frozen, hashable, tuple speeds
    clips = spec.load("test")
    ref = load_moving_digits("test", n=6, frames=3, canvas=10, speeds=(1, 2), seed=4)
    assert torch.equal(clips.videos, ref.videos) and clips.videos.shape == (6, 1, 3, 10, 10)
    assert settings_key(spec) != settings_key(replace(spec, seed=5))
    with pytest.raises(ValueError, match="speeds"):
        MovingDigitsSpec(speeds=())


def test_first_chorale_has_four_parts():
    title, notes = chorale_notes(0)
    assert title and len(notes) > 100
    assert {n.part for n in notes} == {0, 1, 2, 3}
    assert notes == sorted(notes)
    # music tests (MIDI, synth, the whole corpus) are in tests/test_music_*.py


def test_ring_of_gaussians_and_coverage():
    from course_lib.data.toy import mode_coverage, ring_centres, ring_of_gaussians
    g = torch.Generator().manual_seed(0)
    points = ring_of_gaussians(4000, generator=g)
    assert points.shape == (4000, 2)
    assert abs(points.norm(dim=1).mean().item() - 1.0) < 0.01
    frac, hit = mode_coverage(points, ring_centres(), max_dist=0.25)
    assert frac > 0.99 and hit == 8
    collapsed = ring_centres()[:1].expand(100, 2)
    assert mode_coverage(collapsed, ring_centres(), 0.25) == (1.0, 1)
    assert mode_coverage(torch.zeros(10, 2), ring_centres(), 0.25)[0] == 0.0


def test_mlp_denoiser_shapes_and_label_requirement():
    from course_lib.diffusion.denoisers import MLPDenoiser, MLPDenoiserConfig
    m = MLPDenoiser(MLPDenoiserConfig(64, dim=32, depth=1, num_classes=10))
    x = torch.randn(3, 1, 8, 8)
    assert m(x, torch.tensor([0, 5, 999]), torch.tensor([1, 2, 10])).shape == x.shape
    with pytest.raises(ValueError, match="labels are required"):
        m(x, torch.tensor([0, 5, 999]))
    with pytest.raises(ValueError, match="64 numbers"):
        m(torch.randn(3, 10), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
