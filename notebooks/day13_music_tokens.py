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
# # Day 13 — Music tokenization
#
# **What you will build** (in `course_lib.music` and `course_lib.data.chorales`, which
# Day 14 imports): a corpus of Bach chorales read from music21's bundled scores, notes
# written to and read from MIDI files, and two tokenizers that turn a piece into a
# sequence of integers a language model can learn — **REMI** (bars and positions) and
# **TSD** (time shifts) — with a grammar checker, and an *exact* round trip
# `decode(encode(x)) == quantise(x)` checked on every chorale.
#
# **Prerequisites:** Day 00 (setup), Day 02 (attention; for tomorrow). No music theory
# beyond "a note has a pitch, a start and a length".
#
# **Run time:** about 45 s on a 2-core CPU the first time (parsing the ~350 scores
# with music21 takes most of it and is cached under `artifacts/chorales/`), about 15 s after.
#
# Tomorrow (Day 14) a Music Transformer learns from these tokens and writes new chorales.

# %%
import collections
import inspect
import math
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from course_lib.data.chorales import load_chorales, split_pieces, transpose
from course_lib.music.midi import Note, midi_to_notes, notes_to_midi
from course_lib.music.synth import render_notes
from course_lib.music.tokenizer import REMITokenizer, TokenizerConfig, TSDTokenizer, quantise
from course_lib.runtime import artifacts_dir, seed_everything
from course_lib.viz import play_audio

# %% [markdown]
# One config cell. Nothing here trains, so there is no GPU setting: tokenization is
# bookkeeping on the CPU.

# %%
SEED = 0
BEAT_RESOLUTION = 4          # grid steps per beat: 4 = sixteenth notes
VELOCITY_BINS = 8
SAMPLE_RATE = 11025          # for listening; the chorales' highest harmonics stay below Nyquist
TEMPO_BPM = 90
LISTEN_BARS = 3
seed_everything(SEED)

# %% [markdown]
# ## 1. The corpus: 350 Bach chorales, parsed once
#
# music21 ships J. S. Bach's four-part chorales as MusicXML. Reading one means parsing
# XML into music21's rich object model — about a tenth of a second per score — so the
# whole corpus is parsed once (in parallel processes) and cached as JSON; every later
# call loads it in about a second. What the extraction keeps, merges and drops is
# written down in the module's docstring:

# %%
import course_lib.data.chorales as chorales_module

print(chorales_module.__doc__.split("The parsed corpus")[0])

# %%
t0 = time.perf_counter()
corpus = load_chorales()
load_seconds = time.perf_counter() - t0
print(f"{len(corpus)} chorales with notes in {load_seconds:.1f} s "
      f"(parsing took {corpus.parse_seconds:.0f} s when the cache was built)")
print(f"{len(corpus.failures)} did not make it:")
for name, reason in corpus.failures:
    print(f"  {name}: {reason}")
n_notes = sum(len(c.notes) for c in corpus.pieces)
print(f"{n_notes:,} notes; meters:", collections.Counter(c.beats_per_bar for c in corpus.pieces))
assert len(corpus) >= 340

# %% [markdown]
# The four failures change meter in mid-piece (e.g. 3/4 to 4/4); our bar-based tokens
# assume one meter per piece, so they are left out rather than mangled. music21's
# Iterator lists 371 chorales following Riemenschneider's numbering, in which 21
# harmonisations appear twice; each is kept once, so no piece can land in both the
# training and the test split.
#
# A chorale as notes: a **piano roll**, time on x, pitch on y, one colour per voice.

# %%
piece = corpus.pieces[0]
print(piece)
print("first notes:", *piece.notes[:5], sep="\n  ")


def piano_roll(notes, ax, title, beats_per_bar=4):
    colors = ["tab:red", "tab:orange", "tab:green", "tab:blue"]
    for n in notes:
        ax.add_patch(plt.Rectangle((n.start, n.pitch - 0.4), n.duration, 0.8, color=colors[n.part % 4], alpha=0.8))
    end = max(n.end for n in notes)
    for bar in np.arange(0, end + 1e-9, beats_per_bar):
        ax.axvline(bar, color="gray", lw=0.5)
    ax.set(xlim=(0, end), ylim=(min(n.pitch for n in notes) - 2, max(n.pitch for n in notes) + 2),
           xlabel="beats (grey lines: bar lines)", ylabel="MIDI pitch", title=title)


fig, ax = plt.subplots(figsize=(10, 3))
piano_roll(piece.notes, ax, f"{piece.title}: soprano red, alto orange, tenor green, bass blue", piece.beats_per_bar)
plt.show()

# %% [markdown]
# This chorale is in 3/4 and starts with a one-beat **pickup**: the extraction shifted
# the piece so that bar lines fall on multiples of the bar length, so the pickup sits
# on beat 3 of bar 0. Without that shift every "Position" token below would be off by one
# beat for the whole piece.

# %% [markdown]
# ## 2. Notes ↔ MIDI
#
# MIDI is the lingua franca of symbolic music: note-on and note-off events, each after a
# delay in integer *ticks* (here 480 per beat), one track and channel per instrument.
# `notes_to_midi` writes one track per voice; `midi_to_notes` reads it back. Times on
# the tick grid survive exactly:

# %%
midi_path = artifacts_dir("day13") / "chorale0.mid"
data = notes_to_midi(piece.notes, midi_path, tempo_bpm=TEMPO_BPM)
back = midi_to_notes(midi_path)
print(f"{midi_path.name}: {len(data):,} bytes, {len(back)} notes back, identical: {back == piece.notes}")
assert back == piece.notes

# %% [markdown]
# ## 3. Events and quantisation
#
# A language model needs a finite vocabulary, so continuous times and loudnesses are put
# on a grid. With $r$ steps per beat:
#
# $$\text{start} \to \frac{\operatorname{round}(r \cdot \text{start})}{r}, \qquad
# \text{duration} \to \frac{\operatorname{clip}(\operatorname{round}(r \cdot \text{duration}),\, 1,\, r \cdot d_\max)}{r},$$
#
# velocity → the centre of one of `VELOCITY_BINS` equal bins, and the voice is dropped
# unless the tokenizer is asked to keep it. This is the *only* information the tokens
# lose. Here it is as code, then checked against `course_lib`'s `quantise`, which the
# tokenizers call, on every note of the corpus:

# %%
def quantise_notes(notes, config):
    """Starts and durations on the grid, each velocity at its bin's centre, voices dropped
    unless config.parts; sorted (by start, then pitch)."""
    r, bins = config.beat_resolution, config.velocity_bins
    out = []
    for n in notes:
        start = math.floor(n.start * r + 0.5)                              # round half up, in grid steps
        steps = min(max(math.floor(n.duration * r + 0.5), 1), config.max_duration_beats * r)
        index = min(n.velocity * bins // 128, bins - 1)                    # equal bins over 0..127
        velocity = max(1, (2 * index + 1) * 128 // (2 * bins))             # the bin's centre
        out.append(Note(start / r, n.pitch, steps / r, velocity, n.part if config.parts else 0))
    return sorted(out)


config = TokenizerConfig(beat_resolution=BEAT_RESOLUTION, velocity_bins=VELOCITY_BINS)
for cfg in (config, TokenizerConfig(beat_resolution=1, parts=True)):
    same = sum(quantise_notes(c.notes, cfg) == quantise(c.notes, cfg) for c in corpus.pieces)
    print(f"{cfg.beat_resolution} step(s) per beat, parts={cfg.parts}: ours == course_lib's quantise "
          f"for {same} / {len(corpus)} chorales")
    assert same == len(corpus)

# %%
changed = collections.Counter()
for c in corpus.pieces:
    for n in c.notes:
        (q,) = quantise([n], config)
        changed["start"] += n.start != q.start
        changed["duration"] += n.duration != q.duration
print(f"of {n_notes:,} notes, quantisation at {BEAT_RESOLUTION} steps/beat moved "
      f"{changed['start']} starts and {changed['duration']} durations; "
      f"velocity {corpus.pieces[0].notes[0].velocity} -> bin centre {quantise(corpus.pieces[0].notes[:1], config)[0].velocity}")
durations = collections.Counter(n.duration for c in corpus.pieces for n in c.notes)
print("durations (beats: count):", dict(sorted(durations.items())))

# %% [markdown]
# At sixteenth-note resolution the chorales are almost untouched: the few notes that
# move are 32nd-note ornaments and tied notes longer than the 8-beat maximum. (The
# chorales have no dynamics, so every velocity is the same and every Velocity token will
# be identical — real MIDI performances are where velocity bins matter.) Hear what a
# *coarse* grid does: one step per beat pushes every eighth note onto a beat.

# %%
def first_bars(notes, bars, beats_per_bar):
    return [n for n in notes if n.start < bars * beats_per_bar]


clip = first_bars(piece.notes, LISTEN_BARS, piece.beats_per_bar)
coarse = quantise(clip, TokenizerConfig(beat_resolution=1, parts=True))
fig, axes = plt.subplots(1, 2, figsize=(10, 2.5), sharey=True)
piano_roll(clip, axes[0], "original", piece.beats_per_bar)
piano_roll(coarse, axes[1], "quantised to 1 step per beat", piece.beats_per_bar)
plt.tight_layout()
plt.show()
display(play_audio(render_notes(coarse, sample_rate=SAMPLE_RATE, tempo_bpm=TEMPO_BPM), SAMPLE_RATE))

# %% [markdown]
# ## 4. REMI: bars and positions
#
# REMI (*REvamped MIDI-derived events*, Huang & Yang 2020) writes music the way a score
# does: a `Bar` token opens each bar, a `Position_p` token marks an onset at grid step
# $p$ of the bar, and each note at that onset is `Pitch Velocity Duration`. The meter is
# a `TimeSig_b` token after `BOS`. Every bar is written, empty ones too, because they
# carry time.
#
# ![The first notes of chorale bwv269 as a piano roll with its bar line and onset positions, and below them the REMI tokens: BOS, TimeSig_3, Bar, Position_8 and four Pitch-Velocity-Duration notes, then the next bar](figures/day13_remi_tokens.svg)
#
# The figure is the opening of the chorale we just plotted. The piano roll on top has a
# one-beat pickup before the first bar line; below it, the REMI tokens of the same notes,
# read left to right and row by row. Each onset gets one yellow `Position` token, then
# its notes lowest first, each as a `Pitch Velocity Duration` triple; a new bar starts
# with `Bar`, so `Position_0` after it is beat 1 of bar 1. The soprano's G held for two
# beats is `Duration_8` (8 sixteenth-note steps). The voice colours help you match the
# two pictures, but plain REMI does not store them. The code prints the first bar:

# %%
remi = REMITokenizer(config)
tokens = remi.encode(piece.notes, piece.beats_per_bar)
strings = remi.to_strings(tokens)
second_bar = [i for i, s in enumerate(strings) if s == "Bar"][1]
print(" ".join(strings[:second_bar]))

# %% [markdown]
# Bar 0 holds only the pickup: one onset at `Position_8` (beat 3 of 3/4, 4 steps per
# beat → steps 0..11, beat 3 starts at step 8), four notes of `Duration_4` (one beat).
# The notes of one onset are written lowest pitch first. The encoder is short:

# %%
print(inspect.getsource(REMITokenizer.encode))

# %% [markdown]
# Not every token sequence is music. The **grammar**
# `BOS TimeSig (Bar (Position Note+)*)* EOS` with positions inside the bar and increasing
# is checked by `check_grammar`, which names the first offending token — tomorrow it
# tells us how often the model's samples are well formed:

# %%
broken = {"Position past the end of a 3/4 bar": tokens[:3] + [remi.token_to_id["Position_12"]] + tokens[4:],
          "Pitch and Velocity swapped": tokens[:4] + [tokens[5], tokens[4]] + tokens[6:],
          "cut off in the middle of a note": tokens[:6]}
print("original:", remi.check_grammar(tokens))
for name, seq in broken.items():
    print(f"{name}: {remi.check_grammar(seq)}")
print("cut off, but as an unfinished sample (complete=False):", remi.check_grammar(tokens[:6], complete=False))

# %% [markdown]
# ## 5. An alternative: TSD (time shift, duration)
#
# TSD has no bars: a `TimeShift_k` token advances the clock by $k$ grid steps between
# onsets, and notes are the same `Pitch Velocity Duration` triples. It is closer to how
# MIDI itself stores time (delays between events). The same opening:

# %%
tsd = TSDTokenizer(config)
tsd_strings = tsd.to_strings(tsd.encode(piece.notes, piece.beats_per_bar))
print(" ".join(tsd_strings[:2 + 4 * 3 + 1 + 3 * 3]), "...")

# %% [markdown]
# The difference is what the model must infer. In REMI the metrical position of every
# onset is spelled out (the model can learn "cadences land on beat 1"); in TSD it must
# add up time shifts to know where in the bar it is. A third variant keeps the voices:
# REMI with a `Part_i` token before each note (as MidiTok's `use_programs` does for
# instruments) — longer sequences, but the round trip keeps who sings what.

# %% [markdown]
# ## 6. Vocabulary and sequence lengths

# %%
remi_parts = REMITokenizer(TokenizerConfig(beat_resolution=BEAT_RESOLUTION, velocity_bins=VELOCITY_BINS, parts=True))
tokenizers = {"REMI": remi, "TSD": tsd, "REMI + Part": remi_parts}
stats = {}
for name, tok in tokenizers.items():
    seqs = [tok.encode(c.notes, c.beats_per_bar) for c in corpus.pieces]
    lengths = np.array([len(s) for s in seqs])
    kinds = collections.Counter(tok.kind(t) for s in seqs for t in s)
    stats[name] = dict(lengths=lengths, per_note=lengths.sum() / n_notes, kinds=kinds)
    print(f"{name:12s} vocab {len(tok):4d}  tokens/note {stats[name]['per_note']:.2f}  "
          f"length median {np.median(lengths):.0f}, max {lengths.max()}")
    print(" " * 13, ", ".join(f"{k} {v / lengths.sum():.0%}" for k, v in kinds.most_common()))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for name in tokenizers:
    axes[0].hist(stats[name]["lengths"], bins=30, alpha=0.5, label=name)
axes[0].set(xlabel="tokens per chorale", ylabel="chorales", title="sequence lengths")
axes[0].legend()
vocab_kinds = collections.Counter(remi.kind(t) for t in range(len(remi)))
axes[1].barh(list(vocab_kinds), list(vocab_kinds.values()))
axes[1].set(xlabel="tokens in the vocabulary", title=f"REMI vocabulary ({len(remi)} tokens)")
plt.tight_layout()
plt.show()
assert 3.2 < stats["REMI"]["per_note"] < 3.7 and 4.2 < stats["REMI + Part"]["per_note"] < 4.7

# %% [markdown]
# REMI costs about 3.4 tokens per note: three per note plus a `Position` per onset
# (four voices usually move together, so one position serves about four notes) and a
# `Bar` per bar. With a `Part` token per note it is about 4.4 — close to the ~4.5 that
# MidiTok's REMI with program tokens gives on these chorales. TSD is a little shorter
# than plain REMI: one `TimeShift` per onset and no `Bar`. Most of the vocabulary is
# pitches; a chorale is ~700 tokens long, and tomorrow's 128-token context
# covers one to two bars.

# %% [markdown]
# ## 7. The round trip, on every chorale
#
# A tokenizer that loses or invents a note silently poisons everything trained on it.
# The test is exact equality with the quantised notes — no tolerance, no sample:

# %%
t0 = time.perf_counter()
results = {}
for name, tok in tokenizers.items():
    exact = sum(tok.decode(tok.encode(c.notes, c.beats_per_bar)) == tok.quantise(c.notes) for c in corpus.pieces)
    results[name] = exact
    print(f"{name:12s} decode(encode(x)) == quantise(x) for {exact} / {len(corpus)} chorales")
print(f"({time.perf_counter() - t0:.1f} s)")
assert all(v == len(corpus) for v in results.values())

# %% [markdown]
# And the decoded notes are music again: REMI + Part → notes → MIDI file → notes,
# still identical. Listen to the original and the round trip (the first three bars; the
# four voices have different timbres, soprano brightest):

# %%
round_trip = remi_parts.decode(remi_parts.encode(piece.notes, piece.beats_per_bar))
assert midi_to_notes(notes_to_midi(round_trip)) == round_trip
print("original:")
display(play_audio(render_notes(clip, sample_rate=SAMPLE_RATE, tempo_bpm=TEMPO_BPM), SAMPLE_RATE))
print("REMI + Part round trip:")
display(play_audio(render_notes(first_bars(round_trip, LISTEN_BARS, piece.beats_per_bar), sample_rate=SAMPLE_RATE,
                                tempo_bpm=TEMPO_BPM), SAMPLE_RATE))

# %% [markdown]
# They sound the same because they are the same up to velocity (80 became the centre of
# its bin, 88, for every note — the mix is normalised, so you cannot hear it).

# %% [markdown]
# ## 8. Splits and augmentation
#
# The model will be judged on chorales it never saw, so the split is **by piece**
# (fixed seed): windows of one chorale in both train and test would measure memory, not
# music. Training tokens are **transposed** by a random number of semitones — the same
# chorale in another key is just as Bach-like — which on tokens is a shift of the
# `Pitch` ids:

# %%
train, valid, test = split_pieces(corpus.pieces)
print(f"train {len(train)}, valid {len(valid)}, test {len(test)} chorales")
up3 = remi.transpose_tokens(tokens, 3)
assert up3 == remi.encode(transpose(piece.notes, 3), piece.beats_per_bar)
print("first notes, transposed up 3 semitones:", " ".join(remi.to_strings(up3)[4:10]))

# %% [markdown]
# ## In production
#
# - **MidiTok** ([Fradet et al., 2021](https://github.com/Natooz/MidiTok);
#   [documentation](https://miditok.readthedocs.io/)) implements REMI, TSD, MIDI-Like,
#   Compound Word, Octuple and more, with byte-pair encoding on top; **REMI+** adds
#   instruments (`Program`) and time signatures, as our `Part` and `TimeSig` tokens do.
#   REMI itself is from the Pop Music Transformer paper
#   ([Huang & Yang, 2020](https://arxiv.org/abs/2002.00212)).
# - **Compound Word** ([Hsiao et al., 2021](https://arxiv.org/abs/2101.02402)) and
#   **Octuple** (MusicBERT, [Zeng et al., 2021](https://arxiv.org/abs/2106.05630)) group a
#   note's attributes into one step with several embeddings, cutting sequence length
#   3–4× at the price of a more complex output head.
# - **BPE on music tokens** merges frequent token pairs (e.g. a pitch with its usual
#   duration) into new symbols, as text tokenizers do.
# - **The data**: [music21](https://web.mit.edu/music21/) parses scores (our chorales
#   come from its bundled corpus); [symusic](https://github.com/Yikai-Liao/symusic) and
#   [pretty_midi](https://github.com/craffel/pretty-midi) read and write MIDI files fast.
# - **Audio-token models** (MusicGen, MusicLM, Stable Audio) skip symbolic music and
#   model neural-codec tokens of the waveform (Day 15): they capture timbre and
#   performance but need vastly more data and compute.
# - **Failure modes:** a pickup bar shifting every position by a beat; triplets on a
#   sixteenth grid (need 12 or 24 steps per beat); velocity bins too coarse for a
#   performance; tied notes counted twice; meter changes; splitting windows instead of
#   pieces between train and test.
#
# Our REMI with MidiTok (not run here; MidiTok 3 reads MIDI through symusic):
#
# ```python
# from miditok import REMI, TokenizerConfig
# from symusic import Score
#
# config = TokenizerConfig(beat_res={(0, 8): 4},        # 4 steps per beat, up to 8 beats
#                          num_velocities=8, use_time_signatures=True,
#                          use_programs=False)          # True: a Program token per note, like our Part
# tokenizer = REMI(config)
# score = Score("chorale0.mid")                         # e.g. the file section 2 wrote
# tokens = tokenizer(score)                             # TokSequence(s): .ids, .tokens
# back = tokenizer(tokens)                              # -> symusic Score, quantised
# back.dump_midi("round_trip.mid")
# tokenizer.train(vocab_size=1000, files_paths=midi_paths)   # byte-pair encoding on top
# ```

# %% [markdown]
# ## Summary
#
# - A corpus of 346 Bach chorales (78,943 notes) is parsed once and cached; four
#   pieces that change meter are reported and left out.
# - Quantisation (grid starts and durations, binned velocities) is the only loss;
#   `decode(encode(x)) == quantise(x)` holds for every chorale with REMI, TSD and
#   REMI + Part.
# - REMI spends about 3.4 tokens per note (4.4 with voices), TSD slightly fewer; REMI
#   spells out the metrical position, TSD leaves it implicit.
# - A grammar checker names the first bad token — the yardstick for generated music.
#
# **Exercises:** [../exercises/day13_music_tokens.ipynb](../exercises/day13_music_tokens.ipynb)
# — quantise a note, tokenise a bar, decode REMI tokens, and an experiment: byte-pair
# encoding on REMI tokens.
