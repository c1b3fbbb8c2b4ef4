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
# # Day 00 — Setup and a tour of the course
#
# **What you will do.** Check that your machine has everything the course needs, learn
# the two habits every lesson relies on (one device, fixed seeds), and meet the four
# kinds of data we generate models for — images, speech, music and video — all of it
# made on your machine or shipped inside a Python package. Nothing is downloaded.
#
# **Prerequisites.** Python and a little PyTorch. **CPU run time:** about 5 s.
#
# How the course works: each day has a lesson (this notebook), an exercise notebook in
# `exercises/`, and the code you build lives in `course_lib`, so later days import it.
# `course check day00` grades your exercises.
#
# ![The course map: day 00 feeds four tracks; images and video (03 DDPM, 04 DiT, 05 video diffusion, 06 latent diffusion), speech (01 audio, 09 speech data, 10 Tacotron 2, 11 fast TTS, 12 ASR), sync and provenance (16 beats, 17 lip-sync, 20 provenance) and music (13 tokens, 14 Music Transformer); day 02 attention sits under every Transformer](figures/day00_course_map.svg)
#
# The map shows the days that exist today and what each one builds on (the days a
# lesson lists under its prerequisites). Read it by rows: each track starts with a green
# day and grows to the right, each day reusing the models and code of the one before.
# Two days carry more than their track: day 01's audio front end (spectrograms) feeds
# every speech and sync day, and day 02's attention (the orange bar) is inside every
# Transformer of the course, tagged "02" on the map. Tracks also meet: lip-sync (17)
# combines the speech corpus (09), beat and offset tools (16) and the diffusion days'
# video models. Missing numbers (07, 08, 15, 18, 19, 21, 22) are days still to come.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import viz
from course_lib.runtime import artifacts_dir, get_device, seed_everything

notebook_start = time.perf_counter()

# %% [markdown]
# ## 1. Is everything installed?
#
# `course doctor` (also a shell command) checks each component and prints a fix for
# anything missing. Every line should say `ok`.

# %%
from course_lib.tools.doctor import run_doctor

assert run_doctor() == 0, "fix the lines marked FAIL above, then run this cell again"

# %% [markdown]
# ## 2. One device, fixed seeds
#
# Every lesson picks its device once. On a laptop that is the CPU; on a machine with an
# NVIDIA GPU the same notebook runs on CUDA with bigger settings, chosen in one config
# cell near the top.

# %%
DEVICE = get_device()
print("device:", DEVICE, "| torch", torch.__version__, "| CPU threads:", torch.get_num_threads())
print("trained models and generated data are cached in", artifacts_dir())

# %% [markdown]
# Randomness is everywhere in generative models: initial weights, noise, sampling. We
# seed Python, NumPy and PyTorch with `seed_everything`, so a lesson run twice prints the
# same numbers — which is what lets a test assert on them.

# %%
seed_everything(0)
first = torch.randn(3)
seed_everything(0)
second = torch.randn(3)
print(first, second)
assert torch.equal(first, second)

# %% [markdown]
# **Budgets.** Every lesson runs top to bottom in at most 120 s on a 2-core CPU, each
# solution notebook in 60 s and each unsolved exercise notebook in 20 s. Models are small
# and trained for exactly as long as the idea needs to show; the test suite measures
# every notebook against these budgets.

# %% [markdown]
# ## 3. Images: handwritten digits
#
# scikit-learn ships 1,797 handwritten digits of 8×8 pixels. Tiny, but enough to watch a
# diffusion model learn to draw (days 03–06). We scale pixels to [−1, 1], the range
# diffusion models work in.

# %%
from course_lib.data.digits import load_digits

images, labels = load_digits()
print("images", tuple(images.shape), images.dtype, f"range [{images.min():.0f}, {images.max():.0f}]")
print("labels", tuple(labels.shape), "counts per class:", torch.bincount(labels).tolist())
viz.show_images(images[:16], nrow=16, titles=labels[:16].tolist())

# %% [markdown]
# ## 4. Speech: eSpeak NG, the course's teacher voice
#
# eSpeak NG is a formant speech synthesiser whose library ships inside the
# `espeakng-loader` wheel. Through a small ctypes binding it gives us a waveform *and* the
# time at which each phoneme starts — the alignment that TTS (days 09–11), ASR (day 12)
# and lip-sync (day 17) need, for free.

# %%
from course_lib.speech import espeak

speech = espeak.synthesize("Generative audio and video, from scratch.", voice="en-us")
print(f"{len(speech.wave)} samples at {speech.sample_rate} Hz = {len(speech.wave) / speech.sample_rate:.2f} s,"
      f" {len(speech.events)} phonemes")
viz.play_audio(speech.wave, speech.sample_rate)

# %%
durations = espeak.phoneme_durations(speech.events, len(speech.wave))
assert sum(durations) == len(speech.wave), "phoneme durations must tile the waveform"

fig, ax = plt.subplots(figsize=(10, 2.4))
t = np.arange(len(speech.wave)) / speech.sample_rate
ax.plot(t, speech.wave, lw=0.4, color="0.3")
for event in speech.events:
    ax.axvline(event.start / speech.sample_rate, color="tab:red", lw=0.6)
    ax.text(event.start / speech.sample_rate, 0.95 * np.abs(speech.wave).max(), event.symbol,
            fontsize=8, color="tab:red")
ax.set(xlabel="time (s)", title="waveform with eSpeak NG's phoneme starts")
plt.show()

# %% [markdown]
# ## 5. Music: Bach chorales
#
# music21 bundles J. S. Bach's four-part chorales in Riemenschneider's numbering: 371
# entries, of which 350 are distinct (some harmonisations are listed twice; the count is
# printed below). We read them as notes (pitch, start and duration in beats);
# days 13 and 14 tokenize them and train a Music Transformer.

# %%
from course_lib.data.chorales import chorale_names, chorale_notes
from course_lib.music.synth import render_notes

print(len(chorale_names()), "distinct chorales in music21's corpus")
title, notes = chorale_notes(0)
print(f"{title!r}: {len(notes)} notes in {len({n.part for n in notes})} parts")

fig, ax = plt.subplots(figsize=(10, 2.6))
for n in notes:
    ax.plot([n.start, n.start + n.duration], [n.pitch, n.pitch], lw=3, color=f"C{n.part}")
ax.set(xlabel="beat", ylabel="MIDI pitch", title=f"{title} — piano roll (colour = voice)")
plt.show()

chorale_sample_rate = 16000
first_phrase = [n for n in notes if n.start < 8]   # two bars keep the page light
viz.play_audio(render_notes(first_phrase, sample_rate=chorale_sample_rate), chorale_sample_rate)

# %% [markdown]
# ## 6. Video: moving digits
#
# The video days (05 and 06) generate clips of digits bouncing around a canvas — small enough
# to train on a CPU, rich enough to show what temporal attention buys. `show_video` encodes
# frames as H.264 with ffmpeg (from `imageio-ffmpeg`) and plays them inline.

# %%
from course_lib.data.digits import moving_digit_clip

clip = moving_digit_clip(images[3], frames=24, canvas=32, start=(4, 10), velocity=(3, 2))
print("clip", tuple(clip.shape), "= (frames, channels, height, width)")
viz.show_video(clip, fps=8, scale=6)

# %%
viz.show_images(clip[::3], nrow=8, titles=[f"t={t}" for t in range(0, 24, 3)])

# %% [markdown]
# ## 7. Measure it
#
# Every lesson ends by measuring what it claims. Today's claims are about the set-up:
# reproducible randomness, the data shapes the next days rely on, and the time budget.

# %%
elapsed = time.perf_counter() - notebook_start
print(f"digits: {len(images)} images; speech: {len(speech.events)} phonemes; "
      f"chorale: {len(notes)} notes; clip: {clip.shape[0]} frames; run time so far {elapsed:.1f} s")
assert images.shape == (1797, 1, 8, 8) and labels.unique().numel() == 10
assert speech.sample_rate == 22050 and len(speech.events) > 20
assert clip.shape == (24, 1, 32, 32) and clip.max() == images[3].max() and clip.min() == -1
assert elapsed < 120, "day 00 must stay within its CPU budget"

# %% [markdown]
# ## In production
#
# The habits above are the ones of every serious training code base: a device chosen in
# one place ([Hugging Face Accelerate](https://huggingface.co/docs/accelerate/index),
# Lightning), seeds for every random stream (and `torch.use_deterministic_algorithms`
# when bitwise repeatability matters on GPU: PyTorch's
# [reproducibility notes](https://pytorch.org/docs/stable/notes/randomness.html) list
# what it covers), data built by scripts that can be re-run, and a doctor-style
# environment check (`python -m torch.utils.collect_env`). Real systems train on
# web-scale data that this course replaces with generated data so that everything runs
# offline in minutes: [LAION-5B](https://arxiv.org/abs/2210.08402) images,
# [WebVid](https://arxiv.org/abs/2104.00650) clips,
# [LibriTTS](https://arxiv.org/abs/1904.02882) speech,
# [MAESTRO](https://arxiv.org/abs/1810.12247) piano.
#
# The same two habits with Accelerate (not run here):
#
# ```python
# import torch
# from accelerate import Accelerator
# from accelerate.utils import set_seed
#
# set_seed(0)                                   # Python, NumPy and torch on every device
# accelerator = Accelerator()                   # picks CUDA / MPS / CPU, mixed precision, DDP
# model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
# torch.use_deterministic_algorithms(True)      # fail loudly on non-deterministic kernels
# ```
#
# ## Summary
#
# - `get_device()` and `seed_everything()` open every lesson.
# - Four data sources, all offline: digits, eSpeak NG speech with phoneme timings, Bach
#   chorales, moving-digit videos.
# - `viz` shows images, plays audio and video inline.
#
# **Exercises:** [`../exercises/day00_setup.ipynb`](../exercises/day00_setup.ipynb) — then
# run `course check day00`.
