"""Camera-motion clips (day 07): known motion, measured back by phase correlation."""

import numpy as np
import pytest
import torch

from course_lib.data import camera


def test_pans_shift_the_content_against_the_camera_and_phase_correlation_finds_it():
    videos, labels = camera.make_camera_clips("pan_left", n=20, seed=0)
    assert videos.shape == (20, 1, 8, 12, 12) and labels.shape == (20,)
    assert videos.min() >= -1 and videos.max() <= 1
    for move, (dr, dc) in [(m, v) for m, v in camera.CAMERA_MOVES.items() if v is not None]:
        videos, _ = camera.make_camera_clips(move, n=20, seed=1)
        expected = torch.tensor([-dr, -dc])                              # the world slides against the camera
        found = torch.stack([camera.clip_shifts(v) for v in videos])     # (20, 7, 2)
        # nearly always exact while most of the digit is in view; a pan sweeps across the
        # digit, which is cut by the border in the first and last frames, where phase
        # correlation has less to lock on — so a clip's motion is the median
        assert (found == expected).all(dim=-1).float().mean() >= 0.95, (move, found[:2])
        assert all(torch.equal(camera.clip_motion(v), expected.float()) for v in videos), move


def test_phase_correlation_matches_a_brute_force_search():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(12, 12, generator=g)
    for shift in [(0, 0), (1, -2), (-3, 4), (5, 5)]:
        b = torch.roll(a, shifts=shift, dims=(0, 1))
        assert camera.global_shift(a, b) == shift
        # brute force: the circular shift with the smallest squared error
        errors = {(r, c): float(((torch.roll(a, (r, c), (0, 1)) - b) ** 2).sum())
                  for r in range(-6, 6) for c in range(-6, 6)}
        assert min(errors, key=errors.get) == shift


def test_zoom_in_grows_the_digit_and_static_holds_still():
    videos, _ = camera.make_camera_clips("zoom_in", n=10, seed=2)
    areas = torch.stack([camera.ink_area(v) for v in videos])            # (10, 8)
    assert (areas[:, -1] > 1.5 * areas[:, 0]).all()
    assert np.all(np.diff(areas.mean(0).numpy()) > 0)
    still, _ = camera.make_camera_clips("static", n=5, seed=2)
    assert torch.equal(still[:, :, :1].expand_as(still), still)
    # the zoom's first frame is the static view of the same digit
    zoom, _ = camera.make_camera_clips("zoom_in", n=5, seed=2)
    torch.testing.assert_close(zoom[:, :, 0], still[:, :, 0], atol=1e-5, rtol=0)


def test_camera_bad_inputs_are_named():
    with pytest.raises(ValueError, match="move must be one of"):
        camera.make_camera_clips("dolly")
    with pytest.raises(ValueError, match="split must be"):
        camera.make_camera_clips("static", split="valid")
    with pytest.raises(ValueError, match=r"image must be \(1, 8, 8\)"):
        camera.camera_clip(torch.zeros(1, 4, 4), "static")
    with pytest.raises(ValueError, match="a and b must be two frames"):
        camera.global_shift(torch.zeros(4, 4), torch.zeros(4, 5))
