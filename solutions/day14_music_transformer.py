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
# # Day 14 exercises — Music Transformer
#
# Four exercises from the lesson ([../notebooks/day14_music_transformer.ipynb](../notebooks/day14_music_transformer.ipynb)):
#
# 1. the skewing trick for relative attention,
# 2. top-p (nucleus) filtering,
# 3. one decoding step with a KV cache,
# 4. an experiment: mixing two n-gram orders instead of choosing one.
#
# Write the body of each function where it says `# YOUR CODE HERE`, then run the check
# cell below it. Each check compares your function with `course_lib` or with an
# explicit computation on fixed random inputs. Grade the whole notebook with
# `course check day14` (add `--json` for a machine-readable report).
#
# **Run time:** a few seconds on a CPU (exercise 4 loads the chorales and counts n-grams: about 3 s).

# %%
import math

import torch
import torch.nn.functional as F

from course_lib.music import transformer as lib   # the reference the checks compare against
from course_lib.nn.attention import scaled_dot_product_attention

torch.manual_seed(0)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference (inf when shapes differ or a value is NaN)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return float("inf")
    d = (a - b).abs().max().item() if a.numel() else 0.0
    return float("inf") if math.isnan(d) else d


# %% [markdown]
# ## Exercise 1 — The skewing trick
#
# `rel = Q Eᵀ` is `(..., L, L)`: row $i$ is query $i$, column $m$ is the relative
# distance $m - (L - 1)$ (the last column is distance 0). Attention needs it indexed by
# key instead: `out[..., i, j] = rel[..., i, j + (L - 1 - i)]` for $j \le i$ (the entries
# above the diagonal do not matter; the causal mask removes them).
#
# The trick (Huang et al. 2018): pad one column of zeros on the **left** →
# `(..., L, L + 1)`; reshape to `(..., L + 1, L)`; drop one row; the remaining
# `(..., L, L)` is the answer. Which row? Work it out on a 3 × 3 example on paper, or
# print one.

# %%
def skew_square(rel: torch.Tensor) -> torch.Tensor:
    """(..., L, L) relative logits (column m = distance m - (L-1)) -> (..., L, L) indexed by key."""
    ### BEGIN SOLUTION
    *batch, L, _ = rel.shape
    padded = F.pad(rel, (1, 0))                        # (..., L, L + 1)
    return padded.reshape(*batch, L + 1, L)[..., 1:, :]  # drop the first row
    ### END SOLUTION


# %% tags=["check"]
# Check: skew_square puts q_i · E_{j-i} at (i, j), like an explicit gather
gen = torch.Generator().manual_seed(1)
for shape in [(5, 5), (2, 3, 7, 7), (1, 1)]:
    *batch, L, _ = shape
    q = torch.randn(*batch, L, 4, generator=gen)
    E = torch.randn(L, 4, generator=gen)                       # row m: distance m - (L - 1)
    rel = q @ E.T                                               # (..., L, L)
    got = skew_square(rel)
    assert isinstance(got, torch.Tensor) and got.shape == rel.shape, \
        f"the output must keep the shape (..., L, L) = {tuple(rel.shape)}; got {getattr(got, 'shape', type(got))}"
    want = torch.zeros_like(rel)
    for i in range(L):
        for j in range(i + 1):
            want[..., i, j] = q[..., i, :] @ E[j - i + L - 1]      # explicit gather of E_{j-i}
    visible = torch.ones(L, L, dtype=torch.bool).tril()
    wrong_row = F.pad(rel, (1, 0)).reshape(*batch, L + 1, L)[..., :-1, :]
    if L > 1 and max_diff(got[..., visible], wrong_row[..., visible]) < 1e-5:
        raise AssertionError("you kept the wrong rows: after the reshape to (L + 1, L) drop the FIRST row "
                             "(it holds the padding zero and row 0's far-away entries), not the last")
    right_pad = F.pad(rel, (0, 1)).reshape(*batch, L + 1, L)[..., 1:, :]
    if L > 1 and max_diff(got[..., visible], right_pad[..., visible]) < 1e-5:
        raise AssertionError("pad the zero column on the LEFT (F.pad(rel, (1, 0))), not the right")
    assert max_diff(got[..., visible], rel[..., visible]) > 1e-5 or L == 1, \
        "the output equals the input on the causal part: the entries must move (row i slides left by L-1-i)"
    diff = max_diff(got[..., visible], want[..., visible])
    assert diff < 1e-5, f"for L={L}: out[i, j] must be q_i · E_(j-i) for j <= i; max difference {diff:.2e}"
    assert max_diff(got[..., visible], lib.skew(rel)[..., visible]) < 1e-5
print("ok: skew_square matches the explicit gather, e.g. for L=3:\n", skew_square(torch.arange(9.0).view(3, 3)))

# %% [markdown]
# ## Exercise 2 — Top-p (nucleus) filtering
#
# Keep the smallest set of most likely tokens whose total probability reaches `p`, and
# set every other logit to $-\infty$. The set **includes the token that crosses `p`**:
# with probabilities (0.5, 0.3, 0.15, 0.05) and p = 0.6, keep the first two (0.5 alone
# does not reach 0.6).
#
# Recipe: sort the logits in descending order, take the softmax, and drop a token when
# the probability of the tokens ranked *above* it already reaches `p`; then put the
# result back in the original vocabulary order. `logits` is `(B, V)`.

# %%
def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """(B, V) logits -> (B, V) logits with -inf outside the nucleus of mass p."""
    ### BEGIN SOLUTION
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


# %% tags=["check"]
# Check: top_p_filter keeps the nucleus, including the token that crosses p, in vocabulary order
probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
for p, keep in [(0.6, [1, 1, 0, 0]), (0.5, [1, 0, 0, 0]), (0.81, [1, 1, 1, 0]), (1.0, [1, 1, 1, 1]), (0.1, [1, 0, 0, 0])]:
    out = top_p_filter(probs.log(), p)
    assert isinstance(out, torch.Tensor) and out.shape == probs.shape, "return logits of the same shape (B, V)"
    kept = torch.isfinite(out)[0].int().tolist()
    if kept != keep and sum(kept) == sum(keep) - 1 and kept == keep[:sum(kept)] + [0] * (4 - sum(kept)):
        raise AssertionError(f"p={p}: you dropped the token that crosses p (kept {kept}, expected {keep}). Drop a "
                             "token only when the mass ranked ABOVE it (cumsum - prob) already reaches p")
    assert kept == keep, f"p={p}: kept {kept}, expected {keep} for probabilities (0.5, 0.3, 0.15, 0.05)"
    kept_logits = out[torch.isfinite(out)]
    assert torch.equal(kept_logits, probs.log()[torch.isfinite(out)]), "kept logits must be unchanged (not renormalised)"
gen = torch.Generator().manual_seed(2)
logits = torch.randn(6, 50, generator=gen) * 2
for p in (0.3, 0.9):
    out = top_p_filter(logits, p)
    if not torch.equal(torch.isfinite(out), torch.isfinite(lib.top_p_filter(logits, p))):
        sorted_mask = torch.isfinite(lib.top_p_filter(logits.sort(-1, descending=True).values, p))
        if torch.equal(torch.isfinite(out), sorted_mask):
            raise AssertionError("the mask is in sorted order: scatter it back to the vocabulary order "
                                 "(mask.scatter(-1, order, mask_sorted))")
        raise AssertionError(f"p={p}: on random (6, 50) logits the kept tokens differ from the reference nucleus")
print("ok: top_p_filter keeps the right nucleus; p=0.6 keeps", torch.isfinite(top_p_filter(probs.log(), 0.6))[0].tolist())

# %% [markdown]
# ## Exercise 3 — One decoding step with a KV cache
#
# A single attention head with projections `Wq, Wk, Wv` (each `(D, D)`). The cache holds
# the keys and values of the P earlier tokens, `(B, P, D)` each. For the new token
# `x_new` `(B, 1, D)`:
#
# 1. project it: $q = x W_q$, $k = x W_k$, $v = x W_v$;
# 2. **append** its $k, v$ to the cache (at the end, along the sequence axis) — the new
#    token attends to itself too;
# 3. attend: $\mathrm{softmax}(q K^\top / \sqrt{D})\, V$ over all $P + 1$ keys (no mask
#    needed: every cached key is in the past).
#
# Return `(out (B, 1, D), K (B, P + 1, D), V (B, P + 1, D))`. Use `torch.cat`.

# %%
def kv_step(x_new: torch.Tensor, Wq: torch.Tensor, Wk: torch.Tensor, Wv: torch.Tensor,
            cache_k: torch.Tensor, cache_v: torch.Tensor):
    """One cached causal self-attention step for the new token x_new (B, 1, D)."""
    ### BEGIN SOLUTION
    q = x_new @ Wq                                           # (B, 1, D)
    k = torch.cat([cache_k, x_new @ Wk], dim=1)              # (B, P + 1, D)
    v = torch.cat([cache_v, x_new @ Wv], dim=1)
    weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v, k, v
    ### END SOLUTION


# %% tags=["check"]
# Check: feeding tokens one at a time through kv_step equals full causal attention (recompute)
gen = torch.Generator().manual_seed(3)
B, T, D = 2, 7, 16
x = torch.randn(B, T, D, generator=gen)
Wq, Wk, Wv = (torch.randn(D, D, generator=gen) / math.sqrt(D) for _ in range(3))
full = scaled_dot_product_attention(x @ Wq, x @ Wk, x @ Wv, is_causal=True)   # (B, T, D), the oracle
K, V = torch.zeros(B, 0, D), torch.zeros(B, 0, D)
for t in range(T):
    result = kv_step(x[:, t:t + 1], Wq, Wk, Wv, K, V)
    assert isinstance(result, tuple) and len(result) == 3, "return (out, K, V)"
    out, K_new, V_new = result
    assert out.shape == (B, 1, D), f"out must be (B, 1, D) = {(B, 1, D)}; got {tuple(out.shape)}"
    assert K_new.shape == (B, t + 1, D), \
        f"step {t}: the cache must grow by one token to (B, {t + 1}, D); got {tuple(K_new.shape)}"
    assert max_diff(K_new, x[:, :t + 1] @ Wk) < 1e-5 and max_diff(V_new, x[:, :t + 1] @ Wv) < 1e-5, \
        f"step {t}: the cache must hold the keys/values of tokens 0..{t} in order: append the new ones at the END"
    assert out.abs().max() > 1e-6, \
        f"step {t}: the output is zero, as if the new token attended to nothing: append its own k, v before attending"
    if t > 0:
        only_past = scaled_dot_product_attention(x[:, t:t + 1] @ Wq, K, V)
        assert max_diff(out, only_past) > 1e-4, \
            "the new token attended only to the past: append its own k, v to the cache BEFORE attending"
    diff = max_diff(out, full[:, t:t + 1])
    if diff > 1e-4 and max_diff(out, scaled_dot_product_attention(x[:, t:t + 1] @ Wq, K_new, V_new,
                                                                  scale=1.0)) < 1e-5:
        raise AssertionError("the logits are not scaled: divide q Kᵀ by sqrt(D)")
    assert diff < 1e-4, f"step {t}: output differs from full causal attention by {diff:.2e}"
    K, V = K_new, V_new
print(f"ok: {T} cached steps equal full causal attention; cache now {tuple(K.shape)}")


# %% [markdown]
# ## Exercise 4 — An experiment: mix the 4-gram and the 5-gram
#
# In the lesson the 5-gram, chosen on validation by a hair, lost to the 4-gram on the
# test pieces: its 4-token histories are sparse, and a continuation never counted in
# training gets almost no probability. Change one thing: instead of *choosing* an order,
# **mix** them (linear interpolation, Jelinek & Mercer 1980):
#
# $$P(w \mid h) = \lambda\, P_5(w \mid h) + (1 - \lambda)\, P_4(w \mid h),\qquad
#   P_n(w \mid h) = \frac{c_n(h, w) + k}{c_n(h) + kV}.$$
#
# Where the 5-gram has counts it speaks; where it has none, the 4-gram still gives a
# sensible probability. Write `interpolated_nll`: the mean negative log-likelihood
# (nats per token) of `sequences` under the mix. `model.counts(sequences)` gives the
# arrays $c_n(h, w)$ and $c_n(h)$ for every scored token (the same tokens, in the same
# order, for both orders); `model.vocab_size` is $V$. Mix the **probabilities**, not
# their logarithms. The check then picks $\lambda$ on the validation pieces and measures
# the test pieces.

# %%
import numpy as np

from course_lib.music.ngram import NGramModel
from course_lib.music.tokenizer import REMITokenizer
from course_lib.music.transformer_train import PRESETS, chorale_token_splits

remi = REMITokenizer(PRESETS["cpu"].tokenizer)
K_SMOOTH = 0.003                       # the lesson's tuned k for both orders


def chorale_ngrams():
    """The lesson's train / valid / test chorales and the 4- and 5-gram counted on train.
    Fast once day 13 has cached the parsed corpus in artifacts/ (else ~20 s to parse)."""
    train, valid, test = chorale_token_splits(remi)
    return train, valid, test, NGramModel(4, len(remi)).fit(train), NGramModel(5, len(remi)).fit(train)


def interpolated_nll(model5: NGramModel, model4: NGramModel, sequences: list[list[int]], lam: float,
                     k: float = K_SMOOTH) -> float:
    """Mean NLL (nats/token) of sequences under lam * P_5 + (1 - lam) * P_4 (add-k each)."""
    ### BEGIN SOLUTION
    V = model5.vocab_size
    c_hw5, c_h5 = model5.counts(sequences)
    c_hw4, c_h4 = model4.counts(sequences)
    p = lam * (c_hw5 + k) / (c_h5 + k * V) + (1 - lam) * (c_hw4 + k) / (c_h4 + k * V)
    return float(-np.mean(np.log(p)))
    ### END SOLUTION


# %% tags=["check"]
# Check: interpolated_nll mixes probabilities, and the mix tuned on validation beats both orders on test
toy = [[1, 2, 3, 1, 2, 4, 1, 2, 3, 5] * 3]
interpolated_nll(NGramModel(5, 8).fit(toy), NGramModel(4, 8).fit(toy), toy, 0.5)   # runs on a toy first
train_seqs, valid_seqs, test_seqs, four, five = chorale_ngrams()
print(f"{len(train_seqs)} / {len(valid_seqs)} / {len(test_seqs)} chorales; 4- and 5-gram counted")
piece = test_seqs[0][:60]
oracle = []                                          # P(w | h) token by token, from NGramModel.probs
for t in range(1, len(piece)):
    p5, p4 = five.probs(piece[:t], K_SMOOTH)[piece[t]], four.probs(piece[:t], K_SMOOTH)[piece[t]]
    oracle.append(-np.log(0.3 * p5 + 0.7 * p4))
ours = interpolated_nll(five, four, [piece], 0.3)
assert isinstance(ours, float), f"return a float (the mean NLL); got {type(ours).__name__}"
assert abs(interpolated_nll(five, four, test_seqs, 1.0) - five.nll(test_seqs, K_SMOOTH)) < 1e-9, \
    ("lam = 1 must give the lesson's 5-gram alone: lam weights P_5, and each P_n is add-k, "
     "(c(h, w) + k) / (c(h) + k V)")
assert abs(interpolated_nll(five, four, test_seqs, 0.0) - four.nll(test_seqs, K_SMOOTH)) < 1e-9, \
    "lam = 0 must give the lesson's 4-gram alone: (1 - lam) weights P_4"
assert abs(ours - np.mean(oracle)) < 1e-9, \
    (f"mixed NLL {ours:.4f} != {np.mean(oracle):.4f} on one piece: mix the probabilities "
     "(lam * p5 + (1 - lam) * p4), then take -log and the mean over tokens")
lams = (0.1, 0.3, 0.5, 0.7, 0.9)
valid_nll = {lam: interpolated_nll(five, four, valid_seqs, lam) for lam in lams}
best_lam = min(valid_nll, key=valid_nll.get)
test_mix = interpolated_nll(five, four, test_seqs, best_lam)
test_four, test_five = four.nll(test_seqs, K_SMOOTH), five.nll(test_seqs, K_SMOOTH)
print("validation NLL by lam:", {lam: round(v, 3) for lam, v in valid_nll.items()})
print(f"test NLL: 4-gram {test_four:.3f}, 5-gram {test_five:.3f}, mix (lam = {best_lam}) {test_mix:.3f}")
# Measured on four different train/valid/test splits of the chorales (split_pieces seeds
# 0-3): the mix chose lam = 0.7 each time and beat the better single order by 0.08-0.09.
assert test_mix < min(test_four, test_five) - 0.03, \
    f"the tuned mix ({test_mix:.3f}) should beat both the 4-gram and the 5-gram on test by a clear margin"
