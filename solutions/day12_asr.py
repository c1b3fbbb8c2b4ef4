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
# # Day 12 exercises: Whisper-style ASR
#
# Four pieces of the lesson ([../notebooks/day12_asr.ipynb](../notebooks/day12_asr.ipynb)),
# written by you:
#
# 1. one decoder step with a **KV cache**, `decoder_step`;
# 2. **greedy decoding** with that cache, `greedy_decode_cached`;
# 3. **CTC greedy collapse** (best-path decoding), `ctc_collapse`;
# 4. the **word error rate** by edit distance, `word_edit_distance` and `corpus_wer`.
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. The checks compare your functions with `course_lib.speech.asr` and
# `course_lib.speech.ctc`, `jiwer` and hand-made cases on fixed seeds. `course check day12`
# runs all checks.
#
# **Run time:** a few seconds on a 2-core CPU (small random models, no training).

# %%
import random

import jiwer
import torch

from course_lib.nn.attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from course_lib.runtime import seed_everything
from course_lib.speech import asr, ctc
from course_lib.speech.asr import AsrConfig, WhisperASR

seed_everything(0)
torch.set_num_threads(1)

# A small random model: its outputs are arbitrary but deterministic. Strong random
# positions and a zero embedding for <|endoftext|> (id 0) make them long and varied,
# which is what the checks need.
torch.manual_seed(0)
MODEL = WhisperASR(AsrConfig(vocab_size=24, n_mels=16, dim=32, heads=4, max_tokens=32)).eval()
with torch.no_grad():
    g = torch.Generator().manual_seed(2)
    MODEL.decoder.positions.normal_(0, 1.0, generator=g)
    MODEL.decoder.embed.weight.normal_(0, 0.3, generator=g)
    MODEL.decoder.embed.weight[0] = 0
MELS = torch.randn(3, 16, 30, generator=torch.Generator().manual_seed(1))   # (B, n_mels, T)
MEL_LENGTHS = torch.tensor([30, 22, 15])

# %% [markdown]
# ## Exercise 1: one decoder step with a KV cache
#
# `decoder.blocks[i]` (an `asr.DecoderBlock`) computes
#
# $$x \leftarrow x + \mathrm{SelfAttn}_{\text{causal}}(\mathrm{ln1}(x)),\quad
#   x \leftarrow x + \mathrm{CrossAttn}(\mathrm{ln2}(x), \text{audio}),\quad
#   x \leftarrow x + \mathrm{mlp}(\mathrm{ln3}(x))$$
#
# and the logits are `decoder.ln(x) @ decoder.embed.weight.T`. Write the decoder's forward
# pass for `tokens` (B, L) that **continue** a prefix whose keys and values are already
# in the caches: `caches[i] = (self_cache, cross_cache)`, two `KVCache`s per block, with
# `len(self_cache)` = P positions already processed (0 on the first call).
#
# - input: `decoder.embed(tokens)` + the learned positions of **positions P .. P+L-1**;
# - self-attention by hand, with `attn = block.self_attn`: q, k, v from
#   `attn.q_proj / k_proj / v_proj`, split into `attn.heads` heads (`split_heads`);
#   **append** the new k, v to the cache (`self_cache.append(k, v)` returns all
#   P + L keys and values), then attend with `scaled_dot_product_attention` and a causal
#   mask for L queries over S = P + L keys (`causal_mask(L, S, offset=...)`), then
#   `merge_heads` and `attn.out_proj`;
# - cross-attention: call `block.cross_attn(block.ln2(x), context=audio,
#   key_padding_mask=audio_pad, cache=cross_cache)` (it fills its cache on the first call).
#
# Return the logits (B, L, V).

# %%
def decoder_step(decoder, tokens: torch.Tensor, audio: torch.Tensor, audio_pad, caches) -> torch.Tensor:
    """Logits (B, L, V) of `tokens` (B, L) continuing the cached prefix; updates `caches`."""
    ### BEGIN SOLUTION
    P = len(caches[0][0])                                             # positions already cached
    L = tokens.shape[1]
    x = decoder.embed(tokens) + decoder.positions[P:P + L]           # (B, L, D)
    for block, (self_cache, cross_cache) in zip(decoder.blocks, caches):
        attn = block.self_attn
        h = block.ln1(x)
        q = split_heads(attn.q_proj(h), attn.heads)               # (B, H, L, Dh)
        k = split_heads(attn.k_proj(h), attn.heads)
        v = split_heads(attn.v_proj(h), attn.heads)
        k, v = self_cache.append(k, v)                                # (B, H, P+L, Dh)
        mask = causal_mask(L, P + L, offset=P)                        # (L, P+L)
        x = x + attn.out_proj(merge_heads(scaled_dot_product_attention(q, k, v, mask=mask)))
        x = x + block.cross_attn(block.ln2(x), context=audio, key_padding_mask=audio_pad,
                                 cache=cross_cache)
        x = x + block.mlp(block.ln3(x))
    return decoder.ln(x) @ decoder.embed.weight.T                    # (B, L, V)
    ### END SOLUTION


# %% tags=["check"]
# Check: decoder_step with a KV cache gives the full decoder's logits, step by step
with torch.no_grad():
    audio, pad = MODEL.encoder(MELS, MEL_LENGTHS)
    tokens = torch.tensor([[1, 2, 6, 9, 10, 11, 12], [1, 3, 7, 13, 14, 15, 8], [1, 4, 6, 20, 21, 9, 9]])
    full = MODEL.decoder(tokens, audio, pad)                          # (3, 7, V) without a cache
    caches = MODEL.decoder.new_caches()
    got = [decoder_step(MODEL.decoder, tokens[:, :3], audio, pad, caches)]   # the prompt at once
    assert isinstance(got[0], torch.Tensor) and tuple(got[0].shape) == (3, 3, 24), \
        f"the prompt's logits must be (B, L, V) = (3, 3, 24); got {getattr(got[0], 'shape', got[0])}"
    assert torch.allclose(got[0], full[:, :3], atol=1e-4), \
        "the prompt's logits differ from the decoder's: check the causal mask and positions 0..L-1"
    assert len(caches[0][0]) == 3, f"after the prompt the self-attention cache must hold 3 positions; " \
                                   f"got {len(caches[0][0])} (append the new keys and values)"
    for i in range(3, 7):
        step = decoder_step(MODEL.decoder, tokens[:, i:i + 1], audio, pad, caches)
        assert tuple(step.shape) == (3, 1, 24), f"one new token gives (B, 1, V); got {tuple(step.shape)}"
        err = (step[:, 0] - full[:, i]).abs().max().item()
        if err > 1e-4:
            raise AssertionError(
                f"position {i}: logits differ from the full decoder by {err:.3g}. The new token must "
                f"see itself: append its k, v to the cache BEFORE attending; its position embedding "
                f"is positions[{i}] (P = tokens already cached); with L queries over S = P + L keys "
                f"the causal mask is causal_mask(L, S, offset=P)")
        got.append(step)
    assert len(caches[0][0]) == 7, f"the cache must grow by one position per step; holds {len(caches[0][0])}"
    assert len(caches[0][1]) == audio.shape[1], "cross-attention caches the audio's keys once"
print("decoder_step: correct")

# %% [markdown]
# ## Exercise 2: greedy decoding with the cache
#
# For one batch: encode the audio once (`model.encoder(mels, mel_lengths)` returns
# `(audio, audio_pad)`), make fresh caches (`model.decoder.new_caches()`), feed the whole
# `prompt` (P,) (the same for every item) through `decoder_step` once, then repeat: take
# the argmax of the **last** position's logits, append it, and feed **only that token**.
# An item that has produced `eot` is finished: it keeps receiving `eot`. Stop when every
# item is finished or after `max_new_tokens` new tokens. Return, per item, the new
# tokens up to (without) its first `eot`.

# %%
def greedy_decode_cached(model, mels: torch.Tensor, mel_lengths: torch.Tensor, prompt: list[int],
                         max_new_tokens: int, eot: int = 0) -> list[list[int]]:
    """Greedy decoding with a KV cache: per item, the tokens after the prompt (no eot)."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        audio, pad = model.encoder(mels, mel_lengths)
        caches = model.decoder.new_caches()
        B = mels.shape[0]
        step_input = torch.tensor(prompt)[None].expand(B, -1)        # (B, P)
        done = torch.zeros(B, dtype=torch.bool)
        new_tokens = []
        for _ in range(max_new_tokens):
            logits = decoder_step(model.decoder, step_input, audio, pad, caches)
            next_token = logits[:, -1].argmax(-1)                     # (B,)
            next_token = torch.where(done, torch.full_like(next_token, eot), next_token)
            new_tokens.append(next_token)
            done |= next_token == eot
            step_input = next_token[:, None]                          # (B, 1)
            if done.all():
                break
        out = []
        for row in torch.stack(new_tokens, 1).tolist():
            out.append(row[:row.index(eot)] if eot in row else row)
        return out
    ### END SOLUTION


# %% tags=["check"]
# Check: greedy_decode_cached gives the library's greedy tokens
prompt = [1, 2, 6]
expected = asr.greedy_decode(MODEL, MELS, MEL_LENGTHS, prompt, 20, use_cache=False)
got = greedy_decode_cached(MODEL, MELS, MEL_LENGTHS, prompt, 20)
assert isinstance(got, list) and len(got) == 3, f"return one list of ids per item; got {got!r}"
got = [[int(t) for t in row] for row in got]
assert all(len(row) <= 20 for row in got), "at most max_new_tokens new tokens per item"
assert not any(row[:3] == prompt for row in got if len(row) >= 3), "return the new tokens only, not the prompt"
assert got == expected, f"expected {expected}\n got {got}"
# make id 8 the end token: the items end at different steps
expected_end = asr.greedy_decode(MODEL, MELS, MEL_LENGTHS, prompt, 20, eot=8, use_cache=False)
assert len({len(r) for r in expected_end}) > 1
got_end = greedy_decode_cached(MODEL, MELS, MEL_LENGTHS, prompt, 20, eot=8)
assert [[int(t) for t in r] for r in got_end] == expected_end, \
    f"with eot=8 expected {expected_end}, got {got_end}: stop each item at its first eot"
print("greedy_decode_cached: correct", got[0][:8])

# %% [markdown]
# ## Exercise 3: CTC greedy collapse
#
# A CTC model gives log-probabilities `(S, C)`: for each of S frames, C classes, class
# `blank` meaning "no new label". Best-path decoding takes the argmax class of every
# frame, then **first** merges runs of the same class into one, **then** drops the
# blanks: `a a _ a b b _` -> `a _ a b _` -> `a a b`. (A blank between two equal labels is
# what lets CTC spell "seven seven".) Return the list of labels.

# %%
def ctc_collapse(log_probs: torch.Tensor, blank: int = 0) -> list[int]:
    """(S, C) frame log-probabilities -> best-path labels (repeats merged, blanks dropped)."""
    ### BEGIN SOLUTION
    labels, previous = [], None
    for label in log_probs.argmax(-1).tolist():
        if label != previous and label != blank:
            labels.append(label)
        previous = label
    return labels
    ### END SOLUTION


# %% tags=["check"]
# Check: ctc_collapse merges repeats, then drops blanks
def path(*labels, classes=5):
    return torch.nn.functional.one_hot(torch.tensor(labels), classes).float().log()


cases = [((1, 1, 0, 1, 2, 2, 0), [1, 1, 2]), ((0, 0, 3, 3, 3, 0), [3]), ((2, 2, 2), [2]),
         ((0, 0, 0), []), ((4, 0, 4, 4, 0, 4), [4, 4, 4]), ((1, 2, 3, 4), [1, 2, 3, 4])]
for frames, expected in cases:
    got = [int(x) for x in ctc_collapse(path(*frames))]
    assert 0 not in got or expected == got, f"{frames}: blanks (class 0) must be dropped; got {got}"
    if got == list(dict.fromkeys(got)) and got != expected and len(expected) > len(got):
        raise AssertionError(f"{frames}: expected {expected}, got {got}. Merge repeats BEFORE dropping "
                             "blanks: a blank between two equal labels keeps both")
    assert got == expected, f"{frames}: expected {expected}, got {got} (merge runs of equal labels)"
assert [int(x) for x in ctc_collapse(path(2, 2, 1, 2), blank=2)] == [1], "use the `blank` argument"
g = torch.Generator().manual_seed(0)
random_log_probs = torch.randn(6, 40, 4, generator=g).log_softmax(-1)
expected = ctc.ctc_greedy(random_log_probs)
assert [[int(x) for x in ctc_collapse(lp)] for lp in random_log_probs] == expected, \
    "differs from course_lib.speech.ctc.ctc_greedy on random posteriors"
print("ctc_collapse: correct")

# %% [markdown]
# ## Exercise 4: word error rate by edit distance
#
# The Levenshtein distance between the reference words $r_1..r_n$ and the hypothesis
# words $h_1..h_m$ is the last entry of the table
#
# $$d_{i,0} = i,\quad d_{0,j} = j,\quad
#   d_{i,j} = \min(d_{i-1,j} + 1,\ d_{i,j-1} + 1,\ d_{i-1,j-1} + [r_i \ne h_j])$$
#
# (a deletion, an insertion, a substitution or match). The corpus WER is the total of
# the distances over the total number of **reference** words (not an average of
# per-sentence rates, and not over the hypothesis words: WER can exceed 1).

# %%
def word_edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions + deletions + insertions turning `hypothesis` into `reference`."""
    ### BEGIN SOLUTION
    n, m = len(reference), len(hypothesis)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (reference[i - 1] != hypothesis[j - 1]))
    return d[n][m]
    ### END SOLUTION


def corpus_wer(references: list[str], hypotheses: list[str]) -> float:
    """Total word edits / total reference words (texts are space-separated words)."""
    ### BEGIN SOLUTION
    edits = sum(word_edit_distance(r.split(), h.split()) for r, h in zip(references, hypotheses))
    return edits / sum(len(r.split()) for r in references)
    ### END SOLUTION


# %% tags=["check"]
# Check: word_edit_distance and corpus_wer agree with jiwer
assert word_edit_distance("a b c".split(), "a b c".split()) == 0, "identical texts: distance 0"
assert word_edit_distance("a b c".split(), "a x c".split()) == 1, "one substitution"
assert word_edit_distance("a b c".split(), "a c".split()) == 1, "one deletion"
assert word_edit_distance("a b c".split(), "a b c d e".split()) == 2, \
    "two insertions count 2: each extra hypothesis word is one edit"
assert word_edit_distance([], "a b".split()) == 2, "an empty reference: every hypothesis word is an insertion"
assert word_edit_distance("a b".split(), []) == 2, "an empty hypothesis: every reference word is a deletion"
rng = random.Random(0)
words = ["one", "two", "three", "four"]
refs = [" ".join(rng.choices(words, k=rng.randint(1, 6))) for _ in range(100)]
hyps = [" ".join(rng.choices(words, k=rng.randint(0, 8))) for _ in range(100)]
for r, h in zip(refs, hyps):
    o = jiwer.process_words(r, h)
    want = o.substitutions + o.deletions + o.insertions
    got = word_edit_distance(r.split(), h.split())
    assert got == want, f"distance({r!r}, {h!r}) = {got}, jiwer says {want}"
got = corpus_wer(["a b c d", "e f"], ["a b c d x y z", "e f"])
assert abs(corpus_wer(["a b c d"], ["a b"]) - 0.5) < 1e-9, "2 deletions over 4 reference words = 0.5"
assert abs(corpus_wer(["a b"], ["a b c d"]) - 1.0) < 1e-9, \
    "2 insertions over 2 reference words = 1.0: divide by the reference length, not the hypothesis"
assert abs(got - 3 / 6) < 1e-9, \
    f"3 edits over 6 reference words = 0.5; got {got} (total edits / total reference words, not a mean of rates)"
assert abs(corpus_wer(refs, hyps) - jiwer.wer(refs, hyps)) < 1e-9, \
    f"corpus WER {corpus_wer(refs, hyps):.4f} differs from jiwer's {jiwer.wer(refs, hyps):.4f}"
print("word_edit_distance and corpus_wer: correct")

# %% [markdown]
# ## Done
#
# These four functions are `TextDecoder.forward` with `caches`, `asr.greedy_decode`,
# `ctc.ctc_greedy` in `course_lib.speech`, and the lesson's `edit_distance` / `corpus_wer`
# (`course_lib.metrics.word_error_rate` computes the same WER with jiwer).
