"""Bach chorales from music21's bundled corpus (offline), as lists of `Note`.

    corpus = load_chorales()        # parse every chorale once (~20-40 s), then load in ~1 s
    corpus.pieces[0].notes          # [Note(start, pitch, duration, velocity, part), ...]
    train, valid, test = split_pieces(corpus.pieces)

What the extraction does to each score (music21's `corpus.chorales.Iterator()` order):
- ties are merged (`stripTies`), chords give one `Note` per pitch, grace notes (no
  duration) are dropped, repeats are *not* expanded (the score is read as printed);
- parts are numbered in score order (0 = soprano ... 3 = bass); when instruments are
  printed beside the choir, the four parts named Soprano, Alto, Tenor and Bass are kept;
  a chorale must have one time signature, else it is reported as a failure with the
  reason;
- times are in beats (quarter notes) and shifted so that bar lines fall on multiples
  of `beats_per_bar`: a one-beat pickup in 4/4 starts at beat 3 of bar 0;
- chorales carry no dynamics, so every velocity is `DEFAULT_VELOCITY`.

The parsed corpus is cached as JSON under `artifacts/chorales/` (keyed by
`CACHE_VERSION`); delete that file to parse again.
"""

from __future__ import annotations

import json
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.music.midi import Note
from course_lib.runtime import artifacts_dir

CACHE_VERSION = 1
DEFAULT_VELOCITY = 80
NUM_VOICES = 4
VOICE_NAMES = ("soprano", "alto", "tenor", "bass")
SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)   # train / valid / test, by piece


@dataclass
class Chorale:
    """One parsed chorale: its corpus name, title, bar length in beats and notes (sorted)."""

    name: str
    title: str
    beats_per_bar: float
    notes: list[Note] = field(repr=False)

    def __repr__(self) -> str:
        return (f"Chorale({self.name!r}, {self.title!r}, beats_per_bar={self.beats_per_bar}, "
                f"{len(self.notes)} notes)")


@dataclass
class ChoraleCorpus:
    """Every chorale that parsed, and (name, reason) for every one that did not."""

    pieces: list[Chorale]
    failures: list[tuple[str, str]]
    parse_seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.pieces)


def chorale_names() -> list[str]:
    """The corpus names ('bach/bwv269', ...) of the bundled chorales, in Iterator order.

    The Iterator follows Riemenschneider's numbering (371 chorales), which lists some
    harmonisations twice; each is kept once (350 distinct), so a piece never lands in two
    splits."""
    from music21 import corpus

    return list(dict.fromkeys(str(n) for n in corpus.chorales.Iterator(returnType="filename")))


def parse_chorale(name: str) -> Chorale:
    """Parse one chorale from music21's corpus into a `Chorale`; ValueError if unusable."""
    from music21 import corpus, meter

    score = corpus.parse(name)
    parts = _voice_parts(list(score.parts))
    signatures = {ts.ratioString for ts in parts[0].recurse().getElementsByClass(meter.TimeSignature)}
    if len(signatures) != 1:
        raise ValueError(f"time signature changes or is missing ({sorted(signatures)})")
    ts = parts[0].recurse().getElementsByClass(meter.TimeSignature)[0]
    beats_per_bar = float(ts.barDuration.quarterLength)
    measures = parts[0].getElementsByClass("Measure")
    pickup = float(measures[0].paddingLeft) if len(measures) else 0.0   # empty beats before a pickup

    notes = []
    for part_index, part in enumerate(parts):
        for n in part.flatten().stripTies().notes:
            duration = float(n.quarterLength)
            if duration <= 0:                                 # grace note: no time of its own
                continue
            for p in n.pitches:                               # a chord gives one Note per pitch
                notes.append(Note(start=float(n.offset) + pickup, pitch=int(p.midi), duration=duration,
                                  velocity=DEFAULT_VELOCITY, part=part_index))
    if not notes:
        raise ValueError("has no notes")
    title = score.metadata.title if score.metadata is not None and score.metadata.title else name
    return Chorale(name=name, title=str(title), beats_per_bar=beats_per_bar, notes=sorted(notes))


def _voice_parts(parts: list) -> list:
    """The four voices: all parts of a four-part score, or, when instruments double the
    choir, the parts whose names start with Soprano, Alto, Tenor and Bass."""
    if len(parts) == NUM_VOICES:
        return parts
    voices = []
    for voice in VOICE_NAMES:
        found = [p for p in parts if str(p.partName or "").strip().lower().startswith(voice)]
        if not found:
            raise ValueError(f"has {len(parts)} parts and none named {voice.title()}")
        voices.append(found[0])
    return voices


def _parse_or_reason(name: str) -> tuple[str, dict | None, str | None]:
    try:
        c = parse_chorale(name)
    except Exception as err:   # noqa: BLE001 - every reason is reported, none is fatal
        return name, None, f"{type(err).__name__}: {err}"
    return name, {"name": c.name, "title": c.title, "beats_per_bar": c.beats_per_bar,
                  "notes": [[n.start, n.pitch, n.duration, n.velocity, n.part] for n in c.notes]}, None


def cache_path() -> Path:
    return artifacts_dir("chorales") / f"chorales_v{CACHE_VERSION}.json"


def _from_json(data: dict) -> ChoraleCorpus:
    pieces = [Chorale(d["name"], d["title"], d["beats_per_bar"],
                      [Note(s, p, du, v, pa) for s, p, du, v, pa in d["notes"]]) for d in data["pieces"]]
    return ChoraleCorpus(pieces, [tuple(f) for f in data["failures"]], data.get("parse_seconds", 0.0))


def load_chorales(workers: int | None = None, progress: bool = True, rebuild: bool = False) -> ChoraleCorpus:
    """Every bundled chorale as a `ChoraleCorpus`: from the JSON cache when present, else
    parsed (in `workers` processes, default: one per CPU, at most 4) and then cached."""
    path = cache_path()
    if path.exists() and not rebuild:
        return _from_json(json.loads(path.read_text()))
    from tqdm.auto import tqdm

    names = chorale_names()
    workers = workers or min(os.cpu_count() or 1, 4)
    t0 = time.perf_counter()
    bar = tqdm(total=len(names), desc="parsing chorales", disable=not progress)
    results = []
    if workers > 1:
        import multiprocessing as mp
        # fork: workers run only music21 (no torch), and need no `if __name__ == "__main__"` guard
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) as pool:
            for r in pool.map(_parse_or_reason, names, chunksize=8):
                results.append(r)
                bar.update(1)
    else:
        for name in names:
            results.append(_parse_or_reason(name))
            bar.update(1)
    bar.close()
    data = {"version": CACHE_VERSION, "parse_seconds": time.perf_counter() - t0,
            "pieces": [d for _, d, _ in results if d is not None],
            "failures": [[n, why] for n, _, why in results if why is not None]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return _from_json(data)


def chorale_notes(index: int = 0) -> tuple[str, list[Note]]:
    """The title and notes (sorted by start, part 0 = soprano) of chorale number `index`
    in `music21.corpus.chorales.Iterator()` order (parses just that one when the corpus
    is not cached yet). Times are shifted so bar lines fall on multiples of the bar."""
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"index must be an int >= 0; got {index!r}")
    if cache_path().exists():
        corpus = load_chorales()
        by_name = {c.name: c for c in corpus.pieces}
        names = chorale_names()
        if index >= len(names):
            raise ValueError(f"index {index} is past the last chorale ({len(names) - 1})")
        if names[index] in by_name:
            c = by_name[names[index]]
            return c.title, c.notes
    names = chorale_names()
    if index >= len(names):
        raise ValueError(f"index {index} is past the last chorale ({len(names) - 1})")
    c = parse_chorale(names[index])
    return c.title, c.notes


def split_pieces(pieces: list, fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
                 seed: int = SPLIT_SEED) -> tuple[list, list, list]:
    """Shuffle pieces with a fixed seed and cut them into train / valid / test *by piece*,
    so no chorale contributes to two splits."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1; got {fractions}")
    order = list(range(len(pieces)))
    random.Random(seed).shuffle(order)
    n_train = round(fractions[0] * len(order))
    n_valid = round(fractions[1] * len(order))
    pick = lambda idx: [pieces[i] for i in idx]   # noqa: E731
    return (pick(order[:n_train]), pick(order[n_train:n_train + n_valid]), pick(order[n_train + n_valid:]))


def transpose(notes: list[Note], semitones: int) -> list[Note]:
    """The same notes `semitones` higher (negative: lower); ValueError if a pitch leaves 0..127."""
    if not isinstance(semitones, int):
        raise TypeError(f"semitones must be an int; got {type(semitones).__name__}")
    lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
    if lo + semitones < 0 or hi + semitones > 127:
        raise ValueError(f"transposing pitches {lo}..{hi} by {semitones} leaves the MIDI range 0..127")
    return [Note(n.start, n.pitch + semitones, n.duration, n.velocity, n.part) for n in notes]
