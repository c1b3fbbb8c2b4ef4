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
# # Day 19 exercises: real time, streaming
#
# Four pieces of the lesson
# ([../notebooks/day19_streaming.ipynb](../notebooks/day19_streaming.ipynb)) and one
# experiment, written by you:
#
# 1. LocalAgreement-2's commit rule, `to_commit`, and a stream of hypotheses through it;
# 2. an audio **ring buffer**, `RingBuffer`, and overlapping analysis windows read from it
#    as chunks arrive, `stream_windows`;
# 3. chunked vocoding with context (overlap-save), `context_frames` and `vocode_in_chunks`;
# 4. the clock of a live system: `finish_times`, `real_time_factor` and `word_latencies`;
# 5. an experiment: chunk size against latency and word error rate, with day 12's trained
#    recogniser made live.
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. Each check compares your code with `course_lib.streaming` or
# an independent reference (all the audio written so far, sliced; the whole utterance
# vocoded at once; hand-made clocks) on fixed inputs, and when it fails it names the
# usual mistake it recognises (a word committed from one hypothesis, a sample dropped
# at the seam of the ring, a crop shifted by the context, model loading counted in the
# real-time factor, a queue ignored, latency from a word's start, ...).
# `course check day19` runs all checks.
#
# **Run time** (measured with `course check` on one thread of a busy CPU, the kernel's
# start included): about 10 s unsolved and 12 s solved, 3 s of it the experiment
# (exercise 5). The experiment loads day 12's trained recogniser from `artifacts/` (2 s;
# if day 12 has never run, it trains it first, which takes minutes).

# %%
import math
import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from course_lib.data.multilingual import digit_sentences
from course_lib.data.speech import SAMPLE_RATE, log_mel, speak_stream, speak_timed, split_of
from course_lib.metrics import word_error_rate
from course_lib.runtime import seed_everything
from course_lib.speech.asr_train import PRESETS, train_asr
from course_lib.speech.ctc_align import calibrate_spike_lag
from course_lib.speech.vocoder import NeuralVocoder, VocoderConfig
from course_lib.streaming import latency, tts
from course_lib.streaming.asr import StreamingRecognizer, Word, common_prefix, run_stream

seed_everything(0)
torch.set_num_threads(1)           # one stream, small tensors: one thread is fastest


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference (inf when shapes differ or a value is NaN)."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        return float("inf")
    d = (a.double() - b.double()).abs().max().item() if a.numel() else 0.0
    return float("inf") if math.isnan(d) else d


# %% [markdown]
# ## Exercise 1: LocalAgreement-2's commit rule
#
# A live recogniser re-decodes its buffer after every chunk and gets a new **hypothesis**,
# a list of words. The words at its end are unreliable (a word cut in half by the chunk
# boundary is often misheard), and a word shown to the user cannot be taken back. The
# policy of Whisper-Streaming ([Macháček, Dabre & Bojar 2023](https://arxiv.org/abs/2307.14743)),
# **LocalAgreement-2**, commits a word once two consecutive hypotheses agree on it *and on
# everything before it*: their longest common prefix,
#
# $$p = \max\{\,k : \text{previous}_{0..k-1} = \text{current}_{0..k-1}\,\},\qquad
#   \text{commit now} = \text{current}_{\,n\,..\,p-1}\quad(\text{nothing when } p \le n),$$
#
# where $n$ is how many words of the hypothesis are committed already. Agreement is a
# **prefix**: once the two disagree at some word, later words that happen to match are not
# agreed ("one two three" then "one too three": only "one"). Committed words are never
# committed twice, and never withdrawn, even when a later hypothesis disagrees with them
# (then $p < n$ and nothing is committed).
#
# Write `to_commit(previous, current, n_committed)`: the list of words to commit now.

# %%
def to_commit(previous: list[str], current: list[str], n_committed: int) -> list[str]:
    """Words of `current` to commit: those at positions n_committed .. p - 1, p the length of the longest
    common prefix of `previous` and `current` (none when p <= n_committed). Leaves both lists unchanged."""
    ### BEGIN SOLUTION
    p = 0
    while p < min(len(previous), len(current)) and previous[p] == current[p]:
        p += 1
    return current[n_committed:p]             # empty when p <= n_committed
    ### END SOLUTION


# %% tags=["check"]
# Check: to_commit commits the common prefix of two hypotheses beyond the committed words, like LocalAgreement-2
def reference_commit(previous, current, n):
    return current[n:max(n, common_prefix(previous, current))]


CASES = [("five three zero tw", "five three zero two nine", 1),
         ("one two three four", "one too three four", 0),      # agreement after a disagreement does not count
         ("one two", "one two", 2),                            # all agreed words are out already
         ("", "one", 0),                                       # the first hypothesis: nothing to agree with
         ("one two three", "one tree three four", 3),          # disagrees with committed words: nothing
         ("a b c d e", "a b c d x", 2),
         ("two two nine", "two two two nine", 0),
         ("nine eight", "nine eight seven six", 0),            # the previous one is shorter
         ("four", "four", 0)]
CASES = [(p.split(), c.split(), n) for p, c, n in CASES]
first = to_commit(*CASES[0])
assert not isinstance(first, int), "return the words to commit (a list of strings), not how many there are"
assert isinstance(first, list) and all(isinstance(w, str) for w in first), \
    f"return a list of words (strings); got {first!r}"
copies = [(list(p), list(c)) for p, c, _ in CASES]
mine = [to_commit(p, c, n) for p, c, n in CASES]
assert [(p, c) for p, c, _ in CASES] == copies, "to_commit changed its arguments: leave both hypotheses unchanged"
want = [reference_commit(p, c, n) for p, c, n in CASES]
wrong = {
    "you committed from a single hypothesis (current[n:]): a word is committed only once the previous hypothesis "
    "agrees on it and on every word before it (their common prefix)": [c[n:] for p, c, n in CASES],
    "you committed the words all over again: the first n_committed words are out already; commit current[n:p]":
        [c[:common_prefix(p, c)] for p, c, n in CASES],
    "you compared the hypotheses word by word and kept every match: agreement is a PREFIX, it stops at the first "
    "word where they differ ('one two three' / 'one too three' agree on 'one' only)":
        [[w for a, w in zip(p, c) if a == w][n:] for p, c, n in CASES],
    "you compared the hypotheses as sets (words of current that occur anywhere in previous): agreement is the "
    "longest common PREFIX, position by position, up to the first difference": [[w for w in c[n:] if w in p]
                                                                                  for p, c, n in CASES],
    "you stopped at the shorter hypothesis instead of the first word where they differ":
        [c[n:min(len(p), len(c))] for p, c, n in CASES],
    "off by one at the end: you committed the first word where the hypotheses DIFFER too; stop before it":
        [c[n:common_prefix(p, c) + 1] if common_prefix(p, c) >= n else [] for p, c, n in CASES],
    "off by one at the end: you left out the last agreed word; commit current[n:p], p words agreed":
        [c[n:common_prefix(p, c) - 1] for p, c, n in CASES],
    "off by one at the start: you skipped the first uncommitted word; it is current[n] (0-based)":
        [c[n + 1:common_prefix(p, c)] for p, c, n in CASES],
    "off by one at the start: you committed the last committed word again; start at current[n]":
        [c[max(0, n - 1):common_prefix(p, c)] for p, c, n in CASES]}
if mine != want:
    for mistake, theirs in wrong.items():
        if mine == theirs:
            raise AssertionError(mistake)
    for (p, c, n), got, expected in zip(CASES, mine, want):
        assert got == expected, (f"previous {p}, current {c}, {n} committed: commit {expected}; got {got} (the "
                                 f"hypotheses agree on their first {common_prefix(p, c)} words)")
rng = random.Random(19)
for _ in range(500):
    p = [rng.choice("one two three".split()) for _ in range(rng.randint(0, 6))]
    c = [rng.choice("one two three".split()) for _ in range(rng.randint(0, 6))]
    n = rng.randint(0, len(c) + 1)
    assert to_commit(p, c, n) == reference_commit(p, c, n), \
        f"previous {p}, current {c}, {n} committed: commit {reference_commit(p, c, n)}; got {to_commit(p, c, n)}"
print("ok: " + "; ".join(f"{' '.join(p) or '(none)'} | {' '.join(c)} | {n} out -> {to_commit(p, c, n)}"
                         for p, c, n in CASES[:3]) + "; and 500 random cases as common_prefix gives them")

# %% [markdown]
# Now a stream. Below are the hypotheses a recogniser might produce, one per chunk, while
# someone says "five three zero two nine zero". The check feeds them through your rule,
# as `StreamingRecognizer.feed` does (at the end of the stream, `finish` commits whatever
# the last hypothesis holds beyond the committed words), and beside it runs the
# single-hypothesis policy that commits every new word at once.

# %% tags=["check"]
# Check: LocalAgreement-2 over a scripted stream of hypotheses commits the right words at the right chunk
HYPOTHESES = ["fife", "five three", "five three zero to", "five three zero two nine", "five three zero two nine zero"]
EXPECTED = [[], [], ["five", "three"], ["zero"], ["two", "nine"]]
previous, committed, single = [], [], []
rows = [f"{'chunk':>5}  {'hypothesis':30} {'LocalAgreement-2 commits':26} {'one hypothesis commits':24}"]
for k, (text, expected) in enumerate(zip(HYPOTHESES, EXPECTED), 1):
    current = text.split()
    fresh = to_commit(previous, current, len(committed))
    assert fresh == expected, (f"after chunk {k} ({previous} then {current}, {len(committed)} committed) commit "
                               f"{expected}; got {fresh}")
    committed += fresh
    hasty = current[len(single):]                 # commits every word it has not sent yet
    single += hasty
    rows.append(f"{k:5d}  {text:30} {' '.join(fresh) or '-':26} {' '.join(hasty) or '-':24}")
    previous = current
rest = previous[len(committed):]                  # finish(): the last hypothesis as it stands
committed += rest
rows.append(f"{'end':>5}  {'(finish)':30} {' '.join(rest) or '-':26}")
print("\n".join(rows))
truth = "five three zero two nine zero"
assert " ".join(committed) == truth
print(f"LocalAgreement-2: {' '.join(committed)!r} (WER {word_error_rate([truth], [' '.join(committed)]):.0%}); "
      f"one hypothesis: {' '.join(single)!r} (WER {word_error_rate([truth], [' '.join(single)]):.0%})")

# %% [markdown]
# The first two chunks commit nothing: "fife" was never confirmed, and "five three" had
# no agreeing predecessor. Chunk 3 agrees with chunk 2 on "five three"; "to" is left
# waiting and is corrected to "two" by chunk 4. Each word thus comes out one chunk after
# the first hypothesis that holds it, at best: the price of agreement, in latency.
# The hasty policy is faster and wrong twice ("fife", "to"), and a caption that was
# shown cannot be withdrawn.

# %% [markdown]
# ## Exercise 2: a ring buffer with overlapping windows
#
# Live audio arrives in chunks of whatever size the sound card or the network delivers
# (20 ms, 160 ms, ...), while the features want fixed **analysis windows**: 25 ms
# (`size` = 400 samples at 16 kHz) every 10 ms (`hop` = 160), overlapping, and ignoring
# where one chunk ended and the next began. A **ring buffer** holds the most recent
# `capacity` samples in one tensor allocated once: sample $t$ of the stream (counting
# from 0 since the start) lives in slot $t \bmod \text{capacity}$, and each write
# overwrites the oldest samples.
#
# $$\text{slot}(t) = t \bmod C,\qquad \text{held: } t \in [\,\text{total} - C,\ \text{total}\,),
#   \qquad \text{window } k = [\,k \cdot \text{hop},\ k \cdot \text{hop} + \text{size}\,).$$
#
# Write the class's two methods:
#
# - `write(chunk)`: append `chunk` (n,), any n ≥ 0. A chunk that runs past the last slot
#   wraps around to slot 0; a chunk longer than the capacity leaves only its last
#   `capacity` samples (the earlier ones are overwritten anyway), but `total` counts all n.
#   (`torch.arange(...) % capacity` gives the slots at once.)
# - `read(start, stop)`: samples `[start, stop)` of the stream, oldest first, even when
#   they straddle the seam (the end of the slots). Samples already overwritten, or not
#   yet written, cannot be read: raise `IndexError`.
#
# Then `stream_windows(chunks, size, hop, capacity)`: write each chunk into a
# `RingBuffer(capacity)` and **yield every window as soon as it is complete**, before
# taking the next chunk (a window held back is latency). A chunk of n samples can complete
# windows that started up to `size - 1` samples before it, so the ring needs
# `capacity ≥ size + n - 1`: the calls here make sure of it.

# %%
class RingBuffer:
    """The last `capacity` samples of an audio stream, in one tensor (capacity,) allocated once:
    sample t of the stream (t = 0 at its start) lives in slot t % capacity."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1; got {capacity}")
        self.capacity = capacity
        self.slots = torch.zeros(capacity)
        self.total = 0                       # samples written since the start of the stream

    def write(self, chunk: torch.Tensor) -> None:
        """Append chunk (n,), n >= 0 (n > capacity keeps its last `capacity` samples); total grows by n."""
        ### BEGIN SOLUTION
        n = len(chunk)
        kept = chunk[max(0, n - self.capacity):]                        # the samples that survive the write
        first = self.total + n - len(kept)                               # stream index of kept[0]
        self.slots[(first + torch.arange(len(kept))) % self.capacity] = kept.to(self.slots.dtype)
        self.total += n
        ### END SOLUTION

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Samples [start, stop) of the stream (stop - start,), oldest first; IndexError unless
        total - capacity <= start <= stop <= total."""
        ### BEGIN SOLUTION
        if not self.total - self.capacity <= start <= stop <= self.total:
            raise IndexError(f"samples [{start}, {stop}) are not held: the ring holds "
                             f"[{max(0, self.total - self.capacity)}, {self.total})")
        return self.slots[torch.arange(start, stop) % self.capacity]
        ### END SOLUTION

    def latest(self, n: int) -> torch.Tensor:
        """The last n samples written, oldest first."""
        return self.read(self.total - n, self.total)


def stream_windows(chunks, size: int, hop: int, capacity: int) -> Iterator[torch.Tensor]:
    """Each chunk (n,) of `chunks` into a RingBuffer(capacity); yield window k, samples
    [k * hop, k * hop + size) of the stream, (size,), as soon as the chunk that completes it is written."""
    ### BEGIN SOLUTION
    ring, start = RingBuffer(capacity), 0
    for chunk in chunks:
        ring.write(chunk)
        while start + size <= ring.total:               # complete: every sample of it has been written
            yield ring.read(start, start + size)
            start += hop
    ### END SOLUTION


# %% tags=["check"]
# Check: RingBuffer reads back what was written, in order, across the seam and after writes larger than it
CAPACITY = 10
WRITES = [3, 4, 5, 0, 10, 7, 23, 1, 9, 2]               # crosses the seam, fills it exactly, overflows it
ring = RingBuffer(CAPACITY)
ring.write(torch.arange(3.0))
first = ring.read(0, 3)
assert isinstance(first, torch.Tensor) and first.shape == (3,), \
    f"read(0, 3) must be a tensor of the 3 samples; got {getattr(first, 'shape', first)!r}"
assert ring.total == 3, f"after writing 3 samples, total must be 3; got {ring.total}"
assert torch.equal(first, torch.arange(3.0)), f"wrote 0, 1, 2 and read back {first.tolist()}"
ring, written, seam_crossed = RingBuffer(CAPACITY), torch.zeros(0), False
for w, n in enumerate(WRITES):
    chunk = torch.arange(len(written), len(written) + n, dtype=torch.float32)   # sample t has the value t
    before = ring.total
    try:
        ring.write(chunk)
    except (RuntimeError, IndexError, ValueError) as error:
        if isinstance(error, NotImplementedError):
            raise
        raise AssertionError(f"write {w + 1}: {n} samples after {before} failed ({type(error).__name__}: "
                             f"{error}). " + ("A chunk longer than the ring keeps only its last capacity samples"
                                              if n > CAPACITY else "A chunk that runs past the last slot wraps "
                                              "around to slot 0: the slots are (total + i) % capacity")) from error
    written = torch.cat([written, chunk])                                       # the oracle: everything, kept
    total = len(written)
    assert ring.total == total, (f"after writing {total} samples in all, total must be {total}; got {ring.total}"
                                 + (" (count every sample of a long chunk, even those overwritten)"
                                    if n > CAPACITY else ""))
    low = max(0, total - CAPACITY)
    got = ring.read(low, total)                                                 # everything it holds
    want = written[low:total]
    if not torch.equal(got, want):
        values = got.long().tolist() if isinstance(got, torch.Tensor) else got
        if n > CAPACITY and isinstance(got, torch.Tensor) and len(got) == len(want):
            raise AssertionError(f"write {w + 1} was {n} samples into a ring of {CAPACITY}: it must leave the "
                                 f"LAST {CAPACITY} (samples {low}..{total - 1}); the ring reads {values}")
        if isinstance(got, torch.Tensor) and len(got) == len(want) and sorted(values) == want.long().tolist():
            raise AssertionError(f"the ring holds samples {low}..{total - 1} but read them out as {values}: that "
                                 "is the order of the slots. After a wrap the oldest sample is in slot "
                                 "total % capacity; read slots (start + i) % capacity")
        raise AssertionError(f"after {total} samples, read({low}, {total}) must give {want.long().tolist()}; got "
                             f"{values}: samples dropped or doubled where the chunk or the read crosses the seam "
                             f"(slot {CAPACITY - 1} -> slot 0)?")
    for start in range(low, total + 1):                                        # every range the ring holds
        for stop in range(start, total + 1):
            part = ring.read(start, stop)
            if not torch.equal(part, written[start:stop]):
                raise AssertionError(f"after {total} samples, read({start}, {stop}) must give "
                                     f"{written[start:stop].long().tolist()}; got {part.long().tolist()}"
                                     + (": this range crosses the seam" if start // CAPACITY != (stop - 1) // CAPACITY
                                        else ""))
    seam_crossed |= before // CAPACITY != total // CAPACITY
    for start, stop in [(low - 1, total), (low, total + 1), (total + 1, total + 2)]:
        if start < 0:
            continue
        try:
            ring.read(start, stop)
        except IndexError:
            continue
        except NotImplementedError:
            raise
        except Exception as error:                                               # noqa: BLE001
            raise AssertionError(f"read({start}, {stop}) raised {type(error).__name__}; raise IndexError") from error
        raise AssertionError(f"after {total} samples the ring holds [{low}, {total}); read({start}, {stop}) must "
                             "raise IndexError, not return " + ("overwritten samples" if start < low else
                                                                "samples that were never written"))
assert seam_crossed and torch.equal(ring.latest(4), written[-4:])
print(f"ok: {len(WRITES)} writes of {WRITES} samples into a ring of {CAPACITY}: every range it holds reads back as "
      f"written (the oracle: all {len(written)} samples, sliced); older ones raise IndexError; "
      f"slots now {ring.slots.long().tolist()}, latest(4) = {ring.latest(4).long().tolist()}")

# %% [markdown]
# The slots show the seam: the stream's last 10 samples, 54 to 63, sit in slots 4..9 and
# 0..3, and `read` puts them back in order. The check also wrote a chunk of 23 samples into
# the ring of 10: only its last 10 survive, and `total` still counts all 23.

# %% tags=["check"]
# Check: stream_windows yields the windows [k hop, k hop + size) of the whole stream, each as soon as it is complete
def windows_check(chunk_sizes, size, hop):
    """Run stream_windows on a ramp (sample t has the value t) cut into chunk_sizes; check every window."""
    capacity = size + max(chunk_sizes) - 1
    ramp = torch.arange(float(sum(chunk_sizes)))
    pieces = list(torch.split(ramp, chunk_sizes))
    handed = []                                                     # samples handed over, when each window came

    def chunks():
        for piece in pieces:
            handed.append((handed[-1] if handed else 0) + len(piece))
            yield piece

    got, given = [], []
    for window in stream_windows(chunks(), size, hop, capacity):
        got.append(window)
        given.append(handed[-1])
    want = list(ramp.unfold(0, size, hop)) if len(ramp) >= size else []      # the oracle: all of it, windowed
    lengths = {len(w) for w in got}
    assert all(isinstance(w, torch.Tensor) for w in got), "yield each window as a tensor (size,)"
    if lengths - {size}:
        raise AssertionError(f"windows of {sorted(lengths)} samples; each window is size = {size} samples "
                             f"[k hop, k hop + size), no more, no less")
    starts = [int(w[0]) for w in got]                              # the ramp tells which samples each holds
    if len(starts) > 1 and starts[1] - starts[0] != hop:
        raise AssertionError(f"windows start at samples {starts[:4]}...: consecutive windows start hop = {hop} "
                             f"samples apart (they overlap by size - hop = {size - hop})")
    if starts and starts[0] != 0:
        raise AssertionError(f"the first window starts at sample {starts[0]}; it is samples [0, {size})")
    for k, w in enumerate(got):
        if k < len(want) and not torch.equal(w, want[k]) and torch.equal(w.sort().values, want[k]):
            raise AssertionError(f"window {k} holds samples {k * hop}..{k * hop + size - 1} out of order, "
                                 f"{w.long().tolist()}: after a wrap read the slots from (start % capacity) on")
        if k < len(want) and not torch.equal(w, want[k]):
            raise AssertionError(f"window {k} must hold samples {k * hop}..{k * hop + size - 1}; it holds "
                                 f"{w.long().tolist()[:3]}...{w.long().tolist()[-3:]} (differences at "
                                 f"{(w != want[k]).nonzero().flatten().tolist()[:5]}): samples dropped or doubled "
                                 "at a seam, of the ring or between chunks")
    if len(got) < len(want):
        last = len(want) - 1
        raise AssertionError(f"{len(got)} windows; the {sum(chunk_sizes)} samples hold {len(want)}. The missing "
                             f"window {len(got)} is samples [{len(got) * hop}, {len(got) * hop + size}): a window is "
                             f"complete when k hop + size <= total (<=, not <)" if len(got) == last else
                             f"{len(got)} windows; the {sum(chunk_sizes)} samples hold {len(want)}")
    assert len(got) == len(want), f"{len(got)} windows; there are only {len(want)} (k hop + size <= total)"
    for k, (n, start) in enumerate(zip(given, starts)):
        complete_at = next(i for i, h in enumerate(handed) if h >= start + size)      # the chunk that completes it
        if handed.index(n) > complete_at:
            raise AssertionError(f"window {k} (samples [{start}, {start + size})) was complete after chunk "
                                 f"{complete_at + 1} but you yielded it after chunk {handed.index(n) + 1}: yield every "
                                 "complete window (k hop + size <= total) before taking the next chunk")
    return got


windows_check([3, 7, 1, 12, 5, 9, 2, 8, 4], size=6, hop=4)
windows_check([5, 5, 5, 5], size=5, hop=5)                          # windows end exactly at the chunk seams
windows_check([2] * 9, size=4, hop=1)                               # maximal overlap
windows_check([30, 1, 1, 13], size=7, hop=3)
windows_check([3, 2], size=9, hop=2)                                 # never enough for one window
windows_check([1] * 12, size=3, hop=5)                               # hop > size: gaps between windows
CHUNK, SIZE, HOP = 320, 400, 160                                     # 20 ms chunks; 25 ms windows every 10 ms
counts, made = [], 0
stream = torch.randn(CHUNK * 10, generator=torch.Generator().manual_seed(0))
for n_chunks in range(1, 11):
    n = sum(1 for _ in stream_windows(torch.split(stream[:CHUNK * n_chunks], CHUNK), SIZE, HOP, SIZE + CHUNK - 1))
    counts.append(n - made)
    made = n
assert sum(counts) == (len(stream) - SIZE) // HOP + 1
print("ok: every window as the whole stream, windowed (unfold), each as soon as it is complete, over 6 ways of "
      f"cutting the stream; 20 ms chunks give windows per chunk {counts} (25 ms windows every 10 ms)")

# %% [markdown]
# The first 20 ms chunk completes no window (a window needs 25 ms); from then on each
# chunk completes two, every 10 ms. The ring never holds more than `size + chunk - 1` =
# 719 samples, however long the stream: memory bounded, whatever the stream's length.

# %% [markdown]
# ## Exercise 3: chunked vocoding with context (overlap-save)
#
# Day 11's vocoder turns a log-mel `(n_mels, M)` into a wave of $(M - 1)\cdot hop$ samples:
# an input convolution and `depth` ConvNeXt blocks (kernel $k$, all "same"-padded) predict
# each frame's spectrum, and one inverse STFT (window $n_{fft}$) adds the frames' windows
# up. To stream, vocode a chunk of frames $[a, b)$ alone. Its edges then see zero padding
# where their neighbours should be, unless the chunk brings $c$ frames of **context**
# from each side:
#
# - each convolution reaches $\lfloor k/2 \rfloor$ frames to each side, and there are
#   $d + 1$ of them in a row: $R = \lfloor k/2 \rfloor (d + 1)$;
# - sample $n$ of the inverse STFT sums the windows of the frames centred within
#   $n_{fft}/2$ samples of it, up to $\lceil n_{fft} / (2\,hop) \rceil$ frames beyond
#   the chunk on each side, and each of those frames needs its own $R$:
#
# $$c = \left\lceil \frac{n_{fft}}{2\,hop} \right\rceil + \left\lfloor \frac{k}{2} \right\rfloor (d + 1).$$
#
# Then vocode frames $[\max(0, a - c), \min(M, b + c))$ and **keep only** the samples
# $[a \cdot hop,\ b \cdot hop)$ of the utterance, cropping the context off: *overlap-save*.
# Those samples equal the whole utterance's, so there is nothing to blend at the seams.
# (The vocoded piece starts at frame lo = max(0, a − c), so the kept samples start
# (a − lo)·hop into it: c·hop in the middle, fewer at the start of the utterance.)
#
# Write `context_frames(config)` for a `VocoderConfig` (fields `kernel`, `depth`,
# `n_fft`, `hop_length`), then `vocode_in_chunks(vocoder, mel, chunk_frames, context)`:
# a list of chunks, chunk $j$ the samples $[a\,hop, b\,hop)$ for $a = j \cdot$
# `chunk_frames`, $b = \min(M, a + $ `chunk_frames`$)$, cut at the wave's end
# $(M - 1)\,hop$ (so the last chunk is shorter, and a chunk left with no samples is not
# returned). The vocoder wants a batch, `vocoder(mel[None, :, lo:hi])[0]` is
# `((hi - lo - 1) * hop,)`: pad it with `hop` zeros at the end before cropping (a chunk
# ending at frame M asks for samples up to M·hop). The vocoder here is small and
# untrained: exactness does not depend on the weights.

# %%
torch.manual_seed(19)
vocoder = NeuralVocoder(VocoderConfig(dim=32, depth=2)).eval()      # untrained: seeded random weights
wave, _ = speak_timed("three one four one five nine two six")
mel = log_mel(wave)                                                 # (80, M) at 80 frames per second
with torch.no_grad():
    whole = vocoder(mel[None])[0]                                   # ((M - 1) * hop,): the reference
HOP = vocoder.config.hop_length
print(f"mel {tuple(mel.shape)}, whole wave {tuple(whole.shape)} = (M - 1) * {HOP} samples; vocoder: kernel "
      f"{vocoder.config.kernel}, depth {vocoder.config.depth}, n_fft {vocoder.config.n_fft}, hop {HOP}")


def context_frames(config: VocoderConfig) -> int:
    """Frames of context each side that make a chunk exact: ceil(n_fft / (2 hop)) + (kernel // 2) (depth + 1)."""
    ### BEGIN SOLUTION
    return math.ceil(config.n_fft / (2 * config.hop_length)) + (config.kernel // 2) * (config.depth + 1)
    ### END SOLUTION


@torch.no_grad()
def vocode_in_chunks(vocoder: NeuralVocoder, mel: torch.Tensor, chunk_frames: int, context: int) -> list[torch.Tensor]:
    """mel (n_mels, M) -> the wave's chunks [a hop, b hop) (cut at (M - 1) hop), each vocoded from frames
    [max(0, a - context), min(M, b + context)) and cropped; empty chunks left out."""
    ### BEGIN SOLUTION
    hop, frames = vocoder.config.hop_length, mel.shape[1]
    total = (frames - 1) * hop
    out = []
    for a in range(0, frames, chunk_frames):
        b = min(frames, a + chunk_frames)
        lo, hi = max(0, a - context), min(frames, b + context)
        piece = torch.nn.functional.pad(vocoder(mel[None, :, lo:hi])[0], (0, hop))   # ((hi - lo) * hop,)
        samples = piece[(a - lo) * hop:(b - lo) * hop][:max(0, total - a * hop)]
        if len(samples):
            out.append(samples)
    return out
    ### END SOLUTION


# %% tags=["check"]
# Check: context_frames counts the convolutions' reach and the inverse STFT's window, as streaming.tts does
CONFIGS = [VocoderConfig(dim=32, depth=2), VocoderConfig(),
           VocoderConfig(kernel=5, depth=3, n_fft=1024, hop_length=256),
           VocoderConfig(kernel=9, depth=1, n_fft=1000, hop_length=300),     # n_fft / (2 hop) is not whole
           VocoderConfig(kernel=3, depth=6, n_fft=256, hop_length=64)]
for cfg in CONFIGS:
    mine = context_frames(cfg)
    want = tts.context_frames(SimpleNamespace(config=cfg))
    if mine == want:
        continue
    istft, conv = math.ceil(cfg.n_fft / (2 * cfg.hop_length)), (cfg.kernel // 2) * (cfg.depth + 1)
    name = (f"kernel {cfg.kernel}, depth {cfg.depth}, n_fft {cfg.n_fft}, hop {cfg.hop_length}: c = {want} "
            f"({istft} for the inverse STFT + {conv} for the convolutions); got {mine}. ")
    wrong = {conv: "you left out the inverse STFT: a sample sums the windows of ceil(n_fft / (2 hop)) frames beyond "
                   "the chunk on each side, and each of them needs the convolutions' context too",
             istft: "you left out the convolutions' reach, (kernel // 2) (depth + 1) frames",
             istft + (cfg.kernel // 2) * cfg.depth: "the input convolution reaches kernel // 2 frames too: depth + 1 "
                                                    "convolutions in a row, not depth",
             istft + cfg.kernel * (cfg.depth + 1): "a kernel of k frames reaches k // 2 to EACH side, not k",
             istft + (cfg.kernel - 1) * (cfg.depth + 1): "a kernel of k frames reaches k // 2 to each side, not k - 1",
             cfg.n_fft // (2 * cfg.hop_length) + conv: "n_fft / (2 hop) is not whole here: round it UP (a window "
                                                       "that reaches into a frame's hop needs that frame)",
             math.ceil(cfg.n_fft / cfg.hop_length) + conv: "the window spans n_fft samples, HALF of them on each side "
                                                           "of its centre: ceil(n_fft / (2 hop)) frames per side"}
    raise AssertionError(name + wrong.get(mine, "c = ceil(n_fft / (2 hop)) + (kernel // 2) (depth + 1)"))
print("ok: " + ", ".join(f"c = {context_frames(cfg)} for kernel {cfg.kernel}, depth {cfg.depth}, n_fft {cfg.n_fft}, "
                         f"hop {cfg.hop_length}" for cfg in CONFIGS[:3]))

# %% tags=["check"]
# Check: vocode_in_chunks with c frames of context equals the whole wave and streaming.tts.stream_vocode
C = context_frames(vocoder.config)
M, TOTAL = mel.shape[1], whole.shape[0]


def seam_report(joined: torch.Tensor, chunk_frames: int) -> str:
    """Where the chunks differ from the whole wave, measured from the nearest seam."""
    err = (joined - whole).abs()
    worst = int(err.argmax())
    seam = round(worst / (chunk_frames * HOP)) * chunk_frames * HOP
    near = (err > 1e-6).nonzero().flatten()
    return (f"max |chunks - whole| = {err.max():.2e} (the wave peaks at {whole.abs().max():.2f}), at sample {worst}, "
            f"{worst - seam:+d} from the seam at sample {seam}; {len(near)} samples off")


def variant(chunk_frames, context, skip=None, last_long=False):
    """A chunker with one of the usual mistakes: crop at `skip` frames into each piece, or a full last chunk."""
    out = []
    with torch.no_grad():
        for a in range(0, M, chunk_frames):
            b = min(M, a + chunk_frames)
            lo, hi = max(0, a - context), min(M, b + context)
            piece = torch.nn.functional.pad(vocoder(mel[None, :, lo:hi])[0], (0, HOP))
            start = (a - lo if skip is None else skip) * HOP
            samples = piece[start:start + (b - a) * HOP]
            out.append(samples if last_long else samples[:max(0, TOTAL - a * HOP)])
    return [s for s in out if len(s)]


SETTINGS = [(25, C), (25, 0), (25, 3), (7, C), (40, C + 4), (1, C), (M + 5, C), (M - 1, C)]
for chunk_frames, context in SETTINGS:
    mine = vocode_in_chunks(vocoder, mel, chunk_frames, context)
    assert isinstance(mine, list) and all(isinstance(x, torch.Tensor) and x.dim() == 1 for x in mine), \
        "return a list of 1-D tensors, one per chunk"
    mine = [x.detach() for x in mine]
    theirs = list(tts.stream_vocode(vocoder, mel, chunk_frames, context))      # the peak is 0.1: no clipping
    lengths, want_lengths = [len(x) for x in mine], [len(x) for x in theirs]
    setting = f"chunk_frames {chunk_frames}, context {context}: "
    if lengths != want_lengths:
        if lengths == [len(x) for x in variant(chunk_frames, context, last_long=True)]:
            raise AssertionError(setting + f"the last chunk has {lengths[-1]} samples; the wave ends at (M - 1) hop = "
                                 f"{TOTAL}, so it is {want_lengths[-1]}: cut it at total - a hop")
        if len(lengths) > 1 and set(lengths[:-1]) == {(chunk_frames - 1) * HOP}:
            raise AssertionError(setting + f"chunks of {(chunk_frames - 1) * HOP} samples: the vocoder gives (hi - lo "
                                 "- 1) hop samples for frames [lo, hi), one hop short of what the crop asks for when "
                                 "there is no context on the right: pad the piece with hop zeros at its end")
        if sum(lengths) < TOTAL and lengths[:len(want_lengths) - 1] == want_lengths[:-1]:
            raise AssertionError(setting + f"the chunks hold {sum(lengths)} samples of {TOTAL}: the last, shorter "
                                 "chunk is missing")
        raise AssertionError(setting + f"chunk lengths {lengths[:4]}...{lengths[-2:]} ({len(lengths)} chunks, "
                             f"{sum(lengths)} samples); expected {want_lengths[:4]}...{want_lengths[-2:]} "
                             f"({len(want_lengths)} chunks of chunk_frames * hop, the last shorter, {TOTAL} in all)")
    joined = torch.cat(mine)
    if context >= C and max_diff(joined, whole) > 1e-6:
        if context and max_diff(joined, torch.cat(list(tts.stream_vocode(vocoder, mel, chunk_frames, 0)))) < 1e-7:
            raise AssertionError(setting + "your chunks are vocoded without any context (each chunk's frames "
                                 "alone): vocode frames [max(0, a - context), min(M, b + context)). " +
                                 seam_report(joined, chunk_frames))
        if max_diff(joined, torch.cat(variant(chunk_frames, context, skip=0))) < 1e-7:
            raise AssertionError(setting + "you kept the first (b - a) hop samples of each piece: they are the left "
                                 "context's. The chunk starts (a - lo) hop into the piece; your samples are shifted "
                                 f"by context hop = {context * HOP}. " + seam_report(joined, chunk_frames))
        if max_diff(joined, torch.cat(variant(chunk_frames, context, skip=context))) < 1e-7:
            raise AssertionError(setting + "you cropped context hop samples off every piece, also the first: at the "
                                 "start of the utterance there are fewer than `context` frames to the left (lo = "
                                 "max(0, a - context)), so crop (a - lo) hop. " + seam_report(joined, chunk_frames))
        raise AssertionError(setting + "the chunks differ from the whole wave: " + seam_report(joined, chunk_frames)
                             + ". Vocode with context each side and keep exactly [a hop, b hop): a crop, not a "
                             "crossfade or an overlap-add; the kept samples are exact, nothing needs blending")
    for j, (x, y) in enumerate(zip(mine, theirs)):
        assert max_diff(x, y) < 1e-6, (setting + f"chunk {j} differs from stream_vocode's by {max_diff(x, y):.2e}: "
                                       "with too little context the seams are wrong, but the same wrong as "
                                       "stream_vocode's; vocode frames [max(0, a - context), min(M, b + context))")
print(f"ok: {len(SETTINGS)} settings of chunk size and context as stream_vocode; with c = {C} frames of context "
      "the chunks equal the whole wave")
print(f"{'context':>7} {'max |chunks - whole|':>21}   (25-frame chunks; the wave peaks at {whole.abs().max():.3f})")
for context in (0, 2, 4, 6, 8, C - 1, C, C + 1):
    err = max_diff(torch.cat(vocode_in_chunks(vocoder, mel, 25, context)), whole)
    print(f"{context:7d} {err:21.1e}" + ("   <- c = context_frames" if context == C else ""))

# %% [markdown]
# Without context each seam is off by almost the wave's peak: a click every 0.31 s. The
# error shrinks as the context grows, because far frames reach the seam's samples only
# through several convolutions and the window's tails, and it is zero from c = 11 on:
# with one frame less (10) a few samples are still off by 1e-5. Context is paid in
# compute: every chunk of 25 frames vocodes 25 + 2·11 = 47, almost twice the work, and
# shorter chunks (less latency) pay proportionally more.

# %% [markdown]
# ## Exercise 4: the clock of a live system
#
# A live recogniser gets chunk $i$ when its last sample has been spoken, at **arrival**
# time $a_i$ (stream seconds, the stream starting at 0), and processing it takes $c_i$
# seconds of compute. It cannot start before the chunk has arrived, nor before it has
# finished the previous chunk (the chunks **queue**), and whatever the chunk lets it
# commit comes out when its processing ends, at
#
# $$f_i = \max(a_i,\ f_{i-1}) + c_i,\qquad f_{-1} = 0 .$$
#
# The **real-time factor** is compute seconds per second of audio,
# $\text{RTF} = \sum_i c_i / a_{N-1}$ (the last chunk arrives when the audio ends).
# Loading the model happens once, **before** the stream starts: it belongs to the start-up
# time, not to the real-time factor nor to the clock above.
#
# A word ending at time $e$ is first heard whole in the chunk $j$ = the first one with
# $a_j \ge e$ (a word that ends exactly as a chunk arrives is in that chunk). A policy that
# needs `wait` more chunks to confirm it (LocalAgreement-2: `wait` = 1) emits it at
# the end of chunk $\min(j + \text{wait}, N - 1)$ (at the end of the stream, what is left
# comes out with the last chunk), and its **latency** is
#
# $$\ell = f_{\min(j + \text{wait},\, N - 1)} - e ,$$
#
# measured from the word's **end**: it could not have been recognised before it was said.
#
# A `RunLog` holds what a run logged. Write `finish_times(log)`, `real_time_factor(log)`
# and `word_latencies(log, words, wait=0)`, `words` being `(text, start, end)` triples
# (what `data.speech.speak_stream` gives), each ending by the last arrival.

# %%
@dataclass(frozen=True)
class RunLog:
    """What a live run logged: loading the model (seconds, before the stream starts), then for each chunk its
    arrival time (stream seconds, increasing) and its compute seconds."""
    load_seconds: float
    arrivals: list[float]
    computes: list[float]


def finish_times(log: RunLog) -> list[float]:
    """f_i = max(arrivals[i], f_(i-1)) + computes[i], f_(-1) = 0: when each chunk's output comes out."""
    ### BEGIN SOLUTION
    out, busy = [], 0.0
    for arrival, compute in zip(log.arrivals, log.computes):
        busy = max(arrival, busy) + compute
        out.append(busy)
    return out
    ### END SOLUTION


def real_time_factor(log: RunLog) -> float:
    """Compute seconds per second of audio: sum(computes) / the last arrival (loading not counted)."""
    ### BEGIN SOLUTION
    return sum(log.computes) / log.arrivals[-1]
    ### END SOLUTION


def word_latencies(log: RunLog, words: list[tuple[str, float, float]], wait: int = 0) -> list[float]:
    """Per word (text, start, end): f_k - end, k = min(j + wait, N - 1), j the first chunk with arrival >= end."""
    ### BEGIN SOLUTION
    finish = finish_times(log)
    out = []
    for _, _, end in words:
        j = next(i for i, a in enumerate(log.arrivals) if a >= end)
        out.append(finish[min(j + wait, len(finish) - 1)] - end)
    return out
    ### END SOLUTION


# %% tags=["check"]
# Check: finish_times queues the chunks behind each other and real_time_factor counts compute per audio second
LOG = RunLog(load_seconds=5.0, arrivals=[1.0, 2.0, 3.0], computes=[0.2, 1.5, 0.3])
mine = finish_times(LOG)
assert isinstance(mine, list) and len(mine) == 3, f"return one finish time per chunk (a list of 3); got {mine!r}"
want = [1.2, 3.5, 3.8]                         # chunk 2 arrives at 3.0 but waits for chunk 1 until 3.5
wrong = {"chunk 2 started at its arrival (3.0) although chunk 1 was busy until 3.5: the chunks queue, "
         "f_i = max(a_i, f_(i-1)) + c_i. A recogniser that ignores its queue looks faster than it is":
         [1.2, 3.5, 3.3],
         "chunk 0 was processed before it arrived: a chunk starts at max(a_i, f_(i-1)), never before a_i":
         [0.2, 1.7, 2.0],
         "the model is loaded before the stream starts: f_(-1) = 0, loading does not delay the chunks here":
         [5.2, 6.7, 7.0],
         "you returned the start times of processing; f_i is when it ENDS, start + c_i": [1.0, 2.0, 3.5],
         "those are the arrival times plus the compute summed so far; a chunk waits only while the one before is "
         "busy: max(a_i, f_(i-1)) + c_i": [1.2, 3.7, 5.0]}
for mistake, values in wrong.items():
    if all(abs(x - y) < 1e-9 for x, y in zip(mine, values)):
        raise AssertionError(mistake)
assert all(abs(x - y) < 1e-9 for x, y in zip(mine, want)), f"finish times {want}; got {mine}"
for n, seed in [(8, 1), (30, 2)]:
    g = random.Random(seed)
    arrivals = [0.25 * (i + 1) for i in range(n)]
    computes = [g.uniform(0.0, 0.5) for _ in range(n)]
    log, busy = RunLog(g.uniform(0, 3), arrivals, computes), 0.0
    for i, got in enumerate(finish_times(log)):
        busy = max(arrivals[i], busy) + computes[i]                  # streaming.asr's busy_until
        assert abs(got - busy) < 1e-9, f"random log, chunk {i}: finish {busy:.4f}; got {got:.4f}"
rtf = real_time_factor(LOG)
want = latency.real_time_factor(sum(LOG.computes), LOG.arrivals[-1])
wrong = {"you counted the model's loading: it happens once before the stream, the RTF is the compute per second "
         "of audio while streaming, sum(c_i) / a_(N-1)": (LOG.load_seconds + 2.0) / 3.0,
         "that is audio seconds per compute second, upside down: RTF = compute / audio, below 1 keeps up": 1.5,
         "you divided by the wall-clock time the run took (the last finish); divide by the audio's duration, the "
         "last arrival a_(N-1)": 2.0 / 3.8}
if abs(rtf - want) > 1e-9:
    for mistake, value in wrong.items():
        if abs(rtf - value) < 1e-9:
            raise AssertionError(mistake)
    raise AssertionError(f"RTF {want:.4f} (2.0 s of compute for 3.0 s of audio); got {rtf}")
uneven = RunLog(0.5, [0.2, 1.5, 1.6, 5.0], [0.1, 0.1, 0.3, 0.2])             # 4 chunks of uneven length
rtf = real_time_factor(uneven)
if abs(rtf - 0.7 / 4) < 1e-9:
    raise AssertionError("you divided by the number of chunks: the RTF is per second of audio, sum(c_i) / a_(N-1)")
assert abs(rtf - 0.7 / 5.0) < 1e-9, f"chunks of uneven length: RTF = sum(c_i) / a_(N-1) = 0.7 / 5.0; got {rtf}"
print(f"ok: finish times {[round(f, 3) for f in finish_times(LOG)]} for arrivals {LOG.arrivals} and compute "
      f"{LOG.computes}; RTF {real_time_factor(LOG):.3f}, as latency.real_time_factor")

# %% tags=["check"]
# Check: word_latencies measures from each word's end to the end of the chunk that emits it
WORDS = [("one", 0.1, 0.4), ("two", 0.6, 1.0), ("three", 1.2, 1.7), ("four", 2.5, 2.9)]
mine = word_latencies(LOG, WORDS)
assert isinstance(mine, list) and len(mine) == len(WORDS), f"return one latency per word; got {mine!r}"
want = [0.8, 0.2, 1.8, 0.9]                    # emitted at f = 1.2, 1.2, 3.5, 3.8
wrong = {"you measured from the word's START: it cannot be recognised before it has been said, latency = "
         "emission - end": [1.1, 0.6, 2.3, 1.3],
         "the sign is reversed: latency = emission - end, positive": [-0.8, -0.2, -1.8, -0.9],
         "'two' ends at 1.0, exactly when chunk 0 arrives: it is in chunk 0 (the first chunk with a_j >= e, not >)":
         [0.8, 2.5, 1.8, 0.9],
         "you ignored the queue: chunk 2 comes out at f_2 = max(a_2, f_1) + c_2 = 3.8, use finish_times":
         [0.8, 0.2, 1.8, 0.4],
         "you measured from the word's end to the chunk's ARRIVAL: the word comes out when processing ends, f_j":
         [0.6, 0.0, 0.3, 0.1]}
for mistake, values in wrong.items():
    if all(abs(x - y) < 1e-9 for x, y in zip(mine, values)):
        raise AssertionError(mistake)
assert all(abs(x - y) < 1e-9 for x, y in zip(mine, want)), f"latencies {want} (wait = 0); got {mine}"
mine = word_latencies(LOG, WORDS, wait=1)
want = [3.1, 2.5, 2.1, 0.9]                    # one chunk later: f_1, f_1, f_2, and f_2 again at the end
if len(mine) == 4 and all(abs(x - y) < 1e-9 for x, y in zip(mine, [0.8, 0.2, 1.8, 0.9])):
    raise AssertionError("with wait = 1 a word comes out one chunk later, at f_(j + 1)")
if len(mine) < 4:
    raise AssertionError(f"wait = 1: 'four' is in the last chunk; it comes out with it (k = min(j + wait, N - 1)), "
                         f"not never; got {len(mine)} latencies")
assert all(abs(x - y) < 1e-9 for x, y in zip(mine, want)), \
    f"latencies {want} with wait = 1 (k = min(j + 1, N - 1)); got {mine}"
emitted = [Word(w, s, e, e + l) for (w, s, e), l in zip(WORDS, mine)]
assert all(abs(x - y) < 1e-9 for x, y in zip(latency.emission_latencies(emitted, WORDS), mine)), \
    "latency.emission_latencies (emitted - end) disagrees"
# 10 s of audio in half-second chunks, a word ending 0.3 s into each, three recognisers
arrivals = [0.5 * (i + 1) for i in range(20)]
stream_words = [(f"w{i}", 0.5 * i + 0.05, 0.5 * i + 0.3) for i in range(20)]
runs = {"fast (0.1 s a chunk)": [0.1] * 20, "one hiccup (1.2 s once)": [0.1] * 3 + [1.2] + [0.1] * 16,
        "slow (0.6 s a chunk)": [0.6] * 20}
SHOWN = (0, 2, 4, 9, 18)
print(f"{'recogniser':24} {'RTF':>5}   latency of words {', '.join(str(i + 1) for i in SHOWN)} (LocalAgreement-2, "
      "wait = 1)")
table = {}
for name, computes in runs.items():
    log = RunLog(2.0, arrivals, computes)
    table[name] = word_latencies(log, stream_words, wait=1)
    print(f"{name:24} {real_time_factor(log):5.2f}   " + "  ".join(f"{table[name][i]:4.2f} s" for i in SHOWN))
assert table["slow (0.6 s a chunk)"][18] > table["slow (0.6 s a chunk)"][0] + 1.5
assert abs(table["one hiccup (1.2 s once)"][9] - table["fast (0.1 s a chunk)"][9]) < 1e-9
print("ok: latencies from each word's end, queue included, as latency.emission_latencies computes them")

# %% [markdown]
# At RTF 0.2 every word comes out 0.8 s after its end: 0.2 s to its chunk's arrival, one
# chunk (0.5 s) for the second look, 0.1 s of compute. One slow chunk (1.2 s) holds up
# the words behind it (word 3: 1.9 s), and since the recogniser is faster than real time
# the queue drains within three chunks (word 5: 1.1 s, word 10: 0.8 s again). At RTF 1.2
# the queue grows by 0.1 s with every chunk, and the latency with it, without bound: from
# 1.4 s for the first word to 3.2 s for the 19th. A recogniser slower than real time is
# not "a bit late", it falls further behind with every second. The model's loading (2 s
# here) appears nowhere: it is paid once, before the stream starts.

# %% [markdown]
# ## Exercise 5 (experiment): chunk size against latency and accuracy
#
# The lesson made day 12's recogniser live: `StreamingRecognizer(asr, lag)` keeps a
# buffer, re-decodes it after every chunk with the CTC head, commits by LocalAgreement-2
# (your exercise 1) and stamps each committed word with its emission time on the
# simulated clock of exercise 4 (`Word(text, start, end, emitted)`). How does the chunk
# size trade latency against accuracy and compute?
#
# The setup below loads the trained recogniser, calibrates its CTC spike lag on 8
# training strings (day 18), and speaks 3 streams of 4 held-out digit strings each with
# pauses between them (`speak_stream`: the wave and every word's true `(word, start,
# end)`). Write:
#
# 1. `run_streams(streams, chunk_seconds)`: for each `(wave, words)`, a **fresh**
#    `StreamingRecognizer(asr, lag)`, fed `wave` in chunks of `n = round(chunk_seconds *
#    SAMPLE_RATE)` samples (the last one shorter), then `finish()`ed; return the
#    recognisers.
# 2. `summarise(runs, streams)`, a dict with
#    - `"wer"`: the corpus word error rate, `word_error_rate(references, hypotheses)`
#      over the streams (a reference is the stream's true words joined by spaces, a
#      hypothesis the recogniser's `.text`);
#    - `"first"`: the median over the streams of the first committed word's `emitted`
#      minus the end of the stream's first true word;
#    - `"latency"`: the median of the per-word latencies of all streams together,
#      `latency.emission_latencies(run.committed, words)` (only the words recognised
#      right count; it matches them to the truth by the WER alignment);
#    - `"rtf"`: all compute (`run.compute_seconds`) over all audio seconds.

# %%
asr = train_asr(PRESETS["cpu"], device=torch.device("cpu"), progress=False)   # day 12's, from artifacts/
asr.model.eval()
english = [e for e, _ in digit_sentences("en", 400)]
seen = [s for s in english if split_of(s) == "train"][:8]
unseen = [s for s in english if split_of(s) != "train"]
lag = calibrate_spike_lag(asr.model, asr.tokenizer, [(w, s, t) for s in seen for w, t in [speak_timed(s)]])
TEXTS = [unseen[4 * k:4 * (k + 1)] for k in range(3)]                 # 3 streams of 4 held-out digit strings
streams = [speak_stream(texts, seed=k) for k, texts in enumerate(TEXTS)]
references = [" ".join(w for w, _, _ in words) for _, words in streams]
offline = word_error_rate(references, [" ".join(asr.transcribe([speak_timed(t)[0] for t in texts], decode="ctc"))
                                       for texts in TEXTS])             # each string heard whole, apart
CHUNKS = (0.5, 1.0, 2.0)
print(f"{len(streams)} streams, {sum(len(w) for w, _ in streams) / SAMPLE_RATE:.1f} s of speech, "
      f"{sum(len(r.split()) for r in references)} words; CTC spike lag {1000 * lag:.0f} ms; offline WER (each "
      f"string whole, CTC head) {100 * offline:.1f} %; e.g. {references[0]!r}")


def run_streams(streams: list[tuple[torch.Tensor, list]], chunk_seconds: float) -> list[StreamingRecognizer]:
    """Each stream (wave (T,), words) through a fresh StreamingRecognizer(asr, lag) in chunks of chunk_seconds,
    then finish(); the recognisers, in order."""
    ### BEGIN SOLUTION
    n = round(chunk_seconds * SAMPLE_RATE)
    runs = []
    for wave, _ in streams:
        stream = StreamingRecognizer(asr, lag)
        for start in range(0, len(wave), n):
            stream.feed(wave[start:start + n])
        stream.finish()
        runs.append(stream)
    return runs
    ### END SOLUTION


def summarise(runs: list[StreamingRecognizer], streams: list[tuple[torch.Tensor, list]]) -> dict[str, float]:
    """{"wer": corpus WER, "first": median first-word latency, "latency": median per-word latency of the words
    right (all streams pooled), "rtf": total compute / total audio seconds}."""
    ### BEGIN SOLUTION
    references = [" ".join(w for w, _, _ in words) for _, words in streams]
    latencies = [x for run, (_, words) in zip(runs, streams) for x in latency.emission_latencies(run.committed, words)]
    audio = sum(len(wave) for wave, _ in streams) / SAMPLE_RATE
    firsts = [run.committed[0].emitted - words[0][2] for run, (_, words) in zip(runs, streams)]
    return {"wer": word_error_rate(references, [run.text for run in runs]),
            "first": statistics.median(firsts),
            "latency": statistics.median(latencies),
            "rtf": sum(sum(run.compute_seconds) for run in runs) / audio}
    ### END SOLUTION


# %% tags=["check"]
# Check: run_streams feeds every stream, chunk by chunk, through its own recogniser and finishes it
def reference_runs(streams, chunk_seconds):
    return [run_stream(asr, lag, wave, chunk_seconds) for wave, _ in streams]


for chunk_seconds in CHUNKS:
    runs = run_streams(streams, chunk_seconds)
    assert isinstance(runs, list) and len(runs) == len(streams), \
        f"return one recogniser per stream ({len(streams)}); got {type(runs).__name__} of {len(runs)}"
    assert all(isinstance(r, StreamingRecognizer) for r in runs), "return the StreamingRecognizer objects"
    assert len({id(r) for r in runs}) == len(runs), \
        "the same recogniser serves several streams: make a fresh StreamingRecognizer(asr, lag) for each"
    n = round(chunk_seconds * SAMPLE_RATE)
    for k, (run, (wave, _)) in enumerate(zip(runs, streams)):
        seconds = len(wave) / SAMPLE_RATE
        feeds = math.ceil(len(wave) / n)
        if run.heard > seconds + 1e-6:
            raise AssertionError(f"{chunk_seconds} s chunks, stream {k}: the recogniser heard {run.heard:.2f} s of a "
                                 f"{seconds:.2f} s stream: it carries the previous stream's state; one fresh "
                                 "StreamingRecognizer(asr, lag) per stream")
        assert abs(run.heard - seconds) < 1e-6, (f"{chunk_seconds} s chunks, stream {k}: the recogniser heard "
                                                 f"{run.heard:.3f} s of {seconds:.3f} s: feed every sample, the last, "
                                                 "shorter chunk too")
        assert len(run.compute_seconds) == feeds, (
            f"{chunk_seconds} s chunks, stream {k}: {len(run.compute_seconds)} calls to feed; {len(wave)} samples in "
            f"chunks of n = round(chunk_seconds * SAMPLE_RATE) = {n} make {feeds}")
        assert not run.previous and run.in_buffer == 0, (
            f"{chunk_seconds} s chunks, stream {k}: the last hypothesis still holds uncommitted words: call "
            "finish() after the last chunk (it commits them)")
    theirs = reference_runs(streams, chunk_seconds)
    for k, (mine, ref) in enumerate(zip(runs, theirs)):
        assert mine.text == ref.text, (f"{chunk_seconds} s chunks, stream {k}: committed {mine.text!r}; the same "
                                       f"recogniser gives {ref.text!r}: StreamingRecognizer(asr, lag) with its "
                                       "defaults, chunks wave[s:s + n] in order")
print(f"ok: {len(streams)} streams at chunks of {', '.join(map(str, CHUNKS))} s, each recogniser fresh, fed every "
      "sample and finished; the same words as the reference loop")

# %% tags=["check"]
# Check: summarise measures WER, first-word and per-word latency, and RTF as the lesson does
fake = []
for committed, computes in [([Word("one", 0.2, 0.5, 1.2), Word("too", 0.7, 1.0, 2.1), Word("three", 1.5, 1.9, 2.4)],
                             [0.1, 0.2, 0.1, 0.2]), ([Word("nine", 0.1, 0.6, 1.0)], [0.05, 0.05])]:
    run = StreamingRecognizer(asr=None, spike_lag=0.0)
    run.committed, run.compute_seconds = committed, computes
    fake.append(run)
fake_streams = [(torch.zeros(4 * SAMPLE_RATE), [("one", 0.2, 0.5), ("two", 0.7, 1.0), ("three", 1.5, 1.9)]),
                (torch.zeros(2 * SAMPLE_RATE), [("nine", 0.1, 0.6)])]
mine = summarise(fake, fake_streams)
assert isinstance(mine, dict) and set(mine) >= {"wer", "first", "latency", "rtf"}, \
    f"return a dict with the keys wer, first, latency, rtf; got {mine!r}"
want = {"wer": 0.25, "first": 0.55, "latency": 0.5, "rtf": 0.7 / 6}
wrong = {"wer": {(1 / 3 + 0) / 2: "you averaged the streams' WERs: the corpus WER sums the errors over all streams "
                                  "and divides by all reference words, word_error_rate(references, hypotheses)",
                 0.75: "that is the share of words right; WER counts the errors"},
         "first": {0.95: "first-word latency is measured from the first true word's END (words[0][2])",
                   0.7: "take the median over the streams, not the first stream's"},
         "latency": {0.9: "latency is measured from each word's END, not its start: emission_latencies",
                     0.6: "you counted the misrecognised word 'too' too: emission_latencies matches the committed "
                          "words to the truth by the WER alignment and keeps the hits only",
                     (0.7 + 0.5 + 0.4) / 3: "take the median of the latencies, not the mean (one stuck word would "
                                            "move the mean)"},
         "rtf": {0.1: "you averaged the streams' RTFs: all compute seconds over all audio seconds",
                 6 / 0.7: "RTF is compute over audio, not audio over compute",
                 0.6 / 4: "sum the compute of all streams, and divide by all their audio"}}
for key in ("wer", "first", "latency", "rtf"):
    got = mine[key]
    if abs(got - want[key]) > 1e-9:
        for value, mistake in wrong[key].items():
            if abs(got - value) < 1e-9:
                raise AssertionError(f"{key} = {got:.4f} on two hand-made streams: {mistake}")
        raise AssertionError(f"two hand-made streams: {key} = {want[key]:.4f}; got {got:.4f}")
table = {}
for chunk_seconds in CHUNKS:
    runs = run_streams(streams, chunk_seconds)
    mine = summarise(runs, streams)
    lat = [x for r, (_, words) in zip(runs, streams) for x in latency.emission_latencies(r.committed, words)]
    want = {"wer": word_error_rate(references, [r.text for r in runs]),
            "first": statistics.median(r.committed[0].emitted - words[0][2] for r, (_, words) in zip(runs, streams)),
            "latency": statistics.median(lat),
            "rtf": sum(sum(r.compute_seconds) for r in runs) / (sum(len(w) for w, _ in streams) / SAMPLE_RATE)}
    for key, value in want.items():
        assert abs(mine[key] - value) < 1e-9, f"{chunk_seconds} s chunks: {key} {value:.4f}; got {mine[key]:.4f}"
    table[chunk_seconds] = mine
print(f"offline (each string whole): WER {100 * offline:.1f} %")
print(f"{'chunk':>6} {'WER':>6} {'first word':>11} {'median word latency':>20} {'RTF':>6}")
for c, r in table.items():
    print(f"{c:5.1f}s {100 * r['wer']:5.1f}% {r['first']:10.2f}s {r['latency']:19.2f}s {r['rtf']:6.3f}")
# measured: median word latency 0.56 s, 1.35 s and 2.47 s at 0.5, 1 and 2 s chunks; RTF 0.007 to 0.02
assert table[0.5]["latency"] < table[1.0]["latency"] < table[2.0]["latency"], "latency should grow with the chunk"
assert all(r["rtf"] < 1 for r in table.values()), "the recogniser should keep up with real time"

# %% [markdown]
# **Your turn.** Read the table and answer in a few sentences:
#
# 1. How does the median word latency grow with the chunk size $c$? Account for it with
#    the clock of exercise 4: how long, on average, from a word's end to the arrival of
#    the chunk that holds it, and what does LocalAgreement-2 add?
# 2. Smaller chunks are faster to react; what do they cost? Look at the RTF, and think
#    about what each `feed` re-decodes.
# 3. Does the error rate depend on the chunk size here? Why might very small chunks
#    hurt accuracy, and why are large chunks not more accurate either?
#
# <details><summary>One answer (open it after writing yours)</summary>
#
# 1. About 0.56 s, 1.35 s and 2.47 s at chunks of 0.5, 1 and 2 s: between 1.1 and 1.4
#    chunks (the numbers move by a few hundredths from run to run: the compute on the
#    clock is measured). A word's end falls anywhere within a chunk, on average $c/2$
#    before that chunk arrives; LocalAgreement-2 then needs a second hypothesis that
#    agrees, which costs up to one more chunk, $c$; each `feed` adds its compute (about
#    10 ms here). That bound, $1.5\,c$, is not reached because about a third of the words were
#    already in the *previous* hypothesis (eSpeak's end of a word is where the next word
#    or a pause begins, and the model names a word before its last few tens of
#    milliseconds): they come out with the chunk that holds their end. The first word of a
#    stream waits longest, two chunks minus its own end (0.77 s, 1.77 s, 3.78 s): the
#    first hypothesis has nothing to agree with.
# 2. Compute: every `feed` re-decodes the whole buffer (up to about 3 s of audio), so
#    halving the chunk from 1 s to 0.5 s raises the RTF 1.5 to 2 times (from about 0.01
#    to 0.015 or 0.02 here; it is measured, so it moves from run to run), while 2 s chunks
#    save little over 1 s ones (each decode then hears a longer buffer). All are far below
#    1 on one CPU thread, so here latency is cheap to buy; a large model (Whisper on a GPU
#    shared by many streams) cannot re-decode every 0.1 s.
# 3. Hardly: one or two words of 42 at every size (4.8 %, 0 % and 2.4 %; offline, each
#    string whole, 2.4 %), and one word is 2.4 points, so these differences are noise.
#    The buffer is cut in pauses, so the model always hears utterances from their start,
#    and a word is committed only once two hypotheses agree on it. Very small chunks
#    would give hypotheses that agree on a wrong word twice in a row before its end has
#    been heard (two looks 0.1 s apart see almost the same audio); large chunks make the
#    buffer hold a pause and the next utterance at once, which the model, trained on at
#    most three strings at a time, does not hear better.
#
# </details>
