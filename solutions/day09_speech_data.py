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
# # Day 09 exercises: Speech data and text
#
# Three pieces of the speech data pipeline from the lesson
# ([../notebooks/day09_speech_data.ipynb](../notebooks/day09_speech_data.ipynb)), written
# by you this time, and an experiment:
#
# 1. number normalisation, `number_to_words`;
# 2. phoneme durations in samples to frame counts, `durations_to_frames`;
# 3. a padded batch with masks, `collate`;
# 4. an experiment: how many phonemes of fast speech get no frame at all, for three hops.
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. Each check compares your function with `course_lib` on fixed
# inputs, and its message says what looks wrong. `course check day09` runs all checks.
#
# **Run time:** a few seconds on a 2-core CPU.

# %%
import math

import numpy as np
import torch

from course_lib.data import speech
from course_lib.runtime import seed_everything
from course_lib.speech import espeak, text

seed_everything(0)

# %% [markdown]
# ## Exercise 1: numbers to words
#
# Write `number_to_words(n)` for integers $0 \le n \le 999{,}999$ in American English,
# without "and", all lower case, words separated by single spaces:
#
# | n | words |
# |---|---|
# | 0 | zero |
# | 14 | fourteen |
# | 40 | forty |
# | 42 | forty two |
# | 300 | three hundred |
# | 2048 | two thousand forty eight |
# | 110015 | one hundred ten thousand fifteen |
#
# Hint: below 20 every number has its own word; below 100 it is tens + ones; above,
# split off the thousands (`divmod(n, 1000)`) and the hundreds, and call yourself on
# the parts. The lists `ONES` and `TENS` below are yours to use.

# %%
ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """0 <= n <= 999,999 in words: 2048 -> 'two thousand forty eight'."""
    ### BEGIN SOLUTION
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + ("" if ones == 0 else " " + ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        words = ONES[hundreds] + " hundred"
        return words if rest == 0 else words + " " + number_to_words(rest)
    thousands, rest = divmod(n, 1000)
    words = number_to_words(thousands) + " thousand"
    return words if rest == 0 else words + " " + number_to_words(rest)
    ### END SOLUTION


# %% tags=["check"]
# Check: number_to_words reads numbers like the course's normaliser
cases = {0: "zero", 7: "seven", 13: "thirteen", 19: "nineteen", 20: "twenty", 40: "forty",
         42: "forty two", 99: "ninety nine", 100: "one hundred", 101: "one hundred one",
         300: "three hundred", 1000: "one thousand", 2048: "two thousand forty eight",
         110015: "one hundred ten thousand fifteen", 999999:
         "nine hundred ninety nine thousand nine hundred ninety nine"}
for n, expected in cases.items():
    got = number_to_words(n)
    assert isinstance(got, str), f"number_to_words({n}) must return a str; got {type(got).__name__}"
    assert " and " not in f" {got} ", f"{n}: American English reads no 'and' ('one hundred one'); got {got!r}"
    assert got == got.strip() and "  " not in got, f"{n}: stray spaces in {got!r}"
    assert got == expected, f"number_to_words({n}) should be {expected!r}; got {got!r}"
for n in list(range(0, 1200)) + list(np.random.default_rng(0).integers(1200, 1_000_000, 300)):
    n = int(n)
    assert number_to_words(n) == text.number_to_words(n), \
        f"number_to_words({n}) = {number_to_words(n)!r}; expected {text.number_to_words(n)!r}"
print("number_to_words: correct on 1,515 numbers")

# %% [markdown]
# ## Exercise 2: phoneme durations to frames
#
# eSpeak tells how many samples each phoneme lasts, at 22,050 Hz. The spectrogram has
# `n_frames` frames at 16 kHz with hop 200: frame $m$ is centred on time
# $m \cdot 200 / 16000$ s. Write `durations_to_frames(durations, sample_rate, n_frames,
# hop_length, target_rate)` that returns how many frames belong to each phoneme:
#
# - a frame belongs to the phoneme sounding at its centre;
# - round the **boundaries**, not the single durations: the phoneme ending at sample
#   $b$ (cumulative sum of the durations) has
#   $\lceil b \cdot \text{target\_rate} / (\text{sample\_rate} \cdot \text{hop\_length}) \rceil$
#   frames centred before its end (at most `n_frames`);
# - the last phoneme ends at `n_frames`, so the counts sum to `n_frames` exactly.
#
# Return a list of ints, one per phoneme (some may be 0).

# %%
def durations_to_frames(durations: list[int], sample_rate: int, n_frames: int,
                        hop_length: int = 200, target_rate: int = 16000) -> list[int]:
    """Samples per phoneme at sample_rate -> frames per phoneme, summing to n_frames."""
    ### BEGIN SOLUTION
    ends = np.cumsum(durations)
    scale = target_rate / (sample_rate * hop_length)
    bounds = [min(n_frames, math.ceil(int(b) * scale - 1e-9)) for b in ends[:-1]] + [n_frames]
    return [int(c) for c in np.diff([0, *bounds])]
    ### END SOLUTION


# %% tags=["check"]
# Check: durations_to_frames rounds boundaries and lines up with frame centres
short = [100] * 30                              # each phoneme lasts 0.36 frames
got = durations_to_frames(short, 22050, 12)
assert isinstance(got, list) and len(got) == 30, "return one count per phoneme (a list of 30 ints)"
assert sum(got) == 12, (f"the counts must sum to n_frames = 12; got {sum(got)}. Rounding each "
                        "duration on its own loses or gains frames: round the cumulative boundaries")
assert durations_to_frames([275, 276], 22050, 2) == [1, 1], (
    "frame 1 is centred on 200 samples at 16 kHz = sample 275.6 at 22,050 Hz: it belongs to "
    "the second phoneme. Scale the boundary by target_rate / (sample_rate * hop_length) and "
    "take the ceil (not floor or round)")
assert durations_to_frames([200, 200], 16000, 3) == [1, 2], (
    "with no resampling (16 kHz in), frames 0, 1, 2 are centred on samples 0, 200, 400: the "
    "boundary at 200 goes to the second phoneme. Did you scale by target_rate / sample_rate?")
syn = espeak.synthesize("seven forty five")
n_frames = 1 + math.ceil(len(syn.wave) * 16000 / 22050) // 200
expected = speech.durations_to_frames(syn.durations, syn.sample_rate, n_frames)
got = durations_to_frames(syn.durations, syn.sample_rate, n_frames)
assert got == expected, f"for 'seven forty five' expected {expected}; got {got}"
print("durations_to_frames: matches course_lib on eSpeak's timings:", got)

# %% [markdown]
# ## Exercise 3: a padded batch with masks
#
# Write `collate(items)`: `items` is a list of `(token_ids, mel)` pairs, `token_ids` a
# list of ints and `mel` a `(n_mels, frames)` tensor. Return a dict with
#
# - `tokens`: `(B, N)` long, each row the ids followed by zeros (0 = PAD), N = longest;
# - `token_lengths`: `(B,)` long; `token_mask`: `(B, N)` bool, **True on real tokens**;
# - `mels`: `(B, n_mels, T)` float, zero-padded **along time** (the last axis);
# - `mel_lengths`: `(B,)` long; `mel_mask`: `(B, T)` bool, True on real frames.

# %%
def collate(items: list[tuple[list[int], torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad token ids and mels of a batch; return them with lengths and masks."""
    ### BEGIN SOLUTION
    token_lengths = torch.tensor([len(t) for t, _ in items])
    mel_lengths = torch.tensor([m.shape[1] for _, m in items])
    tokens = torch.zeros(len(items), int(token_lengths.max()), dtype=torch.long)
    mels = torch.zeros(len(items), items[0][1].shape[0], int(mel_lengths.max()))
    for i, (t, m) in enumerate(items):
        tokens[i, :len(t)] = torch.tensor(t)
        mels[i, :, :m.shape[1]] = m
    return {"tokens": tokens, "token_lengths": token_lengths,
            "token_mask": torch.arange(tokens.shape[1]) < token_lengths[:, None],
            "mels": mels, "mel_lengths": mel_lengths,
            "mel_mask": torch.arange(mels.shape[2]) < mel_lengths[:, None]}
    ### END SOLUTION


# %% tags=["check"]
# Check: collate pads with zeros and masks the padding
g = torch.Generator().manual_seed(0)
items = [([5, 9, 2, 1], torch.randn(6, 7, generator=g)), ([3, 1], torch.randn(6, 3, generator=g)),
         ([4, 4, 1], torch.randn(6, 5, generator=g))]
got = collate(items)
expected = speech.collate(items)
missing = set(expected) - set(got)
assert not missing, f"the batch is missing the keys {sorted(missing)}"
assert got["tokens"].dtype == torch.long and got["tokens"].tolist() == expected["tokens"].tolist(), \
    f"tokens should be {expected['tokens'].tolist()} (ids, then 0 = PAD); got {got['tokens'].tolist()}"
assert got["token_lengths"].tolist() == [4, 2, 3] and got["mel_lengths"].tolist() == [7, 3, 5], \
    "token_lengths / mel_lengths: the real length of each item"
assert got["token_mask"].dtype == torch.bool and got["mel_mask"].dtype == torch.bool, \
    "masks must be bool tensors"
assert got["token_mask"][1].tolist() != [False, False, True, True], \
    "the token mask is inverted: True marks the real tokens, False the padding"
assert torch.equal(got["token_mask"], expected["token_mask"]), \
    f"token_mask should be {expected['token_mask'].int().tolist()}; got {got['token_mask'].int().tolist()}"
assert tuple(got["mels"].shape) == (3, 6, 7), \
    f"mels must be (B, n_mels, T) = (3, 6, 7), padded along time; got {tuple(got['mels'].shape)}"
assert torch.equal(got["mels"], expected["mels"]), "each mel goes first, zeros after it (along time)"
assert torch.equal(got["mel_mask"], expected["mel_mask"]), \
    "mel_mask: (B, T), True on the real frames of each item"
print("collate: matches course_lib.data.speech.collate")

# %% [markdown]
# ## Exercise 4 (experiment): how fine must the frames be for fast speech?
#
# A phoneme that gets **0 frames** is invisible to a TTS model: no mel frame carries
# it, and a duration model learns that it has no length. Our frames are 12.5 ms apart
# (hop 200 at 16 kHz). Measure how many phonemes vanish when speech gets fast, and how
# that depends on the hop.
#
# Write `zero_frame_share(sentences, rate, hop_length)`: synthesise each sentence with
# `espeak.synthesize(text.normalize(s), rate=rate)` (words per minute), count its frames
# as the lesson does, `n_frames = 1 + ceil(len(wave) * 16000 / 22050) // hop_length`,
# turn its durations into frames per event with `speech.durations_to_frames(...,
# hop_length=hop_length)` (the library's, so that exercise 2 need not be solved), and
# return the share of the **non-pause** events (`event.symbol != "_"`) over all the
# sentences that get 0 frames.

# %%
def zero_frame_share(sentences: list[str], rate: int, hop_length: int) -> float:
    """Share of the non-pause phoneme events that get 0 frames, over all sentences."""
    ### BEGIN SOLUTION
    zero = total = 0
    for sentence in sentences:
        syn = espeak.synthesize(text.normalize(sentence), rate=rate)
        n_frames = 1 + math.ceil(len(syn.wave) * 16000 / syn.sample_rate) // hop_length
        counts = speech.durations_to_frames(syn.durations, syn.sample_rate, n_frames, hop_length=hop_length)
        real = [c for c, event in zip(counts, syn.events) if event.symbol != "_"]
        zero += sum(c == 0 for c in real)
        total += len(real)
    return zero / total
    ### END SOLUTION


# %% tags=["check"]
# Check: coarser frames lose more phonemes of fast speech
sets = {domain: [s for s, _ in speech.sentences(domain, 8)] for domain in ("digits", "times", "general")}
for domain, sentences in sets.items():
    shares = {(rate, hop): zero_frame_share(sentences, rate, hop) for rate in (175, 440) for hop in (50, 200, 400)}
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in shares.values()), \
        "return a share: a float between 0 and 1"
    print(domain, {f"{rate} wpm, hop {hop}": f"{v:.1%}" for (rate, hop), v in shares.items()})
    assert shares[440, 400] > shares[440, 200], \
        f"{domain}: at 440 words/min, 25 ms frames (hop 400) must lose more phonemes than 12.5 ms ones"
    assert shares[440, 200] >= shares[440, 50] and shares[175, 200] <= shares[440, 200], \
        f"{domain}: finer frames and slower speech can only lose fewer phonemes"
    assert shares[440, 50] < 0.05, (f"{domain}: with 3 ms frames almost nothing vanishes; got "
                                    f"{shares[440, 50]:.1%}: did you skip the pauses and use hop_length?")
print("fast speech needs fine frames: at 440 words/min a 25 ms hop loses phonemes that 12.5 ms keeps")
