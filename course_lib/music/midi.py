"""Notes as the course stores them, and notes <-> standard MIDI files.

A `Note` has times in beats (quarter notes), a MIDI pitch (60 = middle C), a MIDI
velocity (1..127) and the index of its part (voice / instrument). A MIDI file stores
time in integer ticks (`ticks_per_beat` per quarter note), so writing and reading back
rounds every start and end to the nearest tick; notes already on the tick grid come back
exactly.

MIDI files are written and read with music21's low-level `music21.midi` module (no
extra dependency): a conductor track with the tempo, then one track per part on its own
channel (skipping channel 10, drums), each with its General MIDI program.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 10                      # 1-based; General MIDI reserves it for percussion
CHOIR_PROGRAMS = (52, 52, 52, 52)      # General MIDI "Choir Aahs" (0-based 52) for the four voices


@dataclass(frozen=True, order=True)
class Note:
    """One note. start and duration in beats (quarter notes); pitch 0..127 (60 = middle C);
    velocity 1..127; part = index of the voice or instrument (0 = soprano in a chorale)."""

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
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be in 1..127; got {self.velocity}")
        if self.part < 0:
            raise ValueError(f"part must be >= 0; got {self.part}")

    @property
    def end(self) -> float:
        return self.start + self.duration


def midi_to_hz(pitch: float) -> float:
    """Equal temperament with A4 (MIDI 69) = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def split_parts(notes: list[Note]) -> dict[int, list[Note]]:
    """{part: its notes, sorted} for every part that has notes."""
    parts: dict[int, list[Note]] = defaultdict(list)
    for n in notes:
        parts[n.part].append(n)
    return {p: sorted(ns) for p, ns in sorted(parts.items())}


def _channel(part: int) -> int:
    """1-based MIDI channel of a part: 1, 2, ..., skipping the drum channel 10."""
    channel = part + 1 if part + 1 < DRUM_CHANNEL else part + 2
    if channel > 16:
        raise ValueError(f"a MIDI file has 15 melodic channels; part {part} does not fit")
    return channel


def notes_to_midi(notes: list[Note], path: str | Path | None = None, tempo_bpm: float = 90.0,
                  ticks_per_beat: int = TICKS_PER_BEAT, programs: dict[int, int] | None = None) -> bytes:
    """Write notes as a type-1 MIDI file; return its bytes (and save them to `path` if given).

    One track per part (channel 1, 2, ..., skipping 10); `programs` maps part -> General
    MIDI program 0..127 (default: Choir Aahs for parts 0-3, piano after). Times are
    rounded to the nearest tick.
    """
    from music21 import midi

    if not notes:
        raise ValueError("notes must not be empty")
    if tempo_bpm <= 0:
        raise ValueError(f"tempo_bpm must be positive; got {tempo_bpm}")
    mf = midi.MidiFile()
    mf.format, mf.ticksPerQuarterNote = 1, ticks_per_beat

    conductor = midi.MidiTrack(0)
    tempo = midi.MidiEvent(conductor, type=midi.MetaEvents.SET_TEMPO)
    tempo.data = round(60_000_000 / tempo_bpm).to_bytes(3, "big")     # microseconds per beat
    _write_track(conductor, [(0, tempo)])
    mf.tracks.append(conductor)

    for index, (part, part_notes) in enumerate(split_parts(notes).items(), start=1):
        track = midi.MidiTrack(index)
        channel = _channel(part)
        program = (programs or {}).get(part, CHOIR_PROGRAMS[part] if part < len(CHOIR_PROGRAMS) else 0)
        change = midi.MidiEvent(track, type=midi.ChannelVoiceMessages.PROGRAM_CHANGE, channel=channel)
        change.data = program
        timed = [(0, change)]
        for n in part_notes:
            on_tick, off_tick = round(n.start * ticks_per_beat), round(n.end * ticks_per_beat)
            off_tick = max(off_tick, on_tick + 1)
            for tick, kind, velocity in ((on_tick, midi.ChannelVoiceMessages.NOTE_ON, n.velocity),
                                         (off_tick, midi.ChannelVoiceMessages.NOTE_OFF, 0)):
                event = midi.MidiEvent(track, type=kind, channel=channel)
                event.pitch, event.velocity = n.pitch, velocity
                timed.append((tick, event))
        # at equal ticks, note-offs first, so a repeated pitch ends before it starts again
        timed.sort(key=lambda te: (te[0], te[1].type != midi.ChannelVoiceMessages.NOTE_OFF))
        _write_track(track, timed)
        mf.tracks.append(track)

    data = mf.writestr()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _write_track(track, timed: list) -> None:
    """Fill a music21 MidiTrack from (absolute tick, event) pairs, adding delta times."""
    from music21 import midi

    previous = 0
    for tick, event in timed:
        track.events.append(midi.DeltaTime(track, time=tick - previous))
        track.events.append(event)
        previous = tick
    end = midi.MidiEvent(track, type=midi.MetaEvents.END_OF_TRACK)
    end.data = b""
    track.events += [midi.DeltaTime(track, time=0), end]


def midi_to_notes(source: str | Path | bytes) -> list[Note]:
    """Read a MIDI file (a path or its bytes) into sorted notes, times in beats.

    The part of a note is given by its channel, as `notes_to_midi` writes them (channel 1
    -> part 0, ..., channel 10, drums, skipped). A note-on with
    velocity 0 counts as a note-off; overlapping notes of one pitch end first-in first-out.
    """
    from music21 import midi

    mf = midi.MidiFile()
    if isinstance(source, (bytes, bytearray)):
        mf.readstr(bytes(source))
    else:
        path = Path(source)
        if not path.exists():
            raise ValueError(f"source must be an existing MIDI file or bytes; {path} does not exist")
        mf.readstr(path.read_bytes())
    tpq = mf.ticksPerQuarterNote
    notes = []
    for track in mf.tracks:
        tick, sounding = 0, defaultdict(list)        # (channel, pitch) -> [(start tick, velocity)]
        for event in track.events:
            if event.isDeltaTime():
                tick += event.time
            elif event.isNoteOn():
                sounding[(event.channel, event.pitch)].append((tick, event.velocity))
            elif event.isNoteOff() or (event.type == midi.ChannelVoiceMessages.NOTE_ON and event.velocity == 0):
                started = sounding[(event.channel, event.pitch)]
                if started:
                    on_tick, velocity = started.pop(0)
                    if tick > on_tick:
                        part = event.channel - 1 if event.channel < DRUM_CHANNEL else event.channel - 2
                        notes.append(Note(on_tick / tpq, event.pitch, (tick - on_tick) / tpq, velocity, part))
    return sorted(notes)

