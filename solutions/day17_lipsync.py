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
# # Day 17 exercises — lip-sync
#
# Four exercises from the lesson and one experiment ([../notebooks/day17_lipsync.ipynb](../notebooks/day17_lipsync.ipynb)):
#
# 1. the **viseme track**: which mouth shape each video frame shows, from eSpeak's
#    phoneme events;
# 2. **lower-half masking**, the input that forces a Wav2Lip generator to take the mouth
#    from the audio;
# 3. the **expert sync loss**: binary cross-entropy on the cosine similarity of a face
#    embedding and an audio embedding;
# 4. the **offset search scores**: the best offset, LSE-D and LSE-C from the distances at
#    every candidate offset;
# 5. an **experiment**: how long must a clip be for the offset search to be trusted?
#
# Write the body of each function where it says `# YOUR CODE HERE`, then run the check
# cell below it. Each check compares your function with `course_lib` on small fixed
# inputs and tells you what looks wrong. Grade the whole notebook with
# `course check day17` (add `--json` for a machine-readable report).
#
# **Run time:** a few seconds on a CPU; nothing is trained.

# %%
import torch
import torch.nn.functional as F

from course_lib.data import faces                 # the references the checks compare against
from course_lib.speech import espeak
from course_lib.speech.espeak import PhonemeEvent
from course_lib.sync import avsync, lipsync, syncnet

torch.manual_seed(0)
FPS = faces.FPS                                   # 25 video frames per second
print("visemes:", faces.VISEMES)
print("aa opens the mouth:", faces.VISEME_SHAPES["aa"], " PP closes it:", faces.VISEME_SHAPES["PP"])

# %% [markdown]
# ## 1. The viseme track
#
# eSpeak NG tells when each phoneme starts (`PhonemeEvent(symbol, start)`, start in
# samples). A phoneme sounds from its start until the next event starts; after the last
# event's start it sounds until the end of the wave. Video frame $t$ shows the instant
# $\tau_t = (t + 0.5) / 25$ s, the middle of its 40 ms.
#
# Write `opening_track(events, n_samples, sample_rate, n_frames)`: for each frame, the
# **mouth opening** (the first of the three `VISEME_SHAPES` parameters) of the phoneme
# sounding at $\tau_t$, looked up through `faces.viseme_of(symbol)` (which removes the
# stress marks `ˈ ˌ` for you). Before the first event and from the end of the wave on,
# the mouth is at rest: the viseme `"sil"`. No smoothing here (the library then smooths
# this step function with a Gaussian to imitate coarticulation).

# %%
def opening_track(events, n_samples: int, sample_rate: int, n_frames: int) -> torch.Tensor:
    """(n_frames,) float32: the opening of the viseme sounding at (t + 0.5) / 25 s."""
    ### BEGIN SOLUTION
    out = torch.empty(n_frames)
    for t in range(n_frames):
        tau = (t + 0.5) / FPS
        viseme = "sil"
        if tau < n_samples / sample_rate:
            for e in events:                     # the last event that started by tau
                if e.start / sample_rate <= tau:
                    viseme = faces.viseme_of(e.symbol)
        out[t] = faces.VISEME_SHAPES[viseme][0]
    return out
    ### END SOLUTION

# %% tags=["check"]
# Check: opening_track follows the sounding phoneme at each frame's centre
def _reference_openings(events, n_samples, sample_rate, n_frames):
    _, mouth = faces.mouth_track(events, n_samples, sample_rate, n_frames, smooth_s=0.0)
    return mouth[:, 0]


for text, voice in (("please call stella", "en-us"), ("four hours of steady work faced us", "en-us+f3")):
    syn = espeak.synthesize(text, voice)
    n = len(syn.wave) * FPS // syn.sample_rate
    got = torch.as_tensor(opening_track(syn.events, len(syn.wave), syn.sample_rate, n), dtype=torch.float32)
    ref = _reference_openings(syn.events, len(syn.wave), syn.sample_rate, n)
    assert got.shape == (n,), f"expected one opening per frame, shape ({n},); got {tuple(got.shape)}"
    bad = (got - ref).abs() > 1e-5
    assert not bad.any(), (f"{int(bad.sum())} of {n} frames differ for {text!r}, first at frame "
                           f"{int(bad.nonzero()[0])}: got {float(got[bad][0]):.2f}, expected "
                           f"{float(ref[bad][0]):.2f}. Use the centre (t + 0.5) / 25 s of each frame, "
                           "the event that started last by then, and viseme_of(symbol)")
# hand-made events at 1 kHz: a pause, "ˈɑː" (opening 1.0) from 0.09 s, "ɪ" (0.3) from 0.29 s
# to the end of the wave at 0.4 s. Frame centres: 0.02, 0.06, 0.10, ..., 0.46 s.
events = [PhonemeEvent("_", 0), PhonemeEvent("ˈɑː", 90), PhonemeEvent("ɪ", 290)]
got = torch.as_tensor(opening_track(events, 400, 1000, 12), dtype=torch.float32)
expected = torch.tensor([0, 0, 1, 1, 1, 1, 1, 0.3, 0.3, 0.3, 0, 0], dtype=torch.float32)
assert torch.allclose(got, expected), (f"expected {expected.tolist()} (frames 2-6 centred in "
                                       f"0.09-0.29 s: 'ɑː'; 7-9: 'ɪ'; from 0.4 s on: silence); "
                                       f"got {[round(float(g), 2) for g in got]}")
syn = espeak.synthesize("please call stella", "en-us")
n = len(syn.wave) * FPS // syn.sample_rate
mine = opening_track(syn.events, len(syn.wave), syn.sample_rate, n)
print("opening_track OK;", n, "frames, the first 12:", [round(float(x), 2) for x in mine[:12]])

# %% [markdown]
# ## 2. Lower-half masking
#
# The generator sees the target frame with its **lower half** set to zero: the pose of
# the head stays visible, the mouth does not. For frames of height $H$ the lower half is
# rows $\lfloor H/2 \rfloor \dots H-1$ (for odd $H$ the middle row belongs to it). Work on
# a copy: the caller's frames must not change. Frames may have any leading axes:
# `(C, H, W)`, `(T, C, H, W)`, `(B, T, C, H, W)`.

# %%
def mask_lower_half(frames: torch.Tensor) -> torch.Tensor:
    """A copy of frames (..., C, H, W) with rows H // 2 .. H - 1 set to 0."""
    ### BEGIN SOLUTION
    out = frames.clone()
    out[..., frames.shape[-2] // 2:, :] = 0
    return out
    ### END SOLUTION

# %% tags=["check"]
# Check: mask_lower_half zeroes rows H//2 .. H-1 of a copy, for even and odd heights
for shape in ((3, 8, 6), (2, 3, 7, 5), (2, 2, 3, 32, 32), (1, 1, 1, 9, 4)):
    x = torch.rand(shape) + 0.1
    before = x.clone()
    got = mask_lower_half(x)
    ref = lipsync.mask_lower_half(x)
    assert torch.equal(x, before), "work on a copy (frames.clone()): the input frames were modified"
    assert got.shape == x.shape, f"the shape must not change: {tuple(got.shape)} vs {tuple(x.shape)}"
    h = shape[-2]
    zero_rows = [r for r in range(h) if (got[..., r, :] == 0).all()]
    assert zero_rows == list(range(h // 2, h)), (
        f"for H = {h} rows {h // 2}..{h - 1} must be zero (the lower half, the mouth); "
        f"zero rows are {zero_rows}")
    assert torch.equal(got, ref), "the upper rows must be kept exactly as they were"
print("mask_lower_half OK; channel 0 of a masked 8 x 6 frame:")
print(mask_lower_half(torch.rand(3, 8, 6) + 0.1)[0])

# %% [markdown]
# ## 3. The expert sync loss
#
# The expert's two encoders end in a ReLU, so embeddings are non-negative and their
# cosine similarity lies in $[0, 1]$: Wav2Lip reads it directly as the probability that
# the pair is in sync and trains with binary cross-entropy:
#
# $$\mathrm{sim}_i = \mathrm{clamp}\big(\cos(v_i, a_i),\ \epsilon,\ 1-\epsilon\big),\qquad
# L = \frac1B\sum_i -\big[y_i \log \mathrm{sim}_i + (1-y_i)\log(1-\mathrm{sim}_i)\big]$$
#
# with $y_i = 1$ for in-sync pairs, $0$ for off-sync ones, and $\epsilon = 10^{-6}$ (the
# clamp keeps the log finite when an embedding pair is orthogonal, which ReLU features
# make common).

# %%
def expert_sync_loss(video_emb: torch.Tensor, audio_emb: torch.Tensor, in_sync: torch.Tensor,
                     eps: float = 1e-6) -> torch.Tensor:
    """Scalar BCE on the clamped cosine similarity. video_emb, audio_emb: (B, D); in_sync: (B,)."""
    ### BEGIN SOLUTION
    sim = F.cosine_similarity(video_emb, audio_emb, dim=-1).clamp(eps, 1 - eps)
    return -(in_sync * sim.log() + (1 - in_sync) * (1 - sim).log()).mean()
    ### END SOLUTION

# %% tags=["check"]
# Check: expert_sync_loss is BCE on the clamped cosine similarity, labels 1 = in sync
gen = torch.Generator().manual_seed(3)
v = torch.relu(torch.randn(16, 12, generator=gen))
a = torch.relu(v + 0.8 * torch.randn(16, 12, generator=gen))
y = (torch.arange(16) % 2).float()
got, ref = expert_sync_loss(v, a, y), syncnet.sync_loss(v, a, y)
assert got.ndim == 0, f"return one number (the mean over the batch); got shape {tuple(got.shape)}"
assert not torch.allclose(got, syncnet.sync_loss(v, a, 1 - y), atol=1e-4), \
    "labels look flipped: y = 1 means IN sync, so it must push the similarity up (-log sim)"
dist = F.binary_cross_entropy((1 - F.cosine_similarity(v, a)).clamp(1e-6, 1 - 1e-6), y)
assert not torch.allclose(got, dist, atol=1e-4), \
    "use the cosine SIMILARITY as the probability of being in sync, not the distance 1 - cos"
assert torch.allclose(got, ref, atol=1e-5), f"expected {float(ref):.5f}, got {float(got):.5f}"
# an orthogonal pair labelled in sync: the clamp gives -log(1e-6) = 13.8, not inf or 100
e1, e2 = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 2.0, 1.0]])
edge = expert_sync_loss(e1, e2, torch.ones(1))
assert torch.isfinite(edge) and abs(float(edge) - 13.8155) < 1e-2, (
    f"sim = 0 with y = 1 must cost -log(eps) = 13.82 (clamp sim to [eps, 1 - eps] before the "
    f"log); got {float(edge)}")
same = expert_sync_loss(v[:4], v[:4], torch.ones(4))
assert float(same) < 1e-4, f"identical embeddings labelled in sync must cost ~0; got {float(same):.4f}"
print("expert_sync_loss OK; on random non-negative embeddings:",
      round(float(expert_sync_loss(v[:4], a[:4], torch.tensor([1.0, 0, 1, 0]))), 4))

# %% [markdown]
# ## 4. Offset, LSE-D and LSE-C from the distance curve
#
# `avsync.offset_search` computes, for every candidate offset $k = -K \dots K$, the mean
# distance $d(k)$ between the video embeddings and the audio embeddings shifted by $k$.
# From that curve SyncNet reports three numbers:
#
# - the **offset**: the $k$ with the smallest distance (not its index in the array!);
# - **LSE-D** $= \min_k d(k)$: how close the best match is (lower is better);
# - **LSE-C** $= \mathrm{median}_k\, d(k) - \min_k d(k)$: how much the best offset stands out
#   from a typical one (higher is surer). The median, not the mean: a few very bad
#   offsets must not make a clip look confident.
#
# `distances` has $2K+1$ entries, for offsets $-K, \dots, K$ in that order.

# %%
def offset_scores(distances: torch.Tensor) -> tuple[int, float, float]:
    """(offset, lse_d, lse_c) from distances (2K+1,) at offsets -K..K."""
    ### BEGIN SOLUTION
    k = (distances.shape[0] - 1) // 2
    best = int(torch.argmin(distances))
    lse_d = float(distances[best])
    return best - k, lse_d, float(distances.median()) - lse_d
    ### END SOLUTION

# %% tags=["check"]
# Check: offset_scores gives the signed offset, the minimum distance and median minus minimum
gen = torch.Generator().manual_seed(5)
for k_true in (-6, 0, 4):
    d = 0.6 + 0.1 * torch.rand(15, generator=gen)               # K = 7
    d[k_true + 7] = 0.2                                          # the true offset
    d[0] = 3.0                                                   # one very bad offset: mean != median
    offset, lse_d, lse_c = offset_scores(d)
    ref = avsync.offset_result(torch.arange(-7, 8), d)
    assert int(offset) == ref.offset, (f"the offset must be the candidate k in -7..7 (index - K), "
                                       f"expected {ref.offset}, got {offset}")
    assert abs(float(lse_d) - ref.min_distance) < 1e-6, \
        f"LSE-D is the minimum distance {ref.min_distance:.4f}; got {lse_d}"
    assert abs(float(lse_c) - (float(d.mean()) - ref.min_distance)) > 1e-3, \
        "LSE-C uses the MEDIAN distance, not the mean (one bad offset must not inflate the confidence)"
    assert abs(float(lse_c) - ref.confidence) < 1e-6, \
        f"LSE-C = median - min = {ref.confidence:.4f}; got {lse_c}"
# on a real search: the same numbers as avsync.offset_search
emb = F.normalize(torch.rand(40, 8, generator=gen), dim=-1)
res = avsync.offset_search(emb, torch.roll(emb, 3, dims=0), max_offset=10)
got = offset_scores(res.distances)
assert (int(got[0]), round(float(got[1]), 5), round(float(got[2]), 5)) == \
    (res.offset, round(res.min_distance, 5), round(res.confidence, 5)), \
    f"expected {(res.offset, res.min_distance, res.confidence)}, got {got}"
print("offset_scores OK; a clip whose audio is 3 frames late:", got)

# %% [markdown]
# ## 5. Experiment: clip length and the offset search
#
# A SyncNet's per-frame embeddings are noisy: one 0.2 s window of lips says little. The
# offset search averages the distance over every frame where video and audio overlap,
# so evidence accumulates with the clip's length. Measure how much, with stand-in
# embeddings whose noise you control:
#
# - a shared "content" sequence, `torch.randn(n_frames + 2 * max_offset, dim)`;
# - the video embeddings: content frames `max_offset .. max_offset + n_frames - 1`
#   plus `noise * torch.randn(n_frames, dim)`;
# - the audio embeddings, delayed by $k$ frames (audio[t + k] shows what video[t]
#   shows): content frames `max_offset - k ..` plus their own noise;
# - both through a ReLU and `F.normalize(..., dim=-1)`, like the expert's outputs.
#
# Write `offset_recovery(n_frames, noise, trials, seed)`: for each trial draw
# $k$ with `torch.randint(-5, 6, (), generator=g)`, build the pair as above (every
# random draw from `g = torch.Generator().manual_seed(seed)`), run
# `avsync.offset_search(video, audio, max_offset)` and count exact hits; return the
# share. Then compare 1-second clips (25 frames) with 4-second clips (100 frames).

# %%
def offset_recovery(n_frames: int, noise: float, trials: int = 200, seed: int = 0,
                    max_offset: int = 10, dim: int = 16) -> float:
    """Share of trials where offset_search finds the injected delay exactly."""
    ### BEGIN SOLUTION
    g = torch.Generator().manual_seed(seed)
    right = 0
    for _ in range(trials):
        k = int(torch.randint(-5, 6, (), generator=g))
        content = torch.randn(n_frames + 2 * max_offset, dim, generator=g)
        video = content[max_offset:max_offset + n_frames] + noise * torch.randn(n_frames, dim, generator=g)
        audio = content[max_offset - k:max_offset - k + n_frames] + noise * torch.randn(n_frames, dim, generator=g)
        video, audio = F.normalize(video.relu(), dim=-1), F.normalize(audio.relu(), dim=-1)
        right += avsync.offset_search(video, audio, max_offset).offset == k
    return right / trials
    ### END SOLUTION


# %% tags=["check"]
# Check: the offset search is exact on clean embeddings and longer clips recover more offsets
clean = offset_recovery(25, noise=0.0, trials=30)
assert isinstance(clean, float) and clean == 1.0, (
    f"with no noise every offset must be found, got {clean}: check the sign of the delay "
    "(audio[t + k] = video content[t], so audio uses content frames max_offset - k ...)")
for seed in (0, 1, 2):
    short, long = offset_recovery(25, 3.0, seed=seed), offset_recovery(100, 3.0, seed=seed)
    assert long > short + 0.3, (
        f"seed {seed}: 100-frame clips {long:.0%} vs 25-frame clips {short:.0%}: longer clips "
        "should recover far more offsets (is the noise drawn per frame?)")
    print(f"seed {seed}: offsets found exactly on {short:.0%} of 1 s clips, {long:.0%} of 4 s clips")

# %% [markdown]
# The distance at the true offset is an average over about $T$ frames, so its noise
# shrinks like $1/\sqrt{T}$ while the gap to the wrong offsets stays: four times the
# frames, twice the margin. That is why LSE-D/LSE-C are reported over whole clips, and
# why a sync verdict on a one-second clip deserves little trust.

# %% [markdown]
# ## Summary
#
# - The viseme track turns phoneme timings into mouth shapes; smoothing it imitates
#   coarticulation.
# - Masking exactly the lower half hides the mouth but keeps the pose.
# - The expert reads cosine similarity as a probability: BCE, labels 1 = in sync, with a
#   clamp for orthogonal ReLU embeddings.
# - The offset is the best candidate $k$; LSE-D its distance; LSE-C the margin to the
#   median.
