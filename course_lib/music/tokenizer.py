"""Music as tokens: a REMI-style tokenizer, a TSD-style alternative, and a grammar check.

REMI (Huang & Yang, 2020) writes a piece bar by bar on a metrical grid:

    BOS TimeSig_4  Bar Position_0 Pitch_67 Velocity_5 Duration_4  Pitch_60 Velocity_5 Duration_4
                       Position_4 Pitch_69 ...  Bar Position_0 ...  EOS

TSD (Time-Shift-Duration, as in MidiTok) has no bars: a `TimeShift_k` token moves the
clock forward by k grid steps between onsets:

    BOS TimeSig_4  Pitch_67 Velocity_5 Duration_4  Pitch_60 Velocity_5 Duration_4  TimeShift_4 ...  EOS

Both work on the same grid, so both round-trip exactly to the same quantised notes:

    decode(encode(notes, beats_per_bar)) == quantise(notes)

`quantise` is the documented loss of the tokenization (`beat_resolution` = r steps per beat):
- start    -> round(start · r) / r            (nearest grid step, halves round up)
- duration -> clip(round(duration · r), 1, max_duration_beats · r) / r   (at least one step)
- velocity -> the centre of its bin: `velocity_bins` equal bins over 0..127
- part     -> 0, unless the tokenizer was built with `parts=True` (then a Part_i token
  precedes each note's Pitch)
and the notes come back sorted. quantise(quantise(x)) == quantise(x).

Token ids: every tokenizer has a `vocab` (list of token strings, id = index) and
`token_to_id`. A sequence is a list of ints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from course_lib.checks import check_positive_int
from course_lib.music.midi import Note

SPECIAL = ("PAD", "BOS", "EOS")
PAD, BOS, EOS = 0, 1, 2


@dataclass(frozen=True)
class TokenizerConfig:
    """The grid and the bins. beat_resolution: grid steps per beat (4 = sixteenth notes);
    velocity_bins: number of loudness levels; max_duration_beats: longest note (longer
    ones are cut); max_bar_beats: longest bar (TimeSig_1 .. TimeSig_max); parts: encode
    each note's part (voice) as a Part token; num_parts: how many parts then."""

    beat_resolution: int = 4
    velocity_bins: int = 8
    max_duration_beats: int = 8
    max_bar_beats: int = 8
    parts: bool = False
    num_parts: int = 4

    def __post_init__(self):
        for name in ("beat_resolution", "velocity_bins", "max_duration_beats", "max_bar_beats", "num_parts"):
            check_positive_int(getattr(self, name), name)
        if self.velocity_bins > 64:
            raise ValueError(f"velocity_bins must be at most 64 (bin centres must be distinct velocities >= 1); "
                             f"got {self.velocity_bins}")


# ----------------------------------------------------------------------------- quantisation

def velocity_bin(velocity: int, bins: int) -> int:
    """Bin index 0..bins-1 of a MIDI velocity: `bins` equal bins over 0..127."""
    return min(velocity * bins // 128, bins - 1)


def bin_velocity(index: int, bins: int) -> int:
    """The velocity a bin stands for: its centre (at least 1). velocity_bin(bin_velocity(i)) == i."""
    return max(1, (2 * index + 1) * 128 // (2 * bins))


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def quantise(notes: list[Note], config: TokenizerConfig = TokenizerConfig()) -> list[Note]:
    """The notes as the tokenizers see them (see the module docstring): starts and
    durations on the grid, velocities at their bin centres, parts dropped unless
    `config.parts`; sorted."""
    r = config.beat_resolution
    max_steps = config.max_duration_beats * r
    out = []
    for n in notes:
        start = _round_half_up(n.start * r)
        steps = min(max(_round_half_up(n.duration * r), 1), max_steps)
        velocity = bin_velocity(velocity_bin(n.velocity, config.velocity_bins), config.velocity_bins)
        part = n.part if config.parts else 0
        if config.parts and part >= config.num_parts:
            raise ValueError(f"note part must be < num_parts={config.num_parts}; got {part}")
        out.append(Note(start / r, n.pitch, steps / r, velocity, part))
    return sorted(out)


# ----------------------------------------------------------------------------- base

class _Tokenizer:
    """Vocabulary bookkeeping shared by the two tokenizers."""

    name = "base"

    def __init__(self, config: TokenizerConfig = TokenizerConfig()):
        self.config = config
        c = config
        self.vocab: list[str] = list(SPECIAL)
        self.vocab += [f"TimeSig_{b}" for b in range(1, c.max_bar_beats + 1)]
        self.vocab += self._time_tokens()
        if c.parts:
            self.vocab += [f"Part_{p}" for p in range(c.num_parts)]
        self.vocab += [f"Pitch_{p}" for p in range(128)]
        self.vocab += [f"Velocity_{v}" for v in range(c.velocity_bins)]
        self.vocab += [f"Duration_{d}" for d in range(1, c.max_duration_beats * c.beat_resolution + 1)]
        self.token_to_id = {t: i for i, t in enumerate(self.vocab)}
        self.pitch_offset = self.token_to_id["Pitch_0"]     # Pitch_p has id pitch_offset + p

    def _time_tokens(self) -> list[str]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config}, vocab={len(self)})"

    def kind(self, token: int) -> str:
        """The family of a token id: 'Bar', 'Position', 'Pitch', 'BOS', ..."""
        return self.vocab[token].split("_")[0]

    def value(self, token: int) -> int:
        """The number after the underscore ('Pitch_60' -> 60)."""
        return int(self.vocab[token].split("_")[1])

    def to_strings(self, tokens: list[int]) -> list[str]:
        return [self.vocab[t] for t in tokens]

    def quantise(self, notes: list[Note]) -> list[Note]:
        return quantise(notes, self.config)

    def _steps_per_bar(self, beats_per_bar: float) -> tuple[int, int]:
        """(TimeSig value, grid steps per bar); ValueError for a bar the vocabulary lacks."""
        beats = float(beats_per_bar)
        if not beats.is_integer() or not 1 <= beats <= self.config.max_bar_beats:
            raise ValueError(f"beats_per_bar must be a whole number of beats in 1..{self.config.max_bar_beats}; "
                             f"got {beats_per_bar}")
        return int(beats), int(beats) * self.config.beat_resolution

    def _note_tokens(self, n: Note) -> list[int]:
        """[Part_i] Pitch_p Velocity_v Duration_d of one quantised note."""
        c, t = self.config, self.token_to_id
        out = [t[f"Part_{n.part}"]] if c.parts else []
        return out + [t[f"Pitch_{n.pitch}"], t[f"Velocity_{velocity_bin(n.velocity, c.velocity_bins)}"],
                      t[f"Duration_{round(n.duration * c.beat_resolution)}"]]

    def _note_kinds(self) -> tuple[str, ...]:
        return ("Part", "Pitch", "Velocity", "Duration") if self.config.parts else ("Pitch", "Velocity", "Duration")

    def _make_note(self, step: int, values: list[int]) -> Note:
        c = self.config
        part = values[0] if c.parts else 0
        pitch, vbin, steps = values[-3:]
        return Note(step / c.beat_resolution, pitch, steps / c.beat_resolution,
                    bin_velocity(vbin, c.velocity_bins), part)

    def transpose_tokens(self, tokens: list[int], semitones: int) -> list[int]:
        """Shift every Pitch token by `semitones`; ValueError if one leaves 0..127."""
        out = []
        for t in tokens:
            if self.pitch_offset <= t < self.pitch_offset + 128:
                t += semitones
                if not self.pitch_offset <= t < self.pitch_offset + 128:
                    raise ValueError(f"transposing by {semitones} moves a pitch out of 0..127")
            out.append(t)
        return out

    # -- grammar ---------------------------------------------------------------------
    def check_grammar(self, tokens: list[int], complete: bool = True) -> str | None:
        """None if `tokens` follow the grammar, else a message naming the first bad
        position. complete=False accepts a sequence cut off anywhere (a sampled prefix)."""
        try:
            self._parse(list(tokens), complete=complete)
        except ValueError as err:
            return str(err)
        return None

    def is_grammatical(self, tokens: list[int], complete: bool = True) -> bool:
        return self.check_grammar(tokens, complete) is None

    def decode(self, tokens: list[int]) -> list[Note]:
        """Tokens -> sorted notes; ValueError (naming the position) if the grammar is broken."""
        return sorted(self._parse(list(tokens), complete=True))

    def decode_prefix(self, tokens: list[int]) -> list[Note]:
        """The notes of a possibly cut-off sequence (an unfinished final note is dropped)."""
        return sorted(self._parse(list(tokens), complete=False))

    def meter(self, tokens: list[int]) -> int:
        """Beats per bar written in the sequence's TimeSig token."""
        if len(tokens) < 2 or self.kind(tokens[1]) != "TimeSig":
            raise ValueError("a sequence starts with BOS TimeSig_b")
        return self.value(tokens[1])

    def _parse(self, tokens: list[int], complete: bool) -> list[Note]:
        raise NotImplementedError

    def _start(self, tokens: list[int]) -> int:
        """Check BOS TimeSig_b; return the steps per bar."""
        for i, t in enumerate(tokens):
            if not isinstance(t, int) or not 0 <= t < len(self.vocab):
                raise ValueError(f"token {i} is not a valid id 0..{len(self.vocab) - 1}: {t!r}")
        if len(tokens) >= 1 and tokens[0] != BOS:
            raise ValueError(f"token 0 must be BOS; got {self.vocab[tokens[0]]}")
        if len(tokens) >= 2 and self.kind(tokens[1]) != "TimeSig":
            raise ValueError(f"token 1 must be TimeSig_b; got {self.vocab[tokens[1]]}")
        return self.value(tokens[1]) * self.config.beat_resolution if len(tokens) >= 2 else 0

    def _read_note(self, tokens: list[int], i: int, complete: bool) -> tuple[list[int] | None, int]:
        """Read the note group starting at i; return (values, next index), values None if cut off."""
        kinds = self._note_kinds()
        values = []
        for j, want in enumerate(kinds):
            if i + j >= len(tokens):
                if complete:
                    raise ValueError(f"sequence ends inside a note at token {i + j}; expected {want}")
                return None, len(tokens)
            got = self.kind(tokens[i + j])
            if got != want:
                raise ValueError(f"token {i + j} must be {want} (note {' '.join(kinds)}); "
                                 f"got {self.vocab[tokens[i + j]]}")
            values.append(self.value(tokens[i + j]))
        if self.config.parts and values[0] >= self.config.num_parts:
            raise ValueError(f"token {i}: part {values[0]} out of range")
        return values, i + len(kinds)


# ----------------------------------------------------------------------------- REMI

class REMITokenizer(_Tokenizer):
    """REMI: Bar and Position tokens on a grid of `beat_resolution` steps per beat.

    Grammar:  BOS TimeSig_b ( Bar ( Position_p Note+ )* )* EOS
              Note = [Part_i] Pitch_p Velocity_v Duration_d
    with 0 <= p < b · beat_resolution and positions strictly increasing within a bar.
    Every bar up to the last onset is written, empty ones too (they carry time).
    """

    name = "REMI"

    def _time_tokens(self) -> list[str]:
        c = self.config
        return ["Bar"] + [f"Position_{p}" for p in range(c.max_bar_beats * c.beat_resolution)]

    def encode(self, notes: list[Note], beats_per_bar: float = 4) -> list[int]:
        """Notes -> token ids (a list of int), after `quantise`."""
        beats, steps_per_bar = self._steps_per_bar(beats_per_bar)
        t = self.token_to_id
        tokens = [BOS, t[f"TimeSig_{beats}"]]
        q = self.quantise(notes)
        bar, position = -1, None
        for n in q:                                          # sorted by start, then pitch
            step = round(n.start * self.config.beat_resolution)
            while bar < step // steps_per_bar:               # open bars up to this note's bar
                tokens.append(t["Bar"])
                bar, position = bar + 1, None
            if step % steps_per_bar != position:
                position = step % steps_per_bar
                tokens.append(t[f"Position_{position}"])
            tokens += self._note_tokens(n)
        return tokens + [EOS]

    def _parse(self, tokens: list[int], complete: bool) -> list[Note]:
        steps_per_bar = self._start(tokens)
        notes, bar, position, i = [], -1, None, 2
        state = "bar"              # what may come next: 'bar' (Bar/EOS), 'any' (Bar/Position/Note/EOS), 'note'
        while i < len(tokens):
            kind = self.kind(tokens[i])
            if kind == "EOS":
                if state == "note":
                    raise ValueError(f"token {i}: EOS right after a Position; a Position needs a note")
                if i != len(tokens) - 1:
                    raise ValueError(f"token {i}: EOS must be the last token")
                return notes
            if kind == "Bar":
                if state == "note":
                    raise ValueError(f"token {i}: Bar right after a Position; a Position needs a note")
                bar, position, state, i = bar + 1, None, "any", i + 1
            elif kind == "Position":
                if state == "bar":
                    raise ValueError(f"token {i}: Position before the first Bar")
                if state == "note":
                    raise ValueError(f"token {i}: two Positions in a row")
                p = self.value(tokens[i])
                if p >= steps_per_bar:
                    raise ValueError(f"token {i}: Position_{p} does not fit a bar of {steps_per_bar} steps")
                if position is not None and p <= position:
                    raise ValueError(f"token {i}: Position_{p} does not move forward from Position_{position}")
                position, state, i = p, "note", i + 1
            elif kind in self._note_kinds()[:1]:
                if position is None:
                    raise ValueError(f"token {i}: a note needs a Position first; got {self.vocab[tokens[i]]}")
                values, i = self._read_note(tokens, i, complete)
                if values is not None:
                    notes.append(self._make_note(bar * steps_per_bar + position, values))
                state = "any"
            else:
                raise ValueError(f"token {i}: unexpected {self.vocab[tokens[i]]} (expected Bar, Position, a note or EOS)")
        if complete:
            raise ValueError(f"sequence of {len(tokens)} tokens does not end with EOS")
        return notes


# ----------------------------------------------------------------------------- TSD

class TSDTokenizer(_Tokenizer):
    """TSD: TimeShift tokens move the clock between onsets; no bars, no positions.

    Grammar:  BOS TimeSig_b ( TimeShift_k* Note )* EOS
              Note = [Part_i] Pitch_p Velocity_v Duration_d
    A shift longer than the largest TimeShift is written as several. TimeSig only
    records the meter (nothing in TSD depends on it).
    """

    name = "TSD"

    def _time_tokens(self) -> list[str]:
        c = self.config
        return [f"TimeShift_{k}" for k in range(1, c.max_bar_beats * c.beat_resolution + 1)]

    def encode(self, notes: list[Note], beats_per_bar: float = 4) -> list[int]:
        """Notes -> token ids (a list of int), after `quantise`."""
        beats, _ = self._steps_per_bar(beats_per_bar)
        t = self.token_to_id
        max_shift = self.config.max_bar_beats * self.config.beat_resolution
        tokens, now = [BOS, t[f"TimeSig_{beats}"]], 0
        for n in self.quantise(notes):
            step = round(n.start * self.config.beat_resolution)
            while step > now:
                shift = min(step - now, max_shift)
                tokens.append(t[f"TimeShift_{shift}"])
                now += shift
            tokens += self._note_tokens(n)
        return tokens + [EOS]

    def _parse(self, tokens: list[int], complete: bool) -> list[Note]:
        self._start(tokens)
        notes, now, i = [], 0, 2
        while i < len(tokens):
            kind = self.kind(tokens[i])
            if kind == "EOS":
                if i != len(tokens) - 1:
                    raise ValueError(f"token {i}: EOS must be the last token")
                return notes
            if kind == "TimeShift":
                now, i = now + self.value(tokens[i]), i + 1
            elif kind == self._note_kinds()[0]:
                values, i = self._read_note(tokens, i, complete)
                if values is not None:
                    notes.append(self._make_note(now, values))
            else:
                raise ValueError(f"token {i}: unexpected {self.vocab[tokens[i]]} (expected TimeShift, a note or EOS)")
        if complete:
            raise ValueError(f"sequence of {len(tokens)} tokens does not end with EOS")
        return notes
