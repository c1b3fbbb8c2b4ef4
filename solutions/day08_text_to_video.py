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
# # Day 08 exercises — Text-to-video
#
# Four building blocks from the lesson ([../notebooks/day08_text_to_video.ipynb](../notebooks/day08_text_to_video.ipynb))
# and one experiment, written by you:
#
# 1. cross-attention from video tokens to caption tokens with a key padding mask,
#    `cross_attention`;
# 2. classifier-free guidance over captions: the null caption, `null_caption_ids`, and
#    both passes in one batch, `guided`;
# 3. image-to-video's first-frame condition, `first_frame_condition`, and the model's
#    input, `model_input`;
# 4. SDEdit on clips: noise to the start step, then guided DDIM from there, `sdedit`;
# 5. an experiment: caption dropout 0 against 10 %, and what it does to guidance. You
#    train, the check measures.
#
# Write the body of each function where it says `# YOUR CODE HERE`, then run the check
# cell below it. Each check compares your function with `course_lib` (`nn.attention`,
# `diffusion.text_cond`, `diffusion.ddpm`, `diffusion.video_dit`) on small fixed inputs
# and tells you what looks wrong. Grade the whole notebook with `course check day08`
# (add `--json` for a machine-readable report).
#
# **Run time:** about 7 s on a 2-core CPU (exercise 5 trains six tiny denoisers in about
# 4 s); nothing is downloaded.

# %%
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.captions import NULL_CAPTION, tokenize
from course_lib.data.digits import DIRECTIONS
from course_lib.diffusion import ddpm                      # the references the checks compare against
from course_lib.diffusion import video_dit as lib_video
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.text_cond import NULL_ID, PAD_ID, CrossAttentionBlock
from course_lib.diffusion.video_dit import VideoDiT, VideoDiTConfig
from course_lib.nn.attention import MultiHeadAttention
from course_lib.nn.embeddings import sincos_1d
from course_lib.nn.text_encoder import TextEncoder, TextEncoderConfig

torch.manual_seed(0)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference (inf when shapes differ or a value is NaN)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return float("inf")
    d = (a.double() - b.double()).abs().max().item() if a.numel() else 0.0
    return float("inf") if math.isnan(d) else d


def call(fn, *args, hint: str = ""):
    """fn(*args), with a shape error (RuntimeError) or a library's refusal (ValueError)
    turned into a failed check that says what to look at; an unsolved exercise
    (NotImplementedError) still reads as unsolved."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except (RuntimeError, ValueError) as err:
        raise AssertionError(f"{fn.__name__} raised {type(err).__name__}: {err}. {hint}") from None


# %% [markdown]
# ## Exercise 1 — Cross-attention with a caption padding mask
#
# The video model reads its caption through cross-attention: the video tokens
# $x$ `(B, N, D)` ask the questions (queries), the caption's token features $c$
# `(B, L, D_c)` from the text encoder answer (keys and values):
#
# $$Q = x W_q^\top + b_q, \qquad K = c\, W_k^\top + b_k, \qquad V = c\, W_v^\top + b_v ,$$
#
# all three `(B, ·, D)`, split into $H$ heads of width $D_h = D / H$ (`(B, H, N, D_h)` and
# `(B, H, L, D_h)`; head $h$ gets features $h D_h \dots (h+1) D_h - 1$). Per head,
#
# $$A_h = \operatorname{softmax}_{l}\Big(\frac{Q_h K_h^\top}{\sqrt{D_h}} + M\Big) \quad (B, H, N, L),
# \qquad M_{bl} = \begin{cases} -\infty & \text{word } l \text{ of caption } b \text{ is padding} \\
# 0 & \text{otherwise,}\end{cases}$$
#
# and $\text{out} = \operatorname{concat}_h(A_h V_h)\, W_o^\top + b_o$ `(B, N, D)`. The softmax runs
# over the **keys** (the caption's $L$ words): each video token's weights sum to 1 over the words.
#
# Captions have different lengths: `tokenize` pads them to $L$ = `MAX_WORDS` = 5 with id 0
# and returns `pad` `(B, L)`, **True = padding** (the convention of `MultiHeadAttention`'s
# `key_padding_mask`). Padding is not part of the caption: the text encoder outputs zeros
# there, whose keys are just $b_k$ — without the mask they would pull a share of every
# video token's attention, and a short caption such as "a 4" (three padding tokens) would
# be read mostly as padding. Broadcast `pad` as `(B, 1, 1, L)` over heads and queries and put $-\infty$ in the
# logits there (`masked_fill`): $e^{-\infty} = 0$, so padding gets weight **exactly** 0. Every
# caption has at least one real word (the null caption too: it is `<null>` at every
# position), so no row is all $-\infty$.
#
# `attn` is a `MultiHeadAttention(D, H, kv_dim=D_c)` from `course_lib`: use its four
# `nn.Linear` layers `attn.q_proj`, `attn.k_proj`, `attn.v_proj`, `attn.out_proj` and its
# `attn.heads`, and write the logits, the mask and the softmax yourself (not `attn(...)`,
# nor `F.scaled_dot_product_attention`).

# %%
def cross_attention(x: torch.Tensor, context: torch.Tensor, pad: torch.Tensor,
                    attn: MultiHeadAttention) -> torch.Tensor:
    """x (B, N, D) video tokens, context (B, L, Dc) caption tokens, pad (B, L) bool (True =
    padding) -> (B, N, D): multi-head attention from x to the caption's real words."""
    ### BEGIN SOLUTION
    B, N, D = x.shape
    L, H = context.shape[1], attn.heads
    q = attn.q_proj(x).view(B, N, H, D // H).transpose(1, 2)              # (B, H, N, Dh)
    k = attn.k_proj(context).view(B, L, H, D // H).transpose(1, 2)        # (B, H, L, Dh)
    v = attn.v_proj(context).view(B, L, H, D // H).transpose(1, 2)        # (B, H, L, Dh)
    logits = q @ k.transpose(-2, -1) / math.sqrt(D // H)                  # (B, H, N, L)
    logits = logits.masked_fill(pad[:, None, None, :], float("-inf"))     # padding: weight 0
    weights = logits.softmax(dim=-1)                                      # sums to 1 over the words
    out = (weights @ v).transpose(1, 2).reshape(B, N, D)                  # heads side by side
    return attn.out_proj(out)
    ### END SOLUTION


def attention_case(seed: int = 0):
    """A cross-attention problem with every size different: B = 3 clips of N = 6 video tokens
    of width D = 16 (H = 4 heads of 4), captions of L = 5 tokens of width Dc = 12, of 2, 4
    and 3 real words (every caption has words *and* padding)."""
    gen = torch.Generator().manual_seed(seed)
    x, context = torch.randn(3, 6, 16, generator=gen), torch.randn(3, 5, 12, generator=gen)
    pad = torch.arange(5)[None, :] >= torch.tensor([2, 4, 3])[:, None]   # (3, 5), True = padding
    torch.manual_seed(seed)
    return x, context, pad, MultiHeadAttention(16, 4, kv_dim=12).eval()


def variant(attn: MultiHeadAttention, logit_factor: float = 1.0, skip_out: bool = False) -> MultiHeadAttention:
    """A copy of attn whose logits are `logit_factor` times attn's (its query projection
    scaled), or (skip_out) whose output projection is the identity: what a slip computes."""
    other = MultiHeadAttention(attn.dim, attn.heads, kv_dim=attn.kv_dim).eval()
    other.load_state_dict(attn.state_dict())
    with torch.no_grad():
        other.q_proj.weight.mul_(logit_factor)
        other.q_proj.bias.mul_(logit_factor)
        if skip_out:
            other.out_proj.weight.copy_(torch.eye(attn.dim))
            other.out_proj.bias.zero_()
    return other


# %% tags=["check"]
# Check: cross_attention matches course_lib's MultiHeadAttention with key_padding_mask
x, context, pad, attn = attention_case()
shape_hint = ("Shapes: x (B, N, D) = (3, 6, 16), context (B, L, Dc) = (3, 5, 12), pad (B, L) = (3, 5). "
              "q_proj acts on x, k_proj and v_proj on the context; split heads with .view(B, len, H, D // H)"
              ".transpose(1, 2), and the logits q @ k.transpose(-2, -1) are (B, H, N, L)")
with torch.no_grad():
    out = call(cross_attention, x, context, pad, attn, hint=shape_hint)
    ref = attn(x, context=context, key_padding_mask=pad)
    inverted = attn(x, context=context, key_padding_mask=~pad)
    no_mask = attn(x, context=context)
    by_sqrt_d = variant(attn, 0.5)(x, context=context, key_padding_mask=pad)     # 1/sqrt(D) = 1/sqrt(Dh) / 2
    no_scale = variant(attn, 2.0)(x, context=context, key_padding_mask=pad)      # sqrt(Dh) = 2
    no_out = variant(attn, skip_out=True)(x, context=context, key_padding_mask=pad)
assert isinstance(out, torch.Tensor) and tuple(out.shape) == (3, 6, 16), \
    f"cross_attention must return (B, N, D) = (3, 6, 16), one vector per video token; got {getattr(out, 'shape', out)}"
assert not torch.isnan(out).any(), \
    ("the output has NaN: a softmax over logits that are all -inf. Did you mask every word, or take the softmax "
     "over the wrong axis? It runs over the words, the last axis of (B, H, N, L); each caption here has words")
assert max_diff(out, inverted) > 1e-4, \
    ("the mask is inverted: you attend to the padding and hide the words. pad is True at the padding: "
     "masked_fill(pad[:, None, None, :], -inf), not ~pad")
assert max_diff(out, no_mask) > 1e-4, \
    "the output equals attention without a mask: the padding is attended to. Fill the padding's logits with -inf"
assert max_diff(out, by_sqrt_d) > 1e-4, \
    f"the logits are divided by sqrt(D) = sqrt({attn.dim}); divide by sqrt(Dh) = sqrt(D / H) = sqrt({attn.head_dim})"
assert max_diff(out, no_scale) > 1e-4, "the logits are not scaled: divide q k^T by sqrt(Dh) = sqrt(D / H)"
assert max_diff(out, no_out) > 1e-4, "the heads' output must go through attn.out_proj at the end"
gen = torch.Generator().manual_seed(1)
with torch.no_grad():
    junk = context + 100 * torch.randn(context.shape, generator=gen) * pad[..., None]   # only padding changes
    moved = max_diff(cross_attention(x, junk, pad, attn), out)
assert moved < 1e-5, \
    (f"changing only the padding positions' features moved the output by {moved:.3g}: padding still gets attention "
     "weight. Fill its logits with -inf (not 0) *before* the softmax, so its weight is exactly 0 and the words' "
     "weights still sum to 1")
diff = max_diff(out, ref)
assert diff < 1e-5, \
    (f"differs from MultiHeadAttention(x, context=context, key_padding_mask=pad) by {diff:.2e}. Look at the head "
     "split (view(B, len, H, Dh) then transpose(1, 2), so head h gets features h*Dh..(h+1)*Dh-1), the softmax "
     "axis (the last one, over the words) and the merge (transpose(1, 2) back, then reshape to (B, N, D))")
print(f"ok: matches MultiHeadAttention within {diff:.1e} (inverted mask: off by {max_diff(inverted, ref):.2f}, "
      f"no mask: off by {max_diff(no_mask, ref):.2f})")

# %% tags=["check"]
# Check: real captions through the text encoder: padding's content never reaches the video tokens
captions = ["a 3 moving up-left", "a 7 moving down", "a 4"]                # 5, 4 and 2 words
ids, pad = tokenize(captions)
torch.manual_seed(1)
encoder, block = TextEncoder(TextEncoderConfig(dim=12, depth=1, heads=2)).eval(), CrossAttentionBlock(16, 4, 12).eval()
gen = torch.Generator().manual_seed(2)
x = torch.randn(3, 6, 16, generator=gen)
with torch.no_grad():
    tokens = encoder(ids, pad)                                              # (3, 5, 12), zeros at the padding
    out = call(cross_attention, block.norm(x), tokens, pad, block.attn, hint=shape_hint)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (3, 6, 16), \
        f"cross_attention must return (B, N, D) = (3, 6, 16); got {getattr(out, 'shape', out)}"
    assert not torch.isnan(out[0]).any(), \
        ("NaN for 'a 3 moving up-left', a caption with no padding: your mask hides its words "
         "(pad is True at the padding, False at the words)")
    junk = tokens + 100 * torch.randn(tokens.shape, generator=gen) * pad[..., None]   # only padding changes
    moved = max_diff(cross_attention(block.norm(x), junk, pad, block.attn), out)
    assert moved < 1e-5, \
        (f"changing only the padding positions' features moved the output by {moved:.3g}: padding still gets "
         "attention weight. Fill its logits with -inf (not 0) before the softmax, so its weight is exactly 0")
    ref = block(x, tokens, pad)                                             # x + CrossAttn(LN(x), tokens, pad)
    diff = max_diff(x + out, ref)
    assert diff < 1e-5, \
        f"x + cross_attention(LN(x), ...) differs from course_lib's CrossAttentionBlock by {diff:.2e}"
    other_ids, _ = tokenize(["a 8 moving up-left", "a 7 moving up", "a 1"])   # one real word changed in each
    words = max_diff(cross_attention(block.norm(x), encoder(other_ids, pad), pad, block.attn), out)
    assert words > 1e-3, "changing the captions' words did not change the output: attend to the words"
print(f"ok: matches CrossAttentionBlock within {diff:.1e}; padding x 100 moves the output by {moved:.1e}, "
      f"a changed word by {words:.2f}")

# %% [markdown]
# ## Exercise 2 — Classifier-free guidance over captions
#
# The model learns $\epsilon_\theta(x_t, t, c)$ for a caption $c$ **and**, because captions are
# replaced by the null caption $\varnothing$ with probability $p$ while training (caption
# dropout), the unconditional $\epsilon_\theta(x_t, t, \varnothing)$. Guidance extrapolates from
# the second to the first:
#
# $$\hat\epsilon = \epsilon_\theta(x_t, t, \varnothing)
# + s\,\big(\epsilon_\theta(x_t, t, c) - \epsilon_\theta(x_t, t, \varnothing)\big):$$
#
# $s = 0$ is unconditional, $s = 1$ conditional, $s > 1$ pushes further toward what the
# caption adds.
#
# - `null_caption_ids(ids)`: the null caption is the word `<null>` at **every** position,
#   `NULL_ID` = 1 (`tokenize([NULL_CAPTION])`), a tensor shaped and typed like `ids`
#   `(B, L)`. Not padding (`PAD_ID` = 0): a caption of padding only would leave
#   cross-attention no key to attend to (the text encoder refuses it).
# - `guided(model, x, t, ids, scale)`: `model(x, t, ids)` is a caption-conditioned video
#   DiT, $x$ `(B, C, T, H, W)`, $t$ `(B,)`, `ids` `(B, L)`. Compute both predictions in **one**
#   call on a batch of $2B$: `x` twice, `t` twice, the captions over the null captions,
#   then split the output in two (`chunk(2)`) and combine. On a GPU one call of $2B$
#   costs little more than one of $B$; two calls cost twice.

# %%
def null_caption_ids(ids: torch.Tensor) -> torch.Tensor:
    """(B, L) caption ids -> (B, L) ids of the null caption: NULL_ID everywhere."""
    ### BEGIN SOLUTION
    return torch.full_like(ids, NULL_ID)
    ### END SOLUTION


def guided(model, x: torch.Tensor, t: torch.Tensor, ids: torch.Tensor, scale: float) -> torch.Tensor:
    """eps_null + scale * (eps_cond - eps_null), both from ONE model call on 2B clips.
    x (B, C, T, H, W), t (B,), ids (B, L) -> (B, C, T, H, W)."""
    ### BEGIN SOLUTION
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([ids, null_caption_ids(ids)]))
    eps_cond, eps_null = out.chunk(2)
    return eps_null + scale * (eps_cond - eps_null)
    ### END SOLUTION


def tiny_caption_model(seed: int = 0) -> VideoDiT:
    """A caption-conditioned video DiT (4 frames of 8x8, width 32, one block) with random
    weights standing in for trained ones: a fresh model's caption paths start at zero and
    would ignore the caption."""
    torch.manual_seed(seed)
    model = VideoDiT(VideoDiTConfig(frames=4, height=8, width=8, patch=(1, 4, 4), dim=32, depth=1, heads=4,
                                    text=TextEncoderConfig(dim=16, depth=1, heads=2)))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model.eval()


class Recorder:
    """Wraps a model(x, t, ids) and records the batch of every call (and refuses an
    all-padding caption, with the message a learner needs)."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, x, t, ids):
        self.calls.append(ids.clone())
        assert len(t) == len(x) == len(ids), \
            (f"the model got x of {len(x)} clips, t of {len(t)} and ids of {len(ids)}: stack all three "
             "(torch.cat([t, t]) as well as x and ids)")
        assert not bool((ids == PAD_ID).all(dim=1).any()), \
            ("a caption of padding only (PAD_ID = 0 everywhere) reached the model: the null caption is "
             "<null> at every position, NULL_ID = 1")
        return self.model(x, t, ids)


# %% tags=["check"]
# Check: null_caption_ids is <null> at every position (NULL_ID), not padding
ids, pad = tokenize(["a 3 moving up-left", "a 7 moving down", "a 4"])
before = ids.clone()
null = null_caption_ids(ids)
assert isinstance(null, torch.Tensor) and null.shape == ids.shape and null.dtype == ids.dtype, \
    (f"null_caption_ids must return a tensor shaped and typed like ids, (3, 5) int64; got "
     f"{getattr(null, 'dtype', type(null))} {tuple(getattr(null, 'shape', ()))}")
assert torch.equal(ids, before), "null_caption_ids changed ids in place: return a new tensor (torch.full_like)"
assert not bool((null == PAD_ID).all()), \
    ("the null caption is padding (PAD_ID = 0) everywhere: cross-attention would have no key to attend to. "
     f"It is the word <null> at every position, NULL_ID = {NULL_ID}")
assert not torch.equal(null, torch.where(pad, PAD_ID, NULL_ID)), \
    ("you kept each caption's padding: the null caption is the same for every clip, <null> at all "
     f"{ids.shape[1]} positions and no padding (NULL_CAPTION = {NULL_CAPTION!r})")
reference = tokenize([NULL_CAPTION] * 3)[0]
assert torch.equal(null, reference), \
    f"got {null.tolist()}; the null caption tokenizes to {reference[0].tolist()} for every clip (NULL_ID = {NULL_ID})"
print(f"ok: {NULL_CAPTION!r} -> {null[0].tolist()} for each of the {len(null)} clips")

# %% tags=["check"]
# Check: guided = null + s (cond - null) from one batched call, as course_lib.diffusion.ddpm.guided
model = tiny_caption_model()
ids, _ = tokenize(["a 3 moving up-left", "a 7 moving down"])
gen = torch.Generator().manual_seed(3)
x, t = torch.randn(2, 1, 4, 8, 8, generator=gen), torch.tensor([30, 70])
recorder = Recorder(model)
with torch.no_grad():
    out = call(guided, recorder, x, t, ids, 3.0, hint="x is (B, C, T, H, W): stack on the batch axis, torch.cat([x, x])")
    cond, null = model(x, t, ids), model(x, t, tokenize([NULL_CAPTION] * 2)[0])
    ref = ddpm.guided(model, ids, NULL_ID, 3.0)(x, t)
assert isinstance(out, torch.Tensor) and out.shape == x.shape, \
    f"guided must return a prediction shaped like x {tuple(x.shape)}; got {getattr(out, 'shape', out)}"
assert len(recorder.calls) == 1 and len(recorder.calls[0]) == 2 * len(x), \
    (f"the model was called {len(recorder.calls)} time(s) with batches of "
     f"{[len(c) for c in recorder.calls]}: make ONE call on 2B = {2 * len(x)} clips (captions and null captions)")
sent = recorder.calls[0]
halves = sent.chunk(2)
assert any(torch.equal(h, ids) for h in halves) and any(bool((h == NULL_ID).all()) for h in halves), \
    f"the batched call must hold the captions and the null captions (<null> everywhere); it got {sent.tolist()}"
assert max_diff(out, cond + 3.0 * (null - cond)) > 1e-4, \
    ("the two predictions are swapped: guidance is null + s (cond - null), extrapolating *toward* the caption "
     "(or you split the batched output in the wrong order: the first half belongs to the first half of the input)")
assert max_diff(out, cond + 3.0 * (cond - null)) > 1e-4, \
    "you computed cond + s (cond - null): it is null + s (cond - null), so s = 1 gives cond"
diff = max_diff(out, ref)
assert diff < 1e-5, f"differs from course_lib.diffusion.ddpm.guided by {diff:.2e}: null + s (cond - null)"
with torch.no_grad():
    at_one, at_zero = guided(model, x, t, ids, 1.0), guided(model, x, t, ids, 0.0)
assert max_diff(at_one, cond) < 1e-5, \
    (f"at scale 1 guidance must give the conditional prediction (null + 1 (cond - null) = cond); off by "
     f"{max_diff(at_one, cond):.2e}")
assert max_diff(at_zero, null) < 1e-5, \
    f"at scale 0 guidance must give the null prediction; off by {max_diff(at_zero, null):.2e}"
print(f"ok: one call of {len(sent)} clips; matches ddpm.guided within {diff:.1e}; "
      f"|cond - null| up to {max_diff(cond, null):.2f}, scaled by 3")

# %% [markdown]
# ## Exercise 3 — Image-to-video: the first frame as extra channels
#
# Image-to-video animates a given still. Stable Video Diffusion (SVD) gives the model the
# still as **extra input channels of every frame**: the clean first frame $v_{:,:,0}$ of the
# clip, repeated over all $T$ frames, plus a little Gaussian noise of standard deviation
# $\sigma$ (one per clip),
#
# $$c = \operatorname{repeat}_T(v_{:,:,0}) + \sigma\, n, \qquad n \sim \mathcal N(0, I)\ (B, C, T, H, W),$$
#
# and the model's input is the noisy clip and $c$ side by side on the **channel** axis:
#
# $$\text{input} = [\,x_t \,;\, c\,] \quad (B,\ C + C,\ T, H, W),$$
#
# which `VideoDiT` with `cond_channels = C` patchifies as one tensor of $2C$ channels (so
# every spacetime patch sees its frame *and* the still). Frame $k$'s tokens can compare the
# two and learn to move the still's content. (The lesson's caption model trains with this
# layout; its image-to-video fine-tune uses CogVideoX's, the still in frame 0 only — see
# Going further.)
#
# Why the **clean** clip's first frame and not $x_t$'s: at sampling time the still is all
# we have, clean; the model must learn to use a clean still (a condition taken from $x_t$
# would be as noisy as the rest, and useless at large $t$). Why the noise $\sigma n$
# (SVD's *noise augmentation*, $\sigma$ drawn at random per clip while training; diffusers'
# `StableVideoDiffusionPipeline` samples with `noise_aug_strength = 0.02`): a model that can
# copy the still pixel for pixel learns to copy, and breaks on stills unlike its training
# frames.
#
# - `first_frame_condition(videos, noise_std, generator)`: `videos` `(B, C, T, H, W)`;
#   `noise_std` a number or a `(B,)` tensor (one $\sigma$ per clip: reshape it to
#   `(B, 1, 1, 1, 1)`). Draw the noise **once**, as `torch.randn(videos.shape, generator=generator)`
#   — then the same seed gives the same noise as `course_lib`. Return `(B, C, T, H, W)`.
# - `model_input(x_t, videos, noise_std, generator)`: $[x_t ; c]$ on the channel axis,
#   $x_t$ first, `(B, 2C, T, H, W)`.

# %%
def first_frame_condition(videos: torch.Tensor, noise_std, generator: torch.Generator | None = None) -> torch.Tensor:
    """videos (B, C, T, H, W), noise_std a number or (B,) -> (B, C, T, H, W): each clip's clean
    first frame in every frame, plus noise_std * N(0, I)."""
    ### BEGIN SOLUTION
    still = videos[:, :, :1].expand_as(videos)                                  # (B, C, T, H, W)
    std = torch.as_tensor(noise_std, dtype=videos.dtype).reshape(-1, 1, 1, 1, 1)   # (1 or B, 1, 1, 1, 1)
    return still + std * torch.randn(videos.shape, generator=generator)
    ### END SOLUTION


def model_input(x_t: torch.Tensor, videos: torch.Tensor, noise_std,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """x_t (B, C, T, H, W) noisy clips, videos (B, C, T, H, W) their clean clips ->
    (B, 2C, T, H, W): x_t, then the first-frame condition, on the channel axis."""
    ### BEGIN SOLUTION
    return torch.cat([x_t, first_frame_condition(videos, noise_std, generator)], dim=1)
    ### END SOLUTION


def clip_case(seed: int = 4) -> torch.Tensor:
    """B = 3 clips of C = 2 channels, T = 4 frames of 5 x 6 (every size different, so a
    wrong axis shows), every frame different."""
    return torch.randn(3, 2, 4, 5, 6, generator=torch.Generator().manual_seed(seed))


# %% tags=["check"]
# Check: first_frame_condition repeats the clean first frame and adds noise_std * N(0, I) per clip
videos = clip_case()
before = videos.clone()
std_hint = "noise_std may be a (B,) tensor: reshape it to (B, 1, 1, 1, 1) so each clip gets its own std"
still = call(first_frame_condition, videos, 0.0, None, hint=std_hint)
assert isinstance(still, torch.Tensor) and still.shape == videos.shape, \
    (f"first_frame_condition must return (B, C, T, H, W) = {tuple(videos.shape)}, the still in every frame; "
     f"got {getattr(still, 'shape', still)}")
assert torch.equal(videos, before), "first_frame_condition changed the clips in place: return a new tensor"
assert not torch.equal(still, videos[:, :, -1:].expand_as(videos)), \
    "every frame holds the clip's *last* frame: the condition is the first frame, videos[:, :, :1]"
assert not torch.equal(still, videos[:, :1].expand_as(videos)), \
    "you repeated the first *channel* (axis 1): the frames are axis 2, videos[:, :, :1]"
assert torch.equal(still, videos[:, :, :1].expand_as(videos)), \
    "with noise_std = 0 every frame k of the condition must be exactly the clean first frame, videos[:, :, 0]"
std = torch.tensor([0.0, 0.5, 2.0])                                   # one std per clip
cond = call(first_frame_condition, videos, std, torch.Generator().manual_seed(5), hint=std_hint)
ref = lib_video.first_frame_condition(videos, std, torch.Generator().manual_seed(5), layout="repeat")
assert isinstance(cond, torch.Tensor) and cond.shape == videos.shape, \
    (f"with a (B,) noise_std the condition is still (B, C, T, H, W) = {tuple(videos.shape)}; got "
     f"{getattr(cond, 'shape', cond)}")
noise = cond - videos[:, :, :1]                                       # (B, C, T, H, W): what you added
assert torch.equal(cond[0], videos[0, :, :1].expand_as(videos[0])), \
    "clip 0 has noise_std 0: its condition must be its clean first frame exactly (one std per clip, not one for all)"
measured = [noise[i].std().item() for i in (1, 2)]
assert abs(measured[0] - 0.5) < 0.15 and abs(measured[1] - 2.0) < 0.6, \
    (f"clips 1 and 2 have noise_std 0.5 and 2.0, but their noise has std {measured[0]:.2f} and {measured[1]:.2f}: "
     "give each clip its own std, std.reshape(-1, 1, 1, 1, 1)")
assert max_diff(noise[2, :, 0], noise[2, :, 1]) > 1e-3, \
    ("every frame got the same noise: draw it once for the whole clip shape, torch.randn(videos.shape, "
     "generator=generator), as course_lib does")
diff = max_diff(cond, ref)
assert diff < 1e-5, \
    (f"differs from course_lib's first_frame_condition (same seed) by {diff:.2e}: draw the noise once, exactly as "
     "torch.randn(videos.shape, generator=generator), and add std * noise to the repeated first frame")
scalar = first_frame_condition(videos, 0.3, torch.Generator().manual_seed(6))
scalar_ref = lib_video.first_frame_condition(videos, 0.3, torch.Generator().manual_seed(6), layout="repeat")
assert max_diff(scalar, scalar_ref) < 1e-5, \
    "a plain number as noise_std (0.3) must work too, for every clip"
print(f"ok: matches course_lib within {diff:.1e}; noise std per clip "
      f"{[round(noise[i].std().item(), 2) for i in range(3)]} for noise_std {std.tolist()}")

# %% tags=["check"]
# Check: model_input = [x_t ; condition] on the channel axis, the condition from the clean clip
videos = clip_case()
x_t = torch.randn(videos.shape, generator=torch.Generator().manual_seed(7))     # the noisy clips
inp = call(model_input, x_t, videos, 0.0, None, hint="concatenate on the channel axis, dim=1")
B, C, T, H, W = videos.shape
assert isinstance(inp, torch.Tensor), f"model_input must return a tensor; got {type(inp).__name__}"
assert tuple(inp.shape) != (B, C, 2 * T, H, W), \
    (f"model_input is {tuple(inp.shape)}: you concatenated on the frame axis (2). The condition is extra "
     f"*channels* of every frame: torch.cat([x_t, cond], dim=1) -> (B, 2C, T, H, W)")
assert tuple(inp.shape) == (B, 2 * C, T, H, W), \
    f"model_input must be (B, C + C, T, H, W) = {(B, 2 * C, T, H, W)}; got {tuple(inp.shape)}"
clean_still = videos[:, :, :1].expand_as(videos)
assert not torch.equal(inp[:, :C], clean_still), \
    ("the condition comes first: x_t's channels come first, then the condition's (VideoDiT does "
     "torch.cat([x, cond], dim=1))")
assert torch.equal(inp[:, :C], x_t), "the first C channels must be x_t, unchanged"
assert not torch.equal(inp[:, C:], x_t[:, :, :1].expand_as(x_t)), \
    ("the condition is the first frame of the *noisy* x_t: it must come from the clean clip (videos), the only "
     "thing a sampler has (x_t's first frame is noise at large t)")
assert torch.equal(inp[:, C:], clean_still), \
    "with noise_std 0 the last C channels must be the clean first frame in every frame"
other_x_t = model_input(torch.zeros_like(x_t), videos, 0.0, None)
assert torch.equal(other_x_t[:, C:], inp[:, C:]), "the condition channels must not depend on x_t"
std = torch.tensor([0.1, 0.2, 0.3])
noisy = model_input(x_t, videos, std, torch.Generator().manual_seed(8))
lib_cond = lib_video.first_frame_condition(videos, std, torch.Generator().manual_seed(8), layout="repeat")
ref = torch.cat([x_t, lib_cond], dim=1)
yours = torch.cat([x_t, first_frame_condition(videos, std, torch.Generator().manual_seed(8))], dim=1)
diff = max_diff(noisy, ref)
assert diff < 1e-5 or max_diff(noisy, yours) > 1e-5, \
    (f"with noise_std {[round(v, 2) for v in std.tolist()]} the condition differs from course_lib's by {diff:.2e}, "
     "and model_input is right given your first_frame_condition: fix first_frame_condition (the check above)")
assert diff < 1e-5, \
    (f"with noise_std {[round(v, 2) for v in std.tolist()]} the input differs from [x_t ; course_lib's condition] "
     f"(same seed) by {diff:.2e}: pass noise_std and the generator on to first_frame_condition")
torch.manual_seed(9)
i2v = VideoDiT(VideoDiTConfig(in_channels=C, frames=T, height=4, width=4, patch=(1, 2, 2), dim=16, depth=1, heads=2,
                              cond_channels=C))
print(f"ok: input {tuple(inp.shape)}; an image-to-video VideoDiT (cond_channels = {C}) patchifies "
      f"{tuple(i2v.patch_embed.proj.weight.shape[:2])} = (D, C + C) channels")

# %% [markdown]
# ## Exercise 4 — SDEdit on clips: where the sampler starts
#
# SDEdit edits a clip toward a new caption without training anything: noise the clip to
# an intermediate step $t_s$, then denoise it with the new caption. What the noise at
# $t_s$ leaves (layout, motion) survives; what it erases (details, identity) follows the
# caption. The **strength** $\in [0, 1]$ picks the step,
#
# $$t_s = \operatorname{round}\big(\text{strength} \cdot (T - 1)\big), \qquad
# x_{t_s} = \sqrt{\bar\alpha_{t_s}}\, x_0 + \sqrt{1 - \bar\alpha_{t_s}}\,\epsilon ,$$
#
# ($T$ = `schedule.num_steps`; Python's `round`), and guided DDIM runs from $x_{t_s}$ **at
# $t_s$** over the grid's steps below it: $t_s$, then the trailing grid of `steps` steps
# restricted to $t < t_s$. `ddpm.sample_ddim(model_fn, shape, schedule, steps, x_T=x_ts, start=t_s)`
# does exactly that (its `x_T` is then the partly noised clip). Starting it at $T - 1$
# instead would treat $x_{t_s}$ as pure noise: the model would "denoise" a signal that is
# mostly not noise, and the edit would not follow the clip.
#
# Strength 0 means "no edit": return a copy of the clips (noising to $t = 0$ and one DDIM
# step would still change them a little). Strength 1 starts at $T - 1$: almost a fresh sample.
#
# `sdedit(model, videos, ids, schedule, strength, steps, guidance, generator)`: `videos`
# `(B, C, T, H, W)` in $[-1, 1]$, `ids` `(B, L)` the new captions, `model` in eval mode.
# Draw $\epsilon$ as `torch.randn(videos.shape, generator=generator)` (`ddpm.q_sample` noises),
# guide with `ddpm.guided(model, ids, NULL_ID, guidance)` (a `model_fn(x, t)`; or wrap your
# own `guided`), and keep `sample_ddim`'s defaults otherwise (`progress=False` is fine).

# %%
def sdedit(model, videos: torch.Tensor, ids: torch.Tensor, schedule, strength: float, steps: int = 10,
           guidance: float = 3.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """SDEdit: noise videos (B, C, T, H, W) to t_s = round(strength (T - 1)), then guided DDIM
    toward captions ids (B, L) from t_s down. strength 0 returns a copy of the clips."""
    ### BEGIN SOLUTION
    if strength == 0:
        return videos.clone()
    start = round(strength * (schedule.num_steps - 1))
    t = torch.full((len(videos),), start, dtype=torch.int64)
    noisy = ddpm.q_sample(videos, t, torch.randn(videos.shape, generator=generator), schedule)
    model_fn = ddpm.guided(model, ids, NULL_ID, guidance)
    return ddpm.sample_ddim(model_fn, tuple(videos.shape), schedule, steps=steps, x_T=noisy, start=start,
                            progress=False)
    ### END SOLUTION


# %% tags=["check"]
# Check: sdedit matches course_lib's edit_video: the start step t_s, the sampler from t_s, strength 0
model = tiny_caption_model(seed=1)
schedule = make_schedule("cosine", 100)                     # T = 100: t_s = round(strength * 99)
ids, _ = tokenize(["a 3 moving up-left", "a 7 moving down"])
videos = torch.rand(2, 1, 4, 8, 8, generator=torch.Generator().manual_seed(10)) * 2 - 1
start_hint = "strength * (T - 1) with T = schedule.num_steps: t_s must lie in [0, T - 1]"
with torch.no_grad():
    same = call(sdedit, model, videos, ids, schedule, 0.0, 10, 3.0, None, hint=start_hint)
    assert isinstance(same, torch.Tensor) and torch.equal(same, videos), \
        ("strength 0 is 'no edit': return the clips unchanged (videos.clone()); noising to t = 0 and a DDIM step "
         f"still moves them, here by {max_diff(same, videos):.2g}")
    assert same is not videos, "strength 0: return a copy (videos.clone()), not the input tensor itself"
    results = {}
    for strength in (0.45, 0.7, 1.0):                       # t_s = 44.55 -> 45, 69.3 -> 69, 99
        out = call(sdedit, model, videos, ids, schedule, strength, 10, 3.0, torch.Generator().manual_seed(11),
                   hint=start_hint)
        ref = lib_video.edit_video(model, videos, ids, schedule, strength=strength, steps=10, guidance=3.0,
                                   generator=torch.Generator().manual_seed(11))
        assert isinstance(out, torch.Tensor) and out.shape == videos.shape, \
            f"sdedit must return clips shaped like videos {tuple(videos.shape)}; got {getattr(out, 'shape', out)}"
        diff = max_diff(out, ref)
        if diff > 1e-4:                                     # name the likely mistake
            t_s = round(strength * 99)
            noise = torch.randn(videos.shape, generator=torch.Generator().manual_seed(11))
            noisy = ddpm.q_sample(videos, torch.full((2,), t_s), noise, schedule)
            fn = ddpm.guided(model, ids, NULL_ID, 3.0)
            from_top = ddpm.sample_ddim(fn, tuple(videos.shape), schedule, steps=10, x_T=noisy, progress=False)
            assert max_diff(out, from_top) > 1e-4, \
                (f"strength {strength}: you noised to t_s = {t_s} but started the sampler at T - 1 = 99: pass "
                 "start=t_s to sample_ddim, so it begins where the noise level matches")
            top = ddpm.q_sample(videos, torch.full((2,), 99), noise, schedule)
            top = ddpm.sample_ddim(fn, tuple(videos.shape), schedule, steps=10, x_T=top, start=t_s, progress=False)
            assert max_diff(out, top) > 1e-4, \
                (f"strength {strength}: you noised to T - 1 = 99 but started the sampler at t_s = {t_s}: noise to "
                 "t_s, ddpm.q_sample(videos, t, noise, schedule) with t = t_s for every clip")
            for wrong, what in [(int(strength * 99), "int() truncates: t_s = round(strength * (T - 1))"),
                                (round(strength * 100), "t_s = round(strength * (T - 1)), not strength * T")]:
                if wrong != t_s and wrong < 100:
                    bad = ddpm.q_sample(videos, torch.full((2,), wrong), noise, schedule)
                    bad = ddpm.sample_ddim(fn, tuple(videos.shape), schedule, steps=10, x_T=bad, start=wrong,
                                           progress=False)
                    assert max_diff(out, bad) > 1e-4, f"strength {strength}: you started at t = {wrong}; {what}"
            unguided = ddpm.sample_ddim(ddpm.guided(model, ids, NULL_ID, 1.0), tuple(videos.shape), schedule,
                                        steps=10, x_T=noisy, start=t_s, progress=False)
            assert max_diff(out, unguided) > 1e-4, \
                ("the result is the conditional (scale 1) sample: guide with the guidance scale, "
                 "ddpm.guided(model, ids, NULL_ID, guidance)")
        assert diff < 1e-4, \
            (f"strength {strength}: differs from course_lib's edit_video by {diff:.2e}. Noise with "
             "torch.randn(videos.shape, generator=generator) at t_s = round(strength * (T - 1)), then "
             "sample_ddim(ddpm.guided(model, ids, NULL_ID, guidance), shape, schedule, steps, x_T=noisy, start=t_s)")
        results[strength] = (out - videos).abs().mean().item()
print("ok: matches edit_video; mean |edit - clip| by strength:",
      ", ".join(f"{s}: {d:.2f}" for s, d in results.items()), "(strength 0: exactly 0)")

# %% [markdown]
# ## Exercise 5 (experiment) — Caption dropout and guidance
#
# Guidance needs the unconditional prediction $\epsilon_\theta(x_t, t, \varnothing)$, and the model
# only learns it from the training examples whose caption was dropped. With dropout
# $p = 0$ the null caption never appears in training: its embedding keeps its random
# initial value and the "unconditional" branch is whatever the network makes of an
# input it has never seen. Guidance then adds $(s - 1)$ times the difference between a
# real prediction and that garbage.
#
# A toy where this is easy to see in a second. The "clip" is a 2-D motion vector
# $x \in \mathbb R^2$ and its caption one of the 8 compass directions (`up`, `down-left`,
# ...; ids 0-7, as in `data.digits.DIRECTIONS`). Caption $k$'s vectors are a Gaussian blob of
# standard deviation 0.15 around $0.6\, u_k$, $u_k$ the unit vector of direction $k$;
# neighbouring blobs overlap a little, so the conditional model ($s = 1$) puts some samples
# in a neighbour's blob. Id 8 (`TOY_NULL`) is the null caption. `ToyDenoiser` is an MLP on
# $[x_t, \text{sin-cos}(t), E[\text{caption}]]$ predicting $\epsilon$ (cosine schedule, $T = 100$).
# The check samples 400 vectors (20 guided DDIM steps) and measures the **hit rate**: the
# fraction that land on their own caption's blob (nearest blob, within 3 standard deviations).
#
# Write `train_toy(dropout, steps, seed)`: build the model with `new_toy_model(seed)` and
# train it with `torch.optim.Adam(lr=5e-3)` for `steps` steps on batches of 256 from
# `toy_batch(256, generator)` (use `torch.Generator().manual_seed(seed)`), with the DDPM loss
# $\lVert \epsilon - \epsilon_\theta(x_t, t, c) \rVert^2$ ($t$ uniform in $0..T-1$, `ddpm.q_sample`)
# where each caption $c$ is replaced by `TOY_NULL` with probability `dropout`
# (`torch.rand(256) < dropout`). Return the model in eval mode.
#
# **Predict before you run it.** At $s = 1$ the null caption plays no part: both models should
# hit about equally often. At $s = 3$, which model's hit rate rises, and which one's collapses?

# %%
TOY_SCHEDULE = make_schedule("cosine", 100)
TOY_DIRECTIONS = list(DIRECTIONS.values())                 # caption ids 0..7
TOY_NULL = len(TOY_DIRECTIONS)                             # id 8: the null caption
TOY_MEANS = 0.6 * F.normalize(torch.tensor(list(DIRECTIONS), dtype=torch.float32), dim=1)
TOY_STD = 0.15


class ToyDenoiser(nn.Module):
    """eps_theta(x_t (B, 2), t (B,), captions (B,)) -> (B, 2): an MLP on [x_t, sincos(t), E[caption]];
    the embedding table E has a row for each direction and one for TOY_NULL."""

    def __init__(self, hidden: int = 64, width: int = 16):
        super().__init__()
        self.caption = nn.Embedding(TOY_NULL + 1, width)
        self.register_buffer("time", sincos_1d(torch.arange(TOY_SCHEDULE.num_steps), width), persistent=False)
        self.net = nn.Sequential(nn.Linear(2 + 2 * width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, self.time[t], self.caption(captions)], dim=-1))


def new_toy_model(seed: int) -> ToyDenoiser:
    """A fresh ToyDenoiser with the seed's initial weights."""
    torch.manual_seed(seed)
    return ToyDenoiser()


def toy_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n (motion vector (n, 2), caption id (n,)) pairs: a random direction, its blob."""
    captions = torch.randint(0, TOY_NULL, (n,), generator=generator)
    return TOY_MEANS[captions] + TOY_STD * torch.randn(n, 2, generator=generator), captions


@torch.no_grad()
def hit_rate(model: nn.Module, scale: float, seed: int = 0, n: int = 400) -> float:
    """Sample n vectors (n / 8 per caption) with guidance `scale`; the fraction on their own blob."""
    captions = torch.arange(n) % TOY_NULL
    model_fn = ddpm.guided(model, captions, TOY_NULL, scale)
    x = ddpm.sample_ddim(model_fn, (n, 2), TOY_SCHEDULE, steps=20, generator=torch.Generator().manual_seed(seed),
                         progress=False)
    dist = torch.cdist(x, TOY_MEANS)                                              # (n, 8)
    own = dist[torch.arange(n), captions]
    return ((dist.argmin(dim=1) == captions) & (own < 3 * TOY_STD)).float().mean().item()


def train_toy(dropout: float, steps: int = 600, seed: int = 0) -> nn.Module:
    """new_toy_model(seed) trained for `steps` Adam steps (lr 5e-3, batches of 256) on the DDPM
    eps-loss, each caption replaced by TOY_NULL with probability `dropout`; in eval mode."""
    ### BEGIN SOLUTION
    gen = torch.Generator().manual_seed(seed)
    model = new_toy_model(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(steps):
        x0, captions = toy_batch(256, gen)
        drop = torch.rand(256, generator=gen) < dropout                           # caption dropout
        captions = torch.where(drop, torch.full_like(captions, TOY_NULL), captions)
        t = torch.randint(0, TOY_SCHEDULE.num_steps, (256,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        loss = F.mse_loss(model(ddpm.q_sample(x0, t, noise, TOY_SCHEDULE), t, captions), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
    ### END SOLUTION


batch, captions = toy_batch(8, torch.Generator().manual_seed(0))
print("captions:", [TOY_DIRECTIONS[c] for c in captions.tolist()])
print("vectors: ", [[round(v, 2) for v in row] for row in batch.tolist()])

# %% tags=["check"]
# Check: with 10 % caption dropout guidance sharpens the samples; without, it ruins them (3 seeds)
rates = {}
for seed in (0, 1, 2):
    for dropout in (0.0, 0.1):
        model = train_toy(dropout, 600, seed)
        assert isinstance(model, nn.Module), f"train_toy must return the trained model; got {type(model).__name__}"
        null_before = new_toy_model(seed).caption.weight[TOY_NULL]
        null_trained = not torch.equal(model.caption.weight[TOY_NULL].detach(), null_before)
        if dropout == 0.0:
            assert not null_trained, \
                ("with dropout 0 no caption is ever the null caption, so its embedding row must keep its initial "
                 "value: build the model with new_toy_model(seed), use plain Adam (no weight decay), and drop "
                 "captions with probability dropout")
        else:
            assert null_trained, \
                ("with dropout 0.1 the null caption's embedding never trained: replace each caption by TOY_NULL with "
                 "probability dropout (torch.where(torch.rand(256) < dropout, TOY_NULL, captions))")
        for scale in (1.0, 3.0):
            rates[seed, dropout, scale] = hit_rate(model, scale, seed=100 + seed)
    print(f"seed {seed}: hit rate, dropout 0: s=1 {rates[seed, 0.0, 1.0]:.2f}, s=3 {rates[seed, 0.0, 3.0]:.2f} | "
          f"dropout 0.1: s=1 {rates[seed, 0.1, 1.0]:.2f}, s=3 {rates[seed, 0.1, 3.0]:.2f}")
    # measured on seeds 0-9: at s = 1 both dropouts hit 0.85-0.94; at s = 3 dropout 0.1 hits 1.00 (guidance adds
    # 0.06-0.14) and dropout 0 hits 0.04-0.25. With lr 3e-3 to 1e-2, batches of 128 to 512, an exact 10 % instead
    # of a coin per caption, or the global RNG: s = 1 >= 0.78; s = 3: dropout 0.1 >= 0.90, dropout 0 <= 0.40.
    assert rates[seed, 0.0, 1.0] > 0.6 and rates[seed, 0.1, 1.0] > 0.6, \
        (f"seed {seed}: at scale 1 (no guidance) fewer than 60 % of the samples land on their caption's blob: is the "
         "model trained for all the steps, on q_sample'd inputs, to predict the noise?")
    assert rates[seed, 0.1, 3.0] > 0.8, \
        (f"seed {seed}: with dropout 0.1, guidance at scale 3 should put nearly every sample on its blob; hit rate "
         f"{rates[seed, 0.1, 3.0]:.2f}")
    assert rates[seed, 0.0, 3.0] < 0.6, \
        (f"seed {seed}: with dropout 0, guidance at scale 3 still hits {rates[seed, 0.0, 3.0]:.2f}: its null branch "
         "should be untrained garbage. Did you drop captions at dropout 0?")
mean = {(d, s): sum(rates[seed, d, s] for seed in (0, 1, 2)) / 3 for d in (0.0, 0.1) for s in (1.0, 3.0)}
assert mean[0.1, 3.0] > mean[0.1, 1.0], \
    (f"with dropout 0.1, guidance must sharpen: mean hit rate {mean[0.1, 3.0]:.2f} at s = 3, "
     f"{mean[0.1, 1.0]:.2f} at s = 1")
print(f"mean hit rate: dropout 0.1 goes from {mean[0.1, 1.0]:.2f} (s=1) to {mean[0.1, 3.0]:.2f} (s=3); "
      f"dropout 0 from {mean[0.0, 1.0]:.2f} to {mean[0.0, 3.0]:.2f}")

# %% [markdown]
# At scale 1 the two models are equally good: the conditional branch is all that is used,
# and dropping 10 % of the captions costs it almost nothing. Guidance is where they part.
# With dropout the model knows what a vector looks like *without* a caption (the ring of
# all eight blobs), and $\epsilon_c - \epsilon_\varnothing$ points from the ring toward the
# caption's own blob: scaling it up pushes the stragglers out of the neighbours' blobs.
# Without dropout, $\epsilon_\varnothing$ is the network's answer to an embedding it never saw,
# and $(s - 1)(\epsilon_c - \epsilon_\varnothing)$ is a push in an arbitrary direction that
# throws the samples off the data. That is why guided text-to-image and text-to-video models
# train with caption dropout (typically 10 %), and why the null caption must be a caption
# the model actually saw.

# %% [markdown]
# ## Going further
#
# - Return the attention weights from your `cross_attention` and plot, for a trained
#   caption model, which words each frame's tokens read: does the digit word dominate in
#   early frames, the direction words later?
# - Sweep the guidance scale in exercise 5 from 0 to 8 for dropout 0.1, 0.5 and 0.9:
#   where does the hit rate peak, and what does a large dropout cost at scale 1?
# - Write the other layout `course_lib`'s `first_frame_condition` offers, `layout="first"`
#   (CogVideoX's image-to-video: the still in frame 0 only, zeros in the other frames), and
#   check it against the library. What does a token of frame 3 know about the still then?
# - Replace the caption model in exercise 2 by `course_lib.diffusion.unet3d`'s factorized
#   3-D U-Net and check that your `guided` works unchanged (guidance only needs
#   `model(x, t, ids)`).
# - Train the toy of exercise 5 with a *learned* null embedding against a null equal to
#   the zero vector (no `TOY_NULL` row): with dropout 0, does a zero null rescue guidance?
