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
# # Day 02 — Attention from scratch
#
# **What you will build** (in `course_lib.nn.attention`, which every later day imports):
# scaled dot-product attention with padding and causal masks, multi-head attention,
# cross-attention, a KV cache for fast incremental decoding, and chunked attention with
# an online softmax (the trick inside FlashAttention). Along the way you will check each
# piece against PyTorch's own `scaled_dot_product_attention` and `nn.MultiheadAttention`.
#
# **Prerequisites:** Day 00 (setup). Tensors, `nn.Module`, `@` for matrix products.
#
# **Run time:** about 12 s on a 2-core CPU.
#
# Later days build on this: the DiT (Day 04) and video DiT (Day 05) use self-attention,
# Tacotron (Day 10) and the Whisper-style decoder (Day 12) use cross-attention (to the
# text, to the audio), and the Whisper-style decoder and the Music Transformer (Day 14)
# decode token by token with the KV cache.

# %%
import inspect
import math
import time

import matplotlib.pyplot as plt
from IPython.display import display
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from tqdm.auto import tqdm

from course_lib.nn.attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    chunked_attention,
    length_mask,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from course_lib.runtime import best_time, get_device, seed_everything, torch_threads
from course_lib.viz import plot_alignment

# %% [markdown]
# One config cell holds every size. The KV-cache timing always runs on the CPU (see
# that section for why); everything else runs on `DEVICE`.

# %%
DEVICE = get_device()
SEED = 0
GEN_LENGTHS = [64, 128, 256, 384]       # tokens generated in the KV-cache race
DECODER = dict(vocab=64, dim=128, heads=4, layers=2, max_len=512)
CHUNK_L = 4096 if DEVICE.type == "cpu" else 16384   # sequence length for chunked attention
CHUNK_SIZES = [64, 256, 1024]
REVERSE = dict(length=8, vocab=10, dim=32, steps=200, batch=128, lr=3e-3)
print("device:", DEVICE)

# %% [markdown]
# ## 1. The idea: a soft dictionary lookup
#
# A Python dict maps a query to the value whose key *equals* it. Attention makes that
# lookup soft: every query $q_i$ is compared with every key $k_j$ by a dot product, the
# scores are turned into weights with a softmax, and the answer is the weighted average
# of the values:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right) V,
# \qquad Q \in \mathbb{R}^{L \times d},\ K \in \mathbb{R}^{S \times d},\ V \in \mathbb{R}^{S \times d_v}.$$
#
# Row $i$ of the softmax is a probability distribution over the $S$ keys: *where query
# $i$ looks*. In a transformer $Q, K, V$ are learned linear maps of the tokens, so the
# model learns what to look for and what to hand back.
#
# A toy: the keys are the letters of "attention" (one random unit vector per letter), and
# we look up three letters.

# %%
gen = seed_everything(SEED)
d = 32
text, asked = "attention", "tnx"
letters = sorted(set(text + asked))
emb = F.normalize(torch.randn(len(letters), d, generator=gen), dim=-1)   # one unit vector per letter
K = emb[[letters.index(c) for c in text]]                                # (S=9, d)
Q = 5 * math.sqrt(d) * emb[[letters.index(c) for c in asked]]           # (L=3, d), sharpened
V = torch.arange(len(text), dtype=torch.float32)[:, None]                # (S, 1): each key's position
weights = torch.softmax(Q @ K.T / math.sqrt(d), dim=-1)                  # (L, S)
print("weights sum to 1 per query:", weights.sum(-1))
print("answer = average position of the match:", (weights @ V).squeeze(-1))

fig, ax = plt.subplots(figsize=(5, 2))
ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(len(text)), list(text))
ax.set_yticks(range(len(asked)), list(asked))
ax.set_xlabel("key (position in 'attention')")
ax.set_ylabel("query")
ax.set_title("attention weights")
plt.show()

# %% [markdown]
# "t" splits its weight over the three t's (positions 1, 2 and 6, so the answer is close
# to their mean, 3), "n" over the two n's (positions 4 and 8), and "x", which matches
# nothing, spreads its weight thinly over everything: attention always returns *some*
# average, it has no "not found".

# %% [markdown]
# ## 2. Build it step by step
#
# Real inputs carry batch and head dimensions in front: $q$ is `(B, H, L, E)`, $k$ is
# `(B, H, S, E)`, $v$ is `(B, H, S, Ev)`. The matrix product `@` works on the last two
# axes and broadcasts over the rest, so the code is the equation.
#
# ![Scaled dot-product attention: q and k make (B, H, L, S) logits, a mask sets blocked ones to minus infinity, a softmax over the keys gives weights, and the weights average the values](figures/day02_sdpa.svg)
#
# Follow the figure left to right with the shapes of the cell below ($B=2$ sequences,
# $H=4$ heads, $L=5$ queries, $S=7$ keys, $E=16$, $E_v=8$): every query meets every key
# in one `(L, S)` matrix of logits per head; the mask (section 4) can only *remove*
# entries, by setting them to $-\infty$; the softmax turns each row into weights that sum
# to 1 (the small grids on the right: a causal mask and the weights it leaves); and the
# weights average the value vectors. Three lines of code:

# %%
gen = seed_everything(SEED)
B, H, L, S, E, Ev = 2, 4, 5, 7, 16, 8
q = torch.randn(B, H, L, E, generator=gen)
k = torch.randn(B, H, S, E, generator=gen)
v = torch.randn(B, H, S, Ev, generator=gen)

logits = q @ k.transpose(-2, -1) / math.sqrt(E)   # compare every query with every key
print("logits ", tuple(logits.shape), "  expect (B, H, L, S) =", (B, H, L, S))
weights = torch.softmax(logits, dim=-1)            # normalise over the keys (last axis)
print("weights", tuple(weights.shape), "  rows sum to", weights.sum(-1).min().item(), "..", weights.sum(-1).max().item())
out = weights @ v                                  # weighted average of the values
print("out    ", tuple(out.shape), "  expect (B, H, L, Ev) =", (B, H, L, Ev))

# %% [markdown]
# Three lines. Now compare with PyTorch's fused implementation and with the library
# version, which adds masks, input checks and a few options around the same three lines:

# %%
ref = F.scaled_dot_product_attention(q, k, v)
lib = scaled_dot_product_attention(q, k, v)
diff_steps, diff_lib = (out - ref).abs().max().item(), (lib - ref).abs().max().item()
print(f"max |ours - torch|: step by step {diff_steps:.2e}, course_lib {diff_lib:.2e}")
assert diff_steps < 1e-5 and diff_lib < 1e-5

# %%
print(inspect.signature(scaled_dot_product_attention))
print(inspect.getdoc(scaled_dot_product_attention))

# %% [markdown]
# Bad input fails early with a message that names the argument and the shape it wanted,
# instead of a shape dump from deep inside a matmul:

# %%
for bad in [lambda: scaled_dot_product_attention(torch.randn(4), k, v),
            lambda: scaled_dot_product_attention(q, k, v[..., :6, :])]:
    try:
        bad()
    except ValueError as err:
        print("ValueError:", err)

# %% [markdown]
# ## 3. Why divide by √d?
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1, the dot
# product $q \cdot k = \sum_{i=1}^{d} q_i k_i$ is a sum of $d$ terms of variance 1, so its
# variance is $d$. Large logits push the softmax into saturation: one weight near 1,
# the rest near 0, and gradients near 0 (the softmax Jacobian is
# $\mathrm{diag}(p) - p p^\top$, which vanishes when $p$ is one-hot). Dividing by
# $\sqrt d$ brings the variance back to 1 whatever the width. Measure it:

# %%
gen = seed_everything(SEED)
n_keys, rows = 64, 2000
print(f"{'d':>5} {'var(q.k)':>9} {'var(q.k/√d)':>12} | max weight: {'raw':>5} {'scaled':>6} "
      f"| grad norm: {'raw':>7} {'scaled':>7}")
sat = {}
for d in [4, 16, 64, 256, 1024]:
    qd = torch.randn(rows, 1, d, generator=gen)
    kd = torch.randn(rows, n_keys, d, generator=gen)
    raw = (qd @ kd.transpose(-2, -1)).squeeze(1)                       # (rows, n_keys)
    stats = []
    for lg in (raw, raw / math.sqrt(d)):
        lg = lg.clone().requires_grad_()
        p = torch.softmax(lg, dim=-1)
        # d p_0 / d logits: how much the first weight can still be moved by the logits
        (g,) = torch.autograd.grad(p[:, 0].sum(), lg)
        stats.append((p.max(-1).values.mean().item(), g.norm(dim=-1).mean().item()))
    sat[d] = stats
    print(f"{d:>5} {raw.var().item():>9.1f} {(raw / math.sqrt(d)).var().item():>12.2f} |"
          f"             {stats[0][0]:>5.2f} {stats[1][0]:>6.2f} |            {stats[0][1]:>7.4f} {stats[1][1]:>7.4f}")

# %%
ds = list(sat)
fig, axes = plt.subplots(1, 2, figsize=(9, 2.8))
for j, label in enumerate(["no scale: q·k", "scaled: q·k/√d"]):
    axes[0].plot(ds, [sat[d][j][0] for d in ds], "o-", label=label)
    axes[1].plot(ds, [sat[d][j][1] for d in ds], "o-", label=label)
axes[0].set(xscale="log", xlabel="d", ylabel="mean largest weight", title=f"softmax over {n_keys} keys")
axes[1].set(xscale="log", yscale="log", xlabel="d", ylabel="mean gradient norm", title="gradient through softmax")
axes[0].legend()
plt.tight_layout()
plt.show()
grad_ratio = sat[1024][1][1] / sat[1024][0][1]
print(f"d = 1024: mean largest weight {sat[1024][0][0]:.2f} without the scale, {sat[1024][1][0]:.2f} with it; "
      f"gradient {grad_ratio:.1f}x smaller without it")
assert sat[1024][0][0] > 0.8 and sat[1024][1][0] < 0.3, "unscaled softmax should saturate at d=1024"
assert sat[1024][0][1] < sat[1024][1][1] / 5, "saturated softmax should pass far smaller gradients"

# %% [markdown]
# Without the scale, at $d = 1024$ the softmax is nearly one-hot (its largest weight
# averages about 0.95 over 64 keys) and the gradient that reaches the logits is about
# 8 times smaller (printed above): the layer learns slowly or not at all. With the scale,
# the statistics do not depend on $d$: the largest weight stays near 0.11 and the
# gradient near 0.015 at every width.

# %% [markdown]
# ## 4. Masks: padding and causality
#
# A mask says which keys each query may see. The convention here (the same as
# `F.scaled_dot_product_attention`): a **bool mask is True where attention is allowed**;
# blocked logits are set to $-\infty$ before the softmax, so they get weight exactly 0. A
# **float mask is added** to the logits (use it for biases such as ALiBi or relative
# positions).
#
# - **Padding mask.** A batch holds sequences of different lengths padded to the longest;
#   no query may look at a padding key. `length_mask(lengths)` gives `(B, S)`, True at
#   the real tokens; reshaped to `(B, 1, 1, S)` it broadcasts over heads and queries.
# - **Causal mask.** A decoder predicting token $i+1$ must not see tokens after $i$:
#   query $i$ sees keys $j \le i$, a lower-triangular mask.
#
# ⚠️ `torch.nn.MultiheadAttention` uses the *opposite* polarity for its bool `attn_mask`
# (True = blocked), and its `key_padding_mask` is True at the padding. Mixing the two
# conventions is a classic silent bug.

# %%
gen = seed_everything(SEED)
lengths = torch.tensor([6, 4])
S = 6
q = torch.randn(2, 1, S, 8, generator=gen)      # (B, H=1, L, E): self-attention, L = S
k, v = torch.randn(2, 1, S, 8, generator=gen), torch.randn(2, 1, S, 8, generator=gen)
pad = length_mask(lengths, S)[:, None, None, :]        # (B, 1, 1, S), True = real token
causal = causal_mask(S)                                # (S, S), True = j <= i
print("padding mask of sequence 2:", pad[1, 0, 0].int().tolist())
print("causal mask:\n", causal.int())

masks = {"padding (seq. 2)": pad[1, 0, 0].expand(S, S), "causal": causal, "both (seq. 2)": pad[1, 0, 0] & causal}
fig, axes = plt.subplots(2, 3, figsize=(9, 5.6))
for col, (name, m) in enumerate(masks.items()):
    _, w = scaled_dot_product_attention(q[1:], k[1:], v[1:], mask=m, return_weights=True)
    axes[0, col].imshow(m, cmap="gray", vmin=0, vmax=1)
    axes[0, col].set_title(f"mask: {name}")
    axes[1, col].imshow(w[0, 0], cmap="viridis", vmin=0, vmax=1)
    axes[1, col].set_title("weights")
    for ax in axes[:, col]:
        ax.set(xlabel="key j", ylabel="query i")
plt.tight_layout()
plt.show()

# %% [markdown]
# The library combines a mask with `is_causal=True` (torch refuses the pair, so there we
# pass the combined mask). Every result must match torch:

# %%
for name, ours, theirs in [
    ("padding", scaled_dot_product_attention(q, k, v, mask=pad), F.scaled_dot_product_attention(q, k, v, attn_mask=pad)),
    ("causal", scaled_dot_product_attention(q, k, v, is_causal=True),
     F.scaled_dot_product_attention(q, k, v, is_causal=True)),
    ("both", scaled_dot_product_attention(q, k, v, mask=pad, is_causal=True),
     F.scaled_dot_product_attention(q, k, v, attn_mask=pad & causal)),
]:
    diff = (ours - theirs).abs().max().item()
    print(f"{name:8s} max |ours - torch| = {diff:.2e}")
    assert diff < 1e-5

# %% [markdown]
# Two details:
#
# - **`is_causal` with L ≠ S** is aligned top-left, as in torch: query $i$ sees keys
#   $j \le i$ (`torch.ones(L, S).tril(0)`). When the queries are the *last* $L$ of $S$
#   positions (decoding with a cache, below), the mask must be aligned bottom-right:
#   `causal_mask(L, S, offset=S - L)`.
# - **A query with every key masked** has nothing to average. Softmax over all $-\infty$
#   is 0/0 = NaN; the library (like current PyTorch) returns weights and output 0 for such
#   a row instead, so one empty row cannot poison a whole batch with NaN.

# %%
print("top-left  (is_causal, L=2, S=5):\n", causal_mask(2, 5).int())
print("bottom-right (offset=S-L):\n", causal_mask(2, 5, offset=3).int())
m = torch.ones(3, 4, dtype=torch.bool)
m[1] = False                                   # query 1 may see nothing
q3, k4, v4 = torch.randn(3, 8, generator=gen), torch.randn(4, 8, generator=gen), torch.randn(4, 2, generator=gen)
print("output rows:\n", scaled_dot_product_attention(q3, k4, v4, mask=m))

# %% [markdown]
# ## 5. Multi-head attention
#
# One softmax gives each query one distribution over the keys. **Multi-head attention**
# runs $H$ attentions in parallel, each on its own $D/H$-wide slice of learned
# projections, so a token can look at several places at once (the previous token, the
# matching bracket, the speaker's last word…):
#
# $$\mathrm{head}_h = \mathrm{softmax}\!\left(\frac{Q_h K_h^\top}{\sqrt{D/H}}\right) V_h, \qquad
# \mathrm{MHA}(x) = [\mathrm{head}_1, \ldots, \mathrm{head}_H]\, W_o.$$
#
# The heads are not separate layers: project once to width $D$, then **split** the
# features into heads, `(B, L, D) -> (B, H, L, D/H)`, attend, and **merge** them back.
# The split is a `view` (features $hD_h \ldots (h+1)D_h - 1$ go to head $h$) followed by
# a transpose that brings the head axis in front of the sequence axis. Watch it on
# numbered features:

# %%
x = torch.arange(3 * 6).view(1, 3, 6)        # (B=1, L=3, D=6): token l has features 6l..6l+5
print("x (B, L, D):\n", x[0])
heads = split_heads(x, heads=2)           # (B, H=2, L=3, D/H=3)
print("head 0 sees features 0-2 of every token:\n", heads[0, 0])
print("head 1 sees features 3-5:\n", heads[0, 1])
print("a reshape without the transpose mixes tokens into 'head 0':\n", x.reshape(1, 2, 3, 3)[0, 0])
assert torch.equal(merge_heads(heads), x)

# %% [markdown]
# Both operations are one line each; write them and check them against `course_lib`'s
# `split_heads` and `merge_heads` (the library adds only input checks around the same
# lines):

# %%
def our_split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    B, L, D = x.shape
    return x.view(B, L, heads, D // heads).transpose(1, 2)     # (B, L, H, Dh) -> (B, H, L, Dh)


def our_merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, H, L, Dh = x.shape
    return x.transpose(1, 2).reshape(B, L, H * Dh)             # (B, L, H, Dh) -> (B, L, D)


x32 = torch.randn(2, 6, 32, generator=seed_everything(SEED))  # (B, L, D), the sizes of the figure below
print("split:", tuple(our_split_heads(x32, 4).shape), " equal to split_heads:",
      torch.equal(our_split_heads(x32, 4), split_heads(x32, 4)),
      "| merge(split(x)) == x:", torch.equal(our_merge_heads(our_split_heads(x32, 4)), x32))
assert torch.equal(our_split_heads(x32, 4), split_heads(x32, 4))
assert torch.equal(our_merge_heads(split_heads(x32, 4)), merge_heads(split_heads(x32, 4)))

# %% [markdown]
# `MultiHeadAttention` puts projections, heads, masks and the cache together:
#
# ![MultiHeadAttention with dim 32 and 4 heads: q_proj, k_proj and v_proj, split into 4 heads of width 8, scaled dot-product attention per head, merge_heads and out_proj; for cross-attention k and v come from a context](figures/day02_multi_head.svg)
#
# Read it with the shapes of the next cell: `x` is `(B, L, D) = (2, 6, 32)`. Three
# learned `nn.Linear` layers (orange) make queries, keys and values of width 32;
# `split_heads` cuts each into 4 heads of width $D_h = 8$; the attention of section 2
# runs on all heads at once; `merge_heads` glues the heads back to width 32; and
# `out_proj` mixes what the heads found. For cross-attention (section 6) only the input
# of `k_proj` and `v_proj` changes, to the context. Without its input checks and the
# cache, the forward pass is six lines; check it against the library's module, with a
# padding mask and the causal mask:

# %%
def our_mha(m: MultiHeadAttention, x: torch.Tensor, context=None, mask=None) -> torch.Tensor:
    src = x if context is None else context
    q = split_heads(m.q_proj(x), m.heads)                      # (B, H, L, Dh)
    k = split_heads(m.k_proj(src), m.heads)                    # (B, H, S, Dh)
    v = split_heads(m.v_proj(src), m.heads)                    # (B, H, S, Dh)
    heads_out = scaled_dot_product_attention(q, k, v, mask=mask)   # (B, H, L, Dh)
    return m.out_proj(merge_heads(heads_out))                  # (B, L, D)


seed_everything(SEED)
mha = MultiHeadAttention(dim=32, heads=4).eval()
x = torch.randn(2, 6, 32)
is_pad = ~length_mask(torch.tensor([6, 4]), 6)       # (B, S), True = padding (torch's convention)
lib_out = mha(x, key_padding_mask=is_pad, is_causal=True)
with torch.no_grad():
    built = our_mha(mha, x, mask=~is_pad[:, None, None, :] & causal_mask(6))
diff_built = (built - lib_out).abs().max().item()
print("out", tuple(built.shape), f" max |ours - MultiHeadAttention| = {diff_built:.1e}")
torch.testing.assert_close(built, lib_out)

# %% [markdown]
# Identical, as it should be: same weights, same operations in the same order. With the
# same weights the module must also give what `torch.nn.MultiheadAttention` gives; note
# the inverted polarity of torch's bool `attn_mask`.


# %%
def torch_mha_like(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """A torch.nn.MultiheadAttention holding the same weights as ours."""
    ref = nn.MultiheadAttention(ours.dim, ours.heads, batch_first=True, kdim=ours.kv_dim, vdim=ours.kv_dim)
    with torch.no_grad():
        if ref._qkv_same_embed_dim:
            ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        else:
            ref.q_proj_weight.copy_(ours.q_proj.weight)
            ref.k_proj_weight.copy_(ours.k_proj.weight)
            ref.v_proj_weight.copy_(ours.v_proj.weight)
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.load_state_dict(ours.out_proj.state_dict())
    return ref.eval()


ours = mha(x, key_padding_mask=is_pad, is_causal=True)
theirs, _ = torch_mha_like(mha)(x, x, x, key_padding_mask=is_pad, attn_mask=~causal_mask(6))
diff_mha = (ours - theirs).abs().max().item()
print("out", tuple(ours.shape), f" max |ours - torch MHA| = {diff_mha:.2e}")
assert diff_mha < 1e-5

# %% [markdown]
# ## 6. Cross-attention
#
# In self-attention queries, keys and values all come from the same sequence. In
# **cross-attention** the queries come from one sequence (the text being decoded, the
# video latents) and the keys and values from another (the audio encoder's output, the
# caption embedding) — possibly of a different length $S$ and width `kv_dim`. This is how
# a Whisper decoder reads the audio, how Tacotron reads the text, and how a
# text-to-video model reads the prompt. Only the input of `k_proj`/`v_proj` changes.

# %%
seed_everything(SEED)
cross = MultiHeadAttention(dim=32, heads=4, kv_dim=20).eval()
dec = torch.randn(2, 5, 32)                          # (B, L=5, D): e.g. text tokens
enc = torch.randn(2, 9, 20)                          # (B, S=9, kv_dim): e.g. audio frames
enc_pad = ~length_mask(torch.tensor([9, 6]), 9)      # the second clip is 6 frames long
out, w = cross(dec, context=enc, key_padding_mask=enc_pad, return_weights=True)
theirs, _ = torch_mha_like(cross)(dec, enc, enc, key_padding_mask=enc_pad)
diff_cross = (out - theirs).abs().max().item()
print("out", tuple(out.shape), " weights", tuple(w.shape), f" max |ours - torch| = {diff_cross:.2e}")
assert diff_cross < 1e-5

fig, axes = plt.subplots(1, 2, figsize=(9, 2.8))
for b in range(2):
    plot_alignment(w[b, 0], title=f"clip {b + 1}, head 0 (untrained)", ax=axes[b],
                   xlabel="decoder position (query)", ylabel="encoder frame (key)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The weights are random (the layer is untrained), but the second clip's padded frames
# 6–8 get exactly zero weight.

# %% [markdown]
# ## 7. Decoding with a KV cache
#
# An autoregressive decoder (a language model, Whisper's text decoder, a music
# transformer) generates one token at a time. The naive loop feeds the *whole* prefix
# through the model at every step: step $t$ recomputes the keys and values of all $t$
# previous tokens — which have not changed, since causal attention never lets an old
# token see a new one. Total work grows like $\sum_t t \approx N^2/2$ token-passes.
#
# A **KV cache** keeps each layer's keys and values. A step then feeds only the new
# token: compute its $q, k, v$, **append** $k, v$ to the cache along the sequence axis,
# and let $q$ attend over everything cached (including itself). With a cache, the new
# queries are the *last* positions, so the causal mask is aligned bottom-right; for a
# single new token it allows every cached key.
#
# For cross-attention the context never changes: the cache holds its projected keys
# and values, computed once on the first step.
#
# ![One decoding step with a KV cache: the new token's q, k and v are computed; k and v are appended to the cache of the 8 past positions; q attends over all 9 cached keys and values](figures/day02_kv_cache.svg)
#
# The figure is one step of the decoder below (4 heads of width 32) after a prompt of 8
# tokens: only position 8 goes through the projections, giving one `(1, 4, 1, 32)` query,
# key and value; the key and value are appended to the layer's `KVCache`, which grows to
# `(1, 4, 9, 32)`; the single query attends over all 9. One such step, written by hand
# with the smaller `mha` layer of section 5 (4 heads of width 8) and checked against the
# layer's own cached call and against recomputing the whole sequence:

# %%
seed_everything(SEED)
prefix, new_token = torch.randn(1, 8, 32), torch.randn(1, 1, 32)     # 8 past positions, 1 new
cache = KVCache()
with torch.no_grad():
    mha(prefix, is_causal=True, cache=cache)                         # fills the cache: (1, 4, 8, 8)
    past_k, past_v = cache.k, cache.v
    lib_step = mha(new_token, is_causal=True, cache=cache)           # the library's cached step
    # The same step by hand: project only the new token, append, attend over everything.
    q_new = split_heads(mha.q_proj(new_token), mha.heads)            # (1, 4, 1, 8)
    k_all = torch.cat([past_k, split_heads(mha.k_proj(new_token), mha.heads)], dim=-2)   # (1, 4, 9, 8)
    v_all = torch.cat([past_v, split_heads(mha.v_proj(new_token), mha.heads)], dim=-2)
    our_step = mha.out_proj(merge_heads(scaled_dot_product_attention(q_new, k_all, v_all)))
    full = mha(torch.cat([prefix, new_token], 1), is_causal=True)[:, -1:]   # no cache at all
print("cache after the step:", tuple(cache.k.shape),
      f"| max |by hand - cached layer| = {(our_step - lib_step).abs().max():.1e}",
      f"| max |cached - full recompute| = {(lib_step - full).abs().max():.1e}")
torch.testing.assert_close(our_step, lib_step)
torch.testing.assert_close(lib_step, full)

# %% [markdown]
# No mask was needed: the one new query may see every cached key, which is what the
# bottom-right-aligned causal mask allows. The full recompute agrees to float rounding
# (the products are summed in a different order).
#
# A small GPT-style decoder, two layers of the `MultiHeadAttention` above:

# %%
class Block(nn.Module):
    """Pre-norm transformer decoder block: causal self-attention, then an MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, cache=None):                                  # (B, L, D)
        x = x + self.attn(self.norm1(x), is_causal=True, cache=cache)
        return x + self.mlp(self.norm2(x))


class TinyDecoder(nn.Module):
    def __init__(self, vocab, dim, heads, layers, max_len):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx, caches=None, start=0):                      # idx (B, L) -> logits (B, L, V)
        x = self.tok(idx) + self.pos(torch.arange(start, start + idx.shape[1], device=idx.device))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(x)


@torch.no_grad()
def generate_recompute(model, prompt, n):
    idx = prompt
    for _ in range(n):
        next_tok = model(idx)[:, -1].argmax(-1, keepdim=True)          # whole prefix, every step
        idx = torch.cat([idx, next_tok], dim=1)
    return idx


@torch.no_grad()
def generate_cached(model, prompt, n):
    caches = [KVCache() for _ in model.blocks]
    logits = model(prompt, caches)                                     # prefill: the prompt at once
    idx = prompt
    for _ in range(n):
        next_tok = logits[:, -1].argmax(-1, keepdim=True)
        idx = torch.cat([idx, next_tok], dim=1)
        logits = model(next_tok, caches, start=idx.shape[1] - 1)       # only the new token
    return idx


seed_everything(SEED)
decoder = TinyDecoder(**DECODER).eval()                                # untrained: we time, not judge
prompt = torch.randint(0, DECODER["vocab"], (1, 8))
print(f"{sum(p.numel() for p in decoder.parameters()):,} parameters")

# %% [markdown]
# First the correctness check: the cached loop must produce the same tokens, and the
# logits of one full causal pass over the generated sequence must match the logits the
# cached steps produced.

# %%
n = 64
toks_cached = generate_cached(decoder, prompt, n)
toks_full = generate_recompute(decoder, prompt, n)
with torch.no_grad():
    full_logits = decoder(toks_cached)                                 # one causal pass
    caches = [KVCache() for _ in decoder.blocks]
    step_logits = torch.cat([decoder(toks_cached[:, t:t + 1], caches, start=t) for t in range(toks_cached.shape[1])], 1)
diff_cache = (full_logits - step_logits).abs().max().item()
print("same tokens:", torch.equal(toks_cached, toks_full), f"  max |cached - recompute| logits = {diff_cache:.2e}")
print("cache of layer 0 holds k", tuple(caches[0].k.shape), "= (B, H, tokens, D/H)")
assert torch.equal(toks_cached, toks_full)
assert torch.allclose(full_logits, step_logits, atol=1e-4)

# %% [markdown]
# Now the race. We time on the CPU on purpose: on a GPU, a model this small spends its
# time launching kernels rather than computing, so both loops cost about the same per
# step there; the cache's win on GPUs shows with long contexts and big models. We time
# with one CPU thread: matrices this small gain nothing from a second thread, and on a
# busy machine two threads waiting for each other make timings jump wildly. Each timing
# is the best of two runs, after a warm-up.

# %%
cpu_decoder = decoder.to("cpu")

with torch_threads(1):   # one thread, as the note above explains
    generate_cached(cpu_decoder, prompt, 16), generate_recompute(cpu_decoder, prompt, 16)   # warm-up
    print(f"{'tokens':>6} {'recompute (s)':>14} {'cached (s)':>11} {'speed-up':>9} {'same tokens':>12}")
    speedups = {}
    for n in tqdm(GEN_LENGTHS, desc="decoding race", leave=False):
        t_full, a = best_time(lambda: generate_recompute(cpu_decoder, prompt, n))
        t_cache, b = best_time(lambda: generate_cached(cpu_decoder, prompt, n))
        speedups[n] = t_full / t_cache
        print(f"{n:>6} {t_full:>14.3f} {t_cache:>11.3f} {speedups[n]:>8.1f}x {str(torch.equal(a, b)):>12}")
        assert torch.equal(a, b)
longest = GEN_LENGTHS[-1]
assert speedups[longest] > 2.0, f"cached decoding should be > 2x faster at {longest} tokens"

# %% [markdown]
# The recompute loop's cost grows quadratically with the length, the cached loop's
# linearly (each step attends over a growing cache, but its projections and MLP touch
# one token). The price is memory: the cache holds $2 \times \text{layers} \times D$
# numbers per token.

# %% [markdown]
# ## 8. Chunked attention and the online softmax
#
# Full attention materialises the `(L, S)` logits matrix: at $L = S = 16\,384$ that is
# 1 GiB in float32 *per head*. The output needs none of it at once. Visit the keys in
# chunks of size $c$, and keep, per query, a running max $m$, a running sum $\ell$ of
# exponentials and a running (unnormalised) output $o$. When a chunk raises the max from
# $m$ to $m'$, everything accumulated so far is rescaled by $e^{m - m'}$:
#
# $$m' = \max(m, \max_j s_j), \quad \ell' = \ell\, e^{m - m'} + \sum_j e^{s_j - m'}, \quad
# o' = o\, e^{m - m'} + \sum_j e^{s_j - m'} v_j, \qquad \text{result} = o / \ell.$$
#
# The result is exactly softmax(s) V, in one pass, with only `(L, c)` logits alive at a
# time. This is the heart of FlashAttention, which additionally tiles the queries and
# keeps the tiles in on-chip SRAM.

# %% [markdown]
# Write the loop (without masks) and compare it with full attention and with the
# library's `chunked_attention`, on 100 keys in chunks of 32 (so the last chunk is
# short):

# %%
def our_chunked_attention(q, k, v, chunk_size):
    """softmax(q kᵀ / √E) v, visiting the keys chunk_size at a time. q (..., L, E)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    m = torch.full((*q.shape[:-1], 1), float("-inf"), device=q.device)   # running max (..., L, 1)
    l = torch.zeros((*q.shape[:-1], 1), device=q.device)                 # running sum (..., L, 1)
    o = torch.zeros((*q.shape[:-1], v.shape[-1]), device=q.device)       # running output (..., L, Ev)
    for start in range(0, k.shape[-2], chunk_size):
        s = q @ k[..., start:start + chunk_size, :].transpose(-2, -1) * scale   # (..., L, c)
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
        p = torch.exp(s - m_new)                                         # (..., L, c)
        correction = torch.exp(m - m_new)                                # rescales the old sums
        l = l * correction + p.sum(dim=-1, keepdim=True)
        o = o * correction + p @ v[..., start:start + chunk_size, :]
        m = m_new
    return o / l


gen = seed_everything(SEED)
qc, kc, vc = (torch.randn(2, 4, 100, 16, generator=gen) for _ in range(3))
ours_chunked = our_chunked_attention(qc, kc, vc, chunk_size=32)
print(f"max |ours - full attention| = {(ours_chunked - scaled_dot_product_attention(qc, kc, vc)).abs().max():.1e}",
      f"| max |ours - chunked_attention| = {(ours_chunked - chunked_attention(qc, kc, vc, 32)).abs().max():.1e}")
torch.testing.assert_close(ours_chunked, scaled_dot_product_attention(qc, kc, vc))
torch.testing.assert_close(ours_chunked, chunked_attention(qc, kc, vc, 32))

# %% [markdown]
# Our loop gives exactly the library's numbers, and agrees with full attention to float
# rounding (the sums are taken in a different order, nothing else). The library's
# version adds what a real model needs around the same loop: masks, `is_causal`
# (skipping chunks that lie entirely in the future), and a guard for rows whose keys are
# all masked (their running max stays $-\infty$, and $-\infty - (-\infty)$ is NaN).

# %% [markdown]
# Measure the memory: a `TorchDispatchMode` sees every tensor each PyTorch operation
# produces, so it can record the largest one (the logits block).


# %%
class LargestTensor(TorchDispatchMode):
    """Record the size in bytes of the largest tensor any operation produces."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.bytes = max(self.bytes, t.numel() * t.element_size())
        return out


gen = seed_everything(SEED)
L = S = CHUNK_L
q, k, v = (torch.randn(1, L, 64, generator=gen).to(DEVICE) for _ in range(3))
MiB = 2**20
with LargestTensor() as probe:
    full = scaled_dot_product_attention(q, k, v, is_causal=True)
rows = [("full", S, L * S * 4 / MiB, probe.bytes / MiB, 0.0)]
for c in CHUNK_SIZES:
    with LargestTensor() as probe:
        out = chunked_attention(q, k, v, chunk_size=c, is_causal=True)
    rows.append((f"chunk {c}", c, L * c * 4 / MiB, probe.bytes / MiB, (out - full).abs().max().item()))

print(f"L = S = {L}, float32")
print(f"{'':>10} {'logits block':>13} {'L·c·4 bytes':>12} {'largest tensor':>15} {'max |diff|':>11}")
for name, c, analytic, measured, diff in rows:
    print(f"{name:>10} {f'({L}, {c})':>13} {analytic:>9.1f} MiB {measured:>11.1f} MiB {diff:>11.1e}")
    assert diff < 1e-5, "chunked attention must equal full attention"
assert rows[1][3] <= rows[0][3] * CHUNK_SIZES[0] / S * 1.01, "largest tensor should shrink in proportion to the chunk"

# %% [markdown]
# The largest tensor is exactly the `(L, c)` logits block, shrinking linearly with the
# chunk, and the result agrees with full attention to float rounding. (With
# `is_causal`, chunks entirely in the future of every query are skipped — FlashAttention
# skips those tiles too.)

# %% [markdown]
# ## 9. A tiny trained model: learning to reverse
#
# Random weights show mechanics, not meaning. Train one single-head attention layer to
# **reverse** a sequence of 8 digits. Nothing but attention can move information
# between positions here, so to output token $i$ the query at position $i$ must learn to
# find key position $7 - i$ — from the position embeddings alone.

# %%
class Reverser(nn.Module):
    def __init__(self, length, vocab, dim):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(0.5 * torch.randn(length, dim))
        self.attn = MultiHeadAttention(dim, heads=1)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):                                  # (B, L) -> logits (B, L, V), weights (B, 1, L, L)
        out, w = self.attn(self.tok(idx) + self.pos, return_weights=True)
        return self.head(out), w


gen = seed_everything(SEED)
cfg = REVERSE
model = Reverser(cfg["length"], cfg["vocab"], cfg["dim"]).to(DEVICE)
opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
for step in (bar := tqdm(range(cfg["steps"]), desc="training")):
    idx = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["length"]), generator=gen).to(DEVICE)
    logits, _ = model(idx)
    loss = F.cross_entropy(logits.flatten(0, 1), idx.flip(1).flatten())
    opt.zero_grad()
    loss.backward()
    opt.step()
    bar.set_postfix(loss=f"{loss.item():.4f}")

test = torch.randint(0, cfg["vocab"], (1000, cfg["length"]), generator=gen).to(DEVICE)
with torch.no_grad():
    logits, w = model.eval()(test)
accuracy = (logits.argmax(-1) == test.flip(1)).float().mean().item()
print(f"final loss {loss.item():.4f}, held-out token accuracy {accuracy:.3f}")
print("example:", test[0].tolist(), "->", logits[0].argmax(-1).tolist())

ax = plot_alignment(w[:, 0].mean(0), title="learned attention, mean over 1000 test sequences",
                    xlabel="output position (query)", ylabel="input position (key)")
display(ax.figure)
assert accuracy > 0.95

# %% [markdown]
# The learned pattern is the anti-diagonal: output position $i$ reads input position
# $7 - i$. Nobody wrote that rule; the model found it because attention can route
# information anywhere, and the loss paid for routing it right.

# %% [markdown]
# ## In production
#
# - **FlashAttention** ([Dao et al., 2022](https://arxiv.org/abs/2205.14135);
#   [FlashAttention-2](https://arxiv.org/abs/2307.08691)) is the online softmax of
#   section 8, tiled over queries *and* keys and run in on-chip SRAM, so the logits never
#   touch GPU main memory; the backward pass recomputes them instead of storing them.
#   PyTorch's [`F.scaled_dot_product_attention`](https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html)
#   dispatches to it (or to a memory-efficient kernel) on GPUs. Our chunked version
#   teaches the maths; it is not faster on a CPU.
# - **KV cache memory** dominates LLM serving. Its size per token is
#   $2 \times \text{layers} \times \text{heads}_{kv} \times d_\text{head} \times$ bytes:
#   computed below for a 7B-parameter model. **PagedAttention**
#   ([vLLM, Kwon et al., 2023](https://arxiv.org/abs/2309.06180)) stores the cache in
#   fixed-size pages like virtual memory, so many requests share a GPU without
#   fragmentation and can share a common prompt prefix. Hugging Face `transformers` keeps
#   the cache in [`Cache` objects](https://huggingface.co/docs/transformers/kv_cache)
#   behind `generate()`.
# - **Multi-query / grouped-query attention**
#   ([MQA, Shazeer, 2019](https://arxiv.org/abs/1911.02150);
#   [GQA, Ainslie et al., 2023](https://arxiv.org/abs/2305.13245); used by PaLM,
#   Llama 2/3, Mistral) give several query heads one shared key/value head, shrinking the
#   cache by the group factor. Our `scaled_dot_product_attention` already broadcasts a
#   `(B, 1, S, E)` key over `H` query heads: that is MQA (checked below).
# - **Sliding-window attention** ([Longformer](https://arxiv.org/abs/2004.05150),
#   [Mistral 7B](https://arxiv.org/abs/2310.06825)) lets each query see only the last
#   $W$ keys: a banded mask, and a cache that is a ring buffer of $W$ entries.
# - **Failure modes:** mask polarity flipped between APIs (torch's own two disagree);
#   a causal mask aligned top-left while decoding with a cache; fp16 logits overflowing
#   without the max subtraction; fully masked rows turning into NaN; the cache outgrowing
#   memory at long contexts.
#
# The same jobs with the production libraries (not run here: the course is offline, and
# the kernels need a GPU):
#
# ```python
# import torch
# import torch.nn.functional as F
# from torch.nn.attention import SDPBackend, sdpa_kernel
#
# q = k = v = torch.randn(1, 8, 4096, 64, device="cuda", dtype=torch.bfloat16)
# with sdpa_kernel(SDPBackend.FLASH_ATTENTION):          # force the FlashAttention kernel
#     out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
#
# from transformers import AutoModelForCausalLM, AutoTokenizer
# tok = AutoTokenizer.from_pretrained("gpt2")
# model = AutoModelForCausalLM.from_pretrained("gpt2")
# ids = tok("Attention is", return_tensors="pt").input_ids
# out = model.generate(ids, max_new_tokens=20, use_cache=True)   # KV cache, as in section 7
# ```

# %%
layers, kv_heads, head_dim, bytes_per = 32, 32, 128, 2     # Llama-2-7B in float16
per_token = 2 * layers * kv_heads * head_dim * bytes_per
print(f"Llama-2-7B KV cache: {per_token / 2**10:.0f} KiB per token, "
      f"{per_token * 4096 / 2**30:.1f} GiB for one 4096-token sequence; "
      f"with 8 KV heads (GQA): {per_token * 4096 / 4 / 2**30:.2f} GiB")

gen = seed_everything(SEED)
q_heads = torch.randn(2, 8, 5, 16, generator=gen)           # 8 query heads
k_shared, v_shared = torch.randn(2, 1, 7, 16, generator=gen), torch.randn(2, 1, 7, 16, generator=gen)
mqa = scaled_dot_product_attention(q_heads, k_shared, v_shared)   # one K/V head serves all 8
copied = scaled_dot_product_attention(q_heads, k_shared.expand(-1, 8, -1, -1), v_shared.expand(-1, 8, -1, -1))
print("multi-query attention out:", tuple(mqa.shape),
      f"| max |broadcast - 8 copied K/V heads| = {(mqa - copied).abs().max():.1e}")
torch.testing.assert_close(mqa, copied)

# %% [markdown]
# ## Summary
#
# - Attention is a soft lookup: $\mathrm{softmax}(QK^\top/\sqrt d)\,V$; each row of
#   weights is a distribution over the keys. Ours matches torch's to < 1e-5.
# - The $1/\sqrt d$ keeps the logits' variance at 1, so the softmax does not saturate and
#   gradients flow.
# - Masks remove keys before the softmax: padding (per sequence) and causal (per
#   position); bool True = attend here, the opposite in `nn.MultiheadAttention`.
# - Multi-head attention splits the width into $H$ heads with a view **and a transpose**;
#   cross-attention takes keys and values from another sequence.
# - A KV cache makes decoding linear instead of quadratic in the length, with identical
#   outputs (measured: see the table above).
# - The online softmax computes exact attention chunk by chunk in $O(L \cdot c)$ memory.
#
# **Exercises:** [../exercises/day02_attention.ipynb](../exercises/day02_attention.ipynb)
# — write attention with masks, split and merge heads, and one cached decoding step.
