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
# # Day 11: Fast TTS, voices, a neural vocoder and a local TTS service
#
# Day 10's Tacotron writes one frame at a time and must *discover* the alignment. Today
# we build the design that replaced it in production: **FastSpeech 2** (Ren et al.,
# 2020). It is told how long each phoneme lasts, writes all frames in parallel, and so
# runs tens of times faster than real time on a CPU. We make it speak **27 voices**,
# **clone voices** it never heard from one reference clip (first near them, then, with 75
# training voices and speaker adaptation, on them), replace Griffin-Lim by a small
# **neural vocoder**, and serve it all behind an **ElevenLabs-shaped HTTP API**.
#
# **What you will build**
# - durations from eSpeak NG's phoneme events, the **length regulator**, a duration
#   predictor trained on $\log(d+1)$, pitch and energy predictors (speed and pitch control);
# - a **speaker encoder** (reference mel → d-vector) and a speaker table;
# - **voice cloning** from one clip: conditioning on another clip's d-vector, decoder
#   FiLM, and **speaker adaptation** of the conditioning vector to the reference clip;
# - a Vocos-style **neural vocoder** (mel → STFT magnitude and phase → one inverse STFT)
#   trained with a multi-resolution STFT loss, measured against Griffin-Lim;
# - a local **TTS server** (`POST /v1/text-to-speech/{voice_id}`) and a client.
#
# **Measured:** word error of an independent recogniser on held-out text, against the
# teacher's audio and its vocoded mel (and why the two differ);
# real-time factor (RTF) on CPU; speed and pitch control; whether each clone is nearest
# its own target among 81 voices (by its own and an independent speaker encoder), the
# speaker-verification equal-error rate, and the clones' word error.
#
# **Prerequisites:** day 01 (STFT, mel, Griffin-Lim), day 02 (attention), day 09 (corpus,
# phoneme events), day 10 (the PocketSphinx judge, WER).
#
# **Run time:** about 75 s on a 2-core CPU with the cloning model of section 11 cached in
# `artifacts/` (the test suite trains it first: about 100 s, plus about 2 minutes once to
# synthesise its 40 extra voices); the lesson's own models (about 50 s of synthesis and
# training when missing, day 09's corpus another 30 s) train inline.

# %%
import inspect
import time
from concurrent.futures import ThreadPoolExecutor

import matplotlib.pyplot as plt
import ipywidgets as widgets
import numpy as np
import requests
import torch
import torch.nn.functional as F
from IPython.display import display

NOTEBOOK_START = time.perf_counter()
from course_lib.audio.prosody import frame_pitch
from course_lib.data import speech
from course_lib.data.speech import UNSEEN_VOICES, voice_utterances
from course_lib.metrics import word_error_rate
from course_lib.runtime import artifacts_dir, best_time, get_device, seed_everything
from course_lib.speech import fastspeech, service, speaker, vocoder
from course_lib.speech.fastspeech import length_regulate, token_durations
from course_lib.speech import cloning
from course_lib.speech.fastspeech_train import CLONING_PRESETS, PRESETS, collate_items, prepare_items, train_fastspeech
from course_lib.speech.speaker_train import train_speaker_encoder
from course_lib.speech.recognize import Recognizer
from course_lib.speech.speaker import embed_batch, similarity
from course_lib.speech.vocoder import griffin_lim_vocoder, multi_resolution_stft_loss, vocode
from course_lib.speech.vocoder_train import PRESETS as VOCODER_PRESETS
from course_lib.speech.vocoder_train import train_vocoder
from course_lib.train import describe, preset
from course_lib.viz import play_audio, plot_loss, plot_spectrogram

DEVICE = get_device()
seed_everything(11)
plt.rcParams["figure.dpi"] = 72
if DEVICE.type == "cpu":
    torch.set_num_threads(1)   # small models: one thread beats two (and is what RTF means here)
print("device:", DEVICE)

# %% [markdown]
# One config cell. A `FastSpeechRecipe` holds everything that decides the trained model:
# its sizes, the optimisation, the data (digit strings in 27 voices) and the recipe of
# the speaker encoder it is conditioned on (`RECIPE.speaker`, trained first). A
# `VocoderRecipe` does the same for the neural vocoder. `preset` picks the CPU or the GPU
# size of each (on a GPU both train longer on bigger batches).

# %%
RECIPE = preset(PRESETS, DEVICE)                  # 250 steps of 16 utterances on a CPU
VOC_RECIPE = preset(VOCODER_PRESETS, DEVICE)      # 8 voices, 300 steps of 8 segments of 0.4 s on a CPU
CLONE_TARGET = "en-us+travis"                     # a voice no model saw in training
GL_ITERS = 32                                     # Griffin-Lim iterations per utterance
print(describe(RECIPE))
print(describe(VOC_RECIPE))

# %% [markdown]
# ## 1. Durations from eSpeak's phoneme events
#
# FastSpeech needs to know how many mel frames each input token lasts. The original
# used a Transformer TTS teacher's attention; FastSpeech 2 used the Montreal Forced
# Aligner. We have something better: the synthesiser that made the data reports when
# each phoneme starts (day 09), so day 09's corpus already stores frames per *event*.
# The model reads phonemes with word boundaries (`" "`) and an end token (EOS), while
# eSpeak's events have no boundaries but have pauses (`"_"`). `token_durations` maps
# one onto the other: a pause between words goes to the word boundary, the trailing
# pauses go to EOS.

# %%
corpus = speech.load_corpus(("digits",), ("en-us",))
test_set = corpus.split("test")
u = test_set[3]
d = token_durations(u.phonemes, u.events, u.durations)
print(f"'{u.text}': {u.n_frames} frames")
print("events   :", list(zip(u.events, u.durations)))
print("tokens   :", list(zip(u.phonemes + ["<eos>"], d)))
assert sum(d) == u.n_frames and len(d) == len(u.phonemes) + 1

# %% [markdown]
# ## 2. The length regulator and the duration loss
#
# With encoder outputs $h_1..h_N$ and durations $d_1..d_N$ the length regulator is
# $\mathrm{LR}(h, d) = [\underbrace{h_1, .., h_1}_{d_1}, \underbrace{h_2, .., h_2}_{d_2}, ..]$,
# a sequence of $\sum_i d_i$ frames. Speed control at inference is simply
# $d_i \to \mathrm{round}(d_i / \text{speed})$.
#
# The duration predictor is trained on $\log(d + 1)$, not on $d$:
# $\mathcal L_{dur} = \frac{1}{N}\sum_i (\hat\ell_i - \log(d_i + 1))^2$. Durations are
# skewed (many 3-8 frame consonants, a few 30-frame pauses), the log makes errors
# relative (one frame off a 3-frame consonant matters more than off a 30-frame pause),
# and the $+1$ keeps zero-frame tokens (word boundaries without a pause) finite.

#
# The length regulator in a few lines: for each frame, the index of the token it
# belongs to, then a gather. We check it against `fastspeech.length_regulate` on a
# random padded batch.

# %%
def our_length_regulate(x, durations):
    """x (B, N, D), durations (B, N) ints -> frames (B, T, D) zero-padded, lengths (B,)."""
    lengths = durations.sum(1)                                          # (B,)
    out = x.new_zeros(x.shape[0], int(lengths.max()), x.shape[2])       # (B, T, D)
    for b in range(x.shape[0]):
        token_of_frame = torch.repeat_interleave(torch.arange(x.shape[1]), durations[b])  # (T_b,)
        out[b, :len(token_of_frame)] = x[b, token_of_frame]
    return out, lengths


h = torch.arange(3.0)[None, :, None].expand(1, 3, 2)          # (B=1, N=3, D=2): tokens 0, 1, 2
frames, lengths = our_length_regulate(h, torch.tensor([[2, 0, 3]]))
print("durations [2, 0, 3] ->", frames[0, :, 0].tolist(), "length", int(lengths[0]))
g = torch.Generator().manual_seed(0)
x_rand, d_rand = torch.randn(3, 7, 4, generator=g), torch.randint(0, 6, (3, 7), generator=g)
ours, lib = our_length_regulate(x_rand, d_rand), length_regulate(x_rand, d_rand)
assert torch.equal(ours[0], lib[0]) and torch.equal(ours[1], lib[1])
print("random batch", tuple(x_rand.shape), "->", tuple(ours[0].shape), "lengths", ours[1].tolist(),
      ": identical to course_lib's length_regulate")

# %% [markdown]
# ## 3. Pitch and energy targets
#
# FastSpeech 2's *variance adaptor* also predicts, per phoneme, the average pitch and
# energy, and adds their embeddings to the phoneme vectors. The decoder learns to
# follow them, so shifting the pitch input shifts the voice. Pitch comes from the
# teacher's wave with YIN (`frame_pitch`, tested against `librosa.yin`): log-F0 of the
# voiced frames, normalised, averaged per token (FastPitch's recipe).

# %%
wave = u.wave()
f0, voiced = frame_pitch(wave)
fig, axes = plt.subplots(2, 1, figsize=(8, 3.6), sharex=True)
plot_spectrogram(u.mel, ax=axes[0], title=f"'{u.text}' (en-us)", ylabel="mel band")
axes[1].plot(np.where(voiced, f0, np.nan), ".", ms=3)
edges = np.cumsum(d)[:-1]
for e in edges:
    axes[1].axvline(e, color="0.85", lw=0.6)
axes[1].set_ylabel("F0 (Hz)")
axes[1].set_xlabel("frame (grey: token boundaries)")
fig.tight_layout()
plt.show()
print(f"median F0 of the voiced frames: {np.median(f0[voiced]):.0f} Hz")

# %% [markdown]
# ## 4. Voices: a speaker encoder and 27 training voices
#
# One model, many voices: every phoneme vector gets a **speaker vector** added. We
# take it from a **speaker encoder** (SV2TTS, Jia et al. 2018): dilated convolutions
# over a reference mel, mean and standard deviation over time, a linear layer, unit
# length. It is trained to tell the voices apart (a cosine classifier), so clips of one
# voice get similar vectors, whatever is said. For data we add 24 eSpeak voice
# variants (`speech.EXTRA_VOICES`, 40 digit strings each) to the corpus' 3 voices:
# generalising to a *new* voice needs many voices, not many hours of a few.
#
# ![The speaker encoder: a reference log-mel, normalised per band, goes through three
# dilated convolutions, is pooled into its mean and standard deviation over time, and a
# linear layer and unit normalisation give a 64-dimensional d-vector](figures/day11_speaker_encoder.svg)
#
# Follow the figure left to right: the convolutions see about a third of a second of
# timbre at a time; the pooling throws away *when* things happen (and so what is said)
# and keeps how the voice sounds on average and how much it varies; the result has
# length 1, so comparing two voices is a cosine similarity. We rebuild this forward
# pass after training and check it against the library.
#
# `train_fastspeech` trains (or loads) the speaker encoder of `RECIPE.speaker` first,
# then FastSpeech on the d-vector of each utterance; every batch draws its voices
# uniformly so that the corpus' three big voices don't drown the 24 small ones.

# %%
tts = train_fastspeech(RECIPE, device=DEVICE)
model, run = tts.model, tts.run
n_params = sum(p.numel() for p in model.parameters())
print(f"FastSpeech: {n_params / 1e6:.2f} M parameters, {len(run.history)} steps, "
      f"loss {run.history[0]:.2f} -> {np.mean(run.history[-20:]):.2f}; trained in {run.seconds:.0f} s, "
      f"the speaker encoder in {tts.speaker.run.seconds:.0f} s{' (loaded from artifacts/)' if run.cached else ''}")
fig, axes = plt.subplots(1, 2, figsize=(9, 2.4))
plot_loss(tts.speaker.run.history, ax=axes[0], ylabel="cross-entropy", title="speaker encoder loss")
plot_loss({"total": run.history, **run.metrics}, ax=axes[1], logy=True,
          title="FastSpeech loss: mel L1 + duration + pitch + energy")
fig.tight_layout()
plt.show()

# %% [markdown]
# The speaker encoder's forward pass, by hand, on a held-out clip, against `embed`:

# %%
enc = tts.speaker.model
clip = test_set[0].mel.to(enc.mel_norm.mean.device)                # (n_mels, frames)
with torch.no_grad():
    hidden = enc.mel_norm(clip[None])                              # (1, 80, M) normalised per band
    for conv in enc.convs:
        hidden = F.relu(conv(hidden))                              # (1, 64, M)
    mean = hidden.mean(-1)                                         # (1, 64)
    std = (((hidden - mean[..., None]) ** 2).mean(-1) + 1e-5).sqrt()
    ours_vec = F.normalize(enc.proj(torch.cat([mean, std], -1)), dim=-1)[0]   # (64,), unit length
lib_vec = enc.embed(clip)
print(f"d-vector {tuple(ours_vec.shape)}, norm {ours_vec.norm():.3f}; "
      f"max |ours - course_lib| = {(ours_vec - lib_vec).abs().max():.1e}")
torch.testing.assert_close(ours_vec, lib_vec)

# %% [markdown]
# The speaker encoder on clips it did not train on (validation and test sentences): the
# mean cosine similarity between the d-vectors of different clips of each pair of
# voices (a few voices shown). Same voice: near 1; different voices: far lower.

# %%
shown = ("en-us", "en-us+f3", "en-gb-x-rp", "en-us+m1", "en-us+f2", "en-us+Annie")
held_vectors = {v: torch.stack(embed_batch(enc, [x.mel for x in voice_utterances(v, "digits", None if v in speech.VOICES else 40)
                                                  if x.split != "train"][:8])) for v in shown}
S = np.array([[float((held_vectors[a][:4] @ held_vectors[b][4:].T).mean()) for b in shown] for a in shown])
print(" " * 12 + "".join(f"{v[-10:]:>11}" for v in shown))
for v, row in zip(shown, S):
    print(f"{v[-11:]:>11} " + "".join(f"{x:11.2f}" for x in row))
same, different = np.diag(S).mean(), S[~np.eye(len(S), dtype=bool)].mean()
print(f"same voice {same:.2f}, different voices {different:.2f}")
assert same > different + 0.4

# %% [markdown]
# ## 5. The model and how it runs
#
# ![FastSpeech 2 as course_lib builds it: phoneme ids go through an embedding and two
# FFT blocks, the speaker's d-vector is added; the variance adaptor predicts each
# token's log-duration, pitch and energy, embeds pitch and energy and adds them, and the
# length regulator repeats each token by its duration; two more FFT blocks and a linear
# layer write the 80-band log-mel](figures/day11_fastspeech2.svg)
#
# Encoder (2 FFT blocks: self-attention from day 02 + a 1-D convolution MLP) → + speaker
# vector → duration, pitch and energy predictors → pitch and energy embeddings added →
# length regulator → decoder (2 FFT blocks) → linear to 80 mel bands. In the figure, the
# green inputs are the controls: the speaker's d-vector, the speed that divides the
# durations and the pitch shift added to every predicted pitch. Inference is one pass:
# nothing is autoregressive. Here it is by hand, with the trained model's parts, for one
# sentence at speed 1.2 and 2 semitones up, against `FastSpeech.infer`:

# %%
text_in = "four zero seven one nine"
tokens_in = tts.tokens(text_in, "en-us").to(DEVICE)                   # (1, N)
speaker_in = tts.voices["en-us"][0][None].to(DEVICE)                  # (1, 64) d-vector
speed_in, shift_in = 1.2, tts.semitones_to_shift(2.0)
model.eval()
with torch.no_grad():
    h, mask = model.encode(tokens_in, speaker_in)                     # FFT blocks + speaker: (1, N, 64)
    log_d = model.duration_predictor(h, mask)                         # (1, N) predicts log(d + 1)
    d_in = torch.round((log_d.exp() - 1) / speed_in).clamp_min(0).long() * mask
    pitch_in = (model.pitch_predictor(h, mask) + shift_in) * mask      # normalised log-F0 per token
    energy_in = model.energy_predictor(h, mask) * mask
    h = h + model.pitch_embed(pitch_in[:, None]).transpose(1, 2) * mask[..., None]
    h = h + model.energy_embed(energy_in[:, None]).transpose(1, 2) * mask[..., None]
    y, n_frames = length_regulate(h, d_in)                            # (1, T, 64)
    y = y + model.positions[:y.shape[1]]
    frame_mask = torch.arange(y.shape[1], device=DEVICE) < n_frames[:, None]
    for block in model.decoder:
        y = block(y, frame_mask)
    our_mel = model.mel_norm.inverse(model.out(y).transpose(1, 2)) * frame_mask[:, None]   # (1, 80, T)
lib_mel, lib_len, lib_d = model.infer(tokens_in, speaker_in, speed=speed_in, pitch_shift=shift_in)
assert torch.equal(d_in, lib_d)
torch.testing.assert_close(our_mel, lib_mel)
print(f"{tokens_in.shape[1]} tokens -> {int(n_frames[0])} frames; durations {d_in[0].tolist()}")
print(f"max |our mel - FastSpeech.infer| = {(our_mel - lib_mel).abs().max():.1e} (log-mel units)")

# %% [markdown]
# ## 6. A neural vocoder, against Griffin-Lim
#
# Griffin-Lim (day 01) iterates 32 STFT/inverse STFT pairs to guess the phases and
# still sounds phasey. A Vocos-style vocoder *predicts* magnitude and phase for each
# frame (a few ConvNeXt blocks), and one inverse STFT gives the wave. It is trained on
# teacher (mel, wave) pairs with the multi-resolution STFT loss
#
# $$\mathcal L = \frac{1}{R}\sum_{r} \frac{\lVert S_r - \hat S_r\rVert_F}{\lVert S_r\rVert_F}
#   + \frac{1}{R}\sum_{r} \operatorname{mean}\lvert\log S_r - \log \hat S_r\rvert,$$
#
# $S_r = |\mathrm{STFT}_r(x)|$ at windows of 16, 32 and 64 ms (`tests/test_vocoder.py`
# checks it against a direct librosa/numpy computation to 1e-6).

# %%
print(inspect.getsource(vocoder.NeuralVocoder.spectrum))
trained_vocoder = train_vocoder(VOC_RECIPE, device=DEVICE)
neural, voc_history = trained_vocoder.model, trained_vocoder.run.history
tts.neural_vocoder = neural                       # what tts.synthesize vocodes with
print(f"vocoder: {sum(p.numel() for p in neural.parameters()) / 1e6:.2f} M parameters, "
      f"loss {voc_history[0]:.2f} -> {np.mean(voc_history[-20:]):.2f}, trained in {trained_vocoder.run.seconds:.0f} s")

# %% [markdown]
# Both vocoders on the **teacher's** mels of the held-out sentences, against the
# teacher's own audio: the spectral convergence part of the loss above (relative error
# of the STFT magnitudes, averaged over the three resolutions), the L1 of the log-mel of
# the result vs the input mel, the recogniser's word error, and time per second of audio.

# %%
vocab = sorted({w for x in corpus.utterances for w in x.text.split()})
judge = Recognizer(vocab, aliases={"oh": "zero"})
references = [x.text for x in test_set]
teacher_waves = [x.wave() for x in test_set]
audio_seconds = sum(len(w) for w in teacher_waves) / speech.SAMPLE_RATE


def compare(waves, utts):
    """(multi-resolution spectral convergence to the teacher audio, log-mel L1 to the
    teacher mel), means over the utterances."""
    dist, l1 = [], []
    for w, x, ref in zip(waves, utts, teacher_waves):
        n = min(len(w), len(ref))
        dist.append(multi_resolution_stft_loss(w[None, :n].double(), ref[None, :n].double())[1]["sc"])
        m = speech.log_mel(w)
        k = min(m.shape[1], x.n_frames)
        l1.append(float((m[:, :k] - x.mel[:, :k]).abs().mean()))
    return np.mean(dist), np.mean(l1)


rows = {}
for name, fn, repeats in [("Griffin-Lim (32 it.)", lambda m: griffin_lim_vocoder(m, n_iter=GL_ITERS), 1),
                          ("neural (Vocos-style)", lambda m: vocode(neural, m), 3)]:
    # best of `repeats` runs: a busy machine can only slow a run down (Griffin-Lim, the
    # slower one, runs once: slowing it could only widen the gap the assert checks)
    seconds, waves = best_time(lambda: [fn(x.mel) for x in test_set], repeats)
    rtf = seconds / audio_seconds
    dist, l1 = compare(waves, test_set)
    rows[name] = dict(dist=dist, l1=l1, wer=word_error_rate(references, [judge.transcribe(w) for w in waves]),
                      rtf=rtf)
wer_teacher = word_error_rate(references, [judge.transcribe(w) for w in teacher_waves])
print(f"{'teacher mel ->':22} {'MR spec. conv.':>14} {'mel L1':>8} {'WER':>6} {'s per s audio':>14}")
for name, r in rows.items():
    print(f"{name:22} {r['dist']:14.3f} {r['l1']:8.3f} {r['wer']:6.3f} {r['rtf']:14.4f}")
print(f"{'teacher audio':22} {0:14.3f} {'':8} {wer_teacher:6.3f}")
gl, nv = rows["Griffin-Lim (32 it.)"], rows["neural (Vocos-style)"]
assert nv["rtf"] < gl["rtf"] / 3, "the neural vocoder should be several times faster"
assert nv["l1"] <= gl["l1"], "log-mel L1 at least as good as Griffin-Lim's"
assert nv["wer"] <= gl["wer"] - 0.1, "far more intelligible than Griffin-Lim"

# %% [markdown]
# Read the table with care. The neural vocoder is about ten times faster, its mel is
# closer to the input, and the recogniser understands it far better: Griffin-Lim's
# phases are inconsistent from frame to frame, which smears the formant transitions a
# listener (or recogniser) relies on. On spectral convergence, a plain relative error
# of STFT magnitudes, Griffin-Lim does better: making the STFT magnitudes consistent is
# all it does, while our vocoder trained for a few hundred steps. More training and a
# GAN discriminator (HiFi-GAN, Vocos) close that gap.
#
# **The odd row: the judge understands the vocoder's copy far better than the original.**
# The teacher's own audio (eSpeak's 22,050 Hz wave, resampled to 16 kHz) gets a word
# error rate of about 0.43; the same sentences' mels through our vocoder get about 0.03.
# The vocoder cannot add information, so the difference must be in how PocketSphinx
# hears. A formant synthesiser writes *digital silence*: between words its samples are
# exactly or nearly zero, something no microphone ever records. PocketSphinx's acoustic
# model (on cepstra of log mel energies, normalised by a running mean) was trained on
# recorded speech, which always has a noise floor: the log of a near-zero energy is far
# outside anything it saw. The vocoder's output never goes silent. A measurement: the share of near-silent samples ($|x| < 10^{-4}$) in each, and
# the judge on the teacher's audio with a faint white noise added ($\sigma = 10^{-3}$,
# 40 dB below the speech).

# %%
resynth_waves = [vocode(neural, x.mel) for x in test_set]
quiet = {name: np.mean([float((w.abs() < 1e-4).float().mean()) for w in waves])
         for name, waves in [("teacher audio", teacher_waves), ("vocoder on teacher mel", resynth_waves)]}
noise_gen = torch.Generator().manual_seed(0)
noisy_teacher = [w + 1e-3 * torch.randn(len(w), generator=noise_gen) for w in teacher_waves]
wer_noisy_teacher = word_error_rate(references, [judge.transcribe(w) for w in noisy_teacher])
for name, share in quiet.items():
    print(f"{name:24} near-silent samples: {share:6.1%}")
print(f"WER: teacher audio {wer_teacher:.3f}, + faint noise {wer_noisy_teacher:.3f}, "
      f"vocoder on teacher mel {nv['wer']:.3f}")
assert quiet["teacher audio"] > 5 * quiet["vocoder on teacher mel"]
assert wer_noisy_teacher < wer_teacher - 0.1, "a noise floor should help the judge on digital silence"

# %% [markdown]
# A noise floor too faint to matter to a listener removes most of the judge's errors on
# the teacher. (The rest of the gap is the vocoder smoothing eSpeak's buzzy pulses into
# something closer to the recorded voices PocketSphinx knows.) So the fair yardstick for
# our TTS is not the teacher's raw audio but the teacher's **mel through the same
# vocoder**: that isolates what the acoustic model gets wrong.
#
# ## 7. Listen
#
# A held-out sentence: the teacher, FastSpeech with the neural vocoder, FastSpeech with
# Griffin-Lim.

# %%
x = test_set[0]
ours_mel = tts.mel(x.text, "en-us")
fig, axes = plt.subplots(1, 2, figsize=(11, 2.6))
plot_spectrogram(x.mel, ax=axes[0], title="teacher (eSpeak)", ylabel="mel band")
plot_spectrogram(ours_mel, ax=axes[1], title="FastSpeech 2", ylabel="mel band")
fig.tight_layout()
plt.show()
for name, w in [("teacher", teacher_waves[0]), ("FastSpeech + neural vocoder", vocode(neural, ours_mel)),
                ("FastSpeech + Griffin-Lim", griffin_lim_vocoder(ours_mel, n_iter=GL_ITERS))]:
    print(name)
    display(play_audio(w, speech.SAMPLE_RATE))

# %% [markdown]
# ## 8. Measure: intelligibility and real-time factor
#
# The same judge as day 10 (PocketSphinx with a digit-word grammar) transcribes our
# model (neural vocoder) on the **held-out** sentences. We print it beside two
# references from section 6: the teacher's raw audio, which this judge hears badly
# (digital silence, measured above), and the teacher's mel through the same vocoder,
# the fair yardstick: the gap between that and ours is what our acoustic model loses.

# %%
seed_everything(0)
ours_waves = [tts.synthesize(t, "en-us") for t in references]
heard = [judge.transcribe(w) for w in ours_waves]
wer_ours = word_error_rate(references, heard)
print(f"held-out sentences: {len(references)}")
print(f"WER teacher audio (eSpeak)          : {wer_teacher:.3f}")
print(f"WER teacher mel + neural vocoder    : {nv['wer']:.3f}   (the fair yardstick)")
print(f"WER FastSpeech + neural vocoder     : {wer_ours:.3f}   (+{wer_ours - nv['wer']:.3f} over it)")
for ref, hyp in list(zip(references, heard))[:4]:
    print(f"  {ref:34} | heard: {hyp}")
assert wer_ours <= wer_teacher + 0.10, f"WER {wer_ours:.3f} vs teacher {wer_teacher:.3f}"
assert wer_ours <= nv["wer"] + 0.2, f"WER {wer_ours:.3f} vs the vocoded teacher mel {nv['wer']:.3f}"

# %% [markdown]
# Our FastSpeech's word error (about 0.1) is *below* the teacher audio's (about 0.4) only
# because of the judge's trouble with digital silence; against the fair yardstick, the
# teacher's mel through the same vocoder (about 0.03), it loses a few words in a hundred:
# mostly one digit heard as a neighbour, as in the examples above.

# %% [markdown]
# **Real-time factor** = compute time / audio duration (0.05 = 20x faster than real
# time), for the acoustic model (text → mel, phonemizer included) and the vocoder
# (mel → wave), on the held-out sentences, best of 3 runs, one CPU thread. The assert
# compares it with Griffin-Lim's, measured above on the same machine in the same run:
# an absolute time would fail on a slower or busier machine for no fault of the model.


# %%
def rtf_row(device: torch.device) -> tuple[float, float]:
    model.to(device), neural.to(device)
    mels = [tts.mel(t, "en-us") for t in references]                    # warm-up
    seconds = sum(m.shape[1] - 1 for m in mels) * speech.HOP_LENGTH / speech.SAMPLE_RATE
    best_am = best_voc = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        mels = [tts.mel(t, "en-us") for t in references]
        t1 = time.perf_counter()
        [vocode(neural, m) for m in mels]
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        best_am, best_voc = min(best_am, t1 - t0), min(best_voc, t2 - t1)
    return best_am / seconds, best_voc / seconds


table = {"CPU, 1 thread": rtf_row(torch.device("cpu"))}
if torch.cuda.is_available():
    table["GPU"] = rtf_row(torch.device("cuda"))
    model.to(DEVICE), neural.to(DEVICE)
print(f"{'':14} {'acoustic model':>15} {'vocoder':>9} {'total':>7}")
for name, (am, voc) in table.items():
    print(f"{name:14} {am:15.4f} {voc:9.4f} {am + voc:7.4f}")
print(f"(Griffin-Lim alone: {gl['rtf']:.4f}; Tacotron on day 10 decodes step by step)")
cpu_rtf = sum(table["CPU, 1 thread"])
# A timing assert compares two things measured in this run, never an absolute time:
# the whole pipeline, text to wave, against Griffin-Lim's mel-to-wave alone.
assert cpu_rtf <= gl["rtf"] / 2, f"text to wave ({cpu_rtf:.4f}) is not twice as fast as Griffin-Lim ({gl['rtf']:.4f})"

# %% [markdown]
# ## 9. Speed and pitch control
#
# Speed divides the predicted durations; pitch adds $s \ln 2 / 12$ (in normalised
# log-F0 units) to every predicted phoneme pitch for a shift of $s$ semitones. We
# measure what comes out: the number of frames, and for pitch the F0 the decoder is
# given and how much the mel changes.

# %%
text = "four zero seven one nine"
base = tts.mel(text, "en-us")
print(f"{'speed':>6} {'frames':>7} {'ratio':>6}")
speed_ratios = {}
for s in (0.75, 1.0, 1.5):
    n = tts.mel(text, "en-us", speed=s).shape[1]
    speed_ratios[s] = base.shape[1] / n
    print(f"{s:6.2f} {n:7d} {speed_ratios[s]:6.2f}")
assert abs(speed_ratios[1.5] - 1.5) < 0.15 and abs(speed_ratios[0.75] - 0.75) < 0.1

print(f"\n{'semitones':>9} {'median F0 given':>16} {'mean |mel change|':>18}")
f0_given, mel_change = {}, {}
for st in (-4, 0, 4):
    f0_given[st] = float(tts.predicted_f0(text, "en-us", pitch=st).median())
    mel_change[st] = float((tts.mel(text, "en-us", pitch=st) - base).abs().mean())
    print(f"{st:9d} {f0_given[st]:13.1f} Hz {mel_change[st]:18.3f}")
teacher_f0, teacher_voiced = frame_pitch(speech.speak(text))
print(f"the teacher's median F0 on this text: {float(teacher_f0[teacher_voiced].median()):.0f} Hz")
assert abs(12 * np.log2(f0_given[4] / f0_given[0]) - 4) < 0.01
assert mel_change[4] > 0.05 and mel_change[-4] > 0.05, "the pitch input must change the output"
display(play_audio(torch.cat([tts.synthesize(text, "en-us", pitch=st) for st in (-4, 0, 4)]), speech.SAMPLE_RATE))

# %% [markdown]
# **A limit to be honest about.** The F0 the decoder is *given* moves by exactly the
# semitones asked, and the mel does change. But an F0 tracker (YIN) cannot read the
# pitch back from our output: the small model's mels are too smooth to resolve single
# harmonics (FastSpeech's well-known over-smoothing of an L1/L2 loss), and the briefly
# trained vocoder adds a buzz at the frame rate (80 Hz). Production systems fix both
# with adversarial training (HiFi-GAN, VITS) or with a vocoder that takes F0 as input
# (NSF, DDSP). Speed control, in contrast, is exact by construction and measured above.
#
# **Try it.** The three controls on a grid of the same sentence, precomputed (75
# spectrograms in a second or two), so the sliders only look them up. Watch what each one moves: speed stretches
# the spectrogram along time; pitch moves the F0 the decoder is given and changes the
# harmonic texture, but only a little (the limit above); the voice moves the formants,
# the dark bands, up or down.

# %%
SPEEDS, SEMITONES = (0.6, 0.8, 1.0, 1.25, 1.5), (-6, -3, 0, 3, 6)
WIDGET_VOICES = ("en-us", "en-us+f3", "en-gb-x-rp")
grid = {(v, sp, st): (tts.mel(text, v, speed=sp, pitch=st), float(tts.predicted_f0(text, v, pitch=st).median()))
        for v in WIDGET_VOICES for sp in SPEEDS for st in SEMITONES}
longest = max(m.shape[1] for m, _ in grid.values())


def show_controls(voice="en-us", speed=1.0, semitones=0):
    mel, f0 = grid[voice, speed, semitones]
    fig, ax = plt.subplots(figsize=(8, 2.4))
    plot_spectrogram(mel, ax=ax, ylabel="mel band",
                     title=f"{voice}, speed {speed}, {semitones:+d} semitones: "
                           f"{mel.shape[1]} frames, median F0 given {f0:.0f} Hz")
    ax.set_xlim(-0.5, longest - 0.5)                                  # same time axis for every speed
    plt.show()


widgets.interact(show_controls, voice=widgets.Dropdown(options=WIDGET_VOICES, value="en-us"),
                 speed=widgets.SelectionSlider(options=SPEEDS, value=1.0, description="speed"),
                 semitones=widgets.SelectionSlider(options=SEMITONES, value=0, description="pitch"));

# %% [markdown]
# ## 10. Several voices, and cloning a voice from one clip
#
# The same sentence in a few training voices. The speaker encoder then checks who is
# speaking: the d-vector of each output should be closest to its own voice's table entry.

# %%
voices_shown = ("en-us", "en-us+f3", "en-gb-x-rp", "en-us+m3", "en-us+Annie", "en-us+boris")
for v in voices_shown:
    print(v)
    display(play_audio(tts.synthesize("three one four one five", v), speech.SAMPLE_RATE))


def who_speaks(mels: list) -> str:
    """The training voice whose table d-vector is closest to the mean d-vector of `mels`."""
    e = torch.nn.functional.normalize(torch.stack(embed_batch(enc, mels)).mean(0), dim=0)
    return max(tts.recipe.voices, key=lambda w: float(similarity(e, tts.voices[w][0])))


heard_as = {v: who_speaks([tts.mel(t, v) for t in references[:3]]) for v in tts.recipe.voices}
voice_accuracy = np.mean([heard_as[v] == v for v in heard_as])
print(f"27 voices, 3 held-out sentences each: the speaker encoder names the right voice "
      f"for {voice_accuracy:.0%} (chance {1 / 27:.0%})")
print("confused:", {v: w for v, w in heard_as.items() if v != w})
# Over training seeds 0-3 this was 52-81 % (chance: 4 %): how well 27 voices separate
# depends on the speaker encoder's seed. We assert ten times chance.
assert voice_accuracy >= 0.4

# %% [markdown]
# **Cloning.** `CLONE_TARGET` and five other eSpeak voices in `speech.UNSEEN_VOICES`
# were never used to train either model. We give `tts.clone` **one** reference clip of
# each (a test sentence), synthesise eight other sentences in the clone, and compare
# the clone's mean d-vector with (a) the target voice, from eight *other* clips of it,
# and (b) every other voice: the 27 training voices and the other unseen ones.

# %%
seed_everything(0)
texts = references[:8]
targets, targets_later = {}, {}
for v in UNSEEN_VOICES:
    clips = [x for x in voice_utterances(v, "digits", 40) if x.split != "train"]
    vec = torch.nn.functional.normalize(torch.stack(embed_batch(enc, [x.mel for x in clips[1:9]])).mean(0), dim=0)
    targets[v] = (clips[0], vec)
    targets_later[v] = clips[1:9]
rivals = {**{v: tts.voices[v][0] for v in tts.recipe.voices}, **{v: t[1] for v, t in targets.items()}}
no_clone = torch.nn.functional.normalize(torch.stack(embed_batch(enc, [tts.mel(t, "en-us") for t in texts])).mean(0), dim=0)
clone_rows = {}
for v, (reference, target_vec) in targets.items():
    tts.clone(f"clone of {v}", reference.mel)
    e = torch.nn.functional.normalize(torch.stack(embed_batch(enc, [tts.mel(t, f"clone of {v}") for t in texts])).mean(0), dim=0)
    sims = {w: float(similarity(e, r)) for w, r in rivals.items()}
    best_other = max((w for w in sims if w != v), key=sims.get)
    clone_rows[v] = (float(similarity(no_clone, target_vec)), sims[v], best_other, sims[best_other])
print(f"{'unseen voice':15} {'en-us to target':>15} {'clone to target':>15}   {'closest other voice':20} {'to it':>6}")
for v, (base, s_t, other, s_o) in clone_rows.items():
    print(f"{v:15} {base:15.3f} {s_t:15.3f}   {other:20} {s_o:6.3f}  {'ok' if s_t > s_o else 'confused'}")
gain = np.mean([s_t - base for base, s_t, _, _ in clone_rows.values()])
identified_share = np.mean([s_t > s_o for _, s_t, _, s_o in clone_rows.values()])
print(f"cloning raises the similarity to the target by {gain:.2f} on average; "
      f"clones closest to their own target among all {len(rivals)} voices: {identified_share:.0%}")
print("reference clip, then the clone:")
display(play_audio(targets[CLONE_TARGET][0].wave(), speech.SAMPLE_RATE))
display(play_audio(tts.synthesize(texts[0], f"clone of {CLONE_TARGET}"), speech.SAMPLE_RATE))
moved_closer = np.mean([s_t > base for base, s_t, _, _ in clone_rows.values()])
print(f"clones closer to their target than the default voice is: {moved_closer:.0%}")
# Over training seeds 0-3: gain 0.41-0.73, moved closer 83 % every time.
assert gain >= 0.3, f"cloning gains only {gain:.2f} in similarity to the target"
assert moved_closer >= 2 / 3, f"only {moved_closer:.0%} of the clones moved toward their target"

# %% [markdown]
# Cloning moves a voice far toward its target (the "clone to target" column against
# the "en-us to target" one; a target that already sounds like en-us, such as m6, has
# little room to move). But most clones are *confused*: the voice nearest to the clone is
# a training voice close to the target (the same gender and pitch range), not the target
# itself. The model has learnt to speak 27 points of the d-vector space well, and it
# renders a new point as the trained voice beside it.
#
# ## 11. Cloning that lands on its target
#
# Three things move a clone from "near" to "on" its target. Each was measured while
# building this section (nearest-voice hits of the six clones by the model's own encoder,
# seed 0): more voices alone did not help a 250-step model (2/6); conditioning the way
# cloning conditions, with decoder FiLM and 1,000 steps, gave 3/6; adapting the speaker
# vector to the reference clip gave 5/6 (and 6/6 by an independent judge).
#
# 1. **75 training voices** (`speech.CLONING_VOICES`: the 35 above plus 40 more eSpeak NG
#    variants), so an unseen voice has trained neighbours on every side. Even so, some
#    unseen voices have near-twins in training: the encoder puts f5's clips at cosine
#    0.99 to f2's. A clone must be more precise than that gap.
# 2. **Condition like cloning.** In training, each utterance is spoken from the d-vector
#    of *another* clip of the same voice (`FastSpeechRecipe.condition = "other"`, as in
#    [SV2TTS](https://arxiv.org/abs/1806.04558)), never its own: at cloning time the model
#    gets one clip's vector, noisy, about a sentence it is not saying. And the vector
#    reaches the whole decoder by FiLM, $y \leftarrow y\,(1 + \gamma(s)) + \beta(s)$ after
#    every decoder block (`FastSpeechConfig.speaker_film`), not only an addition before
#    the encoder's output is stretched to frames.
# 3. **Speaker adaptation** ([Arik et al. 2018](https://arxiv.org/abs/1802.06006)): the
#    encoder's d-vector is a first guess. Freeze the TTS and optimise the 64 numbers of
#    the conditioning vector so the model reproduces the reference clip,
#    $s^\ast = \arg\min_s L_{\text{FastSpeech}}(\text{model}(x, d, s, p, e), \text{mel})$,
#    teacher-forced on the clip's durations $d$, pitch $p$ and energy $e$. We have them
#    from eSpeak's events; a product gets them from the clip's transcript and a forced
#    aligner. Sixty-four numbers cannot memorise a clip, so this is safe from one
#    sentence.
#
# `CLONING_PRESETS` holds this model (1,000 steps on 75 voices: about 95 s on one CPU
# thread, cached in `artifacts/` by the test suite). It is a separate model: the rest of
# the course keeps listening to the 27-voice TTS above.

# %%
CLONE_RECIPE = preset(CLONING_PRESETS, DEVICE)
ADAPT_STEPS, ADAPT_LR = 300, 0.03                     # speaker adaptation: Adam steps and step size
clone_tts = train_fastspeech(CLONE_RECIPE, device=DEVICE)
clone_tts.neural_vocoder = neural
clone_enc = clone_tts.speaker.model
print(describe(CLONE_RECIPE))
print(f"{len(CLONE_RECIPE.voices)} voices; trained in {clone_tts.run.seconds:.0f} s "
      f"(speaker encoder {clone_tts.speaker.run.seconds:.0f} s)")

# %% [markdown]
# Speaker adaptation, written out for `CLONE_TARGET`: the loss is the training loss,
# but only `z` is given to the optimiser and the model's weights are frozen. We check
# the result equals `cloning.adapt_speaker`, which `clone_tts.clone(..., adapt_steps=)`
# calls.

# %%
reference_of = {v: targets[v][0] for v in UNSEEN_VOICES}          # one test clip per unseen voice
ref = reference_of[CLONE_TARGET]
start = clone_enc.embed(ref.mel).cpu()                           # the encoder's d-vector: the first guess
batch = collate_items(prepare_items([ref], clone_tts.table, [start], clone_tts.stats, None))
z = start.clone().requires_grad_(True)
opt = torch.optim.Adam([z], lr=ADAPT_LR)
model = clone_tts.model.eval().requires_grad_(False)              # frozen: only z moves
adapt_losses = []
for step in range(ADAPT_STEPS):
    out = model(batch["tokens"], batch["durations"], z[None], batch["pitch"], batch["energy"])
    loss, _ = fastspeech.fastspeech_loss(out, batch, model)
    opt.zero_grad()
    loss.backward()
    opt.step()
    adapt_losses.append(float(loss.detach()))
model.requires_grad_(True)
library_z = cloning.adapt_speaker(clone_tts, ref, start, ADAPT_STEPS, ADAPT_LR)
print(f"reconstruction loss of the reference clip: {adapt_losses[0]:.3f} -> {adapt_losses[-1]:.3f}; "
      f"|z - start| = {float((z.detach() - start).norm()):.2f} (|start| = 1)")
print(f"max |ours - cloning.adapt_speaker| = {float((z.detach() - library_z).abs().max()):.1e}")
assert torch.allclose(z.detach(), library_z, atol=1e-5)
assert adapt_losses[-1] < adapt_losses[0]

# %% [markdown]
# **Does each clone land on its target?** Both the encoder's d-vector alone and the
# adapted vector, judged by two encoders: the model's own and an **independent** one
# (the same recipe, the next seed: `cloning.judge_recipe`), which nothing here was tuned
# against. For each unseen voice, the clone speaks eight held-out sentences; its mean
# d-vector is compared with every voice's (75 training voices from their training
# clips, and the six targets from eight clips other than the reference).

# %%
seed_everything(0)
judge_encoders = {"own": clone_tts.speaker,
                  "independent": train_speaker_encoder(cloning.judge_recipe(CLONE_RECIPE.speaker), device=DEVICE)}
judges = {name: e.model for name, e in judge_encoders.items()}
for v in UNSEEN_VOICES:
    clone_tts.clone(f"{v} (d-vector)", reference_of[v])
    if v == CLONE_TARGET:                                       # adapted above already
        clone_tts.voices[f"{v} (adapted)"] = (library_z, "en-us")
    else:
        clone_tts.clone(f"{v} (adapted)", reference_of[v], adapt_steps=ADAPT_STEPS, adapt_lr=ADAPT_LR)
clone_mels = {(v, kind): [clone_tts.mel(t, f"{v} ({kind})") for t in texts]
              for v in UNSEEN_VOICES for kind in ("d-vector", "adapted")}
judge_means, nearest = {}, {}
for jname, encoder_judge in judges.items():
    # each judge's table: the mean d-vector of every training voice's first 40 training
    # clips (`TrainedSpeakerEncoder.table`), and of each target's eight other clips
    means = dict(judge_encoders[jname].table)
    means.update(cloning.voice_means(encoder_judge, {v: [x.mel for x in targets_later[v]] for v in UNSEEN_VOICES}))
    judge_means[jname] = means
    for (v, kind), mels in clone_mels.items():
        e = cloning.voice_means(encoder_judge, {"clone": mels})["clone"]
        nearest[jname, kind, v] = (cloning.nearest_voice(e, means), float(similarity(e, means[v])))
short = lambda v: v.split("+")[-1]                                # noqa: E731
print(f"{'unseen voice':13} {'d-vector clone is nearest':>26} {'adapted clone is nearest':>25} "
      f"{'independent judge':>18}")
for v in UNSEEN_VOICES:
    row = [nearest["own", k, v] for k in ("d-vector", "adapted")] + [nearest["independent", "adapted", v]]
    print(f"{short(v):13}" + "".join(f"{short(w):>17} ({s:.2f})" + ("  ok" if w == v else "    ") for w, s in row))
hits = {(j, k): sum(nearest[j, k, v][0] == v for v in UNSEEN_VOICES)
        for j in judges for k in ("d-vector", "adapted")}
print(" ".join(f"{j} judge, {k}: {n}/6;" for (j, k), n in hits.items()))

# %% [markdown]
# The bracket is the clone's cosine similarity to its own target. Adaptation is what
# lands most clones: the d-vector alone still stops at a neighbour for half the voices.
# The misses are near-twins: here the own judge hears m4's adapted clone as m5 (the
# independent one hears m4); on other seeds f5's is heard as f2, whose real clips are
# 0.99 alike. Over training seeds 0, 1, 2 and 3 of the whole model (TTS,
# encoder and judge retrained), the adapted clones hit 5, 5, 2 and 4 of 6 by the own
# judge and 6, 6, 4 and 5 by the independent one; the d-vector clones 3, 1, 4 and 3, and
# 2, 2, 4 and 1. Seed 2 is the warning: there the model's own encoder counted fewer hits
# after adaptation than before (2 against 4) while the independent judge counted the
# same (4 and 4). The encoder the TTS is conditioned on is not a neutral ear, which is
# why the table has a second one.
#
# A picture of what happened: the judge's d-vectors projected on their first two
# principal axes. Grey: the 75 training voices; a star: each target; an arrow from the
# d-vector clone to the adapted clone.

# %%
means = judge_means["own"]
names = list(means)
clone_points = {(k, v): cloning.voice_means(clone_enc, {"c": clone_mels[v, k]})["c"]
                for k in ("d-vector", "adapted") for v in UNSEEN_VOICES}
X = torch.stack([means[n] for n in names] + list(clone_points.values()))
X = X - X[:len(names)].mean(0)
_, _, V = torch.linalg.svd(X[:len(names)], full_matrices=False)
P = (X @ V[:2].T).numpy()
fig, ax = plt.subplots(figsize=(7.5, 5.5))
train_idx = [i for i, n in enumerate(names) if n not in UNSEEN_VOICES]
ax.scatter(P[train_idx, 0], P[train_idx, 1], c="0.75", s=14, label="training voices")
colors = plt.cm.tab10(np.arange(len(UNSEEN_VOICES)))
for c, v in zip(colors, UNSEEN_VOICES):
    t = P[names.index(v)]
    a = P[len(names) + list(clone_points).index(("d-vector", v))]
    b = P[len(names) + list(clone_points).index(("adapted", v))]
    ax.scatter(*t, marker="*", s=220, color=c, edgecolor="k", label=f"{short(v)} (target)")
    ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", color=c, lw=1.8))
    ax.scatter(*a, s=40, facecolor="none", edgecolor=c)
    ax.scatter(*b, s=40, color=c)
ax.set(title="d-vectors, first two principal axes: clone before (hollow) and after adaptation (filled)",
       xlabel="PC 1", ylabel="PC 2")
ax.title.set_fontsize(9)
ax.legend(fontsize=7, ncol=2, loc="best")
plt.show()

# %% [markdown]
# **Speaker verification.** The equal-error rate (EER) of "same speaker if the cosine
# of two clips' d-vectors is above a threshold": the threshold where false accepts
# equal false rejects (`cloning.equal_error_rate`, checked against scikit-learn's ROC
# curve in the tests). First on real clips: six test clips of each unseen voice and of
# six training voices. Then the same trials with each clone's clips counted as its target
# speaker: if the clones were perfect, the EER would not change.

# %%
pool_voices = (*UNSEEN_VOICES, *CLONE_RECIPE.voices[:6])
real_clips = [(v, x.mel) for v in pool_voices
              for x in [x for x in voice_utterances(v, "digits", 40) if x.split != "train"][:6]]
clone_clips = [(v, m) for v in UNSEEN_VOICES for m in clone_mels[v, "adapted"][:6]]
eers = {}
for jname, encoder_judge in judges.items():
    scores, same = cloning.verification_trials(encoder_judge, real_clips)
    eers[jname, "real"] = cloning.equal_error_rate(scores, same)
    scores, same = cloning.verification_trials(encoder_judge, real_clips + clone_clips)
    eers[jname, "with clones"] = cloning.equal_error_rate(scores, same)
for jname in judges:
    print(f"{jname:12} judge: EER real clips {eers[jname, 'real']:.3f}, "
          f"with the adapted clones as their targets {eers[jname, 'with clones']:.3f}")

# %% [markdown]
# **Does cloning cost clarity?** PocketSphinx (section 8's judge) on 16 held-out
# sentences in the default voice, in each adapted clone, and in each target voice's own
# eSpeak mel through the same neural vocoder (the fair yardstick of section 6: what the
# judge makes of that voice when nothing was cloned).

# %%
wer_texts = references[:16]
wer_default = cloning.clone_wer(clone_tts, "en-us", wer_texts, judge)
wer_rows = {}
for v in UNSEEN_VOICES:
    real_mels = [speech.make_utterance(t, v, "digits").mel for t in wer_texts]    # eSpeak's own, same sentences
    wer_real = word_error_rate(wer_texts, [judge.transcribe(vocode(neural, m)) for m in real_mels])
    wer_rows[v] = (cloning.clone_wer(clone_tts, f"{v} (adapted)", wer_texts, judge), wer_real)
print(f"{'voice':10} {'clone WER':>10} {'real voice, vocoded':>20}")
for v, (c, r) in wer_rows.items():
    print(f"{short(v):10} {c:10.3f} {r:20.3f}")
wer_clones = np.mean([c for c, _ in wer_rows.values()])
wer_targets = np.mean([r for _, r in wer_rows.values()])
print(f"{'mean':10} {wer_clones:10.3f} {wer_targets:20.3f}     default voice (en-us): {wer_default:.3f}")
print("reference clip of", CLONE_TARGET, "then its d-vector clone and its adapted clone:")
display(play_audio(ref.wave(), speech.SAMPLE_RATE))
for kind in ("d-vector", "adapted"):
    display(play_audio(clone_tts.synthesize(texts[0], f"{CLONE_TARGET} ({kind})"), speech.SAMPLE_RATE))
# Seed 0 (5/6 and 6/6); over training seeds 0-3 the independent judge counted 4-6 of 6.
assert hits["own", "adapted"] >= 4, f"only {hits['own', 'adapted']}/6 adapted clones nearest their target"
assert hits["independent", "adapted"] >= 4, "the independent judge should agree on most clones"
assert hits["independent", "adapted"] > hits["independent", "d-vector"], "adaptation should land more clones"
assert max(eers.values()) <= 0.12, f"EER {eers}"
assert wer_clones <= wer_targets + 0.1, f"clone WER {wer_clones:.3f} vs the real voices' {wer_targets:.3f}"

# %% [markdown]
# Read the WER table with the yardstick column. Against the default voice the adapted
# clones lose clarity: their mean WER is 0.26 above en-us's here, and was 0.20, 0.06 and
# 0.26 above it for training seeds 1-3. But the targets themselves are hard for this judge: Alicia, shelby and
# travis, eSpeak's own mels through the same vocoder, are heard with a WER of about 0.5
# to 0.8, while en-us's is about 0.07. A faithful clone of a voice the judge
# struggles with is one the judge struggles with, so the fair test is against the voice
# copied: the clones are no less clear than their targets (the mean is below the
# targets' on all four seeds), which is what the assert checks. The price of adaptation
# is real: on 30 sentences (seed 0) the d-vector clones, which stay near the training
# voices, had a mean WER of 0.14 (within 0.1 of en-us's 0.06 on every seed), the adapted
# ones 0.26. The closer a clone gets to a hard voice, the harder it is to hear: landing
# on the target and matching the default voice's clarity pull apart for Alicia and
# travis.
#
# What is still missing at this scale: the near-twins (f5 against f2) need more than one
# clip or a better encoder to tell apart, and the adapted vector wanders off the
# d-vector sphere the model was trained on (travis's moved 4.4 from a unit-length
# start). Real systems train speaker encoders on thousands of speakers (VoxCeleb:
# 7,000+) and zero-shot TTS models on 10,000+ hours of many voices, and then clone from
# seconds without any optimisation.
#
# ## 12. A local TTS service with an ElevenLabs-shaped API
#
# `service.serve` runs the standard library's `ThreadingHTTPServer` in a background
# thread on 127.0.0.1 (port 0: any free port). The endpoint, header and payload are
# ElevenLabs', so the usual client code works after changing the base URL. A lock lets
# one request at a time use the model.
#
# Of ElevenLabs' `voice_settings` we follow `speed` (it divides the predicted durations)
# and add `pitch` (semitones). ElevenLabs also documents `stability` (lower: a more
# varied delivery from one generation to the next), `similarity_boost` (how closely to
# adhere to the reference voice), `style` and `use_speaker_boost`. Our model has no
# honest handle on them (it is deterministic, and a voice is one fixed d-vector), so the
# server refuses each by name with a 422 that says what it supports. Ignoring them
# silently would be worse: a client asking for a steadier voice would believe it got one.

# %%
API_KEY = "day11-demo-key"
server = service.start_server(service.fastspeech_synthesizer(tts), list(tts.voices), API_KEY)
print("serving on", server.url)

# The client pattern, as in ElevenLabs' docs:
response = requests.post(f"{server.url}/v1/text-to-speech/en-us+f3",
                         headers={"xi-api-key": API_KEY, "Content-Type": "application/json"},
                         json={"text": "5 5 5 0 1 9 9", "model_id": "eleven_multilingual_v2",
                               "voice_settings": {"speed": 1.1}}, timeout=30)
print(response.status_code, response.headers["Content-Type"], len(response.content), "bytes")
assert response.status_code == 200, response.text
out_file = artifacts_dir("day11") / "hello.wav"
out_file.write_bytes(response.content)
from course_lib.audio.io import read_wav
heard_wave, rate = read_wav(out_file)
print(f"{out_file.name}: {heard_wave.shape[-1] / rate:.2f} s at {rate} Hz; the judge hears:",
      judge.transcribe(heard_wave.reshape(-1)))

# Errors come back as JSON with a 4xx status (our model only knows the digit words):
for desc, kwargs in [("wrong key", dict(headers={"xi-api-key": "nope"}, json={"text": "one"})),
                     ("unknown voice", dict(headers={"xi-api-key": API_KEY}, json={"text": "one"}, voice="nobody")),
                     ("bad JSON", dict(headers={"xi-api-key": API_KEY}, data=b"{text:")),
                     ("empty text", dict(headers={"xi-api-key": API_KEY}, json={"text": ""})),
                     ("unknown words", dict(headers={"xi-api-key": API_KEY}, json={"text": "Call Anna."})),
                     ("stability", dict(headers={"xi-api-key": API_KEY},
                                        json={"text": "one", "voice_settings": {"stability": 0.3}}))]:
    voice = kwargs.pop("voice", "en-us")
    r = requests.post(f"{server.url}/v1/text-to-speech/{voice}", timeout=10, **kwargs)
    detail = r.json()["detail"]
    print(f"{desc:14} -> {r.status_code} {detail['status']}: {detail['message']}")
    assert 400 <= r.status_code < 500

# %% [markdown]
# The reference client `service.text_to_speech` wraps the pattern: it writes the file,
# raises `TTSClientError` with the server's message, and turns timeouts into a clear
# error. A bounded load: 16 requests from 4 threads.

# %%
path = artifacts_dir("day11") / "client.wav"
service.text_to_speech("two four six eight", "en-us+Annie", API_KEY, base_url=server.url, out_path=path)
print("client wrote", path.name, path.stat().st_size, "bytes")
try:
    service.text_to_speech("two", "en-us+nobody", API_KEY, base_url=server.url)
except service.TTSClientError as err:
    print("TTSClientError:", err)


def timed_call(i: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    r = requests.post(f"{server.url}/v1/text-to-speech/{tts.recipe.voices[i % 5]}",
                      headers={"xi-api-key": API_KEY}, json={"text": references[i]}, timeout=60)
    return r.status_code, time.perf_counter() - t0


t0 = time.perf_counter()
with ThreadPoolExecutor(4) as pool:
    results = list(pool.map(timed_call, range(16)))
wall = time.perf_counter() - t0
latency = np.array([t for _, t in results])
print(f"16 requests, 4 threads: all 200: {all(s == 200 for s, _ in results)}; {wall:.2f} s, "
      f"latency median {1000 * np.median(latency):.0f} ms, max {1000 * latency.max():.0f} ms")
assert all(s == 200 for s, _ in results)
server.stop()

# %% [markdown]
# Outside a notebook: `python -m course_lib.speech.service --port 8011` (the key from
# `--api-key` or `$COURSE_TTS_API_KEY`).
#
# ## In production
#
# - **[FastSpeech 2](https://arxiv.org/abs/2006.04558) / [FastPitch](https://arxiv.org/abs/2006.06873)**
#   (2020) made TTS parallel and controllable; durations come from forced alignment
#   (Montreal Forced Aligner) or, in Glow-TTS and **[VITS](https://arxiv.org/abs/2106.06103)**,
#   from monotonic alignment search learned with the model. VITS also folds the vocoder
#   in (end to end, with a GAN). Our durations come for free from the synthesiser that
#   made the data: a luxury real recordings don't offer.
# - **Vocoders**: WaveNet (autoregressive, slow) → WaveRNN → Parallel WaveGAN / MelGAN /
#   **[HiFi-GAN](https://arxiv.org/abs/2010.05646)** (GAN + multi-resolution STFT or mel
#   loss) → **[Vocos](https://arxiv.org/abs/2306.00814)** / iSTFTNet (predict the spectrum,
#   one inverse STFT: what we built, minus the GAN discriminators that give the last bit
#   of crispness).
# - **Voices**: [SV2TTS](https://arxiv.org/abs/1806.04558) (2018) conditioned TTS on a
#   speaker encoder trained on thousands of speakers; today's zero-shot systems (VALL-E,
#   XTTS, F5-TTS, ElevenLabs) clone from a few seconds. That is why services ask for
#   consent and watermark or log output (day 20): a clone of a real person's voice is a
#   deepfake.
# - **Serving**: [ElevenLabs' text-to-speech API](https://elevenlabs.io/docs/api-reference/text-to-speech/convert)
#   is the de-facto shape (`xi-api-key`, voice ids, `voice_settings`, whose `stability`
#   and `similarity_boost` our server refuses); real servers add streaming (chunked audio, websockets, day 19),
#   batching across requests on a GPU, rate limits and quotas. Failure modes: mispronounced
#   words out of the lexicon, numbers and dates read wrongly (text normalisation, day
#   09), clipped or repeated phonemes when durations are predicted badly.
#
# The same job with production libraries: a VITS model (duration predictor, flow and
# GAN vocoder in one network) through [Hugging Face transformers](https://huggingface.co/docs/transformers/model_doc/vits),
# and the hosted service through ElevenLabs' Python SDK (not run here: both need the
# network and, for ElevenLabs, an API key).
#
# ```python
# import torch
# from transformers import AutoTokenizer, VitsModel
#
# tokenizer = AutoTokenizer.from_pretrained("facebook/mms-tts-eng")
# model = VitsModel.from_pretrained("facebook/mms-tts-eng")
# inputs = tokenizer("four zero seven one nine", return_tensors="pt")
# with torch.no_grad():
#     wave = model(**inputs).waveform[0]          # (samples,) at model.config.sampling_rate (16 kHz)
#
# from elevenlabs import VoiceSettings
# from elevenlabs.client import ElevenLabs
#
# client = ElevenLabs(api_key="...")
# audio = client.text_to_speech.convert(        # POST /v1/text-to-speech/{voice_id}, as our server
#     voice_id="JBFqnCBsd6RMkjVDRZzb", text="four zero seven one nine",
#     model_id="eleven_multilingual_v2", output_format="mp3_44100_128",
#     voice_settings=VoiceSettings(stability=0.5, similarity_boost=0.75, speed=1.1))
# ```
#
# ## Summary
#
# - FastSpeech 2 = encoder + variance adaptor (duration, pitch, energy) + length
#   regulator + decoder; durations from eSpeak's phoneme events, trained on $\log(d+1)$.
# - A speaker encoder gives d-vectors; trained on 27 voices with balanced sampling, the
#   model speaks them all; a clone from one clip moves toward an unseen voice but mostly
#   lands on a training voice near it (measured above).
# - Cloning that lands: 75 training voices, conditioning on another clip's d-vector,
#   decoder FiLM, and speaker adaptation (64 numbers fitted to the reference clip with
#   the TTS frozen) put 5 of 6 clones nearest their own target by the model's encoder
#   and 6 of 6 by an independent one (4-6 of 6 by the independent judge over training
#   seeds 0-3). The clones are harder
#   for the recogniser than the default voice, but no harder than the voices they copy.
# - A Vocos-style neural vocoder, trained with a multi-resolution STFT loss, beats
#   Griffin-Lim on log-mel distance and word error (not on spectral convergence) and is
#   far faster; the whole TTS, text to wave, runs about 100 times faster than real time
#   on one CPU thread (several times faster than Griffin-Lim alone).
# - Intelligibility, judged by PocketSphinx on held-out sentences: a word error of about
#   0.1, a few points worse than the teacher's mel through the same vocoder (about 0.03).
#   The teacher's raw audio scores worst (about 0.4) because the judge stumbles on
#   eSpeak's digital silence: a faint noise floor removes most of those errors (measured).
# - An ElevenLabs-shaped local service serves it; errors are JSON 4xx, and ElevenLabs'
#   settings this model cannot follow (`stability`, `similarity_boost`, `style`,
#   `use_speaker_boost`) are refused by name, never silently ignored.

# %%
print(f"notebook run time: {time.perf_counter() - NOTEBOOK_START:.0f} s")

# %% [markdown]
# **Exercises:** [../exercises/day11_fast_tts.ipynb](../exercises/day11_fast_tts.ipynb):
# the length regulator, the duration loss, a client that handles the service's errors
# and timeouts, and an experiment: train the duration predictor on $\log(d + 1)$ and on
# $d$, and compare them on held-out sentences.
