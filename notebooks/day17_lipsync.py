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
# # Day 17: Lip-sync
#
# A dubbed film, a video call translated into another language, an avatar reading a
# script: all need a face whose lips move with speech it never said. Wav2Lip (Prajwal
# et al., 2020) made this work on any face with two ideas: a generator that must paint
# the mouth from the audio because the mouth is **masked out** of its input, and a
# separately trained **lip-sync expert** (a SyncNet) that judges whether lips and audio
# match, and whose judgement the generator learns to satisfy. Today you build both, on
# small procedural faces that talk with eSpeak NG's voice.
#
# **What you will build**
# - talking faces whose mouth follows eSpeak's phoneme timings through a **viseme**
#   table (`course_lib.data.faces`);
# - the **SyncNet expert**: two encoders, 5 frames of lower face vs 0.2 s of mel, trained
#   with binary cross-entropy on their cosine similarity (`course_lib.sync.syncnet`,
#   trained by `syncnet_train`);
# - **offset search** with it: how many frames is the sound late? (day 16's
#   `avsync.offset_search`), and the sync scores LSE-D and LSE-C;
# - the **Wav2Lip-style generator**: reference frame + lower-half-masked frame + a mel
#   window centred on the frame -> frame, the audio steering every decoder block (FiLM),
#   the new mouth pasted into the face through a feathered mask, trained with an L1 loss
#   weighted on the mouth and the frozen expert's sync loss (`course_lib.sync.lipsync`,
#   trained by `lipsync_train`);
# - dubbed faces, and a judgement that shares nothing with training: test faces made to
#   say *other* clips' audio and sentences in no clip, their mouth opening read from the
#   pixels against the true visemes, and a second, independent expert searching the
#   offset (`course_lib.sync.dubbing_eval`).
#
# **Prerequisites:** day 09 (eSpeak NG binding, log-mels at 80 frames/s), day 16
# (offsets, `delay_audio`, `offset_search`), day 03-05 (training loops, U-Nets, video).
#
# **Run time:** about 20 s on a 2-core CPU once the models are in `artifacts/` (the
# test suite's `tests/test_lipsync_trained.py` trains them). A first run trains them
# here and takes about 200 s: the expert and the judge about 15 s each, the generator
# about 140 s, the data set about 5 s.

# %%
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from course_lib.data import faces
from course_lib.data.speech import log_mel
from course_lib.runtime import get_device, seed_everything
from course_lib.speech import espeak
from course_lib.sync import avsync, lipsync, syncnet
from course_lib.sync.dubbing_eval import OpeningRuler, dubbing_pairs, judge_recipe, score_dubbing, seam_ratio
from course_lib.sync.lipsync import dub, mask_lower_half
from course_lib.sync.lipsync_train import PRESETS, train_lipsync
from course_lib.sync.syncnet import embed_clip, sync_loss
from course_lib.sync.syncnet_train import train_syncnet
from course_lib.train import describe, preset
from course_lib.viz import plot_loss, show_images, show_video

START = time.time()
DEVICE = get_device()
seed_everything(17)
plt.rcParams["figure.dpi"] = 72
if DEVICE.type == "cpu":
    torch.set_num_threads(1)   # small convolutions on tiny frames: one thread is fastest
print("device:", DEVICE)

# %% [markdown]
# One config cell. The generator's recipe holds everything that decides its weights,
# the expert's recipe included (`RECIPE.expert`: its sizes, steps and data set), so a
# new expert means a new generator. `preset` picks the "cpu" recipe here and the "gpu"
# one (both trained longer on bigger batches) on CUDA.

# %%
RECIPE = preset(PRESETS, DEVICE)
print(describe(RECIPE))
N_CLIPS = RECIPE.expert.n_clips     # talking-face clips (200: about 6 minutes of video)
OFFSETS = (-7, -3, 0, 4, 9)         # injected audio delays (video frames) for the offset test

# %% [markdown]
# ## 1. Talking faces from phonemes
#
# Lips are not the sound, but they are tightly coupled to it. A **viseme** is a mouth
# shape shared by several phonemes: /p b m/ all close the lips (viseme `PP`), /f v/ put
# the lower lip under the teeth (`FF`), /ɑ æ ʌ aɪ/ drop the jaw (`aa`), /u ʊ/ round the
# lips (`U`). We use the 15 visemes of the MPEG-4 / Oculus set and give each three mouth
# parameters in $[0, 1]$: **opening**, **width** and **rounding**.

# %%
for v in faces.VISEMES:
    phones = [p for p, w in faces.PHONEME_TO_VISEME.items() if w == v][:8]
    print(f"{v:>4}  opening/width/rounding = {faces.VISEME_SHAPES[v]}   e.g. {' '.join(phones)}")

# %% [markdown]
# eSpeak reports when each phoneme starts (day 09). A phoneme's viseme holds from its
# start to the next phoneme: a step function $p(\tau)$ of time. Real lips anticipate
# and lag (**coarticulation**: the lips round for the /u/ of "two" while the /t/ is
# still sounding), so we smooth the steps with a Gaussian of 30 ms,
# $m(\tau) = (g_\sigma * p)(\tau)$, and read it at the middle of each video frame,
# $\tau_t = (t + 0.5)/25$ s.

# %%
text = "please call stella"
syn = espeak.synthesize(text, "en-us")
n_frames = len(syn.wave) * faces.FPS // syn.sample_rate
visemes, mouth = faces.mouth_track(syn.events, len(syn.wave), syn.sample_rate, n_frames)
print("phonemes:", " ".join(e.symbol for e in syn.events))
print(f"{n_frames} frames; visemes:", " ".join(visemes))

fig, ax = plt.subplots(figsize=(9, 2.6))
tau = (np.arange(n_frames) + 0.5) / faces.FPS
for i, name in enumerate(("opening", "width", "rounding")):
    ax.plot(tau, mouth[:, i], label=name)
for e in syn.events:
    ax.axvline(e.start / syn.sample_rate, color="0.85", lw=0.8, zorder=0)
    ax.text(e.start / syn.sample_rate, 1.04, e.symbol.strip("ˈˌ"), fontsize=7)
ax.set(xlabel="time (s)", ylim=(0, 1.15), title=f"mouth parameters for {text!r}")
ax.legend(fontsize=7, loc="center right")
plt.show()

# %% [markdown]
# `render_face` draws a frame from the three parameters with anti-aliased ellipses:
# face, hair, eyes that blink, nose, lips and the dark opening of the mouth. Eight face
# styles vary skin tone, face shape, eye spacing, hair and background; the head sways by
# about a pixel. The frames are 32 x 32 RGB: small enough to train on a CPU in a minute.

# %%
print(inspect.getsource(faces.render_face).split('"""')[1])
grid = torch.linspace(0, 1, 6)
shapes = torch.stack([torch.stack([o, torch.tensor(0.5), torch.tensor(0.0)]) for o in grid])
styles = torch.cat([faces.render_face(torch.tensor([[0.6, 0.5, 0.0]]), s) for s in faces.FACE_STYLES])
openings = faces.render_face(shapes, faces.FACE_STYLES[0])
rounded = faces.render_face(torch.stack([torch.tensor([0.3, 0.5, r]) for r in grid]), faces.FACE_STYLES[2])
display(show_images(torch.cat([styles, openings[:4], rounded[:4]]), nrow=8, scale=1.5))

# %% [markdown]
# A clip is eSpeak's speech (resampled to 16 kHz), its log-mel (80 frames/s, day 09) and
# the frames at 25 fps, with the true viseme and mouth track kept for measuring.
# `load_faces` makes the data set once (deterministically) and caches it; the split goes
# by sentence, so test sentences are never heard in training.

# %%
t0 = time.time()
data = faces.load_faces(N_CLIPS)
train_clips, test_clips = data.split("train"), data.split("test")
print(f"{len(data)} clips, {data.seconds():.0f} s of video; train/valid/test = "
      f"{len(train_clips)}/{len(data.split('valid'))}/{len(test_clips)}  ({time.time() - t0:.1f} s)")
clip = test_clips[0]
print(f"{clip.text!r} ({clip.voice}, style {clip.style}): frames {tuple(clip.frames.shape)} "
      f"{clip.frames.dtype}, wave {tuple(clip.wave.shape)} at 16 kHz, mel {tuple(clip.mel.shape)}")
show_video(clip.video(), fps=25, scale=6, audio=clip.wave, sample_rate=16_000)

# %% [markdown]
# To measure mouths in *generated* frames later we need a ruler that reads pixels only:
# `mouth_height` sums, per column of the lower face, how dark-red (mouth-interior-like)
# the pixels are and takes the tallest column. On real clips it should track the true
# opening closely; a straight-line fit turns it into opening units.

# %%
heights = torch.cat([faces.mouth_height(c.video()) for c in train_clips])
truth = torch.cat([c.mouth[:, 0] for c in train_clips])
slope, intercept = np.polyfit(truth.numpy(), heights.numpy(), 1)
to_opening = lambda h: (h - intercept) / slope
r = np.corrcoef(heights.numpy(), truth.numpy())[0, 1]
print(f"mouth height = {slope:.2f} px x opening + {intercept:.2f} px;  correlation {r:.3f} "
      f"over {len(truth)} training frames")
assert r > 0.9

# %% [markdown]
# ## 2. The lip-sync expert (SyncNet)
#
# SyncNet (Chung & Zisserman, 2016) embeds a short window of video and the audio of the
# same 0.2 s into one space. Day 16 fixed the windows: for video frame $t$, frames
# $t \dots t+4$ stacked on the channel axis, and mel frames
# $\mathrm{round}(3.2\,t) \dots +15$ (80 Hz / 25 fps = 3.2 mel frames per video frame).
# The face encoder looks at the **lower half** only: the mouth.
#
# ![SyncNet: the lower halves of 5 frames, stacked to (B, 15, 16, 32), go through four conv blocks and a linear layer to a 64-d embedding v; a (B, 80, 16) mel window goes through three 1-d conv blocks and a linear layer to a 64-d embedding a; both are ReLU'd and L2-normalised, their cosine similarity is the probability of sync, trained with BCE; at test time the mean cosine distance over a clip for offsets -15 to 15 gives the offset, LSE-D and LSE-C](figures/day17_syncnet.svg)
#
# The figure follows the tensors of `syncnet.SyncNet` (cpu preset: width 32, 64-d
# embeddings). The top tower halves the mouth image three times, to 128 channels of
# 2 × 4, and projects to 64 numbers; the bottom tower does the same along the 16 mel
# frames. Both end in a ReLU and unit length, so their cosine is in $[0, 1]$. The frame
# at the bottom is how the trained expert is used on a whole clip. Below we run the two
# towers by hand on a fresh (untrained) SyncNet and check we get its embeddings.

# %%
v_win = avsync.video_windows(clip.video(), 5)                    # (T, 15, 32, 32)
a_win = avsync.mel_windows(clip.mel, clip.n_frames, 16)          # (T, 80, 16)
print("video windows", tuple(v_win.shape), " lower half", tuple(syncnet.lower_half(v_win).shape),
      " mel windows", tuple(a_win.shape))
net = syncnet.SyncNet(RECIPE.expert.model).eval()
with torch.no_grad():
    mouths = syncnet.lower_half(v_win[:8]) * 2 - 1                              # (8, 15, 16, 32) in [-1, 1]
    v_ours = torch.nn.functional.normalize(net.face(mouths), dim=-1)            # (8, 64)
    a_ours = torch.nn.functional.normalize(net.audio(syncnet.normalize_mel(a_win[:8])), dim=-1)
    v_lib, a_lib = net.embed_face(v_win[:8]), net.embed_audio(a_win[:8])
print(f"towers by hand: v {tuple(v_ours.shape)}, a {tuple(a_ours.shape)}; max |diff| to embed_face "
      f"{(v_ours - v_lib).abs().max():.1e}, embed_audio {(a_ours - a_lib).abs().max():.1e}; "
      f"{sum(p.numel() for p in net.parameters()):,} parameters")
torch.testing.assert_close(v_ours, v_lib)
torch.testing.assert_close(a_ours, a_lib)

# %% [markdown]
# Both encoders end in a ReLU and an L2 normalisation, so the cosine similarity of a
# pair is in $[0, 1]$, and Wav2Lip reads it directly as the probability that the pair is
# in sync:
#
# $$L = -\big[y \log \mathrm{sim}(v, a) + (1 - y) \log(1 - \mathrm{sim}(v, a))\big]$$
#
# Positives ($y=1$) are a window with its own audio; negatives ($y=0$) take the audio
# of the **same clip** 2 to 15 frames away, so the only way to tell them apart is timing.

# %%
v, a = torch.rand(4, 8), torch.rand(4, 8)                       # non-negative, like the towers' outputs
labels = torch.tensor([1.0, 0, 1, 0])
sim = torch.nn.functional.cosine_similarity(v, a, dim=-1).clamp(1e-6, 1 - 1e-6)   # (4,) in [0, 1]
ours = -(labels * sim.log() + (1 - labels) * (1 - sim).log()).mean()              # BCE on the cosine
print(f"our BCE {float(ours):.6f}, sync_loss {float(sync_loss(v, a, labels)):.6f}")
torch.testing.assert_close(ours, sync_loss(v, a, labels))
print("loss with random non-negative embeddings:", round(float(sync_loss(v, a, labels)), 3),
      "| identical pairs labelled in sync:", round(float(sync_loss(v, v, torch.ones(4))), 5))

# %% [markdown]
# Training: `train_syncnet(RECIPE.expert)` trains on pairs from the training clips (each
# step's pairs drawn from a generator seeded by the step) through `train.load_or_train`,
# or loads the trained expert from `artifacts/checkpoints/syncnet_<key>.pt` (the key
# hashes the recipe). The validation accuracy is that of "in sync iff similarity > 0.5"
# on held-out clips.

# %%
t0 = time.time()
expert = train_syncnet(RECIPE.expert, device=DEVICE)
print(f"expert: {sum(p.numel() for p in expert.model.parameters()):,} parameters, "
      f"validation accuracy {expert.valid_accuracy:.3f}  (trained in {expert.run.seconds:.1f} s"
      f"{', loaded' if expert.run.cached else ''}; {time.time() - t0:.1f} s)")
fig, ax = plt.subplots(figsize=(6, 2.4))
plot_loss(expert.run.history, ax=ax, ylabel="BCE", title="SyncNet training loss")
ax.axhline(np.log(2), ls="--", color="0.6", label="chance (log 2)")
ax.legend()
plt.show()
assert expert.valid_accuracy > 0.6

# %% [markdown]
# ### Offset search with the expert
#
# Embed every frame's video window and audio window, then ask day 16's
# `avsync.offset_search` which shift $k$ makes them agree: the mean cosine distance
# $d(k) = \mathrm{mean}_t\,(1 - \cos(v_t, a_{t+k}))$ for $k = -15 \dots 15$. Its minimum
# is the offset; **LSE-D** is $\min_k d(k)$ and **LSE-C**, the confidence, is
# $\mathrm{median}_k d(k) - \min_k d(k)$. We delay the audio of every test clip by a
# known number of frames (`avsync.delay_audio`; $k > 0$ = sound late) and see whether
# the search finds it.

# %%
def sync_scores(frames, wave, judge_model=None):
    """offset_search result for frames (T, 3, H, W) and a 16 kHz wave, with the expert
    (or another SyncNet, `judge_model`)."""
    v, a = embed_clip(judge_model or expert.model, frames, log_mel(wave))
    return avsync.offset_search(v, a, max_offset=15)


t0 = time.time()
errors = {k: [] for k in OFFSETS}
for c in test_clips:
    for k in OFFSETS:
        res = sync_scores(c.video(), avsync.delay_audio(c.wave, k, 16_000))
        errors[k].append(res.offset - k)
all_errors = np.array([e for k in OFFSETS for e in errors[k]])
recovered = float(np.mean(np.abs(all_errors) <= 1))
for k in OFFSETS:
    print(f"delay {k:+3d} frames: found within +-1 on {np.mean(np.abs(errors[k]) <= 1):.0%}, "
          f"exactly on {np.mean(np.array(errors[k]) == 0):.0%}")
print(f"all: {recovered:.1%} of {len(all_errors)} clips within +-1 frame  ({time.time() - t0:.1f} s)")

res = sync_scores(clip.video(), avsync.delay_audio(clip.wave, 4, 16_000))
fig, ax = plt.subplots(figsize=(6, 2.4))
ax.plot(res.offsets, res.distances, marker=".")
ax.axhline(float(res.distances.median()), ls="--", color="0.6", label="median")
ax.set(xlabel="candidate offset k (frames)", ylabel="mean distance",
       title=f"audio delayed by 4 frames: found {res.offset:+d}, LSE-D {res.min_distance:.3f}, "
             f"LSE-C {res.confidence:.3f}")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. The generator (Wav2Lip in miniature)
#
# For every output frame the generator gets a **reference** frame of the same person
# (another frame of the clip, so it cannot copy the right mouth from it), the **target
# frame with its lower half masked** (the pose of the head, no mouth) and a **mel
# window** around that frame. A small U-Net encodes the six image channels; an audio
# encoder turns the mel window into a vector $a$; the decoder paints the frame.
#
# ![The generator: the reference frame and the masked target are concatenated to 6 channels and encoded by four conv blocks down to 48 x 4 x 4; the mel window of frames t-2 to t+2 is encoded to a 64-d vector a, broadcast and concatenated at the bottleneck, and a FiLM layer turns a into a scale and shift for the bottleneck and every decoder block; three decoder blocks upsample with skip connections back to 32 x 32 and a 1x1 conv with a sigmoid gives G, pasted into the pose frame (rows from 14 ramp into G) to give P; P is compared with the target by an L1 weighted 7 times on the mouth box, and 5 pasted frames with their mel go through the frozen SyncNet, whose -log similarity is the sync loss](figures/day17_lipsync_generator.svg)
#
# In the figure (the shapes of `lipsync.LipSyncGenerator`, width 12), the image path is
# a U-Net: each encoder block halves the size, each decoder block doubles it and takes
# the encoder's features at the same size (grey dashed skips), which is how the pose and
# the identity reach the output unchanged. That is also the U-Net's weakness here: the
# skips carry so much of the picture that a decoder can paint a plausible average mouth
# while ignoring the audio, which enters only at the 4 × 4 bottleneck. So the audio
# vector also steers every decoder block by **FiLM** (feature-wise linear modulation,
# [Perez et al., 2018](https://arxiv.org/abs/1709.07871)): each channel of the block's
# output $h$ is scaled and shifted by amounts computed from $a$,
#
# $$h \leftarrow h \odot (1 + \gamma(a)) + \beta(a),$$
#
# with $\gamma, \beta$ linear layers initialised to zero, so training starts from the plain
# U-Net. The frame is judged twice (right): by L1 against the true frame, and by the
# frozen expert (grey) for sync. The forward pass, written out and checked against the
# module:

# %%
masked = mask_lower_half(clip.video()[:4])
references = clip.video()[[20, 5, 11, 30]]
display(show_images(torch.cat([clip.video()[:4], masked, references]), nrow=4, scale=1.5,
                    titles=["target"] * 4 + ["masked input"] * 4 + ["reference"] * 4))

# %%
def film(layer, h, a):
    """h (B, C, h, w) * (1 + gamma) + beta, (gamma, beta) = layer(a) split in two (B, C) halves."""
    gamma, beta = layer(a).chunk(2, dim=1)
    return h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


def our_forward(g, reference, masked, mel):
    x = torch.cat([reference, masked], dim=1) * 2 - 1                           # (B, 6, 32, 32)
    e1 = g.enc1(x)                                                               # (B, 12, 32, 32)
    e2 = g.enc2(e1)                                                              # (B, 24, 16, 16)
    e3 = g.enc3(e2)                                                              # (B, 48, 8, 8)
    e4 = g.enc4(e3)                                                              # (B, 48, 4, 4)
    a = g.audio(syncnet.normalize_mel(mel))                                      # (B, 64)
    tiled = a[:, :, None, None].expand(-1, -1, 4, 4)                             # (B, 64, 4, 4)
    h = film(g.film[0], g.mid(torch.cat([e4, tiled], dim=1)), a)                 # (B, 48, 4, 4)
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=2.0)         # noqa: E731
    h = film(g.film[1], g.dec3(torch.cat([up(h), e3], dim=1)), a)                # (B, 24, 8, 8)
    h = film(g.film[2], g.dec2(torch.cat([up(h), e2], dim=1)), a)                # (B, 12, 16, 16)
    h = film(g.film[3], g.dec1(torch.cat([up(h), e1], dim=1)), a)                # (B, 12, 32, 32)
    return torch.sigmoid(g.out(h))                                               # (B, 3, 32, 32)


fresh = lipsync.LipSyncGenerator(RECIPE.model).eval()
for layer in fresh.film:                 # FiLM starts at zero; give it weights so the check sees it
    torch.nn.init.normal_(layer.weight, std=0.05)
mels = lipsync.generator_mel_windows(clip.mel, clip.n_frames, RECIPE.model.mel_lead)[:4]   # (4, 80, 16)
with torch.no_grad():
    ours_frame, lib_frame = our_forward(fresh, references, masked, mels), fresh(references, masked, mels)
print(f"output {tuple(ours_frame.shape)}; max |diff| to LipSyncGenerator.forward "
      f"{(ours_frame - lib_frame).abs().max():.1e}")
torch.testing.assert_close(ours_frame, lib_frame)

# %% [markdown]
# Two details around the network matter as much as its layers.
#
# **The mel window is centred.** Day 16's windows (and the expert's) start at frame $t$
# and hear frames $t \dots t+4$. But lips move *before* the sound they shape (they close
# for a /b/ before it bursts) and relax after it, so the generator hears frames
# $t-2 \dots t+2$ (`RECIPE.model.mel_lead = 2`), with silence before the clip's start:
# window $t$ is window $t - 2$ of the uncentred ones.
#
# **The new mouth is pasted, not the whole frame.** The generator outputs a full frame,
# but only its lower half is new; the upper half is already in the pose frame. Taking
# the generated frame whole gives a face that is slightly blurrier everywhere; cutting
# hard at row 16 risks a visible seam wherever the two halves disagree. `lipsync.paste` blends with weights $w_r$ per row that ramp
# from 0 to 1 over rows 14-16,
#
# $$P = w \odot G + (1 - w) \odot \text{pose},\qquad w_r = \mathrm{clip}\big((r - 13.5)/3,\ 0,\ 1\big),$$
#
# and the loss is computed on $P$, so the generator learns to blend. Both, by hand:

# %%
plain = avsync.mel_windows(syncnet.pad_mel(clip.mel, clip.n_frames), clip.n_frames, 16)   # window t: frames t..t+4
lead = RECIPE.model.mel_lead
centred = lipsync.generator_mel_windows(clip.mel, clip.n_frames, lead)
assert torch.equal(centred[lead:], plain[:-lead])            # window t is plain window t - 2
rows = torch.arange(32.0)
w_rows = ((rows - 13.5) / 3).clamp(0, 1)[:, None]             # (32, 1)
pose, generated = clip.video()[:4], fresh(references, masked, mels).detach()
ours_pasted = w_rows * generated + (1 - w_rows) * pose
torch.testing.assert_close(ours_pasted, lipsync.paste(generated, pose))
print("paste weights of rows 12-18:", [round(float(v), 3) for v in w_rows[12:19, 0]])
print(f"centred windows: {tuple(centred.shape)}; window {lead} equals day 16's window 0")

# %% [markdown]
# The loss works on windows of 5 consecutive frames, so the expert can judge them:
#
# $$L = (1 - w)\,\frac{\sum m \odot \lvert P - x\rvert}{\sum m} + w\, E_{\text{sync}},\qquad
# E_{\text{sync}} = -\log \mathrm{sim}\big(\text{expert}(P_{\text{lower}}), \text{expert}(\text{mel})\big)$$
#
# The L1 term alone gives blurry, averaged mouths (an average of "open" and "closed" is a
# half-open mouth that always matches a little), and the lips and the dark opening are
# a few dozen of a frame's 1,024 pixels: a closed mouth costs little. So the L1 weights
# $m$ are 7 on the mouth box (the lower half, central half of the columns;
# `RECIPE.mouth_weight = 6` extra) and 1 elsewhere. The expert pushes towards mouths that are *in sync*, with
# $w = 0.03$ as in Wav2Lip, and stays frozen. Wav2Lip switches it on only once the
# expert finds the generated frames plausible (its loss on them below 0.75;
# `lipsync_train.sync_switch` does that when a recipe sets `sync_start`); here it counts
# from the first step, which measured slightly better (below).
#
# How we got here: with the first design of this lesson (audio only at the
# bottleneck, window starting at the frame, plain L1 on the whole generated frame,
# Wav2Lip's switch), dubbing a test face with *another* clip's audio gave mouths whose
# opening correlated only 0.70 with the new audio's. Each part of today's design,
# removed in turn from a 1,000-step run (seed 17), measured on that task:
#
# | 1,000 steps | opening correlation |
# |---|---|
# | all parts (mouth weight 3 in these runs) | 0.87 |
# | without FiLM | 0.80 |
# | without the centred window | 0.83 |
# | without the mouth weight | 0.79 |
# | without the paste (the whole generated frame) | 0.83 |
# | Wav2Lip's switch instead of sync from step 0 | 0.86 |
# | sync weight 0.1 instead of 0.03 (2,000 steps) | 0.77 |
#
# The recipe trains 2,000 steps (0.89-0.91 over seeds 0, 1 and 17) with mouth weight 6,
# which held better on sentences in no clip than 3 did (0.88 against 0.85).
# `train_lipsync(RECIPE)` gets its expert from `train_syncnet(RECIPE.expert)`, loaded
# since we trained it above, and loads the generator from `artifacts/` (or trains it,
# about 140 s on one thread). The loss function returns the total and both terms,
# which `fit` records per step in `run.metrics`.

# %%
t0 = time.time()
generator = train_lipsync(RECIPE, device=DEVICE)
print(f"generator: {sum(p.numel() for p in generator.model.parameters()):,} parameters, "
      f"sync loss counted from step {generator.sync_started}  (trained in {generator.run.seconds:.1f} s"
      f"{', loaded' if generator.run.cached else ''}; {time.time() - t0:.1f} s)")
fig, axes = plt.subplots(1, 2, figsize=(9, 2.4))
plot_loss(generator.run.metrics["l1"], ax=axes[0], ylabel="L1", title="mouth-weighted L1 loss", logy=True)
plot_loss(generator.run.metrics["sync"], ax=axes[1], ylabel="BCE", title="expert's sync loss on generated frames")
axes[1].axhline(np.log(2), ls="--", color="0.6", label="chance (log 2)")
axes[1].legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 4. Dub a face with new speech
#
# A sentence that is in no clip, spoken by the female voice, put into the mouth of a
# test face: `dub` takes the face clip (identity and, looped, the head pose) and the new
# wave. For comparison, the procedural renderer can draw the same face *really* saying
# it, and we also show the original clip with the new audio pasted on (no lip-sync).

# %%
new_text = "the birch canoe slid on the smooth planks"
new_wave = faces.make_clip(new_text, "en-us+f3", style=clip.style).wave
truth_clip = faces.make_clip(new_text, "en-us+f3", style=clip.style, seed=1)
dubbed = dub(generator.model, clip.video(), new_wave)
n = dubbed.shape[0]
pasted = clip.video()[torch.arange(n) % clip.n_frames]
side_by_side = torch.cat([pasted, dubbed, truth_clip.video()[:n]], dim=-1)   # (T, 3, 32, 96)
print(f"dubbed: {tuple(dubbed.shape)}; left: original mouth + new audio, middle: dubbed, "
      f"right: the face really saying it")
show_video(side_by_side, fps=25, scale=5, audio=new_wave, sample_rate=16_000)

# %%
frames_shown = list(range(8, n, max(1, (n - 8) // 8)))[:8]
display(show_images(torch.cat([dubbed[frames_shown], truth_clip.video()[frames_shown]]), nrow=8, scale=1.5,
                    titles=[truth_clip.visemes[i] for i in frames_shown] * 2))
fig, ax = plt.subplots(figsize=(8, 2.4))
ax.plot(to_opening(faces.mouth_height(dubbed)), label="dubbed (measured from pixels)")
ax.plot(truth_clip.mouth[:n, 0], label="true opening of the new sentence")
ax.plot(to_opening(faces.mouth_height(pasted)), label="original clip", alpha=0.5)
ax.set(xlabel="frame", ylabel="opening", title=repr(new_text))
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 5. Measure it
#
# ### Dubbing: the real task, with judges that did not train the generator
#
# A dubbing model's job is to put *another* sound into a face. Evaluated on the clip's
# own audio, it can score well by reconstructing: the pose frame, the reference and the
# audio all agree. So we dub every test face in three settings (`dubbing_eval.dubbing_pairs`):
# - **other**: with the audio of the next test clip (another sentence, often another
#   voice and pace);
# - **new**: with one of six sentences that are in no clip, drawn by `faces.make_clip` in
#   the face's style so their true mouth track is known;
# - **own**: with its own audio (Wav2Lip's LRS2 setting), for comparison.
#
# And we judge with two things the generator never learned from:
# - **the ruler** of section 1 (`OpeningRuler.fit(train_clips)`, the same line fit),
#   reading the opening from the dubbed pixels: its correlation over all frames with the
#   heard audio's true opening, and its mean absolute error next to that of the
#   undubbed face (the face's own mouth, which says something else): ratio below 1 means
#   dubbing moved the mouth towards the new speech. The ruler itself reaches 0.97 on
#   real clips: that is the ceiling;
# - **an independent expert**: a SyncNet with another training seed
#   (`dubbing_eval.judge_recipe`), never used as a loss, searching each dubbed clip's
#   offset (0 is right). It shares the data and architecture of the training expert but
#   not its weights, so the generator cannot have learned its quirks; Wav2Lip evaluates
#   with the original SyncNet for the same reason.

# %%
t0 = time.time()
judge = train_syncnet(judge_recipe(RECIPE.expert), device=DEVICE)
ruler = OpeningRuler.fit(train_clips)
assert np.allclose((ruler.slope, ruler.intercept), (slope, intercept))      # section 1's line
print(f"judge: seed {judge.recipe.train.seed} (the loss's expert: {RECIPE.expert.train.seed}), validation "
      f"accuracy {judge.valid_accuracy:.3f}{' (loaded)' if judge.run.cached else ''}")
scores = {setting: score_dubbing(generator.model, dubbing_pairs(test_clips, setting), ruler, judge.model)
          for setting in ("other", "new", "own")}
seam = seam_ratio(generator.model, test_clips)
print(f"{'dubbed with':12s} {'corr':>6s} {'MAE':>6s} {'undubbed MAE':>13s} {'ratio':>6s} {'judge within +-1':>17s}")
for setting, sc in scores.items():
    print(f"{setting:12s} {sc.corr:6.3f} {sc.mae:6.3f} {sc.undubbed_mae:13.3f} {sc.ratio:6.2f} {sc.within_one:17.0%}")
print(f"seam: boundary rows' error / lower half's = {seam:.2f}   ({len(test_clips)} test faces, "
      f"{time.time() - t0:.1f} s)")

# %% [markdown]
# The opening over time of one test face dubbed with the next clip's audio: the dubbed
# mouth (read from pixels) against the truth of the audio it now says, and the face's own
# mouth, which says something else.

# %%
face, wave, opening = dubbing_pairs(test_clips, "other")[0]
dubbed_other = dub(generator.model, face.video(), wave)
n = min(len(dubbed_other), len(opening))
fig, ax = plt.subplots(figsize=(8, 2.4))
ax.plot(ruler(dubbed_other[:n]), label="dubbed (read from pixels)")
ax.plot(opening[:n], label="true opening of the new audio")
ax.plot(ruler(face.video()[torch.arange(n) % face.n_frames]), label="the face's own mouth", alpha=0.5)
ax.set(xlabel="frame", ylabel="opening", title=f"{face.text!r} made to say {test_clips[1].text!r}")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# Reading the table. On other clips' audio and on new sentences the dubbed opening
# correlates about 0.88-0.90 with the truth of the new audio (the ruler's own ceiling is
# 0.97), and its error is about a third of the undubbed mouth's: the mouths follow the
# speech they are given. "own" has the same correlation but a *ratio* above 1, which is
# not a failure: there the undubbed mouth is the truth itself (its error is the ruler's
# 0.05), so any generated mouth can only be worse. The independent expert finds offset 0
# on every dubbed clip; that criterion is easy (the first design of this lesson, whose
# mouths barely opened, also passed it on 96-100 % of clips), which is why the ruler
# carries the argument. The seam ratio is below 1: the rows where pose and generated
# halves meet are no worse than the rest of the lower half.
#
# The asserts use fixed seeds; the margins come from training seeds 0, 1 and 17, where
# "other" gave 0.891 / 0.912 / 0.899 and "new" 0.882 / 0.887 / 0.877, MAE ratios 0.31-0.36,
# the judge 96-100 %, and the seam 0.71-0.91.

# %%
for setting in ("other", "new"):
    sc = scores[setting]
    assert sc.corr >= 0.85 and sc.ratio <= 0.5, (setting, sc)
    assert sc.within_one >= 0.9, (setting, sc.offsets)
assert seam <= 1.0, seam

# %% [markdown]
# ### Wav2Lip's own metrics
#
# Papers report LSE-D and LSE-C from SyncNet on the clip's *own* audio. On every test
# clip we compare three videos, each a pair (frames, audio):
# - **ground truth**: the real clip with its own audio;
# - **generated**: the clip's frames with the lower half masked, repainted by the
#   generator from the clip's audio;
# - **unsynced**: the real clip with the audio of *another* test clip (shuffled audio).
#
# For each we report LSE-D and LSE-C from the training expert *and* from the judge, and
# the **mouth-opening error** of the ruler against the true viseme track of the audio
# that is heard.

# %%
def opening_truth(c, n):
    """The true opening track of clip c over n frames (closed mouth past its end)."""
    return torch.nn.functional.pad(c.mouth[:n, 0], (0, max(0, n - c.n_frames)))


t0 = time.time()
rows = {"ground truth": [], "generated": [], "unsynced (shuffled audio)": []}
for i, c in enumerate(test_clips):
    other = test_clips[(i + 1) % len(test_clips)]
    shuffled = torch.nn.functional.pad(other.wave, (0, max(0, len(c.wave) - len(other.wave))))[:len(c.wave)]
    videos = {"ground truth": (c.video(), c.wave, c),
              "generated": (dub(generator.model, c.video(), c.wave), c.wave, c),
              "unsynced (shuffled audio)": (c.video(), shuffled, other)}
    for name, (frames, wave, speaker) in videos.items():
        res = sync_scores(frames, wave)                                        # the training expert
        by_judge = sync_scores(frames, wave, judge.model)                      # the independent one
        error = (ruler(frames) - opening_truth(speaker, len(frames))).abs().mean()
        rows[name].append((res.min_distance, res.confidence, by_judge.min_distance, by_judge.confidence,
                           float(error)))
table = {name: np.mean(values, axis=0) for name, values in rows.items()}
print(f"{'':28s} {'training expert':>15s}   {'judge':>13s}")
print(f"{'video':28s} {'LSE-D':>7s} {'LSE-C':>7s}   {'LSE-D':>6s} {'LSE-C':>6s} {'opening MAE':>12s}")
for name, (lse_d, lse_c, judge_d, judge_c, mae) in table.items():
    print(f"{name:28s} {lse_d:7.3f} {lse_c:7.3f}   {judge_d:6.3f} {judge_c:6.3f} {mae:12.3f}")
print(f"({len(test_clips)} test clips, {time.time() - t0:.1f} s)")

# %% [markdown]
# The asserts: the expert recovers injected offsets within one frame on at least 90 %
# of clips (section 2); the generated videos' sync confidence is closer to the ground
# truth's than to the unsynced videos'; and the generated mouths follow the heard visemes
# better than the mouths of an unsynced video do.

# %%
conf_gt, conf_gen = table["ground truth"][1], table["generated"][1]
conf_unsynced = table["unsynced (shuffled audio)"][1]
mae_gen, mae_unsynced = table["generated"][4], table["unsynced (shuffled audio)"][4]
print(f"offsets recovered within +-1 frame: {recovered:.1%}")
print(f"LSE-C: generated {conf_gen:.3f}, ground truth {conf_gt:.3f}, unsynced {conf_unsynced:.3f} "
      f"(generated {'above' if conf_gen > conf_gt else 'below'} the ground truth, "
      f"{(conf_gen - conf_unsynced) / (conf_gt - conf_unsynced):.0%} of the way from unsynced to it)")
print(f"opening MAE: generated {mae_gen:.3f}, unsynced {mae_unsynced:.3f}")
assert recovered >= 0.9, recovered
assert abs(conf_gen - conf_gt) < abs(conf_gen - conf_unsynced), (conf_gen, conf_gt, conf_unsynced)
assert mae_gen < mae_unsynced, (mae_gen, mae_unsynced)
print(f"lesson time: {time.time() - START:.0f} s")

# %% [markdown]
# Reading the numbers: the generated videos' sync confidence is close to the ground
# truth's and far from the unsynced videos'. With the training expert it lands *above*
# the ground truth (and LSE-D below it): not a triumph, the generator was trained to
# satisfy this very expert and has learned what it likes. The judge, which the generator
# never saw, puts the generated videos level with the real ones (when this lesson was
# written: LSE-C 0.345 against 0.344, LSE-D 0.336 against 0.353, while the training
# expert said 0.311 against 0.260). That is the bias Wav2Lip avoids by evaluating with
# the original SyncNet, and why the dubbing table above uses the judge and the ruler.

# %% [markdown]
# ## In production
#
# - **Wav2Lip** (2020) is this recipe at 96 x 96 on real faces (LRS2): a SyncNet expert
#   trained first on real talking heads, then a generator with L1, the expert's sync loss
#   (weight 0.03, switched on once the expert's loss on generated frames drops below
#   0.75) and a GAN discriminator for sharpness. Its weak spot is blurry teeth and a
#   visible box around the mouth; later systems (VideoReTalking, MuseTalk, LatentSync
#   with latent diffusion and a SyncNet loss) fix quality while keeping the same expert
#   idea.
# - **SyncNet** also runs the other way round in production: broadcasters check
#   audio/video offset automatically (the offset search of section 2), and LSE-D/LSE-C
#   from the original SyncNet are the standard lip-sync metrics in papers.
# - Failure modes: profiles and occluded mouths (the expert never saw them), fast speech
#   (0.2 s windows blur visemes), teeth and tongue that the mask hides and the audio
#   cannot fully determine, identity leaking from the reference frame (the generator
#   copies its mouth when the reference is the target itself), and an expert that is
#   fooled (adversarial mouths that score well but look wrong).
# - Misuse: lip-sync is the core of many deepfakes. Day 20 covers provenance (C2PA) and
#   watermarks; a SyncNet-style offset check is itself a cheap forensic signal.
#
# Sources: [Wav2Lip](https://arxiv.org/abs/2008.10010) (code:
# [Rudrabha/Wav2Lip](https://github.com/Rudrabha/Wav2Lip)), SyncNet's official
# [syncnet_python](https://github.com/joonson/syncnet_python) (the LSE-D/LSE-C
# scorer), and [LatentSync](https://github.com/bytedance/LatentSync) and
# [MuseTalk](https://github.com/TMElyralab/MuseTalk) for the newer generators. The
# production tools are scripts rather than libraries; dubbing a video and scoring it
# looks like this (not run here: it needs their checkpoints and real face video):
#
# ```python
# import subprocess
#
# # Wav2Lip: detect the face in every frame, repaint the lower half from the audio
# subprocess.run(["python", "inference.py", "--checkpoint_path", "checkpoints/wav2lip_gan.pth",
#                 "--face", "speaker.mp4", "--audio", "new_speech.wav",
#                 "--outfile", "/tmp/dubbed.mp4"], cwd="Wav2Lip", check=True)
# # syncnet_python: track the face, then print the AV offset, min distance (LSE-D)
# # and confidence (LSE-C)
# for script in ("run_pipeline.py", "run_syncnet.py"):
#     subprocess.run(["python", script, "--videofile", "/tmp/dubbed.mp4",
#                     "--reference", "dubbed", "--data_dir", "output"], cwd="syncnet_python", check=True)
# ```
#
# ## Summary
#
# - Procedural faces with a viseme track give lip-sync data with a known truth.
# - The SyncNet expert learns timing from in-sync vs shifted pairs (BCE on cosine
#   similarity); with it, the offset search finds injected delays within one frame.
# - The generator repaints a masked lower half from a mel window centred on the frame,
#   the audio steering every decoder block (FiLM), pasted into the face through a
#   feathered mask, trained with a mouth-weighted L1 plus the frozen expert's sync loss.
# - Judged on the real task, with judges it never trained against: test faces made to say
#   other clips' audio or new sentences open their mouths with the new speech (opening
#   correlation about 0.9, a third of the undubbed mouth's error), and an independent
#   expert finds them in sync.
# - Exercises: [../exercises/day17_lipsync.ipynb](../exercises/day17_lipsync.ipynb) —
#   the viseme track, lower-half masking, the sync loss and the offset scores.
