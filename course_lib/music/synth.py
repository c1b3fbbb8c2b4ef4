"""Notes -> audio: a small additive synthesiser with four voice timbres, plus WAV and MIDI export.

Each note is a sum of harmonics k·f0 with amplitudes set by its voice (part mod 4),
shaped by an attack-decay-sustain-release envelope:

    x(t) = (velocity / 127) · env(t) · Σ_k a_k sin(2π k f0 t)

Soprano is bright (many harmonics), bass dark (few), alto and tenor in between, so the
four lines of a chorale stay distinguishable by ear. Harmonics above Nyquist are left
out (no aliasing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from course_lib.music.midi import Note, midi_to_hz, notes_to_midi

VOICE_HARMONICS = (                    # amplitude of harmonic 1, 2, 3, ... per part (mod 4)
    (1.0, 0.6, 0.4, 0.25, 0.15, 0.1),  # 0 soprano: bright
    (1.0, 0.45, 0.25, 0.12),           # 1 alto
    (1.0, 0.35, 0.15, 0.08),           # 2 tenor
    (1.0, 0.5, 0.1),                   # 3 bass: dark
)
ATTACK_S, DECAY_S, SUSTAIN, RELEASE_S = 0.015, 0.08, 0.7, 0.06


def envelope(length: int, sample_rate: int) -> np.ndarray:
    """ADSR envelope (length,): linear attack to 1, decay to SUSTAIN, linear release to 0
    over the last RELEASE_S (shortened for short notes)."""
    t = np.arange(length) / sample_rate
    attack = np.minimum(t / ATTACK_S, 1.0)
    decay = SUSTAIN + (1 - SUSTAIN) * np.exp(-np.maximum(t - ATTACK_S, 0) / DECAY_S)
    release = np.clip((t[-1] - t) / RELEASE_S, 0.0, 1.0) if length else t
    return attack * decay * release


def render_notes(notes: list[Note], sample_rate: int = 16000, tempo_bpm: float = 90.0,
                 voices: bool = True, harmonics: tuple[float, ...] | None = None) -> np.ndarray:
    """Mix `notes` into a mono float32 waveform (T,) peak-normalised to 0.9.

    voices=True gives each part (mod 4) its own timbre; voices=False uses the soprano's;
    `harmonics` (amplitudes of harmonics 1, 2, ...) overrides both for every note.
    """
    if tempo_bpm <= 0:
        raise ValueError(f"tempo_bpm must be positive; got {tempo_bpm}")
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int (Hz); got {sample_rate!r}")
    if not notes:
        raise ValueError("notes must not be empty")
    seconds_per_beat = 60.0 / tempo_bpm
    end = max(n.start + n.duration for n in notes) * seconds_per_beat
    out = np.zeros(int(end * sample_rate) + 2, dtype=np.float64)
    for note in notes:
        start = int(round(note.start * seconds_per_beat * sample_rate))
        length = min(int(round(note.duration * seconds_per_beat * sample_rate)), len(out) - start)
        if length <= 0:
            continue
        t = np.arange(length) / sample_rate
        f0 = midi_to_hz(note.pitch)
        amplitudes = harmonics if harmonics is not None else VOICE_HARMONICS[note.part % 4 if voices else 0]
        tone = sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t)
                   for k, a in enumerate(amplitudes) if f0 * (k + 1) < sample_rate / 2)
        out[start:start + length] += (note.velocity / 127) * tone * envelope(length, sample_rate)
    return (0.9 * out / max(np.abs(out).max(), 1e-9)).astype(np.float32)


def save_wav(notes: list[Note], path: str | Path, sample_rate: int = 16000, tempo_bpm: float = 90.0) -> Path:
    """Render notes and write a 16-bit WAV file; returns the path."""
    from course_lib.audio.io import write_wav

    wave = torch.from_numpy(render_notes(notes, sample_rate=sample_rate, tempo_bpm=tempo_bpm))
    return write_wav(path, wave, sample_rate)


def save_midi(notes: list[Note], path: str | Path, tempo_bpm: float = 90.0) -> Path:
    """Write notes as a MIDI file (one track per part); returns the path."""
    notes_to_midi(notes, path, tempo_bpm=tempo_bpm)
    return Path(path)
