"""Notes as the course stores them: times in beats (quarter notes), MIDI pitch numbers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Note:
    """One note. start and duration in beats (quarter notes); pitch 0..127 (60 = middle C)."""

    start: float
    pitch: int
    duration: float
    velocity: int = 80
    part: int = 0

    def __post_init__(self):
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch must be a MIDI number in 0..127; got {self.pitch}")
        if self.duration <= 0:
            raise ValueError(f"duration must be positive (beats); got {self.duration}")
        if self.start < 0:
            raise ValueError(f"start must be >= 0 (beats); got {self.start}")


def midi_to_hz(pitch: float) -> float:
    """Equal temperament with A4 (MIDI 69) = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12)
