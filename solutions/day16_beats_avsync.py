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
# # Day 16 exercises: beats and audio-visual sync
#
# Four pieces of the lesson and one experiment
# ([../notebooks/day16_beats_avsync.ipynb](../notebooks/day16_beats_avsync.ipynb)),
# written by you:
#
# 1. the onset strength from a log-mel spectrogram, `spectral_flux`;
# 2. the dynamic program of the beat tracker, `beat_dp`;
# 3. reading the beats off its back-links, `backtrack`;
# 4. the offset search between per-frame video and audio embeddings, `offset_search`;
# 5. an experiment: what does half-wave rectification buy the beat tracker?
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. Each check compares your function with `course_lib.sync` on
# fixed inputs. `course check day16` runs all checks.
#
# **Run time:** a few seconds on a 2-core CPU.

# %%
import math

import torch
import torch.nn.functional as F

from course_lib.data import sounds
from course_lib.runtime import seed_everything
from course_lib.sync import avsync, beats

seed_everything(0)
SR = sounds.SAMPLE_RATE                                   # 22,050 Hz
track = sounds.drum_loop(100, bars=3, pattern="rock", seed=1)
wave = track.wave.double()
log_mel = beats.log_mel_db(wave, SR)                      # (128, M) dB, librosa's settings
print(f"{len(wave) / SR:.1f} s drum loop at {track.bpm:.0f} BPM; log-mel {tuple(log_mel.shape)}")

# %% [markdown]
# ## Exercise 1: spectral flux
#
# Turn a log-mel spectrogram `log_mel` $S$, `(n_mels, M)` in dB, into the onset
# strength `(M,)`:
#
# 1. $d[f, j] = S[f, j + \text{lag}] - S[f, j]$, for $j = 0 .. M - \text{lag} - 1$;
# 2. keep only the increases (**half-wave rectification**): $\max(0, d)$;
# 3. average over the mel bands $f$: `(M - lag,)`;
# 4. put `lag + pad` zeros in front (frame $m$ of the result then compares frames
#    $m - \text{pad} - \text{lag}$ and $m - \text{pad}$; `pad` = 2 undoes the centring
#    of librosa's 2048-sample windows) and keep the first $M$ values.

# %%
def spectral_flux(log_mel: torch.Tensor, lag: int = 1, pad: int = 2) -> torch.Tensor:
    """(n_mels, M) log-mel in dB -> (M,) half-wave rectified spectral flux."""
    ### BEGIN SOLUTION
    flux = (log_mel[:, lag:] - log_mel[:, :-lag]).clamp_min(0.0)     # (n_mels, M - lag)
    return F.pad(flux.mean(dim=0), (lag + pad, 0))[:log_mel.shape[1]]
    ### END SOLUTION


# %% tags=["check"]
# Check: spectral_flux rectifies, lags and aligns like librosa's onset strength
got = spectral_flux(log_mel)
expected = beats.onset_strength(wave, SR)
assert isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(expected.shape), \
    f"expected shape (M,) = {tuple(expected.shape)}; got {getattr(got, 'shape', got)}"
assert got.min() >= 0, (
    f"negative values ({got.min():.2f} dB): half-wave rectify, max(0, d), BEFORE averaging "
    "over the bands; a note ending (energy falling) is not an onset")
assert not torch.allclose(got, expected * log_mel.shape[0], atol=1e-6), \
    "you summed over the mel bands: take the mean"
decreases = F.pad((log_mel[:, :-1] - log_mel[:, 1:]).clamp_min(0).mean(0), (3, 0))[:len(got)]
assert not torch.allclose(got, decreases, atol=1e-6), \
    "the sign is reversed: that flux finds energy *decreases* (offsets); use S[:, j + lag] - S[:, j]"
for shift in (-3, -2, -1, 1, 2):
    shifted = torch.roll(expected, shift)
    if torch.allclose(got[4:-4], shifted[4:-4], atol=1e-6):
        raise AssertionError(f"right values, but shifted by {-shift:+d} frame(s): put exactly "
                             "lag + pad zeros in front, then keep the first M")
assert torch.allclose(got, expected, atol=1e-6), \
    f"differs from beats.onset_strength by {(got - expected).abs().max():.3g}"
got2 = spectral_flux(log_mel, lag=2)
expected2 = beats.onset_strength(wave, SR, lag=2)
assert tuple(got2.shape) == tuple(expected2.shape) and torch.allclose(got2, expected2, atol=1e-6), \
    "lag=2 is wrong: compare frames j and j + lag (not neighbours) and pad lag + pad zeros"
print(f"spectral_flux: matches beats.onset_strength (lag 1 and 2), peak {got.max():.1f} dB")

# %% [markdown]
# ## Exercise 2: the beat-tracking dynamic program
#
# Given the local score $\tilde o$ `(M,)` (smoothed onset strength) and the beat period
# $P$ (frames, an int), compute for every frame $i = 0, 1, \dots$ in order
#
# $$C[i] = \tilde o[i] + \max_{p} \Big(C[p] - \alpha \big(\log \tfrac{i - p}{P}\big)^2\Big),
#   \qquad p = i - \mathrm{round}(P/2),\ \dots,\ i - 2P,\quad p \ge 0,$$
#
# with $\alpha$ = `tightness`. The maximising $p$ is `backlink[i]`. Details (as librosa):
# - scan $p$ from the nearest ($i - \mathrm{round}(P/2)$) to the farthest ($i - 2P$) and
#   keep the first best (strict `>`);
# - if no $p \ge 0$ exists, $C[i] = \tilde o[i]$ and the back-link is $-1$;
# - until the first frame whose local score reaches $0.01 \max \tilde o$, every
#   back-link is $-1$ (the song has not started); from that frame on, back-links are
#   the maximising $p$ (or $-1$ if none).
#
# Return `(backlink (M,) long, cumulative (M,) float64)`.

# %%
def beat_dp(local_score: torch.Tensor, period: int, tightness: float = 100.0):
    """Cumulative score and back-links of the beat DP, ((M,) long, (M,) float64)."""
    ### BEGIN SOLUTION
    n = len(local_score)
    score = local_score.double()
    cumulative = torch.zeros(n, dtype=torch.float64)
    backlink = torch.full((n,), -1, dtype=torch.long)
    threshold = 0.01 * float(score.max())
    started = False
    for i in range(n):
        best, best_p = -math.inf, -1
        for p in range(i - round(period / 2), i - 2 * period - 1, -1):
            if p < 0:
                break
            candidate = float(cumulative[p]) - tightness * math.log((i - p) / period) ** 2
            if candidate > best:
                best, best_p = candidate, p
        cumulative[i] = score[i] + (best if best_p >= 0 else 0.0)
        started = started or float(score[i]) >= threshold
        backlink[i] = best_p if started else -1
    return backlink, cumulative
    ### END SOLUTION


# %% tags=["check"]
# Check: beat_dp computes Ellis's recurrence like beats.beat_dp
env = beats.onset_strength(wave, SR)
period = round(SR / beats.HOP_LENGTH * 60 / track.bpm)                  # 26 frames a beat
local = beats.beat_local_score(env, period)
got_links, got_cum = beat_dp(local, period)
links, cum = beats.beat_dp(local, period)
assert tuple(got_links.shape) == tuple(links.shape) and tuple(got_cum.shape) == tuple(cum.shape), \
    f"expected two ({len(local)},) tensors; got {tuple(got_links.shape)}, {tuple(got_cum.shape)}"
assert torch.isfinite(got_cum).all(), (
    f"cumulative score is not finite at frame {int(torch.nonzero(~torch.isfinite(got_cum))[0])}: "
    "when no predecessor p >= 0 exists, C[i] is just the local score")
linked = got_links >= 0
gaps = torch.arange(len(local))[linked] - got_links[linked]
assert len(gaps) > 0, "no frame has a back-link: store the maximising p in backlink[i]"
assert gaps.min() >= round(period / 2) and gaps.max() <= 2 * period, (
    f"back-links jump {gaps.min()}..{gaps.max()} frames back; the predecessor p must lie in "
    f"[i - 2P, i - round(P/2)] = {round(period / 2)}..{2 * period} frames back")
assert not (got_cum > cum + 1e-6).any(), (
    "your cumulative score is sometimes higher than it can be: the penalty "
    "tightness * log((i - p) / P)^2 must be SUBTRACTED (and squared)")
assert torch.allclose(got_cum, cum, atol=1e-6), \
    f"cumulative score differs from beats.beat_dp by {(got_cum - cum).abs().max():.3g}"
first = int(torch.nonzero(local >= 0.01 * local.max())[0])
assert (got_links[:first] == -1).all(), \
    f"before the first onset (frame {first}) every back-link must be -1"
assert torch.equal(got_links, links), \
    f"back-links differ at frames {torch.nonzero(got_links != links).flatten()[:8].tolist()}"
print(f"beat_dp: same cumulative score and back-links as the library ({len(local)} frames)")

# %% [markdown]
# ## Exercise 3: backtracking
#
# The last beat is frame `last`. Its back-link is the beat before it, whose back-link
# is the one before that, and so on until a back-link of $-1$ (the first beat). Return
# all those frames **in increasing order** as a long tensor `(n_beats,)`, the last beat
# and the first beat included.

# %%
def backtrack(backlink: torch.Tensor, last: int) -> torch.Tensor:
    """Beat frames (n_beats,) long, increasing, from following backlink from `last`."""
    ### BEGIN SOLUTION
    frames, i = [], last
    while i >= 0:
        frames.append(i)
        i = int(backlink[i])
    return torch.tensor(frames[::-1], dtype=torch.long)
    ### END SOLUTION


# %% tags=["check"]
# Check: backtrack follows the links to the first beat, in time order
toy_links = torch.tensor([-1, -1, 0, -1, 2, 2, 4, 4, 5, 6])
got = backtrack(toy_links, 9)
assert isinstance(got, torch.Tensor), f"return a tensor; got {type(got).__name__}"
assert got.tolist() != [9, 6, 4, 2, 0], "reverse the list: beats in increasing order"
assert got.tolist() != [2, 4, 6, 9], "the first beat (frame 0, whose back-link is -1) is missing"
assert got.tolist() != [0, 2, 4, 6], "the last beat itself (frame `last`) is missing"
assert -1 not in got.tolist(), "-1 marks the end of the chain; it is not a beat"
assert got.tolist() == [0, 2, 4, 6, 9], f"expected [0, 2, 4, 6, 9]; got {got.tolist()}"
assert got.dtype == torch.long, f"return frame indices as torch.long; got {got.dtype}"
# the library's DP + your backtracking find the beats of the drum loop
period = round(SR / beats.HOP_LENGTH * 60 / track.bpm)
links, cum = beats.beat_dp(beats.beat_local_score(beats.onset_strength(wave, SR), period), period)
last = int(torch.nonzero(cum >= 0.5 * cum.max()).flatten()[-1])
mine = backtrack(links, last)
assert torch.equal(mine, beats.backtrack(links, last)), "differs from beats.backtrack on the drum loop"
f = beats.f_measure(track.beat_times, beats.frames_to_time(mine, SR))
assert f >= 0.85, f"the beats you read off miss the true beats: F = {f:.2f}"
print(f"backtrack: {len(mine)} beats, F-measure {f:.2f} against the true beats")

# %% [markdown]
# ## Exercise 4: the offset search
#
# `video_emb` and `audio_emb` are `(T, D)`: one embedding per video frame, and the audio
# embedding for the same frame. **Sign convention:** offset $k > 0$ means the audio is
# **delayed** by $k$ frames: the sound of video frame $t$ is at audio frame $t + k$.
# For each $k = -K, \dots, K$ (`max_offset` = $K$) compute the mean cosine distance
#
# $$d(k) = \operatorname{mean}_t \big(1 - \cos(v_t, a_{t+k})\big)$$
#
# over the frames $t$ with $0 \le t < T$ and $0 \le t + k < T$ (a **mean**, not a sum:
# the overlap shrinks as $|k|$ grows). Return `(offsets (2K+1,), distances (2K+1,))`,
# offsets in increasing order. (Tip: `F.cosine_similarity(x, y, dim=-1)`.)

# %%
def offset_search(video_emb: torch.Tensor, audio_emb: torch.Tensor, max_offset: int = 15):
    """Candidate offsets (2K+1,) and the mean cosine distance at each, (2K+1,)."""
    ### BEGIN SOLUTION
    T = len(video_emb)
    offsets = torch.arange(-max_offset, max_offset + 1)
    distances = []
    for k in offsets.tolist():
        t = torch.arange(max(0, -k), min(T, T - k))                     # both frames exist
        cos = F.cosine_similarity(video_emb[t], audio_emb[t + k], dim=-1)
        distances.append((1 - cos).mean())
    return offsets, torch.stack(distances)
    ### END SOLUTION


# %% tags=["check"]
# Check: offset_search uses the right sign convention and averages over the overlap
g = torch.Generator().manual_seed(3)
video_emb = torch.randn(40, 6, generator=g)
delay = 3
audio_emb = torch.cat([torch.randn(delay, 6, generator=g), video_emb[:-delay]])  # audio 3 frames late
offsets, distances = offset_search(video_emb, audio_emb, max_offset=8)
assert tuple(offsets.shape) == (17,) and tuple(distances.shape) == (17,), \
    f"expected (2K+1,) = (17,) offsets and distances; got {tuple(offsets.shape)}, {tuple(distances.shape)}"
assert offsets.tolist() == list(range(-8, 9)), "offsets must be -K .. K in increasing order"
best = int(offsets[distances.argmin()])
assert int(offsets[distances.argmax()]) != delay, \
    "the true offset gets the LARGEST value: return the distance 1 - cos, not the similarity"
assert best != -delay, (
    f"sign flipped: the audio is DELAYED by {delay} frames (audio_emb[t + {delay}] = video_emb[t]), "
    f"so the offset must be +{delay}; you compare video_emb[t] with audio_emb[t - k]")
assert best == delay, f"expected the best offset +{delay}; got {best:+d}"
reference = avsync.offset_search(video_emb, audio_emb, max_offset=8)
overlap = torch.tensor([40 - abs(k) for k in range(-8, 9)], dtype=torch.float32)
assert not torch.allclose(distances.float(), reference.distances * overlap, atol=1e-4), \
    "you summed the distances over the overlap: take the mean (the overlap shrinks with |k|)"
assert torch.allclose(distances.float(), reference.distances, atol=1e-5), (
    f"distances differ from avsync.offset_search by "
    f"{(distances.float() - reference.distances).abs().max():.3g}: "
    "mean over t of 1 - cos(video_emb[t], audio_emb[t + k]) where both frames exist")
print(f"offset_search: audio delayed by {delay} frames -> offset {best:+d}; "
      f"distances match avsync.offset_search")


# %% [markdown]
# ## Exercise 5 (experiment): why rectify the flux?
#
# The lesson claims that without half-wave rectification the flux "telescopes": a
# drum hit's rise is cancelled by its decay, so the onset strength loses its peaks.
# Measure what that costs the beat tracker. Write `beat_f_measure(track, rectify)`:
#
# 1. `beats.log_mel_db(track.wave.double(), SR)`, the difference of consecutive frames,
#    clamped at 0 only if `rectify`, averaged over the bands;
# 2. 3 zeros in front, the first M values (as in Exercise 1 with lag 1, pad 2);
# 3. `beats.beat_track(onset_env, SR)` gives the beat frames, `beats.frames_to_time`
#    their times, and `beats.f_measure(track.beat_times, times)` the score.
#
# The check runs it with and without rectification on three kinds of track and three
# synthesis seeds.

# %%
def beat_f_measure(track: sounds.Track, rectify: bool) -> float:
    """Beat F-measure (+-70 ms) of the DP tracker on a flux with or without rectification."""
    ### BEGIN SOLUTION
    s = beats.log_mel_db(track.wave.double(), SR)                   # (128, M)
    flux = s[:, 1:] - s[:, :-1]
    if rectify:
        flux = flux.clamp_min(0)
    onset_env = F.pad(flux.mean(dim=0), (3, 0))[:s.shape[1]]
    _, frames = beats.beat_track(onset_env, SR)
    return beats.f_measure(track.beat_times, beats.frames_to_time(frames, SR))
    ### END SOLUTION


def experiment_tracks(seed: int) -> list:
    return [sounds.drum_loop(105, bars=4, pattern="rock", seed=seed),
            sounds.drum_loop(125, bars=4, pattern="four_on_floor", seed=seed),
            sounds.song(95, bars=4, seed=seed)]


# %% tags=["check"]
# Check: with rectification the tracker finds the beats; without it, it mostly fails
for seed in (0, 1, 2):
    tracks = experiment_tracks(seed)
    with_rect = [beat_f_measure(t, True) for t in tracks]
    without = [beat_f_measure(t, False) for t in tracks]
    library = [beats.f_measure(t.beat_times, beats.frames_to_time(
        beats.beat_track(beats.onset_strength(t.wave.double(), SR), SR)[1], SR)) for t in tracks]
    assert all(isinstance(f, float) and 0 <= f <= 1 for f in with_rect + without), \
        "return the F-measure as a float in [0, 1]"
    assert max(abs(a - b) for a, b in zip(with_rect, library)) < 1e-9, (
        f"seed {seed}: with rectification your F-measures {with_rect} differ from the library "
        f"pipeline's {library}: check the 3 zeros in front and the mean over bands")
    assert min(with_rect) >= 0.9, f"seed {seed}: rectified F-measures {with_rect} should all be >= 0.9"
    assert max(without) < 0.5, (
        f"seed {seed}: without rectification F = {without}; did you still clamp at 0?")
    print(f"seed {seed}: F with rectification {[round(f, 2) for f in with_rect]}, "
          f"without {[round(f, 2) for f in without]}")

# %% [markdown]
# Without rectification the envelope is the *derivative* of the loudness: positive on a
# hit, equally negative on its decay, summing to almost nothing over a beat. The DP
# then looks for a steady pulse in a signal with no steady peaks and lands off the
# beat, F well below 0.5, where the rectified envelope gives F near 1.
