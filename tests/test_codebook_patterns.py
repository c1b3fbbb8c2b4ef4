"""Day 15's codebook interleaving patterns: MusicGen's delay pattern and the flattened one."""

import pytest
import torch

from course_lib.audio.codebook_patterns import delay, flatten_codes, pattern_steps, undelay, unflatten_codes


def test_delay_shifts_codebook_k_by_k_steps_and_inverts():
    codes = torch.arange(2 * 4 * 6).view(2, 4, 6)
    out = delay(codes, pad=-1)
    assert out.shape == (2, 4, 9)
    for k in range(4):
        for s in range(9):
            expected = codes[:, k, s - k] if 0 <= s - k < 6 else torch.full((2,), -1)
            assert torch.equal(out[:, k, s], expected)
    assert torch.equal(undelay(out), codes)
    # step s holds frame s of codebook 0 and frame s - 3 of codebook 3: the last step is all padding but codebook 3
    assert (out[:, :3, -1] == -1).all() and torch.equal(out[:, 3, -1], codes[:, 3, -1])
    with pytest.raises(ValueError, match="fewer than"):
        undelay(torch.zeros(1, 4, 3, dtype=torch.long))


def test_flattened_pattern_is_frame_major_and_inverts():
    codes = torch.tensor([[[1, 2, 3], [10, 20, 30]]])          # K = 2 codebooks, T = 3 frames
    assert flatten_codes(codes).tolist() == [[1, 10, 2, 20, 3, 30]]
    assert torch.equal(unflatten_codes(flatten_codes(codes), 2), codes)
    with pytest.raises(ValueError, match="multiple"):
        unflatten_codes(torch.zeros(1, 5, dtype=torch.long), 2)


def test_steps_per_pattern():
    assert pattern_steps("flattened", 50, 4) == 200 and pattern_steps("delay", 50, 4) == 53
    with pytest.raises(ValueError, match="pattern"):
        pattern_steps("parallel", 50, 4)
