"""Labelled one-second sound clips at 16 kHz (day 15): what the codec learns to compress
and the token LM learns to generate from a prompt.

    clips = load_sound_clips("train", n=800)
    clips.waves.shape, clips.labels[0], clips.prompts[0]     # (800, 16000), 2, 'soft E4 loud'

Every clip is a formula or eSpeak NG, so its attributes are exact:

- **notes** of the course's additive synthesiser (`music.synth`, day 14) in four
  timbres, named by their harmonic content (`TIMBRE_HARMONICS`): "bright" (8 harmonics
  falling slowly, a sawtooth's kind), "mellow" (odd harmonics only, a clarinet's kind),
  "soft" (almost a pure sine, a flute's kind), "dark" (day 14's bass voice: 3 harmonics)
  — pitch C3..C5 (MIDI 48-72), 0.5 s with day 14's envelope. (Day 14's alto and tenor
  voices differ by 2-3 dB in their upper harmonics: a classifier trained on real clips
  confused them, and so did everything it judged after Opus at 24 kbps.)
- **drums** of `data.sounds`: "kick", "snare", "hat";
- **effects**: "beep" (a 1 kHz tone, 0.3 s), "chirp" (300 Hz -> 3 kHz, 0.5 s), "noise"
  (a decaying noise burst, 0.3 s);
- **speech**: "speech", a digit word spoken by eSpeak NG.

Each starts at a random onset in [0, 0.2) s and is played "soft" (peak 0.3) or "loud"
(peak 0.9). Half the drum clips repeat their hit at a **tempo** of `TEMPI` (120, 180 or
240 beats per minute: a hit every 0.5, 0.33 or 0.25 s from the onset; 0 = one hit). The
prompt names the class, the pitch for notes, the tempo for repeated drums, and the
loudness: "bright C4 loud", "snare soft", "kick at 120 bpm loud", "speech loud". Splits: train and test draw from
different random streams (seed and split), so no test clip is a training clip.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

__all__ = ["SAMPLE_RATE", "CLIP_SAMPLES", "TIMBRES", "TIMBRE_HARMONICS", "DRUMS", "EFFECTS", "CLASSES", "LOUDNESS",
           "MAX_ONSET", "PITCHES", "TEMPI", "hit_times",
           "SoundClips", "note_name", "prompt", "parse_prompt", "make_clip", "make_melody", "make_sound_clips",
           "load_sound_clips"]

SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE                    # one second: 50 codec frames at a hop of 320
TIMBRES = ("bright", "mellow", "soft", "dark")   # their spectra: TIMBRE_HARMONICS
DRUMS = ("kick", "snare", "hat")
EFFECTS = ("beep", "chirp", "noise")
CLASSES = TIMBRES + DRUMS + EFFECTS + ("speech",)
LOUDNESS = {"soft": 0.3, "loud": 0.9}         # peak amplitude
MAX_ONSET = 0.2                               # onsets are drawn in [0, MAX_ONSET) seconds
PITCHES = tuple(range(48, 73))                # C3 .. C5
TEMPI = (120, 180, 240)                       # beats per minute of repeated drum hits (0: one hit)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TIMBRE_HARMONICS = {
    "bright": (1.0, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15),
    "mellow": (1.0, 0.0, 0.4, 0.0, 0.25, 0.0, 0.15),
    "soft": (1.0, 0.1),
    "dark": (1.0, 0.5, 0.1),
}
VERSION = 3


@dataclass
class SoundClips:
    """N clips: waves (N, CLIP_SAMPLES) float32 in [-1, 1]; labels (N,) index into
    CLASSES; pitches (N,) MIDI (-1 when the class has none); loud (N,) bool; onsets (N,)
    seconds (the first hit); tempi (N,) beats per minute of repeated hits (0: one hit);
    prompts (N strings)."""
    waves: Tensor
    labels: Tensor
    pitches: Tensor
    loud: Tensor
    onsets: Tensor
    tempi: Tensor
    prompts: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def note_name(pitch: int) -> str:
    """MIDI 60 -> "C4"."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _check_tempo(kind: str, tempo: int) -> None:
    if tempo and (kind not in DRUMS or tempo not in TEMPI):
        raise ValueError(f"tempo must be 0 (one hit) or, for a drum {DRUMS}, one of {TEMPI} bpm; "
                         f"got {tempo!r} for {kind!r}")


def hit_times(onset: float, tempo: int, length: float = 1.0) -> list[float]:
    """The hits of a clip in seconds: `onset`, then every 60 / `tempo` s while < `length`
    (just the onset when tempo is 0)."""
    if not tempo:
        return [onset]
    period = 60.0 / tempo
    return [onset + k * period for k in range(int((length - onset) / period) + 1) if onset + k * period < length]


def prompt(kind: str, pitch: int, loud: bool, tempo: int = 0) -> str:
    """"bright C4 loud", "snare soft", "kick at 120 bpm loud": the class, the note for a
    timbre, the tempo of repeated drum hits, the loudness."""
    if kind not in CLASSES:
        raise ValueError(f"kind must be one of {CLASSES}; got {kind!r}")
    _check_tempo(kind, tempo)
    words = ([kind] + ([note_name(pitch)] if kind in TIMBRES else []) + (["at", str(tempo), "bpm"] if tempo else [])
             + ["loud" if loud else "soft"])
    return " ".join(words)


def parse_prompt(text: str) -> tuple[int, int, bool, int]:
    """The inverse of `prompt`: "bright C4 loud" -> (label, MIDI pitch, loud, tempo) =
    (0, 60, True, 0); "snare at 180 bpm" -> (5, −1, True, 180). A timbre needs a note
    (C3..C5, sharps as "C#4"); a class without pitch gets −1; a drum may have a tempo of
    TEMPI ("at N bpm"; 0: one hit); the loudness may be left out (loud)."""
    if not isinstance(text, str) or not text.split():
        raise ValueError(f"text must be a prompt such as 'bright C4 loud'; got {text!r}")
    words = text.lower().split()
    kind, rest = words[0], words[1:]
    if kind not in CLASSES:
        raise ValueError(f"the prompt must start with a class, one of {CLASSES}; got {words[0]!r}")
    loud = True
    if rest and rest[-1] in LOUDNESS:
        loud = rest.pop() == "loud"
    pitch = -1
    if kind in TIMBRES:
        names = {note_name(p).lower(): p for p in PITCHES}
        if not rest or rest[0] not in names:
            raise ValueError(f"a {kind} note needs a pitch from {note_name(PITCHES[0])} to "
                             f"{note_name(PITCHES[-1])}, e.g. '{kind} C4 loud'; got {text!r}")
        pitch = names[rest.pop(0)]
    tempo = 0
    if len(rest) == 3 and rest[0] == "at" and rest[2] == "bpm" and rest[1].isdigit():
        tempo = int(rest[1])
        _check_tempo(kind, tempo)
        rest = []
    if rest:
        raise ValueError(f"could not read {' '.join(rest)!r} in {text!r}: "
                         "expected '<class> [note] [at <tempo> bpm] [loud|soft]'")
    return CLASSES.index(kind), pitch, loud, tempo


def _sound(kind: str, pitch: int, generator: torch.Generator) -> Tensor:
    """The dry sound of `kind` (its own length), peak 1, float32."""
    from course_lib.data import sounds

    sr = SAMPLE_RATE
    if kind in TIMBRES:
        from course_lib.music.midi import Note
        from course_lib.music.synth import render_notes

        beats = 0.5 * 90 / 60                                    # 0.5 s at the synthesiser's 90 bpm
        wave = torch.from_numpy(render_notes([Note(0.0, pitch, beats, 100, 0)], sr, harmonics=TIMBRE_HARMONICS[kind]))
    elif kind == "kick":
        wave = sounds.kick(sr)
    elif kind == "snare":
        wave = sounds.snare(sr, generator=generator)
    elif kind == "hat":
        wave = sounds.hat(sr, generator=generator)
    elif kind == "beep":
        wave = sounds.tone(1000.0, 0.3, sr)
    elif kind == "chirp":
        wave = sounds.chirp(300.0, 3000.0, 0.5, sr)
    elif kind == "noise":
        wave = sounds.noise_burst(0.3, sr, decay=0.1, generator=generator)
    elif kind == "speech":
        from course_lib.data.speech import speak

        word = DIGIT_WORDS[int(torch.randint(10, (1,), generator=generator))]
        wave = speak(word)
    else:
        raise ValueError(f"kind must be one of {CLASSES}; got {kind!r}")
    wave = wave.float()
    return wave / wave.abs().max().clamp(min=1e-8)


def make_clip(kind: str, pitch: int = 60, loud: bool = True, onset: float = 0.0, seed: int = 0,
              tempo: int = 0) -> Tensor:
    """One clip (CLIP_SAMPLES,): the sound of `kind` at `pitch` (timbres only), peak
    LOUDNESS["loud" / "soft"], starting `onset` seconds in — and, for a drum with a
    `tempo` (bpm), again at every beat (`hit_times`) — cut at one second."""
    if not 0.0 <= onset < 1.0:
        raise ValueError(f"onset must be in [0, 1) seconds; got {onset!r}")
    if kind in TIMBRES and pitch not in PITCHES:
        raise ValueError(f"pitch must be a MIDI number in {PITCHES[0]}..{PITCHES[-1]}; got {pitch!r}")
    _check_tempo(kind, tempo)
    generator = torch.Generator().manual_seed(seed)
    out = torch.zeros(CLIP_SAMPLES)
    for time in hit_times(onset, tempo):
        sound = _sound(kind, pitch, generator) * LOUDNESS["loud" if loud else "soft"]
        start = int(round(time * SAMPLE_RATE))
        length = min(len(sound), CLIP_SAMPLES - start)
        out[start:start + length] += sound[:length]
    return out.clamp(-1.0, 1.0)


def make_melody(kind: str, pitches: list[int], note_seconds: float = 0.25, loud: bool = True) -> Tensor:
    """A one-second clip (CLIP_SAMPLES,) of notes of timbre `kind` played one after the
    other, `note_seconds` each from t = 0, with day 14's envelope on every note (for style
    transfer: the same melody in another timbre)."""
    from course_lib.music.midi import Note
    from course_lib.music.synth import render_notes

    if kind not in TIMBRES:
        raise ValueError(f"kind must be one of the timbres {TIMBRES}; got {kind!r}")
    if not pitches or any(p not in PITCHES for p in pitches):
        raise ValueError(f"pitches must be MIDI numbers in {PITCHES[0]}..{PITCHES[-1]}; got {pitches!r}")
    if not 0 < note_seconds * len(pitches) <= 1.0:
        raise ValueError(f"{len(pitches)} notes of {note_seconds} s do not fit in one second")
    beats = note_seconds * 90 / 60                               # the synthesiser's 90 bpm
    notes = [Note(i * beats, int(p), beats, 100, 0) for i, p in enumerate(pitches)]
    wave = torch.from_numpy(render_notes(notes, SAMPLE_RATE, harmonics=TIMBRE_HARMONICS[kind]))
    out = torch.zeros(CLIP_SAMPLES)
    n = min(len(wave), CLIP_SAMPLES)
    out[:n] = wave[:n] * LOUDNESS["loud" if loud else "soft"] / 0.9
    return out


def make_sound_clips(split: str = "train", n: int = 800, seed: int = 0) -> SoundClips:
    """`n` clips with classes cycling through CLASSES (balanced), random pitch, loudness,
    onset and (for half the drums) tempo from a generator seeded by (seed, split)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    labels = torch.arange(n) % len(CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    pitches = torch.tensor(PITCHES)[torch.randint(len(PITCHES), (n,), generator=g)]
    pitches = torch.where(labels < len(TIMBRES), pitches, torch.full_like(pitches, -1))
    loud = torch.rand(n, generator=g) < 0.5
    onsets = torch.rand(n, generator=g) * MAX_ONSET
    seeds = torch.randint(2 ** 31 - 1, (n,), generator=g)
    is_drum = (labels >= len(TIMBRES)) & (labels < len(TIMBRES) + len(DRUMS))
    tempi = torch.tensor(TEMPI)[torch.randint(len(TEMPI), (n,), generator=g)]
    tempi = torch.where(is_drum & (torch.rand(n, generator=g) < 0.5), tempi, torch.zeros_like(tempi))
    waves = torch.stack([make_clip(CLASSES[c], int(p) if p >= 0 else 60, bool(ld), float(o), int(s), int(t))
                         for c, p, ld, o, s, t in zip(labels, pitches, loud, onsets, seeds, tempi)])
    prompts = [prompt(CLASSES[c], int(p), bool(ld), int(t)) for c, p, ld, t in zip(labels, pitches, loud, tempi)]
    return SoundClips(waves, labels, pitches, loud, onsets, tempi, prompts)


def load_sound_clips(split: str = "train", n: int = 800, seed: int = 0) -> SoundClips:
    """`make_sound_clips`, cached in artifacts/data/ (keyed by the arguments and a version)."""
    from course_lib.runtime import artifacts_dir

    path = artifacts_dir("data") / f"sound_clips_v{VERSION}_{split}_n{n}_s{seed}.pt"
    if path.exists():
        return SoundClips(**torch.load(path, weights_only=False))
    clips = make_sound_clips(split, n, seed)
    tmp = path.with_suffix(".tmp")
    torch.save(asdict(clips), tmp)
    tmp.replace(path)
    return clips

