"""Synthetic sounds with known timing: drums, clicks, tones, chirps, noise bursts, loops.

    track = drum_loop(bpm=110, bars=4, pattern="rock", seed=0)
    track.wave, track.sample_rate, track.beat_times          # (T,), 22050, (16,) seconds

Every sound is a formula (no recordings), so the ground truth is exact: a beat tracker is
scored against `beat_times`, an onset detector against `onset_times`. Random parts
(noise, loudness jitter) come from a torch.Generator seeded by `seed`: same arguments,
same samples.

The drums, as in a classic analogue drum machine:
    kick:  sin(2 pi int f(t) dt) e^{-t / 0.15},  f(t) = 45 + 75 e^{-t / 0.03} Hz (a falling thump)
    snare: 190 Hz tone e^{-t / 0.08} + high-passed noise e^{-t / 0.05}
    hat:   twice-differenced noise e^{-t / 0.015} (only the hiss above ~5 kHz)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SAMPLE_RATE", "PATTERNS", "Track", "kick", "snare", "hat", "click", "tone", "chirp",
           "noise_burst", "mix", "click_track", "drum_loop", "song"]

SAMPLE_RATE = 22050          # librosa's default rate, so beats.* defaults line up
PEAK = 0.9                   # tracks are scaled to this peak amplitude
STEPS_PER_BAR = 16           # drum patterns are written on a 16th-note grid, 4 beats a bar
# One string per drum: "x" = hit on that 16th note, "." = rest.
PATTERNS = {
    "rock": {"kick": "x.......x.x.....", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."},
    "four_on_floor": {"kick": "x...x...x...x...", "snare": "....x.......x...",
                      "hat": "..x...x...x...x."},
    "breakbeat": {"kick": "x.....x...x.....", "snare": "....x..x.x..x...",
                  "hat": "x.xxx.x.x.xxx.x."},
}


@dataclass
class Track:
    """A rendered track and its ground truth.

    wave: (T,) float32 in [-PEAK, PEAK]; beat_times: (n_beats,) float64 seconds of the
    quarter-note beats; onset_times: (n_onsets,) float64 seconds of every hit.
    """

    wave: Tensor
    sample_rate: int
    bpm: float
    beat_times: Tensor
    onset_times: Tensor


def _check_sr(sample_rate) -> None:
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int (Hz); got {sample_rate!r}")


def _time(duration: float, sample_rate: int) -> Tensor:
    _check_sr(sample_rate)
    if not duration > 0:
        raise ValueError(f"duration must be > 0 seconds; got {duration!r}")
    return torch.arange(max(1, round(duration * sample_rate)), dtype=torch.float64) / sample_rate


def _noise(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.randn(n, generator=generator, dtype=torch.float64)


def _highpass(x: Tensor, times: int = 1) -> Tensor:
    """First difference x[n] - x[n-1], `times` times: a gentle high-pass (+6 dB/octave each)."""
    for _ in range(times):
        x = torch.diff(x, prepend=x[:1])
    return x / x.abs().max().clamp_min(1e-12)


# ---------------------------------------------------------------- single sounds, (T,) float64

def kick(sample_rate: int = SAMPLE_RATE, duration: float = 0.5) -> Tensor:
    """Bass drum: a sine whose pitch falls from 120 to 45 Hz, decaying in 0.15 s."""
    t = _time(duration, sample_rate)
    # phase = 2 pi int_0^t (45 + 75 e^{-s/0.03}) ds
    phase = 2 * math.pi * (45.0 * t + 75.0 * 0.03 * (1 - torch.exp(-t / 0.03)))
    return torch.sin(phase) * torch.exp(-t / 0.15)


def snare(sample_rate: int = SAMPLE_RATE, duration: float = 0.25,
          generator: torch.Generator | None = None) -> Tensor:
    """Snare: a 190 Hz body plus high-passed noise (the wires), both decaying fast."""
    t = _time(duration, sample_rate)
    body = torch.sin(2 * math.pi * 190.0 * t) * torch.exp(-t / 0.08)
    wires = _highpass(_noise(len(t), generator)) * torch.exp(-t / 0.05)
    return 0.4 * body + 0.6 * wires


def hat(sample_rate: int = SAMPLE_RATE, duration: float = 0.08,
        generator: torch.Generator | None = None) -> Tensor:
    """Closed hi-hat: twice high-passed noise, 15 ms decay."""
    t = _time(duration, sample_rate)
    return _highpass(_noise(len(t), generator), times=2) * torch.exp(-t / 0.015)


def click(sample_rate: int = SAMPLE_RATE, freq: float = 1000.0, duration: float = 0.1) -> Tensor:
    """A metronome click as `librosa.clicks` makes it: sin(2 pi f n / sr) 2^{-10 n / (N - 1)}.

    N = int(duration * sample_rate) samples; the envelope falls 60 dB (2^-10) over them.
    """
    _check_sr(sample_rate)
    n = torch.arange(max(2, int(duration * sample_rate)), dtype=torch.float64)
    return torch.sin(2 * math.pi * freq * n / sample_rate) * torch.pow(2.0, -10.0 * n / (len(n) - 1))


def tone(freq: float, duration: float, sample_rate: int = SAMPLE_RATE,
         fade: float = 0.005) -> Tensor:
    """A sine sin(2 pi f t) with linear fades of `fade` seconds at both ends."""
    t = _time(duration, sample_rate)
    ramp = (torch.minimum(t, t[-1] - t) / fade).clamp(0.0, 1.0) if fade > 0 else 1.0
    return torch.sin(2 * math.pi * freq * t) * ramp


def chirp(f0: float, f1: float, duration: float, sample_rate: int = SAMPLE_RATE,
          method: str = "exponential") -> Tensor:
    """A sweep from f0 to f1 Hz: instantaneous frequency linear or exponential in time.

        linear:       f(t) = f0 + (f1 - f0) t / D,   phase = 2 pi (f0 t + (f1 - f0) t^2 / (2D))
        exponential:  f(t) = f0 (f1 / f0)^{t / D},   phase = 2 pi f0 D ((f1/f0)^{t/D} - 1) / ln(f1/f0)
    (the same phases as scipy.signal.chirp with method "linear" / "logarithmic").
    """
    if not (f0 > 0 and f1 > 0):
        raise ValueError(f"f0 and f1 must be > 0 Hz; got f0={f0!r}, f1={f1!r}")
    t = _time(duration, sample_rate)
    if method == "linear":
        phase = 2 * math.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * duration))
    elif method == "exponential":
        if f0 == f1:
            phase = 2 * math.pi * f0 * t
        else:
            ratio = math.log(f1 / f0)
            phase = 2 * math.pi * f0 * duration * (torch.exp(ratio * t / duration) - 1) / ratio
    else:
        raise ValueError(f"method must be 'linear' or 'exponential'; got {method!r}")
    return torch.sin(phase)


def noise_burst(duration: float = 0.05, sample_rate: int = SAMPLE_RATE, decay: float = 0.02,
                generator: torch.Generator | None = None) -> Tensor:
    """White noise with an exponential decay e^{-t / decay} (decay <= 0: flat)."""
    t = _time(duration, sample_rate)
    envelope = torch.exp(-t / decay) if decay > 0 else torch.ones_like(t)
    return _noise(len(t), generator) * envelope


# ---------------------------------------------------------------- mixing and tracks

def mix(events: list[tuple[float, Tensor, float]], length: int,
        sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Add sounds into a (length,) float64 buffer: events are (start seconds, sound, gain).

    A sound starts at sample round(start * sample_rate); what falls past the end is cut.
    """
    _check_sr(sample_rate)
    out = torch.zeros(length, dtype=torch.float64)
    for start, sound, gain in events:
        begin = int(round(start * sample_rate))
        if begin < 0:
            raise ValueError(f"event start must be >= 0 seconds; got {start!r}")
        n = min(len(sound), length - begin)
        if n > 0:
            out[begin:begin + n] += gain * sound[:n].to(torch.float64)
    return out


def _finish(wave: Tensor, sample_rate: int, bpm: float, beats, onsets) -> Track:
    wave = PEAK * wave / wave.abs().max().clamp_min(1e-12)
    return Track(wave=wave.float(), sample_rate=sample_rate, bpm=float(bpm),
                 beat_times=torch.tensor(beats, dtype=torch.float64),
                 onset_times=torch.tensor(sorted(set(onsets)), dtype=torch.float64))


def _check_tempo(bpm, duration_or_bars, name: str) -> None:
    if not isinstance(bpm, (int, float)) or not 30 <= bpm <= 300:
        raise ValueError(f"bpm must be a number in [30, 300]; got {bpm!r}")
    if not duration_or_bars > 0:
        raise ValueError(f"{name} must be > 0; got {duration_or_bars!r}")


def click_track(bpm: float, duration: float, sample_rate: int = SAMPLE_RATE,
                start: float = 0.5, accent: bool = True) -> Track:
    """A metronome: a click every 60 / bpm s from `start`; beat 1 of each bar at 1.5 kHz."""
    _check_tempo(bpm, duration, "duration")
    period = 60.0 / bpm
    beats = [start + i * period for i in range(int((duration - start) / period) + 1)
             if start + i * period < duration - 0.1]
    events = [(b, click(sample_rate, 1500.0 if accent and i % 4 == 0 else 1000.0), 1.0)
              for i, b in enumerate(beats)]
    return _finish(mix(events, round(duration * sample_rate), sample_rate), sample_rate,
                   bpm, beats, beats)


def drum_loop(bpm: float, bars: int = 4, pattern: str = "rock", sample_rate: int = SAMPLE_RATE,
              seed: int = 0, start: float = 0.5, humanize: float = 0.1) -> Track:
    """A drum loop from a 16-step pattern (`PATTERNS`), `bars` bars of 4 beats.

    Step s of bar b starts at start + (16 b + s) (60 / bpm) / 4 seconds; the beats are the
    steps 0, 4, 8, 12. Each hit gets its own noise and a loudness jitter of +-humanize
    (relative), from `seed`. The track ends half a beat after the last bar.
    """
    _check_tempo(bpm, bars, "bars")
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {sorted(PATTERNS)}; got {pattern!r}")
    generator = torch.Generator().manual_seed(seed)
    step = 60.0 / bpm / 4
    duration = start + bars * STEPS_PER_BAR * step + 2 * step
    gains = {"kick": 1.0, "snare": 0.7, "hat": 0.25}
    events, onsets = [], []
    for bar in range(bars):
        for drum, steps in PATTERNS[pattern].items():
            for s, mark in enumerate(steps):
                if mark != "x":
                    continue
                time = start + (bar * STEPS_PER_BAR + s) * step
                sound = kick(sample_rate) if drum == "kick" else (
                    snare(sample_rate, generator=generator) if drum == "snare"
                    else hat(sample_rate, generator=generator))
                jitter = 1.0 + humanize * (2 * float(torch.rand((), generator=generator)) - 1)
                events.append((time, sound, gains[drum] * jitter))
                onsets.append(round(time, 9))
    beats = [start + i * 4 * step for i in range(bars * 4)]
    wave = mix(events, round(duration * sample_rate), sample_rate)
    return _finish(wave, sample_rate, bpm, beats, onsets)


def song(bpm: float, bars: int = 4, sample_rate: int = SAMPLE_RATE, seed: int = 0,
         pattern: str = "rock", start: float = 0.5) -> Track:
    """A drum loop plus a bass line and chords (I-V-vi-IV in C, one chord a bar).

    The tonal parts come from `music.synth.render_notes`: bass notes on every beat,
    a chord held for each bar. Same beats and onsets as `drum_loop`.
    """
    from course_lib.music.midi import Note
    from course_lib.music.synth import render_notes

    drums = drum_loop(bpm, bars, pattern, sample_rate, seed, start)
    roots = (48, 43, 45, 41)                          # C2 G1 A1 F1 (+12: bass an octave up)
    chords = ((60, 64, 67), (59, 62, 67), (60, 64, 69), (60, 65, 69))
    notes = []
    for bar in range(bars):
        root, chord = roots[bar % 4], chords[bar % 4]
        notes += [Note(start=4 * bar + b, pitch=root, duration=0.9, velocity=100, part=3)
                  for b in range(4)]
        notes += [Note(start=4 * bar, pitch=p, duration=3.9, velocity=50, part=1) for p in chord]
    tonal = torch.from_numpy(render_notes(notes, sample_rate, tempo_bpm=bpm)).double()
    offset = int(round(start * sample_rate))
    tonal = tonal[:len(drums.wave) - offset]
    wave = drums.wave.double()
    wave[offset:offset + len(tonal)] += 0.5 * tonal
    return _finish(wave, sample_rate, bpm, drums.beat_times.tolist(), drums.onset_times.tolist())
