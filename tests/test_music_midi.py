"""course_lib.music.midi (notes <-> MIDI files) and course_lib.music.synth."""

import numpy as np
import pytest

from course_lib.music.midi import Note, midi_to_hz, midi_to_notes, notes_to_midi, split_parts
from course_lib.music.synth import VOICE_HARMONICS, render_notes, save_midi, save_wav


def test_note_validation_and_pitch():
    assert midi_to_hz(69) == 440.0 and abs(midi_to_hz(60) - 261.6256) < 1e-3
    for bad, field in [((0.0, 128, 1.0), "pitch"), ((0.0, 60, 0.0), "duration"), ((-1.0, 60, 1.0), "start"),
                       ((0.0, 60, 1.0, 0), "velocity"), ((0.0, 60, 1.0, 80, -1), "part")]:
        with pytest.raises(ValueError, match=field):
            Note(*bad)
    assert Note(1.0, 60, 0.5).end == 1.5


def test_midi_round_trip_keeps_parts_velocities_and_repeated_pitches(tmp_path):
    notes = [Note(0, 60, 1.0, 90, 0), Note(1.0, 60, 0.5, 90, 0), Note(1.5, 60, 0.5, 30, 0),  # repeated pitch
             Note(0, 48, 2.0, 70, 3), Note(0.25, 64, 1 / 3, 80, 1), Note(0, 60, 4.0, 100, 2),  # unison, other part
             Note(2, 40, 1.0, 64, 11)]                                                       # part 11: channel 13
    data = notes_to_midi(notes, tmp_path / "x.mid", tempo_bpm=100)
    assert data[:4] == b"MThd" and (tmp_path / "x.mid").read_bytes() == data
    assert midi_to_notes(tmp_path / "x.mid") == sorted(notes)
    assert midi_to_notes(data) == sorted(notes)


def test_midi_rounds_to_ticks_and_rejects_bad_input(tmp_path):
    back = midi_to_notes(notes_to_midi([Note(0.0001, 60, 1.0)], ticks_per_beat=480))
    assert back == [Note(0.0, 60, 1.0)]
    with pytest.raises(ValueError, match="notes must not be empty"):
        notes_to_midi([])
    with pytest.raises(ValueError, match="does not exist"):
        midi_to_notes(tmp_path / "missing.mid")


def test_music21_reads_our_midi_file(tmp_path):
    """An independent reader (music21's converter) sees the same pitches and onsets."""
    from music21 import converter

    notes = [Note(0, 67, 1.0, 80, 0), Note(1, 69, 1.0, 80, 0), Note(0, 48, 2.0, 80, 1)]
    save_midi(notes, tmp_path / "y.mid")
    score = converter.parse(tmp_path / "y.mid")
    seen = sorted((float(n.offset), p.midi) for n in score.flatten().notes for p in n.pitches)
    assert seen == sorted((n.start, n.pitch) for n in notes)


def test_split_parts():
    notes = [Note(1, 60, 1, part=2), Note(0, 62, 1, part=0), Note(0, 50, 1, part=2)]
    parts = split_parts(notes)
    assert list(parts) == [0, 2] and parts[2] == [Note(0, 50, 1, part=2), Note(1, 60, 1, part=2)]


def test_rendered_note_has_the_right_pitch_and_length():
    sr = 16000
    wave = render_notes([Note(0.0, 69, 2.0)], sample_rate=sr, tempo_bpm=120)   # 2 beats = 1 s
    assert wave.dtype == np.float32 and abs(len(wave) / sr - 1.0) < 0.01
    assert np.abs(wave).max() == pytest.approx(0.9, abs=1e-6)
    spectrum = np.abs(np.fft.rfft(wave[:sr]))
    assert abs(np.argmax(spectrum) * sr / sr - 440) <= 1, "fundamental must be A4 = 440 Hz"
    assert abs(wave[-10:]).max() < 0.05 and abs(wave[:5]).max() < 0.05, "envelope starts and ends near 0"


def test_four_voices_have_different_timbres():
    sr = 16000
    ratios = []
    for part in range(4):
        spectrum = np.abs(np.fft.rfft(render_notes([Note(0.0, 57, 2.0, part=part)], sample_rate=sr, tempo_bpm=120)))
        f0 = 220 * len(spectrum) * 2 // sr
        ratios.append(spectrum[2 * f0 - 3:2 * f0 + 4].max() / spectrum[f0 - 3:f0 + 4].max())
    expected = [h[1] for h in VOICE_HARMONICS]
    assert np.allclose(ratios, expected, rtol=0.1), f"2nd/1st harmonic ratio per voice {ratios} vs {expected}"


def test_save_wav(tmp_path):
    from course_lib.audio.io import read_wav

    path = save_wav([Note(0, 60, 1.0), Note(0, 64, 1.0, part=1)], tmp_path / "a.wav", sample_rate=8000, tempo_bpm=60)
    wave, sr = read_wav(path)
    assert sr == 8000 and abs(len(wave) - 8000) < 10
