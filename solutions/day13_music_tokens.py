# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Day 13 exercises — Music tokenization
#
# Three exercises from the lesson ([../notebooks/day13_music_tokens.ipynb](../notebooks/day13_music_tokens.ipynb)):
#
# 1. quantise a note onto the grid,
# 2. tokenise one bar in REMI,
# 3. decode REMI tokens back into notes.
#
# Write the body of each function where it says `# YOUR CODE HERE`, then run the check
# cell below it. Each check compares your function with `course_lib.music.tokenizer` on
# real chorales and tricky hand-made notes, and tells you what looks wrong. Grade the
# whole notebook with `course check day13` (add `--json` for a machine-readable report).
#
# **Run time:** a few seconds on a CPU.

# %%
import math

from course_lib.data.chorales import chorale_notes
from course_lib.music import tokenizer as lib   # the reference the checks compare against
from course_lib.music.midi import Note
from course_lib.music.tokenizer import bin_velocity, velocity_bin

# chorale 0 is in 3/4 and starts with a one-beat pickup (its first onset is at beat 3 of bar 0)
title, chorale = chorale_notes(0)
BEATS_PER_BAR = 3
print(title, len(chorale), "notes")

# %% [markdown]
# ## Exercise 1 — Quantise a note
#
# With `r = beat_resolution` grid steps per beat:
#
# - start → `round(start · r) / r`, where a half step rounds **up** (`math.floor(x + 0.5)`;
#   Python's `round` rounds halves to even: `round(0.5) == 0`);
# - duration → `clip(round(duration · r), 1, max_duration_beats · r) / r`: at least one step;
# - velocity → the centre of its bin: `bin_velocity(velocity_bin(velocity, bins), bins)`
#   (both helpers are imported above);
# - part → 0 (plain REMI does not keep voices).

# %%
def quantise_note(note: Note, beat_resolution: int = 4, velocity_bins: int = 8, max_duration_beats: int = 8) -> Note:
    """The note on the grid: start and duration in whole grid steps, velocity at its bin centre, part 0."""
    ### BEGIN SOLUTION
    r = beat_resolution
    start = math.floor(note.start * r + 0.5)
    steps = min(max(math.floor(note.duration * r + 0.5), 1), max_duration_beats * r)
    velocity = bin_velocity(velocity_bin(note.velocity, velocity_bins), velocity_bins)
    return Note(start / r, note.pitch, steps / r, velocity, 0)
    ### END SOLUTION


# %% tags=["check"]
# Check: quantise_note matches the tokenizer's quantisation
cases = [Note(0.2, 60, 1.0), Note(0.125, 62, 0.375), Note(1.0, 64, 0.01), Note(2.0, 65, 20.0),
         Note(0.99, 67, 1.12, velocity=127), Note(3.0, 69, 0.5, velocity=1, part=3), *chorale[:40]]
for r, bins, dmax in [(4, 8, 8), (3, 4, 2), (12, 32, 4)]:
    cfg = lib.TokenizerConfig(beat_resolution=r, velocity_bins=bins, max_duration_beats=dmax)
    for n in cases:
        got = quantise_note(n, r, bins, dmax)
        (want,) = lib.quantise([n], cfg)
        assert isinstance(got, Note), f"return a Note; got {type(got).__name__}"
        where = f"{n} at {r} steps/beat"
        if got.start != want.start:
            floor = math.floor(n.start * r) / r
            hint = (" A half step rounds up: use math.floor(x + 0.5), not round()." if n.start * r % 1 == 0.5 else
                    " You rounded down (floor); round to the nearest step." if got.start == floor else "")
            raise AssertionError(f"{where}: start {got.start}, expected {want.start}.{hint}")
        if got.duration != want.duration:
            hint = (" A note must keep at least one grid step." if want.duration == 1 / r else
                    f" Durations are capped at max_duration_beats = {dmax}." if want.duration == dmax else "")
            raise AssertionError(f"{where}: duration {got.duration}, expected {want.duration}.{hint}")
        assert got.velocity == want.velocity, \
            f"{where}: velocity {got.velocity}, expected the bin centre {want.velocity} (bin_velocity(velocity_bin(v)))"
        assert got.part == 0, "plain REMI drops the voice: part must be 0"
        assert got == want
print("ok: every case matches lib.quantise")

# %% [markdown]
# ## Exercise 2 — Tokenise a bar
#
# Write the REMI tokens of bar number `bar` (counting from 0) of a piece whose notes are
# already quantised, as strings:
#
#     Bar  Position_p  Pitch_x Velocity_v Duration_d  Pitch_x ...  Position_p ...
#
# - the bar opens with `Bar`, even when it holds no notes;
# - steps per bar = `beats_per_bar · beat_resolution`; a note starting at grid step
#   `s = round(start · r)` lies in bar `s // steps_per_bar`, at position
#   `s % steps_per_bar` (position 0 is the bar line);
# - one `Position_p` per onset, then the onset's notes from the lowest pitch up (the
#   quantised notes come sorted that way), each as `Pitch_{pitch}`,
#   `Velocity_{velocity_bin(velocity, 8)}`, `Duration_{steps}` with steps = duration · r.

# %%
def tokenize_bar(notes: list[Note], bar: int, beats_per_bar: int, beat_resolution: int = 4) -> list[str]:
    """REMI tokens (strings) of bar `bar` (0-based) of quantised, sorted notes."""
    ### BEGIN SOLUTION
    r = beat_resolution
    steps_per_bar = beats_per_bar * r
    out, position = ["Bar"], None
    for n in notes:
        step = round(n.start * r)
        if step // steps_per_bar != bar:
            continue
        if step % steps_per_bar != position:
            position = step % steps_per_bar
            out.append(f"Position_{position}")
        out += [f"Pitch_{n.pitch}", f"Velocity_{velocity_bin(n.velocity, 8)}", f"Duration_{round(n.duration * r)}"]
    return out
    ### END SOLUTION


# %% tags=["check"]
# Check: tokenize_bar gives the library's REMI tokens for every bar of a chorale (3/4 with a pickup)
def library_bars(notes, beats_per_bar, r=4):
    tok = lib.REMITokenizer(lib.TokenizerConfig(beat_resolution=r))
    strings = tok.to_strings(tok.encode(notes, beats_per_bar))[2:-1]          # drop BOS TimeSig ... EOS
    starts = [i for i, s in enumerate(strings) if s == "Bar"] + [len(strings)]
    return [strings[a:b] for a, b in zip(starts, starts[1:])]


def positions(tokens):
    return [int(t.split("_")[1]) for t in tokens if t.startswith("Position_")]


q = lib.quantise(chorale)
bars = library_bars(q, BEATS_PER_BAR)[:12]
got_bars = [tokenize_bar(q, b, BEATS_PER_BAR) for b in range(len(bars))]
for b, (got, want) in enumerate(zip(got_bars, bars)):
    assert isinstance(got, list) and got[:1] == ["Bar"], f"bar {b}: the tokens must start with 'Bar'; got {got[:3]}"
    if got == want:
        continue
    if got_bars[1:] == bars[:-1] or got_bars[:-1] == bars[1:]:
        raise AssertionError("you returned the tokens of a neighbouring bar: bars count from 0 (the pickup is "
                             "bar 0): a note at grid step s lies in bar s // steps_per_bar")
    if got == library_bars(q, 4)[b]:
        raise AssertionError(f"bar {b}: you assumed 4/4. This chorale is in 3/4: steps_per_bar = beats_per_bar * "
                             f"beat_resolution = {BEATS_PER_BAR * 4}")
    mine, theirs = sorted(set(positions(got))), sorted(set(positions(want)))
    if len(mine) == len(theirs) and len({m - t for m, t in zip(mine, theirs)}) == 1 and mine != theirs:
        raise AssertionError(f"bar {b}: every Position is off by {mine[0] - theirs[0]:+d}. Position 0 is the bar "
                             "line: position = step % steps_per_bar, counting grid steps from 0")
    if positions(got) != positions(want) and mine == theirs:
        raise AssertionError(f"bar {b}: write Position_p once per onset, not once per note; got {got[:9]}")
    raise AssertionError(f"bar {b}: got {got[:8]}..., expected {want[:8]}...")
two_bars = [Note(1.0, 60, 1.0), Note(9.5, 62, 0.5), Note(9.5, 55, 2.0)]        # 4/4: bar 1 empty, bar 2 has one onset
assert tokenize_bar(lib.quantise(two_bars), 1, 4) == ["Bar"], "an empty bar is just 'Bar'"
assert tokenize_bar(lib.quantise(two_bars), 2, 4) == library_bars(two_bars, 4)[2], \
    f"4/4, onset at beat 9.5 = bar 2, step 6: expected {library_bars(two_bars, 4)[2]}"
print("ok: bars 0-11 of the chorale match, e.g. bar 0 =", tokenize_bar(q, 0, BEATS_PER_BAR))

# %% [markdown]
# ## Exercise 3 — Decode REMI tokens
#
# Read a whole REMI sequence (strings, as `tokenizer.to_strings` gives them) back into
# notes. Keep a bar counter and a position:
#
# - `TimeSig_b` gives the bar length, b beats;
# - `Bar` moves to the next bar — the **first** `Bar` opens bar 0;
# - `Position_p` sets the position in the current bar;
# - `Pitch_x Velocity_v Duration_d` is a note at step `bar · steps_per_bar + p`, with
#   velocity `bin_velocity(v, 8)` and duration d steps;
# - `BOS` and `EOS` carry no notes.
#
# Return the notes sorted (`sorted(notes)`); times in beats.

# %%
def decode_remi(tokens: list[str], beat_resolution: int = 4) -> list[Note]:
    """REMI token strings -> sorted notes."""
    ### BEGIN SOLUTION
    r = beat_resolution
    notes, bar, position, steps_per_bar = [], -1, 0, 4 * r
    pitch = velocity = None
    for token in tokens:
        kind, _, value = token.partition("_")
        if kind == "TimeSig":
            steps_per_bar = int(value) * r
        elif kind == "Bar":
            bar, position = bar + 1, 0
        elif kind == "Position":
            position = int(value)
        elif kind == "Pitch":
            pitch = int(value)
        elif kind == "Velocity":
            velocity = bin_velocity(int(value), 8)
        elif kind == "Duration":
            step = bar * steps_per_bar + position
            notes.append(Note(step / r, pitch, int(value) / r, velocity))
    return sorted(notes)
    ### END SOLUTION


# %% tags=["check"]
# Check: decode_remi inverts the library's encoder (3/4 chorale with a pickup, and a 4/4 piece with empty bars)
tok = lib.REMITokenizer()
empty_bars = [Note(1.0, 60, 1.0), Note(9.5, 62, 0.5), Note(9.5, 55, 2.0), Note(17.0, 57, 1.0)]
for name, notes, beats in [("chorale 0 (3/4, pickup)", chorale, 3), ("4/4 with empty bars", empty_bars, 4),
                           ("6 beats per bar", [Note(0, 50, 1.0), Note(7.25, 52, 3.0)], 6)]:
    strings = tok.to_strings(tok.encode(notes, beats))
    got = decode_remi(strings)
    want = lib.quantise(notes)
    assert isinstance(got, list) and all(isinstance(n, Note) for n in got), "return a list of Note"
    assert len(got) == len(want), f"{name}: {len(got)} notes decoded, expected {len(want)} (one per Duration token)"
    got = sorted(got)
    if got != want:
        shift = {g.start - w.start for g, w in zip(got, want)}
        if len(shift) == 1 and shift != {0}:
            raise AssertionError(f"{name}: every start is off by {shift.pop():+g} beats. The first Bar opens bar 0 "
                                 "and positions count from 0")
        if beats != 4 and decode_remi(tok.to_strings(tok.encode(notes, 4))) == lib.quantise(notes):
            raise AssertionError(f"{name}: starts are wrong when the meter is not 4/4: read the bar length "
                                 "from TimeSig_b (b beats per bar)")
        if {g.duration * 4 for g in got} == {w.duration for w in want} or \
                sorted(g.duration for g in got) == sorted(w.duration * 4 for w in want):
            raise AssertionError(f"{name}: durations are in grid steps: divide Duration_d by beat_resolution")
        bad = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        raise AssertionError(f"{name}: note {bad} is {got[bad]}, expected {want[bad]}")
print(f"ok: {len(chorale)} chorale notes and two small pieces decode exactly")
