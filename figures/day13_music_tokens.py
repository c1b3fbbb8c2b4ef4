"""Day 13 figure: the opening of a real chorale (bwv269, `load_chorales().pieces[0]`, its
notes before beat 5) as a piano roll and as the REMI tokens that `REMITokenizer` (the
lesson's settings: 4 steps per beat, 8 velocity bins) gives for it."""

from course_lib.music.midi import Note
from course_lib.music.tokenizer import REMITokenizer, TokenizerConfig, TSDTokenizer
from course_lib.tools.diagrams import Diagram

# bwv269 in 3/4 (times in beats, shifted so bar lines fall on 0, 3, 6 ...), all velocity 80.
NOTES = [Note(2.0, 43, 1.0, 80, 3), Note(2.0, 59, 1.0, 80, 2), Note(2.0, 62, 1.0, 80, 1), Note(2.0, 67, 1.0, 80, 0),
         Note(3.0, 55, 1.0, 80, 3), Note(3.0, 59, 1.0, 80, 2), Note(3.0, 62, 1.0, 80, 1), Note(3.0, 67, 2.0, 80, 0),
         Note(4.0, 52, 1.0, 80, 3), Note(4.0, 60, 0.5, 80, 2), Note(4.0, 64, 1.0, 80, 1), Note(4.5, 59, 0.5, 80, 2)]
BEATS_PER_BAR = 3
CONFIG = TokenizerConfig(beat_resolution=4, velocity_bins=8)
VOICE_FILL = ["#f6c1c1", "#fdd9a8", "#cdebc7", "#c6dbf3"]      # soprano, alto, tenor, bass
VOICE_NAME = ["soprano", "alto", "tenor", "bass"]


def _groups(strings):
    """Token strings -> display items: a single token, or one note (Pitch, Velocity, Duration)."""
    items, i = [], 0
    while i < len(strings):
        if strings[i].startswith("Pitch_"):
            items.append(tuple(strings[i:i + 3]))
            i += 3
        else:
            items.append(strings[i])
            i += 1
    return items


def remi_tokens() -> Diagram:
    d = Diagram(980, 510, title="Notes → REMI tokens: the first bars of Bach's chorale bwv269 (3/4, pickup)")
    # ------------------------------------------------------------ piano roll
    x0, beat_w, top, semitone = 90, 150, 40, 5.2
    lo, hi = 41, 69
    ypix = lambda pitch: top + (hi - pitch) * semitone                     # noqa: E731
    d.box(x0, top, 3.6 * beat_w, (hi - lo) * semitone, fill="#fafafa", rounded=0, color="#bbbbbb")
    for beat in (2, 3, 4, 5):
        x = x0 + (beat - 1.9) * beat_w
        d.text(x, top + (hi - lo) * semitone + 12, f"beat {beat}", size=10, color="#555555")
    bar_x = x0 + (3 - 1.9) * beat_w
    d.arrow((bar_x, top - 6), (bar_x, top + (hi - lo) * semitone), head=False, color="#555555")
    d.text(bar_x - 6, top - 12, "bar 0 (pickup)", size=10, anchor="end", italic=True)
    d.text(bar_x + 6, top - 12, "bar 1", size=10, anchor="start", italic=True)
    for n in NOTES:
        x = x0 + (n.start - 1.9) * beat_w
        d.box(x + 1, ypix(n.pitch) - semitone * 0.9, n.duration * beat_w - 2, semitone * 1.8, fill=VOICE_FILL[n.part],
              rounded=2, color="#666666")
    steps = {2.0: "Position_8", 3.0: "Position_0", 4.0: "Position_4", 4.5: "Position_6"}
    for start, label in steps.items():
        x = x0 + (start - 1.9) * beat_w
        d.text(x + 3, top + (hi - lo) * semitone + 28, label, size=10, anchor="start", bold=True, color="#8a6d00")
    d.text(x0 - 8, ypix(67), "G4 (67)", size=9, anchor="end")
    d.text(x0 - 8, ypix(43), "G2 (43)", size=9, anchor="end")
    # legend and the rules, right of the roll
    lx = 680
    for part in range(4):
        d.box(lx, 36 + part * 22, 16, 12, fill=VOICE_FILL[part], rounded=2, color="#666666")
        d.text(lx + 24, 42 + part * 22, VOICE_NAME[part], size=11, anchor="start")
    d.text(lx, 140, "grid: 4 steps per beat, so a 3/4 bar has\nPosition_0 .. Position_11 and beat 3\nis "
           "Position_8; Duration_4 = 1 beat.", size=10.5, anchor="start")
    d.text(lx, 200, "Velocity 80 falls in bin 5 of 8: every\nchorale note gets Velocity_5.", size=10.5, anchor="start")

    # ------------------------------------------------------------ tokens
    remi = REMITokenizer(CONFIG)
    items = _groups(remi.to_strings(remi.encode(NOTES, BEATS_PER_BAR)))
    parts = {}                                   # notes of one onset are written lowest pitch first
    for n in NOTES:
        parts[(f"Pitch_{n.pitch}", n.start)] = n.part
    rows, row, x = [], [], 0
    for item in items:                           # start a new row at each Bar and Position_4
        if item in ("Bar", "Position_4") and row and len(row) > 2:
            rows.append(row)
            row = []
        row.append(item)
    rows.append(row)
    y, onset = 245, None
    starts = iter(sorted({n.start for n in NOTES}))
    for r in rows:
        x = 30
        for item in r:
            if isinstance(item, tuple):
                part = next(n.part for n in NOTES if f"Pitch_{n.pitch}" == item[0] and n.start == onset)
                d.box(x, y, 78, 50, "\n".join(item), fill=VOICE_FILL[part], size=9.5, rounded=3)
                x += 84
            else:
                if item.startswith("Position_"):
                    onset = next(starts)
                fill = "note" if item.startswith(("Bar", "Position")) else "frozen"
                d.box(x, y + 10, 78, 30, item, fill=fill, size=9.5, rounded=3, bold=item.startswith("Position"))
                x += 84
        y += 64
    d.text(490, y + 8, "Yellow: time tokens (a Bar opens each bar, a Position marks an onset in it); each coloured "
           "stack is one note, Pitch Velocity Duration.", size=10.5)
    d.text(490, y + 26, "REMI writes no voice: the colours are only for reading. Duration_8 is the soprano's held "
           "G (2 beats), Duration_2 an eighth note.", size=10.5)
    tsd = TSDTokenizer(CONFIG)
    shifts = [s for s in tsd.to_strings(tsd.encode(NOTES, BEATS_PER_BAR)) if s.startswith("TimeShift")]
    d.text(490, y + 44, "TSD writes the same notes with no bars, moving a clock forward before each onset: "
           + ", ".join(shifts) + ".", size=10.5, color="#555555")
    return d


FIGURES = {"day13_remi_tokens.svg": remi_tokens}
