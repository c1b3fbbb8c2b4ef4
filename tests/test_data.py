import numpy as np
import pytest
import torch

from course_lib.data.chorales import chorale_notes
from course_lib.data.digits import bounce_positions, load_digits, moving_digit_clip
from course_lib.music.midi import Note, midi_to_hz
from course_lib.music.synth import render_notes


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


def test_note_validation_and_pitch():
    assert midi_to_hz(69) == 440.0 and abs(midi_to_hz(60) - 261.6256) < 1e-3
    with pytest.raises(ValueError, match="pitch"):
        Note(0.0, 128, 1.0)
    with pytest.raises(ValueError, match="duration"):
        Note(0.0, 60, 0.0)


def test_rendered_note_has_the_right_pitch_and_length():
    sr = 16000
    wave = render_notes([Note(0.0, 69, 2.0)], sample_rate=sr, tempo_bpm=120)   # 2 beats = 1 s
    assert abs(len(wave) / sr - 1.05) < 0.01 and np.abs(wave).max() == pytest.approx(0.9, abs=1e-6)
    spectrum = np.abs(np.fft.rfft(wave[:sr]))
    assert abs(np.argmax(spectrum) * sr / sr - 440) <= 1, "fundamental must be A4 = 440 Hz"


def test_first_chorale_has_four_parts():
    title, notes = chorale_notes(0)
    assert title and len(notes) > 100
    assert {n.part for n in notes} == {0, 1, 2, 3}
    assert notes == sorted(notes)
