"""Notes -> audio: a small additive synthesiser (a few harmonics, attack/release envelope)."""

from __future__ import annotations

import numpy as np

from course_lib.music.midi import Note, midi_to_hz

HARMONIC_AMPLITUDES = (1.0, 0.5, 0.25, 0.12)   # a soft, organ-like timbre
ATTACK_S, RELEASE_S = 0.01, 0.05


def render_notes(notes: list[Note], sample_rate: int = 16000, tempo_bpm: float = 90.0) -> np.ndarray:
    """Mix `notes` into a mono float32 waveform (T,) peak-normalised to 0.9."""
    if tempo_bpm <= 0:
        raise ValueError(f"tempo_bpm must be positive; got {tempo_bpm}")
    if not notes:
        raise ValueError("notes must not be empty")
    seconds_per_beat = 60.0 / tempo_bpm
    end = max(n.start + n.duration for n in notes) * seconds_per_beat + RELEASE_S
    out = np.zeros(int(end * sample_rate) + 1, dtype=np.float64)
    for note in notes:
        start = int(note.start * seconds_per_beat * sample_rate)
        length = int(note.duration * seconds_per_beat * sample_rate)
        t = np.arange(length) / sample_rate
        f0 = midi_to_hz(note.pitch)
        tone = sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t)
                   for k, a in enumerate(HARMONIC_AMPLITUDES) if f0 * (k + 1) < sample_rate / 2)
        envelope = np.minimum(1.0, np.minimum(t / ATTACK_S, (t[-1] - t) / RELEASE_S + 1e-9)) if length else t
        out[start:start + length] += (note.velocity / 127) * tone * envelope
    return (0.9 * out / max(np.abs(out).max(), 1e-9)).astype(np.float32)
