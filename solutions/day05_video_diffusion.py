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
# # Day 05 exercises — Video diffusion
#
# Five exercises from the lesson ([../notebooks/day05_video_diffusion.ipynb](../notebooks/day05_video_diffusion.ipynb)):
#
# 1. `patchify3d` / `unpatchify3d`: a video into spacetime patch tokens and back,
# 2. the token arithmetic: tokens and attention cost of full vs factorized attention,
# 3. the factorized attention reshapes with `einops`,
# 4. an appearance-consistency metric on aligned crops,
# 5. an experiment: time full and factorized attention as the clip grows.
#
# Write the body of each function where it says `# YOUR CODE HERE`, then run the check
# cell below it. Each check compares your function with `course_lib` (or with an explicit
# loop) on small fixed inputs and tells you what looks wrong. Grade the whole notebook
# with `course check day05` (add `--json` for a machine-readable report).
#
# **Run time:** a few seconds on a CPU (exercise 5 times attention for about 3 s); nothing is trained.

# %%
import math

import torch
from einops import rearrange

from course_lib import video_metrics as lib_vm     # the references the checks compare against
from course_lib.data.digits import make_moving_digits
from course_lib.nn import embeddings as lib_emb
from course_lib.nn.attention import MultiHeadAttention

torch.manual_seed(0)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference (inf when shapes differ or a value is NaN)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return float("inf")
    d = (a - b).abs().max().item() if a.numel() else 0.0
    return float("inf") if math.isnan(d) else d


# %% [markdown]
# ## Exercise 1 — Spacetime patches
#
# A video `(B, C, T, H, W)` is cut into `pt x ph x pw` patches. Token order is
# **time-major**: first all patches of frames `0..pt-1` in row-major order, then those of
# the next `pt` frames, and so on; token $n$ at grid position $(i_t, i_h, i_w)$ has
# $n = (i_t \cdot g_h + i_h)\, g_w + i_w$ with $(g_t, g_h, g_w) = (T/p_t, H/p_h, W/p_w)$.
# Each patch is flattened **as `(pt, ph, pw, C)`**: frame inside the patch, row, column,
# channel last. Return `(B, N, pt*ph*pw*C)`.
#
# `unpatchify3d(tokens, patch, C, grid)` must be its exact inverse. (One `reshape`, one
# `permute`, one `reshape` each — or one `einops.rearrange`.)

# %%
def patchify3d(x: torch.Tensor, patch: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, pt*ph*pw*C), tokens time-major, each patch as (pt, ph, pw, C)."""
    ### BEGIN SOLUTION
    pt, ph, pw = patch
    return rearrange(x, "b c (gt pt) (gh ph) (gw pw) -> b (gt gh gw) (pt ph pw c)", pt=pt, ph=ph, pw=pw)
    ### END SOLUTION


def unpatchify3d(tokens: torch.Tensor, patch: tuple[int, int, int], C: int,
                 grid: tuple[int, int, int]) -> torch.Tensor:
    """(B, N, pt*ph*pw*C) -> (B, C, T, H, W), the inverse of patchify3d (grid = (gt, gh, gw))."""
    ### BEGIN SOLUTION
    pt, ph, pw = patch
    gt, gh, gw = grid
    return rearrange(tokens, "b (gt gh gw) (pt ph pw c) -> b c (gt pt) (gh ph) (gw pw)",
                     gt=gt, gh=gh, gw=gw, pt=pt, ph=ph, pw=pw, c=C)
    ### END SOLUTION


# %% tags=["check"]
# Check: patchify3d matches course_lib: time-major tokens, patches flattened as (pt, ph, pw, C)
B, C, T, H, W = 2, 3, 4, 6, 8
patch = (2, 3, 4)                                     # all different, so a swapped axis shows
x = torch.arange(B * C * T * H * W, dtype=torch.float32).view(B, C, T, H, W)   # numbered pixels
grid = (T // 2, H // 3, W // 4)
out = patchify3d(x, patch)
N, P = 2 * 2 * 2, 2 * 3 * 4 * C
assert isinstance(out, torch.Tensor) and tuple(out.shape) == (B, N, P), \
    f"patchify3d must return (B, N, pt*ph*pw*C) = {(B, N, P)}; got {getattr(out, 'shape', type(out))}"
# Token 1 is grid position (it, ih, iw) = (0, 0, 1): frames 0-1, rows 0-2, columns 4-7.
tube = x[0, :, 0:2, 0:3, 4:8]                          # (C, pt, ph, pw)
assert torch.equal(torch.sort(out[0, 1]).values, torch.sort(tube.flatten()).values), \
    ("token 1 must hold the patch at frames 0-1, rows 0-2, columns 4-7: tokens go along W first, then H, "
     "then T (time-major). Split each of T, H, W into (grid, patch) before moving axes")
tube_t1 = x[0, :, 2:4, 0:3, 0:4]                       # grid (1, 0, 0) is token gh*gw = 4
assert torch.equal(torch.sort(out[0, 4]).values, torch.sort(tube_t1.flatten()).values), \
    ("token gh*gw (= 4 here) must be the first patch of the *second* group of frames: the time axis is the "
     "slowest-varying one in the token order (b (gt gh gw)), not the fastest")
assert not torch.equal(out[0, 1], tube.flatten()), \
    "each patch is flattened channels-first (C, pt, ph, pw); flatten it as (pt, ph, pw, C): channel last"
assert not torch.equal(out[0, 1], tube.permute(2, 1, 3, 0).flatten()), \
    "inside a patch, time comes first: (pt, ph, pw, C), not (ph, pt, pw, C)"
assert torch.equal(out, lib_emb.patchify3d(x, patch)), \
    "differs from course_lib.nn.embeddings.patchify3d: patch order inside a token must be (pt, ph, pw, C)"
print("ok: token 1 of clip 0 =", out[0, 1, :8].int().tolist(), "...")

# %% tags=["check"]
# Check: unpatchify3d(patchify3d(x)) == x for several shapes
gen = torch.Generator().manual_seed(1)
for B, C, T, H, W, patch in [(2, 3, 4, 6, 8, (2, 3, 4)), (1, 2, 6, 4, 4, (3, 2, 1)), (2, 1, 2, 8, 4, (1, 4, 2))]:
    x = torch.randn(B, C, T, H, W, generator=gen)
    grid = (T // patch[0], H // patch[1], W // patch[2])
    tokens = lib_emb.patchify3d(x, patch)
    out = unpatchify3d(tokens, patch, C, grid)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (B, C, T, H, W), \
        f"unpatchify3d must return (B, C, T, H, W) = {(B, C, T, H, W)}; got {getattr(out, 'shape', type(out))}"
    assert torch.equal(out, x), \
        (f"unpatchify3d(patchify3d(x)) != x for (C, T, H, W) = {(C, T, H, W)}, patch {patch}: read each token "
         "as (pt, ph, pw, C) and the token axis as (gt, gh, gw), then put every patch axis after its grid axis")
x = torch.randn(1, 2, 4, 6, 8, generator=gen)
assert torch.equal(unpatchify3d(patchify3d(x, (2, 3, 4)), (2, 3, 4), 2, (2, 2, 2)), x), \
    "your own patchify3d and unpatchify3d must be exact inverses"
print("ok: unpatchify3d inverts patchify3d exactly")

# %% [markdown]
# ## Exercise 2 — The token arithmetic
#
# Write `attention_cost(frames, height, width, patch)` returning a dict with
#
# - `"tokens"`: $N = \frac{T}{p_t}\frac{H}{p_h}\frac{W}{p_w}$,
# - `"full"`: the number of query–key pairs of full 3-D attention, $N^2$,
# - `"factorized"`: spatial attention inside each of the $T' = T/p_t$ frame groups
#   ($S = \frac{H}{p_h}\frac{W}{p_w}$ tokens each) plus temporal attention at each of the
#   $S$ positions ($T'$ tokens each): $T' S^2 + S T'^2$.
#
# Raise a `ValueError` when a size is not a multiple of its patch size.

# %%
def attention_cost(frames: int, height: int, width: int, patch: tuple[int, int, int]) -> dict[str, int]:
    """{"tokens": N, "full": N^2, "factorized": T' S^2 + S T'^2} for one clip."""
    ### BEGIN SOLUTION
    pt, ph, pw = patch
    if frames % pt or height % ph or width % pw:
        raise ValueError(f"frames, height, width must be multiples of patch {patch}")
    t_, s = frames // pt, (height // ph) * (width // pw)
    n = t_ * s
    return {"tokens": n, "full": n * n, "factorized": t_ * s * s + s * t_ * t_}
    ### END SOLUTION


# %% tags=["check"]
# Check: 60 frames of 256x256 in 2x16x16 patches are 7,680 tokens, and the attention pair counts
cost = attention_cost(60, 256, 256, (2, 16, 16))
assert isinstance(cost, dict) and {"tokens", "full", "factorized"} <= set(cost), \
    f"return a dict with keys 'tokens', 'full', 'factorized'; got {cost!r}"
assert cost["tokens"] == 7_680, \
    f"60 frames / 2 = 30 frame groups, each 256/16 x 256/16 = 256 tokens: 7,680 tokens; got {cost['tokens']}"
assert cost["full"] == 7_680 ** 2, "full 3-D attention compares every token with every token: N^2 pairs"
assert cost["factorized"] != 30 * 256 ** 2, "factorized = spatial pairs T' S^2 *plus* temporal pairs S T'^2"
assert cost["factorized"] == 30 * 256 ** 2 + 256 * 30 ** 2, \
    f"factorized: T' S^2 + S T'^2 with T' = 30, S = 256 gives {30 * 256 ** 2 + 256 * 30 ** 2:,}; got {cost['factorized']:,}"
# Non-cubic patches and sizes catch a swapped axis.
for size, patch in [((8, 12, 16), (1, 4, 2)), ((6, 8, 4), (3, 2, 4)), ((16, 32, 8), (4, 8, 2))]:
    ref = lib_emb.spacetime_token_count(*size, patch)
    got = attention_cost(*size, patch)
    t_, s = size[0] // patch[0], ref // (size[0] // patch[0])
    assert got["tokens"] == ref, f"{size} with patch {patch}: expected {ref} tokens, got {got['tokens']} (pt divides T, ph H, pw W)"
    assert got["factorized"] == t_ * s * s + s * t_ * t_, f"{size} with patch {patch}: factorized pairs wrong"
for bad in [(61, 256, 256, (2, 16, 16)), (60, 250, 256, (2, 16, 16))]:
    try:
        attention_cost(*bad)
    except ValueError:
        continue
    raise AssertionError(f"attention_cost{bad} must raise ValueError: a size is not a multiple of its patch")
ratio = cost["full"] / cost["factorized"]
print(f"ok: 7,680 tokens; full attention costs {ratio:.0f}x the factorized one")

# %% [markdown]
# ## Exercise 3 — The factorized attention reshapes
#
# Inside the video DiT, tokens of a batch of clips are `(B, T*S, D)`, time-major (the
# `S` tokens of frame 0, then frame 1, ...). Write, with `einops.rearrange`:
#
# - `to_spatial(x, T)`: `(B, T*S, D) -> (B*T, S, D)` — one sequence per frame, clip-major
#   (row `b*T + t` is frame `t` of clip `b`);
# - `to_temporal(x, T)`: `(B, T*S, D) -> (B*S, T, D)` — one sequence per patch position
#   across time (row `b*S + s` is position `s` of clip `b`);
# - `from_temporal(x, B)`: `(B*S, T, D) -> (B, T*S, D)`, the inverse of `to_temporal`.

# %%
def to_spatial(x: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T*S, D) -> (B*T, S, D)."""
    ### BEGIN SOLUTION
    return rearrange(x, "b (t s) d -> (b t) s d", t=T)
    ### END SOLUTION


def to_temporal(x: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T*S, D) -> (B*S, T, D)."""
    ### BEGIN SOLUTION
    return rearrange(x, "b (t s) d -> (b s) t d", t=T)
    ### END SOLUTION


def from_temporal(x: torch.Tensor, B: int) -> torch.Tensor:
    """(B*S, T, D) -> (B, T*S, D)."""
    ### BEGIN SOLUTION
    return rearrange(x, "(b s) t d -> b (t s) d", b=B)
    ### END SOLUTION


# %% tags=["check"]
# Check: to_spatial / to_temporal group the right tokens (compared with explicit loops)
B, T, S, D = 2, 3, 4, 5                               # all different
x = torch.arange(B * T * S * D, dtype=torch.float32).view(B, T * S, D)
grid = x.view(B, T, S, D)                             # grid[b, t, s] is token t*S + s of clip b
sp = to_spatial(x, T)
assert isinstance(sp, torch.Tensor) and tuple(sp.shape) == (B * T, S, D), \
    f"to_spatial must return (B*T, S, D) = {(B * T, S, D)}; got {getattr(sp, 'shape', type(sp))}"
assert torch.equal(sp[1], grid[0, 1]), \
    ("row 1 of to_spatial must be frame 1 of clip 0: group (b t) with b outer, not (t b) "
     "(with (t b), row 1 is frame 0 of clip 1)")
assert torch.equal(sp, grid.reshape(B * T, S, D)), "row b*T + t must hold the S tokens of frame t of clip b"
tp = to_temporal(x, T)
assert isinstance(tp, torch.Tensor) and tuple(tp.shape) == (B * S, T, D), \
    f"to_temporal must return (B*S, T, D) = {(B * S, T, D)}; got {getattr(tp, 'shape', type(tp))}"
assert not torch.equal(tp, x.view(B, S, T, D).reshape(B * S, T, D)), \
    ("the tokens are time-major, (t s): to_temporal must split the token axis as (t s) and then move s; "
     "reading it as (s t) groups unrelated tokens")
assert torch.equal(tp[1], grid[0, :, 1]), \
    "row 1 of to_temporal must be patch position 1 of clip 0 across all T frames: group (b s), b outer"
assert torch.equal(tp, grid.permute(0, 2, 1, 3).reshape(B * S, T, D)), "row b*S + s must be position s of clip b"
back = from_temporal(tp, B)
assert isinstance(back, torch.Tensor) and torch.equal(back, x), "from_temporal(to_temporal(x)) must give x back"
print("ok: spatial rows are frames, temporal rows are patch positions across time")

# %% tags=["check"]
# Check: attention through your reshapes equals attention frame by frame and position by position
torch.manual_seed(3)
B, T, S, D = 2, 3, 4, 8
attn = MultiHeadAttention(D, 2)
x = torch.randn(B, T * S, D)
grid = x.view(B, T, S, D)
with torch.no_grad():
    spatial = rearrange(attn(to_spatial(x, T)), "(b t) s d -> b (t s) d", b=B)
    temporal = from_temporal(attn(to_temporal(x, T)), B)
    ref_s = torch.stack([torch.stack([attn(grid[b, t][None])[0] for t in range(T)]) for b in range(B)])
    ref_t = torch.stack([torch.stack([attn(grid[b, :, s][None])[0] for s in range(S)], dim=1) for b in range(B)])
d_s = max_diff(spatial, ref_s.reshape(B, T * S, D))
d_t = max_diff(temporal, ref_t.reshape(B, T * S, D))
assert d_s < 1e-5, f"spatial attention through to_spatial differs from a loop over frames by {d_s:.2e}"
assert d_t < 1e-5, f"temporal attention through to_temporal/from_temporal differs from a loop over positions by {d_t:.2e}"
print(f"ok: factorized attention = per-frame + per-position attention (max diffs {d_s:.1e}, {d_t:.1e})")

# %% [markdown]
# ## Exercise 4 — Appearance consistency
#
# Given aligned crops of the digit in every frame, `(N, T, h, w)` (the lesson's
# `video_metrics.aligned_crops`), return for each clip the mean **Pearson correlation**
# between the crops of every pair of *different* frames $t < t'$:
#
# $$\mathrm{consistency} = \frac{2}{T(T-1)} \sum_{t < t'} \mathrm{corr}(c_t, c_{t'}),
# \qquad \mathrm{corr}(a, b) = \frac{(a - \bar a)\cdot(b - \bar b)}{\lVert a - \bar a\rVert\,\lVert b - \bar b\rVert}$$
#
# (each crop flattened to a vector; guard the norm against 0 with `clamp(min=1e-6)`).
# Return `(N,)`.

# %%
def consistency(crops: torch.Tensor) -> torch.Tensor:
    """(N, T, h, w) aligned crops -> (N,) mean Pearson correlation over frame pairs t < t'."""
    ### BEGIN SOLUTION
    z = crops.flatten(2)
    z = z - z.mean(-1, keepdim=True)
    z = z / z.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    corr = z @ z.transpose(1, 2)                           # (N, T, T)
    T = corr.shape[-1]
    upper = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    return corr[:, upper].mean(-1)
    ### END SOLUTION


# %% tags=["check"]
# Check: consistency on constructed crops: identical = 1, pairs of frames counted once, mean removed
gen = torch.Generator().manual_seed(4)
same = torch.rand(1, 1, 8, 8, generator=gen).repeat(2, 5, 1, 1)        # 2 clips, 5 identical frames
out = consistency(same)
assert isinstance(out, torch.Tensor) and tuple(out.shape) == (2,), \
    f"consistency must return (N,) = (2,); got {getattr(out, 'shape', type(out))}"
assert max_diff(out, torch.ones(2)) < 1e-5, "identical crops in every frame must give consistency 1"
brighter = same * 0.5 + 0.3                                              # same pattern, other gain and offset
assert max_diff(consistency(torch.cat([same[:1, :3], brighter[:1, :2]], dim=1)), torch.ones(1)) < 1e-5, \
    "Pearson correlation ignores brightness and contrast: subtract each crop's mean and divide by its norm"
# Frames A A B: pairs (0,1) = 1, (0,2) = (1,2) = corr(A, B): the mean over pairs is (1 + 2 r) / 3.
a, b = torch.rand(2, 1, 1, 8, 8, generator=gen)
clip = torch.cat([a, a, b], dim=1)
za, zb = (v.flatten() - v.mean() for v in (a, b))
r = (za @ zb / (za.norm() * zb.norm())).item()
got = consistency(clip).item()
assert abs(got - (4 + 2 * r) / 6) > 1e-4 and abs(got - (5 + 4 * r) / 9) > 1e-4, \
    "don't include a frame's correlation with itself (the diagonal t = t', always 1): only pairs t < t'"
assert abs(got - (1 + r) / 2) > 1e-4, "average over *all* pairs of frames t < t', not only consecutive ones"
assert abs(got - (1 + 2 * r) / 3) < 1e-4, f"frames A A B must give (1 + 2 corr(A, B)) / 3 = {(1 + 2 * r) / 3:.4f}; got {got:.4f}"
# Against the library on real and swapped clips (aligned crops from video_metrics).
clips = make_moving_digits("test", n=12, frames=6, canvas=12, seed=2).videos
swapped = clips.clone()
swapped[:, :, 3:] = clips.roll(1, dims=0)[:, :, 3:]
for name, v in (("real", clips), ("swapped", swapped)):
    crops = lib_vm.aligned_crops(v)
    diff = max_diff(consistency(crops), lib_vm.consistency_per_clip(v))
    assert diff < 1e-5, f"{name} clips: differs from video_metrics.consistency_per_clip by {diff:.2e}"
print(f"ok: real clips {consistency(lib_vm.aligned_crops(clips)).mean():.3f}, "
      f"digit swapped mid-clip {consistency(lib_vm.aligned_crops(swapped)).mean():.3f}")

# %% [markdown]
# ## Exercise 5 — An experiment: what factorizing buys as clips get longer
#
# The lesson counted attention *pairs*; now measure *time*, changing one thing — the
# attention pattern — while the clip grows. A clip of `frames` frames has $S = 64$ tokens
# per frame (an 8×8 patch grid) of width $D = 32$. Write `attention_seconds(frames, mode)`:
#
# - draw `x = torch.randn(1, frames * S, D)` (one clip, tokens time-major);
# - `mode="full"`: one call of `attn` (given below: a `MultiHeadAttention(32, 4)`) over all
#   `frames * S` tokens;
# - `mode="factorized"`: `attn` over each frame (`(B·T, S, D)`), then `attn` over each
#   position across time (`(B·S, T, D)`), then back to `(B, T·S, D)` — your reshapes of
#   exercise 3 or `einops.rearrange`;
# - return the fastest of 5 runs in seconds (`best_time(fn, repeats=5)[0]`), under
#   `torch.no_grad()`.
#
# The check times 4, 8, 16 and 32 frames. Before running it, predict: by how much should
# full attention slow down from 4 to 32 frames (8× the tokens), and factorized attention?

# %%
from course_lib.runtime import best_time

S_TOKENS, WIDTH = 64, 32
torch.manual_seed(5)
attn = MultiHeadAttention(WIDTH, 4).eval()


def attention_seconds(frames: int, mode: str) -> float:
    """Best-of-5 wall-clock seconds of full or factorized self-attention over one clip."""
    ### BEGIN SOLUTION
    x = torch.randn(1, frames * S_TOKENS, WIDTH)

    def full():
        return attn(x)

    def factorized():
        h = attn(rearrange(x, "b (t s) d -> (b t) s d", t=frames))          # within each frame
        h = attn(rearrange(h, "(b t) s d -> (b s) t d", b=1))                # along time, per position
        return rearrange(h, "(b s) t d -> b (t s) d", b=1)

    with torch.no_grad():
        return best_time(full if mode == "full" else factorized, repeats=5)[0]
    ### END SOLUTION


# %% tags=["check"]
# Check: full attention's time grows much faster with the clip length than factorized attention's
lengths = (4, 8, 16, 32)
seconds = {(t, mode): attention_seconds(t, mode) for t in lengths for mode in ("full", "factorized")}
assert all(isinstance(v, float) and 0 < v < 60 for v in seconds.values()), \
    f"return seconds as a positive float; got {seconds}"
for t in lengths:
    print(f"{t:>3} frames ({t * S_TOKENS:>5} tokens): full {1000 * seconds[(t, 'full')]:8.2f} ms, "
          f"factorized {1000 * seconds[(t, 'factorized')]:6.2f} ms")
growth_full = seconds[(32, "full")] / seconds[(4, "full")]
growth_fact = seconds[(32, "factorized")] / seconds[(4, "factorized")]
assert growth_full > 8, \
    f"full attention over 8x the tokens must take far longer (N^2 pairs); it grew only {growth_full:.1f}x"
assert seconds[(32, "factorized")] < seconds[(32, "full")] / 5, \
    ("at 32 frames factorized attention must be several times faster than full attention: "
     "attend within each frame, then along time, never over all tokens at once")
assert growth_full > 3 * growth_fact, \
    f"full attention's time must grow much faster than factorized's ({growth_full:.0f}x vs {growth_fact:.0f}x)"
print(f"from 4 to 32 frames: full attention {growth_full:.0f}x slower, factorized {growth_fact:.0f}x "
      f"(pairs: {(32 / 4) ** 2:.0f}x vs {(32 * 64 ** 2 + 64 * 32 ** 2) / (4 * 64 ** 2 + 64 * 4 ** 2):.1f}x)")

# %% [markdown]
# ## Going further
#
# - Implement the *consecutive-frame* variant (only pairs $t, t+1$) and compare it with
#   the all-pairs version on the swapped clips: which one notices a slow drift better?
# - Write `spatial_then_temporal(x, attn_s, attn_t, T)` with your reshapes and check it
#   against `course_lib.diffusion.video_dit.VideoDiT` with a single layer.
