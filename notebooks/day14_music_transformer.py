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
# # Day 14 — Music Transformer
#
# **What you will build** (in `course_lib.music.transformer`; the recipe that trains it is in
# `course_lib.music.transformer_train`): a decoder-only transformer
# over yesterday's REMI tokens with **relative attention** computed by the skewing trick
# (Huang et al., *Music Transformer*, 2018), an absolute-position baseline, cached
# generation, and temperature / top-k / top-p sampling. You will train it on the Bach
# chorales, beat tuned n-gram models on held-out pieces, and listen to what it writes.
#
# **Prerequisites:** Day 02 (attention, KV cache), Day 13 (tokens, corpus).
#
# **Run time:** about 2 minutes on an idle 2-core CPU (two small models train for ~40 s
# each); with their checkpoints in `artifacts/` a re-run takes ~20 s.

# %%
import inspect
import math
import time
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display

from course_lib.music.ngram import tune_ngram
from course_lib.music.synth import render_notes, save_midi
from course_lib.music.tokenizer import BOS, EOS, REMITokenizer
from course_lib.music.transformer import RelativeMultiHeadAttention, generate, sequence_nll, skew, top_p_filter
from course_lib.music.transformer_train import PRESETS, chorale_token_splits, train_music_transformer
from course_lib.runtime import artifacts_dir, best_time, get_device, seed_everything, torch_threads
from course_lib.train import describe, preset
from course_lib.viz import play_audio, plot_loss

# %% [markdown]
# One config cell. `RECIPE` is everything that decides the trained model (sizes, training
# steps, learning-rate schedule, tokenizer, transposition range), a named preset in
# `course_lib`; the absolute-position baseline is the same recipe with one field changed.
# On a GPU the same model trains and more samples are drawn.

# %%
DEVICE = get_device()
SEED = 0
RECIPE = preset(PRESETS, DEVICE)                # dim 128, depth 3, context 128; 450 steps of 16 windows
ABSOLUTE = replace(RECIPE, model=replace(RECIPE.model, relative=False))   # the baseline
NUM_SAMPLES, SAMPLE_TOKENS = (128, 256) if DEVICE.type == "cuda" else (32, 256)
SAMPLING = dict(temperature=0.5, top_p=0.9)     # see section 6 for why this cool
KV_LENGTH = 512                                 # speed-up of cached decoding measured at this length
SAMPLE_RATE, TEMPO_BPM = 11025, 90
print("device:", DEVICE)
print(describe(RECIPE))

# %% [markdown]
# ## 1. Data and the bar to beat
#
# Yesterday's REMI tokens (sixteenth-note grid, 8 velocity bins, no voice tokens), split
# by piece. Before any neural network: how well does counting do? An **n-gram** model
# predicts a token from the $n-1$ before it,
#
# $$P(w \mid h) = \frac{c(h, w) + k}{c(h) + kV},$$
#
# with add-$k$ smoothing for histories and continuations never seen in training. We try
# $n = 1..5$ and several $k$ on the *validation* pieces, and keep the best: that tuned
# model is the bar the transformer must clear, measured on the *test* pieces.

# %%
tokenizer = REMITokenizer(RECIPE.tokenizer)
train, valid, test = chorale_token_splits(tokenizer)
print(f"{len(train)} / {len(valid)} / {len(test)} chorales; "
      f"{sum(map(len, train)):,} / {sum(map(len, valid)):,} / {sum(map(len, test)):,} tokens; vocab {len(tokenizer)}")

t0 = time.perf_counter()
(best_n, best_k), table, ngrams = tune_ngram(train, valid, len(tokenizer))
ngram_test = ngrams[best_n].nll(test, best_k)
ks = sorted({k for _, k in table}, reverse=True)
print(f"validation NLL (nats/token), {time.perf_counter() - t0:.1f} s:")
print("      " + "".join(f"k={k:<8g}" for k in ks))
for n in sorted({n for n, _ in table}):
    print(f"n={n}: " + "".join(f"{table[(n, k)]:<10.3f}" for k in ks))
print(f"best: n={best_n}, k={best_k:g}; test NLL {ngram_test:.3f} nats/token (perplexity {math.exp(ngram_test):.2f})")

# %% [markdown]
# Longer histories help as long as $k$ shrinks with them. On validation the 5-gram with
# tiny $k$ comes out best, but only by a hair over the 4-gram (compare the two rows'
# best entries): section 4 shows what that tie means on the test pieces.
# Chorale tokens are very regular (`Velocity` always follows `Pitch`, four voices move
# together), so counting gets far. What counting cannot do is generalise: a 5-gram knows
# nothing about a chord it has not seen in exactly this key and context.

# %% [markdown]
# ## 2. Relative attention and the skewing trick
#
# Music repeats at *distances*: a motif comes back a bar later, a voice moves by a
# step. Relative attention gives each head a learned vector $E_r$ per distance
# $r = j - i \le 0$ and adds $q_i \cdot E_{j-i}$ to the logits:
#
# $$\text{logits}_{ij} = \frac{q_i \cdot k_j + q_i \cdot E_{j-i}}{\sqrt{d_h}}.$$
#
# The direct way gathers an $(L, L, d_h)$ tensor of embeddings, $E_{j-i}$ for every
# pair — $O(L^2 d_h)$ memory. The **skew** computes $Q E^\top$ once, $(L, L)$, where
# column $m$ holds distance $m - (L-1)$, and slides row $i$ left by $L-1-i$ with a pad,
# a reshape and a slice:
#
# ![The skewing trick on four queries: Q E-transpose with one column per distance, a zero column padded on the left, the numbers re-read as a five-by-four matrix, the first row dropped, leaving each distance on one diagonal of the query-by-key matrix](figures/day14_skewing_trick.svg)
#
# Follow one colour through the figure: $q_i \cdot E_0$ (orange, distance 0) sits in the
# last column of $QE^\top$ (panel 1). Padding a zero column on the left and reading the
# same numbers as an $(L + 1) \times L$ matrix shifts every row one place further than
# the row above it (panel 3), so after dropping the first row, distance 0 lies on the
# diagonal, distance $-1$ just left of it, and so on (panel 4): entry $(i, j)$ holds
# $q_i \cdot E_{j-i}$. The grey cells above the diagonal hold leftovers of other rows;
# they belong to future keys, which the causal mask hides anyway. Here are the three
# steps, written as the figure draws them:

# %%
def skew_steps(rel):
    """(..., L, L) relative logits, column m = distance m - (L - 1) -> (..., L, L), column = key."""
    *batch, L, S = rel.shape
    padded = F.pad(rel, (1, 0))                              # 2. zero column on the left: (..., L, L + 1)
    reshaped = padded.reshape(*batch, L + 1, L)              # 3. the same numbers, read as (L + 1, L)
    return reshaped[..., 1:, :]                              # 4. drop the first row: (..., L, L)

# %% [markdown]
# Against the explicit gather, on random numbers (L = 6 queries, S = 6 keys):

# %%
gen = seed_everything(SEED)
H, L, Dh = 2, 6, 8
q = torch.randn(1, H, L, Dh, generator=gen)
E = torch.randn(H, L, Dh, generator=gen)                 # row m: distance m - (L - 1)
QE = q @ E.transpose(-2, -1)                             # (1, H, L, L), columns = distances
fast = skew(QE)
ours = skew_steps(QE)
print("our three steps == course_lib's skew, exactly:", torch.equal(ours, fast))
assert torch.equal(ours, fast)
gathered = torch.zeros(1, H, L, L)
for i in range(L):
    for j in range(i + 1):                               # causal: keys j <= i
        gathered[0, :, i, j] = (q[0, :, i] * E[:, j - i + L - 1]).sum(-1)
visible = torch.ones(L, L, dtype=torch.bool).tril()
diff_skew = (fast - gathered)[..., visible].abs().max().item()
print("Q Eᵀ, head 0 (row i = query, column = distance -5 .. 0):\n", QE[0, 0].round(decimals=1))
print("skewed (column = key j; above the diagonal is masked):\n", fast[0, 0].round(decimals=1))
print(f"max |skew - explicit gather| on the causal part: {diff_skew:.1e}")
assert diff_skew < 1e-5

# %% [markdown]
# Our three lines give exactly the library's numbers (a pad and two reshapes move
# numbers, they do no arithmetic), and both equal the explicit gather on the causal part.
# `course_lib`'s `skew` writes steps 3-4 as "flatten, drop the first $L$ numbers, re-read
# as $(L, S)$", which is the same thing when $L = S$ and also covers a KV cache, where
# the $L$ new queries are the last $L$ of $S$ keys ($L \le S$): cached decoding needs no
# special case. Distances beyond the training context share the farthest embedding, so
# the model can generate past it. `RelativeMultiHeadAttention` plugs this into Day 02's
# `MultiHeadAttention` by overriding only `attend` — projections, masks and the cache are
# inherited:

# %%
print(inspect.getsource(RelativeMultiHeadAttention.attend))

# %% [markdown]
# ## 3. The model and its training
#
# Pre-norm decoder blocks (Day 02), tied input/output embeddings, no dropout (a few
# hundred steps see each window about once: nothing to overfit yet). The
# baseline (`ABSOLUTE`) is identical except for a learned absolute position table added
# to the token embeddings instead of relative attention. Training samples random 129-token
# windows, each **transposed** by −5..+6 semitones, with warm-up and cosine decay
# (`RECIPE.train`). `train_music_transformer` builds the model from the recipe (seeded),
# trains it with `course_lib.train.load_or_train` and saves it under
# `artifacts/checkpoints/music_transformer_<key>.pt`, where the key names every field of
# the recipe: a re-run loads the file instead of training.

# %%
runs = {"relative": train_music_transformer(RECIPE, device=DEVICE),
        "absolute": train_music_transformer(ABSOLUTE, device=DEVICE)}
models = {name: r.model for name, r in runs.items()}
for name, r in runs.items():
    n_params = sum(p.numel() for p in r.model.parameters())
    print(f"{name}: {n_params:,} parameters, trained in {r.run.seconds:.1f} s"
          + (" (loaded from artifacts/)" if r.run.cached else ""))

fig, ax = plt.subplots(figsize=(7, 2.8))
plot_loss({name: r.run.history for name, r in runs.items()}, window=10, ax=ax,
          ylabel="train loss (nats/token)", title="training")
ax.axhline(ngram_test, color="gray", ls="--", label=f"tuned {best_n}-gram (test)")
ax.set_ylim(0.5, 3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 4. Held-out NLL: transformer vs n-grams
#
# Every test token after `BOS` is scored once, by both kinds of model; the transformer
# sees up to 128 previous tokens (windows sliding by 64), the n-gram $n - 1$.

# %%
nll = {"relative": sequence_nll(models["relative"], test, RECIPE.model.context),
       "absolute": sequence_nll(models["absolute"], test, ABSOLUTE.model.context)}
nll.update({f"{n}-gram": ngrams[n].nll(test, min((k for nn, k in table if nn == n), key=lambda k: table[(n, k)]))
            for n in sorted(ngrams)})
for name, v in sorted(nll.items(), key=lambda kv: kv[1]):
    print(f"{name:9s} {v:.3f} nats/token  perplexity {math.exp(v):5.2f}  vs tuned {best_n}-gram {1 - v / ngram_test:+.1%}")

fig, ax = plt.subplots(figsize=(7, 2.5))
names = sorted(nll, key=nll.get)
ax.barh(names, [nll[n] for n in names], color=["tab:blue" if "gram" not in n else "tab:gray" for n in names])
ax.set(xlabel="test NLL (nats/token), lower is better")
ax.invert_yaxis()
plt.show()
improvement = 1 - nll["relative"] / ngram_test
assert improvement >= 0.15, f"relative model only {improvement:.1%} better than the tuned {best_n}-gram"
assert nll["relative"] < nll["absolute"], "relative attention should beat absolute positions here"

# %% [markdown]
# ### Why the "tuned" 5-gram loses to the 4-gram on test
#
# The table shows the tuned model (the 5-gram) *behind* the 4-gram on the test pieces.
# Tuning picked it on validation, where the two were nearly tied; two things then work
# against the longer history. **Overfitting**: the 5-gram fits its training pieces much
# better than new pieces (compare its train and test NLL below; the gap grows with $n$).
# **Sparse counts**: a 4-token history followed by a given token has been seen fewer
# times, and more test continuations were *never* seen in training; add-$k$ with a tiny
# $k$ gives each of those a probability near $k / (c(h) + kV)$, a cost of many nats.

# %%
k_of = {n: min((k for nn, k in table if nn == n), key=lambda k: table[(n, k)]) for n in sorted(ngrams)}
train_sample = train[:len(test)]                      # as many training pieces as test pieces
print(f"{'n':>2} {'k':>6} {'train':>7} {'valid':>7} {'test':>7}   test (history, next) never seen in training")
unseen_share = {}
for n in sorted(ngrams):
    c_hw, c_h = ngrams[n].counts(test)
    never = c_hw == 0
    cost = -np.log((c_hw + k_of[n]) / (c_h + k_of[n] * len(tokenizer)))
    unseen_share[n] = never.mean()
    print(f"{n:>2} {k_of[n]:>6g} {ngrams[n].nll(train_sample, k_of[n]):7.3f} {table[(n, k_of[n])]:7.3f} "
          f"{nll[f'{n}-gram']:7.3f}   {never.mean():5.1%} of tokens, {cost[never].mean() if never.any() else 0:4.1f} nats "
          f"each: {cost[never].sum() / len(cost):.3f} nats/token of the total")
print(f"validation picked n={best_n} by {abs(table[(4, k_of[4])] - table[(5, k_of[5])]):.3f} nats; "
      f"on test the 4-gram is better by {nll['5-gram'] - nll['4-gram']:.3f}")
assert unseen_share[5] > unseen_share[4], "longer histories leave more test continuations unseen"

# %% [markdown]
# Read the table row by row. From the 4-gram to the 5-gram the training NLL keeps
# falling, but the test NLL rises: the extra token of history is mostly memorised. The
# share of test tokens whose (history, next token) pair never occurred in training
# grows several-fold, and each such token costs the model far more than an average token
# (the "nats each" column); those tokens alone make up about a quarter of the 5-gram's
# test NLL (last column). And the validation margin that chose $n = 5$ was a few
# thousandths of a nat, far smaller than the gap between the validation and the test NLL
# of any one model in the table: on two sets of about 35 pieces, a margin that small
# says nothing about which order generalises better. Real n-gram models fix
# this by **backing off** to a shorter history when the long one is rare (Katz,
# Kneser-Ney), or by mixing the orders (exercise 4 measures that); a transformer shares
# what it learns across histories instead.
#
# The relative model beats the best tuned n-gram by the margin printed above, and the
# absolute-position model with the same budget. Why relative attention helps here: the
# same pattern (a voice holding, a cadence on beat 1) recurs at every place in a piece,
# and a model that attends by *distance* learns it once instead of once per absolute
# position. (The n-gram's $k$ and $n$ were tuned on validation; the transformer's
# settings were not tuned on test either.)

# %% [markdown]
# ## 5. KV-cache: equal tokens, faster at 512
#
# Day 02's cache, now with relative attention: the cached loop feeds one token per step
# and the skew handles $L = 1$ query over $S$ cached keys. First, cached greedy decoding
# must produce exactly the tokens of the recompute loop. Then time producing tokens
# 505..512 both ways — each recompute step is a full 512-token forward pass. One CPU
# thread, best of two, as on Day 02.

# %%
relative_cpu = models["relative"].to("cpu").eval()
prompt = torch.tensor([[BOS, tokenizer.token_to_id["TimeSig_4"], tokenizer.token_to_id["Bar"]]])
a = generate(relative_cpu, prompt, 48, temperature=0, use_cache=True)
b = generate(relative_cpu, prompt, 48, temperature=0, use_cache=False)
print("cached == recompute (48 greedy tokens):", torch.equal(a, b))
assert torch.equal(a, b)

long_prefix = torch.tensor([test[0][:KV_LENGTH - 8]])     # a real chorale, 504 tokens

with torch_threads(1):   # one thread, as the note above explains
    with torch.no_grad():
        caches = relative_cpu.new_caches()
        relative_cpu(long_prefix[:, :-1], caches)             # prefill: the cache holds 503 tokens
        kv_state = [(c.k, c.v) for c in caches]

    def cached_steps():
        for c, (k, v) in zip(caches, kv_state):
            c.k, c.v = k, v
        tok, out = long_prefix[:, -1:], []
        with torch.no_grad():
            for _ in range(8):
                tok = relative_cpu(tok, caches)[:, -1:].argmax(-1)
                out.append(tok)
        return torch.cat(out, 1)

    def recompute_steps():
        seq = long_prefix
        with torch.no_grad():
            for _ in range(8):
                seq = torch.cat([seq, relative_cpu(seq)[:, -1:].argmax(-1)], 1)
        return seq[:, -8:]

    t_cache, out_cache = best_time(cached_steps)
    t_full, out_full = best_time(recompute_steps)
kv_speedup = t_full / t_cache
print(f"tokens {KV_LENGTH - 7}..{KV_LENGTH}: recompute {t_full / 8 * 1e3:.1f} ms/token, "
      f"cached {t_cache / 8 * 1e3:.1f} ms/token, speed-up {kv_speedup:.0f}x, same tokens: {torch.equal(out_cache, out_full)}")
assert torch.equal(out_cache, out_full) and kv_speedup > 5

# %% [markdown]
# ## 6. Sampling
#
# The model outputs a distribution over the next token; how we draw from it shapes the
# music. **Temperature** $T$ divides the logits ($T < 1$ sharpens, $T > 1$ flattens);
# **top-k** keeps the $k$ most likely tokens; **top-p** (nucleus) keeps the smallest set
# of most likely tokens whose probability reaches $p$ — *including* the token that
# crosses $p$, else a single dominant token with probability 0.96 < p = 0.97 would leave
# an empty set:

# %%
def nucleus(logits, p):
    """Keep the most likely tokens until their probability reaches p (the crossing one
    included); the rest get -inf. p: a float, or a tensor (B, 1) with one p per row."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs                     # probability ranked above each token
    drop_sorted = before >= p                                 # p already reached without this token
    drop = drop_sorted.scatter(-1, order, drop_sorted)        # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
for p in (0.5, 0.6, 0.9, 1.0):
    print(f"p={p}: keeps {torch.isfinite(nucleus(probs.log(), p))[0].int().tolist()}")
random_logits = torch.randn(64, len(tokenizer), generator=seed_everything(SEED)) * 3
for p in (0.1, 0.5, 0.9, 0.99, 1.0):
    assert torch.equal(nucleus(random_logits, p), top_p_filter(random_logits, p))
print("equal to course_lib's top_p_filter on 64 random rows x 5 values of p")

# %% [markdown]
# Now write music: `NUM_SAMPLES` sequences of `SAMPLE_TOKENS` tokens. The prompt is
# `BOS TimeSig_4 Bar` — we choose the meter; training windows rarely start at a piece's
# beginning, so the model has seen few openings. Each sample is checked against the REMI
# grammar (one that ends with `EOS` must be complete; one that runs out of tokens may
# stop mid-note). First, how the temperature changes that:

# %%
def check_sample(tokens):
    """Grammar error or None; a sample ends at its first EOS."""
    if EOS in tokens:
        return tokenizer.check_grammar(tokens[:tokens.index(EOS) + 1], complete=True)
    return tokenizer.check_grammar(tokens, complete=False)


model = models["relative"].to(DEVICE)
prompt = torch.tensor([[BOS, tokenizer.token_to_id["TimeSig_4"], tokenizer.token_to_id["Bar"]]] * NUM_SAMPLES,
                      device=DEVICE)
grammatical_at = {}
for temperature in (1.0, 0.8, SAMPLING["temperature"]):
    gen = seed_everything(SEED)
    trial = generate(model, prompt, SAMPLE_TOKENS - 3, temperature=temperature, top_p=SAMPLING["top_p"],
                     generator=gen).cpu().tolist()
    errors = [check_sample(s) for s in trial]
    first = next((e for e in errors if e is not None), "-")
    grammatical_at[temperature] = sum(e is None for e in errors) / len(errors)
    print(f"T={temperature}: {grammatical_at[temperature]:4.0%} grammatical   e.g. {first}")

# %% [markdown]
# At $T = 1$ the model's typical slip is to write the `Position` it has just written
# again (after a few hundred training steps it has not fully learned that positions
# must move forward); cooling the distribution makes such low-probability slips rare.
# The samples we keep use $T = 0.5$, $p = 0.9$:

# %%
gen = seed_everything(SEED)
t0 = time.perf_counter()
samples = generate(model, prompt, SAMPLE_TOKENS - 3, generator=gen, **SAMPLING).cpu().tolist()
print(f"{NUM_SAMPLES} x {SAMPLE_TOKENS} tokens in {time.perf_counter() - t0:.1f} s")
errors = [check_sample(s) for s in samples]
grammatical = sum(e is None for e in errors) / len(errors)
print(f"grammatical: {grammatical:.0%}")
print("start of sample 0:", " ".join(tokenizer.to_strings(samples[0][:30])))
# How much of this is the seed? Over training seeds 0-3 (`COURSE_SEED=N course run
# day14`), 78-100 % of the T = 0.5 samples were grammatical (34-84 % at T = 1), and the
# same seed trained on one CPU thread instead of two gave 62 %: one slip in 256 tokens
# spoils a sample, and how often the model slips depends on details of its training.
# What held every time: cooling helps, and most cool samples are whole.
assert grammatical >= 0.5, f"only {grammatical:.0%} of the T = 0.5 samples are grammatical"
assert grammatical_at[SAMPLING["temperature"]] > grammatical_at[1.0], "cooling must reduce the slips"

# %% [markdown]
# Render one sample, look at it as a piano roll, listen, and save it as MIDI to open in
# any notation program. The voices are not encoded in plain REMI, so the lowest sounding
# notes are coloured as bass, the highest as soprano, for display and timbre.

# %%
def assign_voices(notes):
    """Number the notes of each onset from the top down: highest = part 0 (soprano) .. 3."""
    by_start = {}
    for n in notes:
        by_start.setdefault(n.start, []).append(n)
    out = []
    for start, group in by_start.items():
        for rank, n in enumerate(sorted(group, key=lambda n: -n.pitch)):
            out.append(type(n)(n.start, n.pitch, n.duration, n.velocity, min(rank, 3)))
    return sorted(out)


lengths = [len(tokenizer.decode_prefix(s[:s.index(EOS) + 1] if EOS in s else s)) if e is None else 0
           for s, e in zip(samples, errors)]
pick = int(np.argmax(lengths))
notes = assign_voices(tokenizer.decode_prefix(samples[pick]))
meter = tokenizer.meter(samples[pick])
print(f"sample {pick}: {len(notes)} notes, {meter} beats per bar, {max(n.end for n in notes) / meter:.1f} bars")

fig, ax = plt.subplots(figsize=(10, 3))
colors = ["tab:red", "tab:orange", "tab:green", "tab:blue"]
for n in notes:
    ax.add_patch(plt.Rectangle((n.start, n.pitch - 0.4), n.duration, 0.8, color=colors[n.part], alpha=0.8))
for bar in np.arange(0, max(n.end for n in notes) + 1e-9, meter):
    ax.axvline(bar, color="gray", lw=0.5)
ax.set(xlim=(0, max(n.end for n in notes)), ylim=(min(n.pitch for n in notes) - 2, max(n.pitch for n in notes) + 2),
       xlabel="beats", ylabel="MIDI pitch", title="a sampled chorale fragment")
plt.show()
display(play_audio(render_notes(notes, sample_rate=SAMPLE_RATE, tempo_bpm=TEMPO_BPM), SAMPLE_RATE))
print("saved", save_midi(notes, artifacts_dir("day14") / "sample.mid", tempo_bpm=TEMPO_BPM))

# %% [markdown]
# Four-part texture, chords moving mostly together on the beat, passing eighth notes
# in the inner voices — recognisably chorale-like for a model trained for seconds.
# What it lacks is long-range form (phrases, a cadence in the home key): a 128-token
# context is about a bar and a half.

# %% [markdown]
# ### Try it: temperature × top-p
#
# The two knobs interact: temperature reshapes the whole distribution, top-p then cuts
# its tail. The widget below shows both at once. Left: the model's next-token
# distribution at one point of a held-out chorale (the 20 likeliest tokens; grey bars
# are cut by top-p, and the title counts how many tokens stay in the running). Right: a
# sample of 128 tokens drawn with those settings, as a piano roll, and how many of the 4
# samples drawn per setting follow the grammar (the roll shows the first one that
# does). Every sample is drawn once, below, with our `nucleus` and one batch for the
# whole grid (each row with its own $T$ and $p$), so moving the sliders only looks
# results up.

# %%
GRID_T, GRID_P, PER_SETTING, WIDGET_TOKENS = (0.3, 0.5, 0.8, 1.0, 1.3), (0.5, 0.9, 1.0), 4, 128
settings = [(T, p) for T in GRID_T for p in GRID_P for _ in range(PER_SETTING)]
T_rows = torch.tensor([[T] for T, _ in settings], device=DEVICE)
p_rows = torch.tensor([[p] for _, p in settings], device=DEVICE)
start = time.perf_counter()
gen = seed_everything(SEED)
with torch.no_grad():
    seq = prompt[:1].expand(len(settings), -1)                  # BOS TimeSig_4 Bar
    caches = model.new_caches()
    logits = model(seq, caches)[:, -1]
    for _ in range(WIDGET_TOKENS - seq.shape[1]):
        probs_rows = nucleus(logits / T_rows, p_rows).softmax(-1)
        next_tok = torch.multinomial(probs_rows.cpu(), 1, generator=gen).to(DEVICE)
        seq = torch.cat([seq, next_tok], 1)
        logits = model(next_tok, caches)[:, -1]
grid_samples = {}
for (T, p), row in zip(settings, seq.tolist()):
    grid_samples.setdefault((T, p), []).append(row)
# the distribution the left panel shows: after 40 tokens of a held-out chorale
context = test[0][:40]
with torch.no_grad():
    context_logits = model(torch.tensor([context], device=DEVICE))[0, -1].cpu()
print(f"{len(settings)} samples x {WIDGET_TOKENS} tokens ({len(GRID_T)} temperatures x {len(GRID_P)} values of p "
      f"x {PER_SETTING}) in {time.perf_counter() - start:.1f} s; context ends with "
      + " ".join(tokenizer.to_strings(context[-4:])))


def show_sampling(T=0.5, p=0.9):
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 1.4]})
    probs_T = (context_logits / T).softmax(-1)
    kept = torch.isfinite(nucleus((context_logits / T)[None], p))[0]
    top = probs_T.argsort(descending=True)[:20]
    ax0.bar(range(20), probs_T[top], color=["tab:blue" if kept[i] else "lightgray" for i in top])
    ax0.set_xticks(range(20), tokenizer.to_strings(top.tolist()), rotation=90, fontsize=7)
    ax0.set(ylim=(0, 1), ylabel="probability", title=f"next token: {int(kept.sum())} kept (of {len(tokenizer)})")
    rows = grid_samples[(T, p)]
    good = [r for r in rows if check_sample(r) is None]
    notes = assign_voices(tokenizer.decode_prefix(good[0])) if good else []   # the first grammatical one
    for n in notes:
        ax1.add_patch(plt.Rectangle((n.start, n.pitch - 0.4), n.duration, 0.8, color=colors[n.part], alpha=0.8))
    end = max([n.end for n in notes], default=16)
    pitches = [n.pitch for n in notes] or [40, 80]
    ax1.set(xlim=(0, end), ylim=(min(pitches) - 2, max(pitches) + 2), xlabel="beats", ylabel="MIDI pitch",
            title=f"T = {T}, p = {p}: {len(good)}/{len(rows)} samples grammatical\n"
                  + ("the first of them:" if good else "none to draw"))
    plt.tight_layout()
    plt.show()


widgets.interact(show_sampling, T=widgets.SelectionSlider(options=GRID_T, value=0.5, description="T"),
                 p=widgets.SelectionSlider(options=GRID_P, value=0.9, description="top-p"));

# %% [markdown]
# Watch the left panel's title first: cooling concentrates the probability on a few
# pitches, so top-p keeps only a handful of tokens, while at $T = 1.3$, $p = 1$ every
# one of the 212 tokens stays in the running, including the ones that break the
# grammar. Top-p is a guard against exactly that tail: at high temperature, $p = 0.5$
# leaves far fewer candidates than $p = 1$. The grammar counts on the right come from
# only 4 samples per setting, so they are noisy; read them as a trend (hot and uncut is
# worst), not as a measurement. Section 6's 32-sample counts are the measurement.

# %% [markdown]
# ## In production
#
# - **Music Transformer** ([Huang et al., 2018](https://arxiv.org/abs/1809.04281);
#   [Magenta's write-up](https://magenta.tensorflow.org/music-transformer)) trained on
#   piano performances (MAESTRO) with relative attention over 2,000+ tokens; the skew
#   made that fit in memory. Relative attention itself is from
#   [Shaw et al., 2018](https://arxiv.org/abs/1803.02155). Successors: **MuseNet**
#   (OpenAI, sparse attention, many instruments), the
#   [Anticipatory Music Transformer](https://arxiv.org/abs/2306.08620) (infilling with
#   interleaved control tokens), **MIDI-GPT** and **Text2MIDI**.
# - **Relative positions today**: [RoPE](https://arxiv.org/abs/2104.09864) (rotary
#   embeddings, Llama) and [ALiBi](https://arxiv.org/abs/2108.12409) (a distance penalty
#   added to the logits, a fixed version of our $q_i \cdot E_{j-i}$) are the common ways
#   to make attention distance-aware and to extrapolate past the training length.
# - **Sampling**: temperature, top-k and nucleus (top-p) sampling
#   ([Holtzman et al., 2019](https://arxiv.org/abs/1904.09751)) are the same knobs in
#   every text and music generator; Hugging Face's
#   [`generate`](https://huggingface.co/docs/transformers/main_classes/text_generation)
#   takes them as arguments.
# - **Audio-domain music** ([MusicGen](https://arxiv.org/abs/2306.05284), Stable Audio,
#   Suno, Udio) models codec tokens or latents of the waveform instead of notes: Day 15.
# - **Failure modes:** sampling at $T > 1$ produces ungrammatical or atonal sequences;
#   $T \ll 1$ or greedy decoding loops on one chord; absolute positions do not
#   generalise past the training length; measuring NLL on windows from training pieces
#   (leakage); comparing per-token NLL across tokenizers with different token counts
#   (compare per note or per second instead).
#
# The same pipeline with production libraries: [MidiTok](https://github.com/Natooz/MidiTok)
# for REMI tokens, a GPT-2 from `transformers` as the decoder (it has absolute
# positions; a relative or rotary model would be a different class), and `generate` with
# the sampling settings of section 6 (not run here):
#
# ```python
# from miditok import REMI, TokenizerConfig
# from symusic import Score
# from transformers import GPT2Config, GPT2LMHeadModel
#
# tokenizer = REMI(TokenizerConfig(num_velocities=8, use_time_signatures=True))
# tokens = tokenizer(Score("chorale.mid"))                  # MIDI -> REMI token ids
# model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=1024,
#                                    n_embd=128, n_layer=3, n_head=4))
# # ... train on tokenized MIDI files (transformers.Trainer or a plain loop) ...
# out = model.generate(prompt_ids, do_sample=True, temperature=0.5, top_p=0.9,
#                      max_new_tokens=256)                # cached decoding by default
# tokenizer(out).dump_midi("sample.mid")                   # token ids -> MIDI file
# ```

# %% [markdown]
# ## Summary
#
# - The skewing trick turns $Q E^\top$ into relative logits with a pad, a reshape and a
#   slice — equal to the explicit gather, in $O(L^2)$ instead of $O(L^2 d_h)$ memory.
# - A 3-layer, 128-wide Music Transformer trained briefly on transposed chorale windows
#   beats the best tuned n-gram on held-out chorales by the margin measured above, and
#   the same model with absolute positions.
# - Cached decoding gives the same tokens and is many times faster at 512 tokens.
# - Counting has limits: the 5-gram chosen on validation by a hair loses to the 4-gram
#   on test, because it memorises its training pieces and meets more never-counted
#   continuations.
# - Top-p keeps the token that crosses $p$; at $T = 0.5$, $p = 0.9$ the samples follow the
#   REMI grammar (at $T = 1$ many slip), and they sound like chorale fragments; the
#   widget shows how temperature and top-p reshape the next-token distribution.
#
# **Exercises:** [../exercises/day14_music_transformer.ipynb](../exercises/day14_music_transformer.ipynb)
# — the skewing trick, top-p sampling, one KV-cache step, and an experiment: mixing the
# 4-gram and the 5-gram instead of choosing one.
