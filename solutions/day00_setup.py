# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Day 00 — Exercises: tensors you can look at and listen to
#
# Three warm-ups on the conventions the whole course uses. Write the body of each
# function where it says `# YOUR CODE HERE`, run the check cell below it, and when you
# are done run `course check day00` in a terminal for your grade.

# %%
import numpy as np
import torch

from course_lib.data.digits import bounce_positions, load_digits

# %% [markdown]
# ## Exercise 1 — model output to video frames
#
# Models produce video as float tensors of shape `(T, C, H, W)` with values in [−1, 1].
# Video encoders want `uint8` frames of shape `(T, H, W, C)` with values 0…255. Write the
# conversion: map −1 → 0 and 1 → 255 linearly, round to the nearest integer, clamp values
# outside [−1, 1] first (samples often overshoot a little).

# %%
def to_video_frames(x: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) float in [-1, 1] -> (T, H, W, C) uint8 in [0, 255]."""
    ### BEGIN SOLUTION
    x = x.clamp(-1, 1)
    x = ((x + 1) / 2 * 255).round()
    return x.permute(0, 2, 3, 1).to(torch.uint8)
    ### END SOLUTION


# %% tags=["check"]
# Check: to_video_frames layout (T, H, W, C) and dtype uint8
x = torch.zeros(2, 3, 5, 7)
frames = to_video_frames(x)
assert frames.dtype == torch.uint8, f"frames must be uint8; got {frames.dtype}"
assert tuple(frames.shape) == (2, 5, 7, 3), (
    f"(T, C, H, W) = (2, 3, 5, 7) must become (T, H, W, C) = (2, 5, 7, 3); got {tuple(frames.shape)}")
g = torch.Generator().manual_seed(0)
x = torch.rand(2, 3, 5, 7, generator=g) * 2 - 1
frames = to_video_frames(x)
assert torch.equal(frames[1, 4, 6], to_video_frames(x[1:2, :, 4:5, 6:7])[0, 0, 0]), "pixel order is wrong"
assert frames[1, 4, 6, 2] == round((x[1, 2, 4, 6].item() + 1) / 2 * 255), (
    "channel c of pixel (h, w) must land at frames[t, h, w, c]: use permute, not reshape/view")

# %% tags=["check"]
# Check: to_video_frames maps [-1, 1] to [0, 255], rounds and clamps
x = torch.tensor([-1.0, 0.0, 1.0, 0.5, -1.5, 1.2]).reshape(1, 1, 1, 6)
got = to_video_frames(x).flatten().tolist()
assert got[:3] == [0, 128, 255], f"-1, 0, 1 must map to 0, 128 (127.5 rounded), 255; got {got[:3]}"
assert got[3] == 191, f"0.5 must map to round(0.75 * 255) = 191; got {got[3]}"
assert got[4:] == [0, 255], f"values outside [-1, 1] must be clamped to 0 and 255; got {got[4:]}"

# %% [markdown]
# ## Exercise 2 — peak normalisation in decibels
#
# Audio levels are given in decibels relative to full scale (dBFS): an amplitude `a`
# is `20·log10(a)` dB. Scale a waveform so that its largest *absolute* sample sits at
# `peak_db` dBFS (−1 dB ≈ 0.891). A silent input must come back unchanged (no division
# by zero).

# %%
def peak_normalize(wave: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    """(T,) float waveform -> (T,) scaled so max |wave| = 10 ** (peak_db / 20)."""
    ### BEGIN SOLUTION
    peak = np.abs(wave).max()
    if peak == 0:
        return wave.copy()
    return wave * (10.0 ** (peak_db / 20.0) / peak)
    ### END SOLUTION


# %% tags=["check"]
# Check: peak_normalize hits the requested peak in dBFS
rng = np.random.default_rng(0)
wave = rng.normal(size=1000) * 0.1
wave[10] = -0.7   # the loudest sample is negative
for peak_db in (-1.0, -6.0, -20.0):
    out = peak_normalize(wave, peak_db)
    got_db = 20 * np.log10(np.abs(out).max())
    assert abs(got_db - peak_db) < 1e-9, (
        f"peak must be {peak_db} dBFS; got {got_db:.3f} dB (amplitude = 10 ** (dB / 20), and use the "
        "largest absolute sample)")
assert np.allclose(out / wave, out[0] / wave[0]), "normalisation must scale every sample by the same factor"
assert np.array_equal(peak_normalize(np.zeros(10)), np.zeros(10)), "silence must stay silence (no NaN)"

# %% [markdown]
# ## Exercise 3 — a bouncing coordinate
#
# The moving-digit videos of days 05–08 bounce a sprite off the canvas walls. Along one
# axis a position moves `velocity` pixels per frame inside `[0, span]`; when it would pass
# a wall it reflects (like light in a mirror): with span 4 and velocity 3 from 0 the path
# is 0, 3, 2, 1, 4, 1, … Return the positions for `frames` frames. Hint: the path repeats
# every `2 * span` steps of travel.

# %%
def bounce(start: int, velocity: int, span: int, frames: int) -> torch.Tensor:
    """(frames,) int64 positions in [0, span], reflecting at 0 and span."""
    ### BEGIN SOLUTION
    travel = (start + velocity * torch.arange(frames)) % (2 * span)
    return torch.where(travel > span, 2 * span - travel, travel)
    ### END SOLUTION


# %% tags=["check"]
# Check: bounce reflects at both walls
got = bounce(0, 3, 4, 8).tolist()
assert got == [0, 3, 2, 1, 4, 1, 2, 3], f"start 0, velocity 3, span 4: expected [0, 3, 2, 1, 4, 1, 2, 3]; got {got}"
got = bounce(2, -1, 4, 6).tolist()
assert got == [2, 1, 0, 1, 2, 3], f"moving left must bounce off 0: expected [2, 1, 0, 1, 2, 3]; got {got}"
assert all(0 <= p <= 4 for p in bounce(1, 7, 4, 50).tolist()), "positions must stay inside [0, span]"

# %% tags=["check"]
# Check: bounce agrees with course_lib's moving digits
for start, velocity, span in [(0, 2, 24), (5, 3, 24), (10, -4, 16), (16, 5, 16)]:
    expected = bounce_positions(40, canvas=span + 8, size=8, start=(start, 0), velocity=(velocity, 0))[:, 0]
    got = bounce(start, velocity, span, 40)
    assert torch.equal(got, expected), f"start {start}, velocity {velocity}, span {span}: first difference at frame " \
        f"{int((got != expected).nonzero()[0])}"

# %% [markdown]
# All checks pass? Run `course check day00` in a terminal for the grade. Day 01 turns
# sound into the pictures (spectrograms) that audio models see.
