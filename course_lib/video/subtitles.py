"""Subtitles from timed words (day 18): cues that a person can read, written as WebVTT or SRT.

Whisper-style word timestamps give (word, start, end). A subtitle cue groups words into
one line of at most `max_chars` characters, is shown for at least `min_duration` seconds
(readers need time), never overlaps the next cue, and starts a new line at a pause longer
than `max_gap`:

    cues = words_to_cues([("one", 0.10, 0.42), ("two", 0.50, 0.80)])
    write_webvtt(cues)     # 'WEBVTT\\n\\n1\\n00:00:00.100 --> 00:00:00.800\\none two\\n'
    write_srt(cues)        # '1\\n00:00:00,100 --> 00:00:00,800\\none two\\n'

The two formats differ in small ways that break players: WebVTT starts with a `WEBVTT`
line and writes milliseconds after a dot, SRT after a comma; both count hours.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Cue", "format_timestamp", "words_to_cues", "write_webvtt", "write_srt"]


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from `start` to `end` seconds."""
    start: float
    end: float
    text: str


def format_timestamp(seconds: float, style: str = "vtt") -> str:
    """Seconds -> "HH:MM:SS.mmm" (vtt) or "HH:MM:SS,mmm" (srt), rounded to the millisecond."""
    if style not in ("vtt", "srt"):
        raise ValueError(f"style must be 'vtt' or 'srt'; got {style!r}")
    if not seconds >= 0:
        raise ValueError(f"seconds must be >= 0; got {seconds!r}")
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{'.' if style == 'vtt' else ','}{ms:03d}"


def words_to_cues(words: list[tuple[str, float, float]], max_chars: int = 42, min_duration: float = 0.7,
                  max_gap: float = 1.0) -> list[Cue]:
    """(word, start, end) in time order -> cues of at most `max_chars` characters (a longer
    single word gets its own cue), a new cue after a pause longer than `max_gap`; each cue
    lasts at least `min_duration` unless the next cue starts sooner."""
    if max_chars < 1 or min_duration < 0 or max_gap < 0:
        raise ValueError("max_chars must be >= 1, min_duration and max_gap >= 0")
    groups: list[list[tuple[str, float, float]]] = []
    for word, start, end in words:
        if not word.strip():
            continue
        if end < start:
            raise ValueError(f"word {word!r} ends ({end}) before it starts ({start})")
        if groups and start < groups[-1][-1][1]:
            raise ValueError(f"words must be in time order; {word!r} starts at {start} before the previous one")
        if groups:
            line = " ".join(w for w, _, _ in groups[-1]) + " " + word
            if len(line) <= max_chars and start - groups[-1][-1][2] <= max_gap:
                groups[-1].append((word, start, end))
                continue
        groups.append([(word, start, end)])
    cues = [Cue(g[0][1], g[-1][2], " ".join(w for w, _, _ in g)) for g in groups]
    out = []
    for i, cue in enumerate(cues):
        end = max(cue.end, cue.start + min_duration)
        if i + 1 < len(cues):
            end = min(end, cues[i + 1].start)
        out.append(Cue(cue.start, max(end, cue.end), cue.text))
    return out


def _blocks(cues: list[Cue], style: str) -> str:
    return "\n".join(f"{i}\n{format_timestamp(c.start, style)} --> {format_timestamp(c.end, style)}\n{c.text}\n"
                     for i, c in enumerate(cues, 1))


def write_webvtt(cues: list[Cue]) -> str:
    """The cues as a WebVTT document (numbered cues, dot before the milliseconds)."""
    return "WEBVTT\n\n" + _blocks(cues, "vtt")


def write_srt(cues: list[Cue]) -> str:
    """The cues as SubRip (SRT) text (comma before the milliseconds)."""
    return _blocks(cues, "srt")
