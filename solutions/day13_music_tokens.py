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
# Four exercises from the lesson ([../notebooks/day13_music_tokens.ipynb](../notebooks/day13_music_tokens.ipynb)):
#
# 1. quantise a note onto the grid,
# 2. tokenise one bar in REMI,
# 3. decode REMI tokens back into notes,
# 4. an experiment: byte-pair encoding on REMI tokens, and how much shorter it makes them.
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


# %% [markdown]
# ## Exercise 4 — An experiment: byte-pair encoding on REMI tokens
#
# REMI spends about 3.4 tokens per note. **Byte-pair encoding** (BPE), as text
# tokenizers and MidiTok use it, shortens the sequences by learning new symbols: find
# the most frequent pair of adjacent tokens in the corpus, give it a new id, replace
# every occurrence, and repeat. Each merge adds one symbol to the vocabulary and removes
# tokens from the sequences. Which pairs does it merge first on chorales, and how much
# shorter do 40 merges make them?
#
# Write `merge_pair`: scan `seq` left to right; where `seq[i], seq[i + 1]` equal `pair`,
# emit `new_id` and skip both; else emit `seq[i]`. An occurrence that overlaps one just
# merged is not merged: with `pair = (7, 7)`, `[7, 7, 7]` becomes `[new_id, 7]`. The
# check runs the experiment: 40 rounds of (count pairs, merge the most frequent) on 30
# chorales, then expands the merged symbols back and compares with the original tokens.

# %%
from collections import Counter

from course_lib.data.chorales import cache_path, chorale_names, load_chorales, parse_chorale


def first_chorales(count: int) -> list:
    """The first `count` chorales with one meter: from the cached corpus, else parsed one by one."""
    if cache_path().exists():
        return load_chorales(progress=False).pieces[:count]
    pieces = []
    for name in chorale_names():
        try:
            pieces.append(parse_chorale(name))
        except ValueError:                           # a meter change: left out, as in the lesson
            continue
        if len(pieces) == count:
            break
    return pieces


bpe_pieces = first_chorales(30)
remi = lib.REMITokenizer()
bpe_sequences = [remi.encode(c.notes, c.beats_per_bar) for c in bpe_pieces]
bpe_notes = sum(len(c.notes) for c in bpe_pieces)
print(f"{len(bpe_pieces)} chorales, {bpe_notes} notes, {sum(map(len, bpe_sequences))} REMI tokens "
      f"({sum(map(len, bpe_sequences)) / bpe_notes:.2f} per note)")


def merge_pair(seq: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """seq with every non-overlapping occurrence of the adjacent pair, left to right, replaced by new_id."""
    ### BEGIN SOLUTION
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and (seq[i], seq[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out
    ### END SOLUTION


# %% tags=["check"]
# Check: merge_pair replaces pairs left to right without overlaps, and 40 BPE merges shorten REMI by a third or more
cases = [([1, 2, 3, 1, 2], (1, 2), 9, [9, 3, 9]), ([7, 7, 7], (7, 7), 9, [9, 7]), ([7, 7, 7, 7], (7, 7), 9, [9, 9]),
         ([1, 2], (2, 1), 9, [1, 2]), ([], (1, 2), 9, []), ([3, 1, 2], (1, 2), 9, [3, 9])]
for seq, pair, new_id, want in cases:
    got = merge_pair(list(seq), pair, new_id)
    assert isinstance(got, list), f"return a list of ints; got {type(got).__name__}"
    if got != want and want == [9, 7] and got == [9, 9]:
        raise AssertionError("[7, 7, 7] with pair (7, 7) must give [9, 7]: after a merge, skip BOTH tokens of the pair")
    if got != want and new_id in got and len(got) == len(seq):
        raise AssertionError(f"merge_pair({seq}, {pair}, {new_id}) gave {got}: the sequence did not get shorter. "
                             "After emitting new_id, skip BOTH tokens of the pair (i += 2)")
    if got != want and got == list(seq):
        raise AssertionError(f"merge_pair({seq}, {pair}, {new_id}) merged nothing: compare (seq[i], seq[i + 1]) "
                             "with the pair as a tuple")
    assert got == want, f"merge_pair({seq}, {pair}, {new_id}) gave {got}, expected {want}"

work, merges = [list(s) for s in bpe_sequences], {}
names = dict(enumerate(remi.to_strings(list(range(len(remi))))))
per_note = [sum(map(len, work)) / bpe_notes]
for m in range(40):
    pair, count = Counter(p for s in work for p in zip(s, s[1:])).most_common(1)[0]
    new_id = len(remi) + m
    merges[new_id], names[new_id] = pair, names[pair[0]] + "+" + names[pair[1]]
    work = [merge_pair(s, pair, new_id) for s in work]
    per_note.append(sum(map(len, work)) / bpe_notes)
    if m < 4 or m + 1 in (10, 20, 40):
        print(f"merge {m + 1:2d}: {names[new_id]:42s} ({count} pairs) -> {per_note[-1]:.2f} tokens per note")


def expand(token):
    return [token] if token not in merges else expand(merges[token][0]) + expand(merges[token][1])


assert all([t for tok in s for t in expand(tok)] == original for s, original in zip(work, bpe_sequences)), \
    "expanding the merged symbols must give back the original tokens: merge_pair lost or reordered a token"
assert all(b < a for a, b in zip(per_note, per_note[1:])), "every merge of a frequent pair must shorten the corpus"
# Measured on chorales 0-29, 30-59, 60-89 and 90-119: 3.42 -> 1.68-1.71 tokens per note after 40 merges.
assert per_note[-1] < 0.65 * per_note[0], \
    f"40 merges should cut the tokens per note by a third or more; got {per_note[0]:.2f} -> {per_note[-1]:.2f}"
print(f"vocabulary {len(remi)} -> {len(remi) + len(merges)} symbols; tokens per note {per_note[0]:.2f} -> "
      f"{per_note[-1]:.2f}")

# %% [markdown]
# The first merges swallow the `Velocity` token: every chorale note has the same
# velocity, so `Velocity_5` is always followed by a `Duration`, and BPE learns that
# the pair is one symbol. A tokenizer designer would simply drop the velocity for this
# corpus; BPE finds that out from counts alone. Later merges learn whole notes (a pitch
# with its usual duration) and `Bar Position_0`. The price: a larger vocabulary, and
# merged symbols that a model sees less often each. MidiTok trains BPE the same way
# (`tokenizer.train(vocab_size=...)`).
