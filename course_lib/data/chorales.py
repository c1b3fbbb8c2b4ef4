"""Bach chorales from music21's bundled corpus (offline), as lists of `Note`."""

from __future__ import annotations

from course_lib.music.midi import Note


def chorale_notes(index: int = 0) -> tuple[str, list[Note]]:
    """The title and notes (sorted by start, part 0 = soprano) of chorale number `index`
    in `music21.corpus.chorales.Iterator()` order."""
    from music21 import corpus

    if index < 0:
        raise ValueError(f"index must be >= 0; got {index}")
    for i, score in enumerate(corpus.chorales.Iterator(returnType="stream")):
        if i == index:
            break
    else:
        raise ValueError(f"index {index} is past the last chorale ({i})")
    notes = []
    for part_index, part in enumerate(score.parts):
        for n in part.flatten().notes:
            for p in n.pitches:   # a chord gives one Note per pitch
                notes.append(Note(start=float(n.offset), pitch=int(p.midi),
                                  duration=float(n.quarterLength) or 0.25, part=part_index))
    return str(score.metadata.title), sorted(notes)
