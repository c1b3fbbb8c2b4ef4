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
# # Day 10 exercises: Tacotron 2
#
# Four pieces of Tacotron 2 from the lesson
# ([../notebooks/day10_tacotron.ipynb](../notebooks/day10_tacotron.ipynb)), written by you:
#
# 1. the location features of location-sensitive attention, `location_features`;
# 2. the attention energies and a masked softmax, `attention_weights`;
# 3. the stop-token targets, `stop_targets`;
# 4. the guided-attention weight matrix, `guided_attention_matrix`.
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. Each check compares your function with
# `course_lib.speech.tacotron` on fixed seeds. `course check day10` runs all checks.
#
# **Run time:** a few seconds on a 2-core CPU.

# %%
import torch
from torch import nn

from course_lib.runtime import seed_everything
from course_lib.speech import tacotron

seed_everything(0)

# %% [markdown]
# ## Exercise 1: location features
#
# At decoder step $i$, location-sensitive attention looks at where it attended before:
# the **previous** attention $\alpha_{i-1}$ and the **cumulative** attention
# $\sum_{k<i} \alpha_k$, both `(B, N)`. Stack them as two channels, **previous first**,
# into `(B, 2, N)`, apply the convolution `conv` (`nn.Conv1d(2, filters, kernel,
# padding=kernel // 2)`), and return the features with the filters last:
# `(B, N, filters)`.

# %%
def location_features(previous: torch.Tensor, cumulative: torch.Tensor,
                      conv: nn.Conv1d) -> torch.Tensor:
    """(B, N) previous and cumulative attention -> (B, N, filters)."""
    ### BEGIN SOLUTION
    stacked = torch.stack([previous, cumulative], dim=1)        # (B, 2, N)
    return conv(stacked).transpose(1, 2)
    ### END SOLUTION


# %% tags=["check"]
# Check: location_features convolves [previous; cumulative] and puts filters last
torch.manual_seed(1)
conv = nn.Conv1d(2, 32, 31, padding=15, bias=False)
previous = torch.softmax(torch.randn(3, 17), -1)
cumulative = previous + torch.softmax(torch.randn(3, 17), -1)
got = location_features(previous, cumulative, conv)
assert isinstance(got, torch.Tensor), f"return a tensor; got {type(got).__name__}"
assert tuple(got.shape) != (3, 32, 17), \
    "got (B, filters, N): transpose so that the filters are last, (B, N, filters)"
assert tuple(got.shape) == (3, 17, 32), f"expected (B, N, filters) = (3, 17, 32); got {tuple(got.shape)}"
expected = tacotron.location_features(previous, cumulative, conv)
swapped = tacotron.location_features(cumulative, previous, conv)
assert not torch.allclose(got, swapped, atol=1e-6), \
    "channels swapped: channel 0 is the previous attention, channel 1 the cumulative one"
only_previous = tacotron.location_features(previous, torch.zeros_like(previous), conv)
assert not torch.allclose(got, only_previous, atol=1e-6), "the cumulative attention is missing"
assert torch.allclose(got, expected, atol=1e-6), "differs from course_lib's location_features"
print("location_features: correct")

# %% [markdown]
# ## Exercise 2: attention energies with a masked softmax
#
# Given the attention module `att` (a `tacotron.LocationSensitiveAttention`), compute the
# attention weights of one decoder step:
#
# $$e_{ij} = v^\top \tanh(W s_i + V h_j + U f_{ij} + b), \qquad
#   \alpha_{ij} = \frac{\exp e_{ij}}{\sum_{k\ \text{real}} \exp e_{ik}}\ \text{(0 on padding)}$$
#
# - `query` $s_i$: `(B, Dq)`; `att.query` is $W$;
# - `processed_memory` $V h_j$: `(B, N, A)`, already computed;
# - $f_{ij}$: your `location_features(previous, cumulative, att.location_conv)`, and
#   `att.location` is $U$;
# - `att.v` is $v$ with the bias $b$ (a `Linear(A, 1)`: squeeze the last axis);
# - `mask`: `(B, N)` bool, True on real inputs. Padding must get weight exactly 0: set
#   its energies to $-\infty$ before the softmax over the inputs.
#
# Return $\alpha_i$, `(B, N)`.

# %%
def attention_weights(att: tacotron.LocationSensitiveAttention, query: torch.Tensor,
                      processed_memory: torch.Tensor, previous: torch.Tensor,
                      cumulative: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Location-sensitive attention weights of one step, (B, N), zero on padding."""
    ### BEGIN SOLUTION
    location = att.location(location_features(previous, cumulative, att.location_conv))
    energies = att.v(torch.tanh(att.query(query)[:, None] + processed_memory + location)).squeeze(-1)
    energies = energies.masked_fill(~mask, float("-inf"))
    return torch.softmax(energies, dim=-1)
    ### END SOLUTION


# %% tags=["check"]
# Check: attention_weights matches the library and ignores padding
torch.manual_seed(2)
att = tacotron.LocationSensitiveAttention(query_dim=12, memory_dim=10, attention_dim=16)
memory = torch.randn(3, 9, 10)
lengths = torch.tensor([9, 5, 2])
mask = torch.arange(9)[None] < lengths[:, None]
processed = att.process_memory(memory)
previous = tacotron.masked_softmax(torch.randn(3, 9), mask)
cumulative = previous + tacotron.masked_softmax(torch.randn(3, 9), mask)
query = torch.randn(3, 12)
with torch.no_grad():
    got = attention_weights(att, query, processed, previous, cumulative, mask)
    _, expected = att(query, memory, processed, previous, cumulative, mask)
    swapped = tacotron.masked_softmax(att.energies(query, processed, cumulative, previous), mask)
assert isinstance(got, torch.Tensor) and tuple(got.shape) == (3, 9), \
    f"expected weights of shape (B, N) = (3, 9); got {getattr(got, 'shape', got)}"
assert torch.allclose(got.sum(-1), torch.ones(3), atol=1e-5), \
    "each row must sum to 1: softmax over the inputs (the last axis)"
assert (got[~mask] == 0).all(), (
    f"padding got weight {got[~mask].abs().max():.3g}: set the energies of padded inputs to -inf "
    "(masked_fill(~mask, -inf)) before the softmax; True in the mask marks real inputs")
assert not torch.allclose(got, swapped, atol=1e-5), \
    "previous and cumulative attention are swapped in the location features"
assert torch.allclose(got, expected, atol=1e-5), (
    "differs from LocationSensitiveAttention: e = v(tanh(W s + V h + U f)), with f from "
    "location_features(previous, cumulative, att.location_conv) and U = att.location")
print("attention_weights: correct, padding gets no attention")

# %% [markdown]
# ## Exercise 3: stop-token targets
#
# The decoder predicts, at every frame, the probability that the utterance is over. For
# a batch of utterances with `mel_lengths` (B,) real frames, padded to `n_frames`, the
# target is **1 from the last real frame on** (frame index `length - 1`, and all padding
# after it) and 0 before. Return a float tensor `(B, n_frames)`.

# %%
def stop_targets(mel_lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B, n_frames) float: 1.0 at frames >= length - 1, else 0.0."""
    ### BEGIN SOLUTION
    frames = torch.arange(n_frames)
    return (frames[None] >= mel_lengths[:, None] - 1).float()
    ### END SOLUTION


# %% tags=["check"]
# Check: stop_targets are 1 from the last real frame on
got = stop_targets(torch.tensor([3, 5, 1]), 6)
assert isinstance(got, torch.Tensor) and tuple(got.shape) == (3, 6), \
    f"expected a (B, n_frames) = (3, 6) tensor; got {getattr(got, 'shape', got)}"
assert got.is_floating_point(), "return floats (BCE targets), not bool"
expected = tacotron.stop_targets(torch.tensor([3, 5, 1]), 6)
assert got[0].tolist() != [0, 0, 0, 1, 1, 1], \
    "off by one: the last real frame (index length - 1 = 2) is already a stop frame"
assert got[0].tolist() != [0, 0, 0, 0, 1, 1], "off by two: the target turns 1 at index length - 1"
assert got[0].tolist() != [1, 1, 0, 0, 0, 0], "inverted: 0 while speaking, 1 at the end"
assert torch.equal(got, expected), f"expected {expected.int().tolist()}; got {got.int().tolist()}"
print("stop_targets:", got.int().tolist())

# %% [markdown]
# ## Exercise 4: the guided-attention weight matrix
#
# For one utterance of `N` inputs and `T` decoder steps, return the `(T, N)` matrix
#
# $$W_{tn} = 1 - \exp\Big(-\frac{(n/N - t/T)^2}{2 g^2}\Big), \qquad t = 0..T-1,\ n = 0..N-1,$$
#
# 0 on the diagonal $n/N = t/T$ and close to 1 far from it. Rows are decoder steps,
# columns inputs, like the attention it multiplies.

# %%
def guided_attention_matrix(N: int, T: int, g: float = 0.2) -> torch.Tensor:
    """(T, N) guided-attention weights."""
    ### BEGIN SOLUTION
    n = torch.arange(N)[None] / N
    t = torch.arange(T)[:, None] / T
    return 1 - torch.exp(-((n - t) ** 2) / (2 * g * g))
    ### END SOLUTION


# %% tags=["check"]
# Check: guided_attention_matrix is the diagonal prior of Tachibana et al.
got = guided_attention_matrix(12, 30)
assert isinstance(got, torch.Tensor), f"return a tensor; got {type(got).__name__}"
assert tuple(got.shape) != (12, 30), "got (N, T): rows are decoder steps, return (T, N) = (30, 12)"
assert tuple(got.shape) == (30, 12), f"expected (T, N) = (30, 12); got {tuple(got.shape)}"
expected = tacotron.guided_attention_weights(torch.tensor([12]), torch.tensor([30]), 12, 30)[0]
assert got.min() >= 0 and got.max() <= 1, \
    "W = 1 - exp(-(...)^2 / 2g^2) lies in [0, 1]: is the sign of the exponent right?"
assert got[0, 0].abs() < 1e-6, "W must be 0 at t = n = 0 (on the diagonal): count t and n from 0"
assert got[-1, 0] > 0.8 and got[0, -1] > 0.8, "W must be close to 1 in the far corners"
no_two = 1 - torch.exp(-((torch.arange(12)[None] / 12 - torch.arange(30)[:, None] / 30) ** 2) / 0.04)
assert not torch.allclose(got.float(), no_two, atol=1e-4), "the denominator is 2 g^2, not g^2"
assert torch.allclose(got.float(), expected, atol=1e-5), (
    f"differs from course_lib at {(got.float() - expected).abs().argmax().item()}: use n / N and "
    "t / T with 0-based n and t, and 2 g^2 in the denominator")
different_g = guided_attention_matrix(12, 30, g=0.4)
assert not torch.allclose(different_g.float(), got.float()), "the width g is ignored"
print("guided_attention_matrix: correct")
