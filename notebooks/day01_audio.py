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
# # Day 01: Audio as data
#
# A microphone gives a model a long list of numbers. Speech and music models almost never
# look at that list directly: they look at a **spectrogram**, a picture of which
# frequencies sound when. Today you build that front end in plain PyTorch, and later days
# import it from `course_lib.audio.dsp`.
#
# **What you will build**
# - the short-time Fourier transform (STFT): framing, windowing, real FFT;
# - the mel scale and the Slaney mel filterbank, then the mel spectrogram;
# - Whisper's log-mel features, step by step, exactly as OpenAI's Whisper computes them;
# - Griffin-Lim, which turns a magnitude spectrogram back into sound.
#
# Each piece is compared with librosa, the reference audio library, and the differences
# are asserted.
#
# **Prerequisites:** Day 00 (setup, `course_lib.viz`, seeds). Complex numbers and the
# discrete Fourier transform help, but the lesson recaps what it uses.
#
# **Run time:** about 6 s on a 2-core CPU.

# %%
import math

import ipywidgets as widgets
import librosa
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display
from tqdm.auto import tqdm

from course_lib.audio import dsp
from course_lib.runtime import get_device, seed_everything
from course_lib.viz import play_audio, plot_spectrogram

DEVICE = get_device()
generator = seed_everything(1)
plt.rcParams["figure.dpi"] = 72
print("device:", DEVICE)

# %% [markdown]
# One config cell holds every size. On a GPU, Griffin-Lim gets more iterations.

# %%
SAMPLE_RATE = 16_000    # Hz: speech models in this course work at 16 kHz, like Whisper
N_FFT = 512             # samples per STFT frame (32 ms)
HOP_LENGTH = 128        # samples between frames (8 ms)
N_MELS = 80
GL_ITERS = 128 if DEVICE.type == "cuda" else 64

# %% [markdown]
# ## 1. Sampling and aliasing
#
# A sound is a pressure curve $x(t)$. Recording it keeps one value every $1/f_s$
# seconds: $x[n] = x(n / f_s)$, with $f_s$ the sample rate. The samples can only describe
# frequencies up to the **Nyquist frequency** $f_s / 2$. A tone above it does not
# disappear: it *folds back* and is indistinguishable from a tone at
# $|f - k f_s|$ (the nearest multiple $k f_s$). At 16 kHz, a 10 kHz tone comes out
# as 6 kHz.

# %%
def tone(freq_hz: float, seconds: float, sample_rate: int) -> torch.Tensor:
    """A unit sine, (T,) with T = seconds * sample_rate."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    return torch.sin(2 * math.pi * freq_hz * t)


def peak_frequency(wave: torch.Tensor, sample_rate: int) -> float:
    """The frequency (Hz) of the strongest bin of the windowed spectrum of wave (T,)."""
    spectrum = torch.fft.rfft(wave * dsp.hann_window(len(wave)))
    return spectrum.abs().argmax().item() * sample_rate / len(wave)


for freq in [3000, 7000, 10_000, 15_000]:
    measured = peak_frequency(tone(freq, 1.0, SAMPLE_RATE), SAMPLE_RATE)
    predicted = abs(freq - SAMPLE_RATE * round(freq / SAMPLE_RATE))
    print(f"tone {freq:>6} Hz -> heard at {measured:7.1f} Hz (folding predicts {predicted} Hz)")
    assert abs(measured - predicted) <= 1.0

# %% [markdown]
# The picture: the 10 kHz tone (grey) and a 6 kHz tone (blue, sign flipped) pass through
# exactly the same samples (dots). From the samples alone nobody can tell them apart.
# That is why every recorder low-pass filters *before* sampling.

# %%
fine_t = torch.linspace(0, 1e-3, 500)                    # 1 ms, "continuous"
sample_t = torch.arange(17) / SAMPLE_RATE                # the 16 kHz sampling instants
fig, ax = plt.subplots(figsize=(7, 2.2))
ax.plot(fine_t * 1e3, torch.sin(2 * math.pi * 10_000 * fine_t), color="0.7", label="10 kHz")
ax.plot(fine_t * 1e3, -torch.sin(2 * math.pi * 6_000 * fine_t), color="C0", label="6 kHz alias")
ax.plot(sample_t * 1e3, torch.sin(2 * math.pi * 10_000 * sample_t), "ko", ms=4, label="samples")
ax.set_xlabel("time (ms)")
ax.legend(loc="upper right", fontsize=7)
plt.show()

# %% [markdown]
# ## 2. A speech-like test signal
#
# We need something to look at and listen to that is made offline and is the same on
# every run. Speech has three kinds of sound, and our signal has one of each:
# - a **vowel**: a buzz at pitch $f_0 \approx 120$ Hz (with vibrato) whose harmonics
#   $k f_0$ are shaped by three resonances of the vocal tract, the *formants*
#   (730, 1090, 2440 Hz: an "ah");
# - a **glide**: a chirp sweeping from 400 Hz to 3.6 kHz;
# - a **fricative**: a burst of high-frequency noise, like "s".

# %%
def fade(n: int, sample_rate: int, seconds: float = 0.01) -> torch.Tensor:
    """(n,) envelope rising from 0 to 1 and back over `seconds` at each end (no clicks)."""
    ramp = torch.linspace(0, 1, int(seconds * sample_rate))
    envelope = torch.ones(n)
    envelope[: len(ramp)], envelope[n - len(ramp):] = ramp, ramp.flip(0)
    return envelope


def vowel(seconds: float, sample_rate: int) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 120 + 30 * t + 4 * torch.sin(2 * math.pi * 5.5 * t)        # rising pitch, vibrato
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    formants = [(730, 90, 1.0), (1090, 110, 0.5), (2440, 160, 0.25)]  # (centre Hz, width Hz, gain)
    wave = torch.zeros_like(t)
    for k in range(1, 66):
        freq = k * f0                                                 # k-th harmonic, (T,)
        gain = 0.01 + sum(g * torch.exp(-0.5 * ((freq - fc) / bw) ** 2) for fc, bw, g in formants)
        wave += gain * torch.sin(k * phase) * (freq < sample_rate / 2)
    return wave / wave.abs().max() * fade(len(t), sample_rate, 0.03)


def chirp(seconds: float, sample_rate: int, f_start: float = 400,
          f_end: float = 3600) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    rate = (f_end - f_start) / seconds                                # Hz per second
    return torch.sin(2 * math.pi * (f_start * t + 0.5 * rate * t**2)) * fade(len(t), sample_rate)


def hiss(seconds: float, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(int(seconds * sample_rate) + 1, generator=generator)
    high = torch.diff(noise)                  # x[n] - x[n-1]: boosts high frequencies
    return high / high.abs().max() * fade(len(high), sample_rate)


def speech_like(sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """Vowel, glide and fricative with short pauses: (T,), about 1.6 s."""
    pause = torch.zeros(int(0.05 * sample_rate))
    parts = [vowel(0.8, sample_rate), 0.4 * chirp(0.35, sample_rate),
             0.3 * hiss(0.25, sample_rate, generator)]
    return torch.cat([pause, parts[0], pause, parts[1], pause, parts[2], pause])


speech = speech_like(SAMPLE_RATE, generator)
print("speech:", tuple(speech.shape), f"= {len(speech) / SAMPLE_RATE:.2f} s at {SAMPLE_RATE} Hz")
play_audio(speech, SAMPLE_RATE)

# %% [markdown]
# ## 3. The STFT, step by step
#
# ![The front end built today: the waveform (25600 samples) is cut into 201 frames of 512 samples, each tapered by a Hann window; the real FFT and squared magnitude give a (257, 201) power spectrogram; a fixed (80, 257) mel filterbank turns it into an (80, 201) mel spectrogram; a log gives the log-mel](figures/day01_stft_to_logmel.svg)
#
# The figure is today's pipeline with the shapes this lesson prints, drawn from a sound
# built like ours: 25,600 samples become 201 overlapping frames of 512 samples (one
# every 128 samples), each tapered by a Hann window; a real FFT per frame and a squared
# magnitude give the `(257, 201)` power spectrogram; the mel filterbank, a fixed
# `(80, 257)` matrix (grey: computed, never trained), pools the 257 bins into 80 bands;
# a logarithm makes quiet parts visible (compare the two pictures on the right). The
# yellow box is Whisper's variant of the same chain (section 5). We build it left to
# right.
#
# A spectrum of the whole clip would say *which* frequencies occur but not *when*. The
# STFT cuts the wave into short overlapping frames and takes the spectrum of each:
#
# $$X[k, m] = \sum_{n=0}^{N-1} w[n]\, x[mH + n]\, e^{-2\pi i k n / N}, \qquad k = 0, \dots, N/2$$
#
# with frame length $N$ (`n_fft`), hop $H$ (`hop_length`) and a window $w$. Bin $k$ is the
# frequency $k f_s / N$; frame $m$ is the time $m H / f_s$.
#
# **Step 1: framing.** Pad $N/2$ samples on each side (mirror images of the signal,
# "reflect" padding) so that frame $m$ is *centred* on sample $mH$, then cut frames with
# `unfold`, which makes a strided view (no copy).

# %%
pad = N_FFT // 2
padded = F.pad(speech[None, None], (pad, pad), mode="reflect")[0, 0]   # (T + N,)
frames = padded.unfold(0, N_FFT, HOP_LENGTH)                            # (frames, N)
print("frames:", tuple(frames.shape), " expected:", (1 + len(speech) // HOP_LENGTH, N_FFT))

# %% [markdown]
# **Step 2: the window.** Cutting a frame out abruptly makes its edges jump, and the
# jump spreads energy over all frequencies ("spectral leakage"). A Hann window
# $w[n] = \tfrac12 - \tfrac12\cos(2\pi n / N)$ tapers each frame to zero at both ends. It
# is *periodic* (divide by $N$, not $N-1$): copies shifted by $N/4$ then sum to a constant,
# which the inverse STFT relies on. The test below: a loud 1010 Hz tone plus a tone
# 60 dB quieter at 2500 Hz. Without a window (rectangular) the leakage of the loud tone
# buries the quiet one; with Hann it stands out.

# %%
window = dsp.hann_window(N_FFT)
t = torch.arange(N_FFT) / SAMPLE_RATE
two_tones = torch.sin(2 * math.pi * 1010 * t) + 1e-3 * torch.sin(2 * math.pi * 2500 * t)
freqs = torch.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT
fig, (ax_w, ax_s) = plt.subplots(1, 2, figsize=(8, 2.3))
ax_w.plot(two_tones, color="0.7", label="frame")
ax_w.plot(two_tones * window, color="C0", label="frame x Hann")
ax_w.set_xlabel("sample in frame")
ax_w.legend(fontsize=7, loc="lower right")
for x, color, label in [(two_tones, "0.7", "rectangular"), (two_tones * window, "C0", "Hann")]:
    ax_s.plot(freqs, dsp.amplitude_to_db(torch.fft.rfft(x), top_db=110), color=color, label=label)
ax_s.axvline(2500, color="C1", lw=0.8, ls=":")
ax_s.set_xlabel("frequency (Hz)")
ax_s.set_ylabel("dB")
ax_s.legend(fontsize=7)
plt.show()

# %% [markdown]
# **Step 3: the real FFT.** For a real signal the spectrum is symmetric, so `rfft`
# returns only the $N/2 + 1$ non-negative frequencies. We put frequency first,
# `(F, frames)`, the convention of librosa, torch and Whisper.

# %%
spectrum = torch.fft.rfft(frames * window, dim=-1).T                    # (F, frames)
print("spectrum:", tuple(spectrum.shape), spectrum.dtype)

# %% [markdown]
# `course_lib.audio.dsp.stft` is exactly these three steps. We compare it, and our
# step-by-step version, with `librosa.stft` and `torch.stft` on the same input.

# %%
ours = dsp.stft(speech, N_FFT, HOP_LENGTH)
reference = torch.from_numpy(librosa.stft(speech.numpy(), n_fft=N_FFT, hop_length=HOP_LENGTH,
                                          pad_mode="reflect"))
torch_ref = torch.stft(speech, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT),
                       return_complex=True)
stft_diff = (ours - reference).abs().max().item()
print(f"largest |X|                  : {reference.abs().max():.2f}")
print(f"max |step-by-step - library| : {(spectrum - ours).abs().max():.2e}")
print(f"max |library - librosa|      : {stft_diff:.2e}")
print(f"max |library - torch.stft|   : {(ours - torch_ref).abs().max():.2e}")
assert stft_diff < 1e-4 * reference.abs().max(), "STFT should match librosa to float32 rounding"

# %% [markdown]
# A spectrogram is $|X|$ in decibels, $20 \log_{10} |X|$. The frame length sets a
# trade-off: long frames resolve frequency (the vowel's harmonics separate) but blur time
# (the chirp smears); short frames do the opposite.

# %%
def spectrogram_db(wave: torch.Tensor, n_fft: int = N_FFT,
                   hop_length: int = HOP_LENGTH) -> torch.Tensor:
    """(F, frames) magnitude in dB for plots: 0 dB at the peak, 60 dB of range."""
    return dsp.amplitude_to_db(dsp.stft(wave, n_fft, hop_length).abs(), ref="max", top_db=60)


fig, axes = plt.subplots(1, 2, figsize=(9, 2.5))
for ax, n_fft in zip(axes, [128, 1024]):
    plot_spectrogram(spectrogram_db(speech, n_fft, n_fft // 4), SAMPLE_RATE, n_fft // 4,
                     title=f"n_fft = {n_fft} ({n_fft / 16:.0f} ms)", ax=ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# Try it yourself: the sliders pick the frame length `n_fft` and the hop. A frame of
# $N$ samples lasts $N / f_s$ seconds and its bins are $f_s / N$ Hz apart, so their
# product is always 1: halving one doubles the other. That is the time/frequency
# trade-off. At 128 samples (8 ms) the bins are 125 Hz apart and the Hann window spreads
# each harmonic over about 4 bins (500 Hz), far more than the vowel's harmonic spacing
# (120–150 Hz), so the harmonics merge into bands (and the vowel shows vertical stripes
# instead: its individual pitch pulses, 7–8 ms apart); at 2048 samples (128 ms) the
# harmonics separate, but the chirp smears over several frames. The hop changes
# only how often we look: the number of frames is $1 + T / H$ and the picture gets
# denser, not sharper. (The spectrograms are precomputed for every pair, so the
# sliders respond at once; the plot shows 0–4 kHz, where the harmonics are.)

# %%
N_FFTS, HOPS = [128, 256, 512, 1024, 2048], [32, 64, 128, 256, 512]
stft_grid = {(n, h): spectrogram_db(speech, n, h) for n in N_FFTS for h in HOPS}   # 25 STFTs


def show_stft(n_fft=N_FFT, hop_length=HOP_LENGTH):
    spec = stft_grid[(n_fft, hop_length)]
    seconds, top_khz = spec.shape[1] * hop_length / SAMPLE_RATE, SAMPLE_RATE / 2000
    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.imshow(spec, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
              extent=[0, seconds, 0, top_khz])
    ax.set(ylim=(0, 4), xlabel="time (s)", ylabel="frequency (kHz)",
           title=f"frames of {1000 * n_fft / SAMPLE_RATE:.0f} ms, bins {SAMPLE_RATE / n_fft:.1f} Hz apart, "
                 f"one frame every {1000 * hop_length / SAMPLE_RATE:.0f} ms")
    plt.show()
    print(f"n_fft = {n_fft}, hop_length = {hop_length}: spectrogram (F, frames) = {tuple(spec.shape)}"
          f" = ({n_fft} // 2 + 1, 1 + {len(speech)} // {hop_length})")
    assert spec.shape == (n_fft // 2 + 1, 1 + len(speech) // hop_length)


widgets.interact(show_stft, n_fft=widgets.SelectionSlider(options=N_FFTS, value=N_FFT, description="n_fft"),
                 hop_length=widgets.SelectionSlider(options=HOPS, value=HOP_LENGTH, description="hop_length"));

# %% [markdown]
# Back to aliasing, now visible: a sweep from 0 to 16 kHz sampled at 16 kHz rises to the
# Nyquist frequency (8 kHz) and then *falls*, reflected. Listen: the pitch goes up, then down.

# %%
sweep = chirp(1.0, SAMPLE_RATE, f_start=0, f_end=16_000)
ax = plot_spectrogram(spectrogram_db(sweep), SAMPLE_RATE, HOP_LENGTH,
                      title="0 -> 16 kHz sweep sampled at 16 kHz")
display(ax.figure)
play_audio(0.3 * sweep, SAMPLE_RATE, normalize=False)

# %% [markdown]
# ## 4. The mel scale and the mel filterbank
#
# Pitch perception is roughly linear up to about 1 kHz and logarithmic above: there,
# equal *ratios* sound like equal steps, so 1 to 2 kHz is about as big a step as 4 to
# 8 kHz, although the second spans four times more hertz. The **mel scale** models this
# (in Slaney's mel, printed below, both octaves are 10.08 mel, while 250 to 500 Hz, in
# the linear part, is 3.75). Slaney's version (librosa's default, used by Whisper) is
# exactly linear below 1 kHz and logarithmic above, continuous at 1 kHz = 15 mel:
#
# $$m(f) = \begin{cases} f / (200/3) & f < 1000 \\
#   15 + \dfrac{\ln(f / 1000)}{\ln(6.4)/27} & f \ge 1000 \end{cases}$$
#
# The HTK formula $2595 \log_{10}(1 + f/700)$ (used by e.g. HTK and Kaldi) is a smooth
# cousin with different units. The two are not interchangeable: features computed with
# one do not fit a model trained on the other.

# %%
hz = torch.linspace(0, SAMPLE_RATE / 2, 400)
htk = 2595 * torch.log10(1 + hz / 700)
fig, ax = plt.subplots(figsize=(5, 2.3))
ax.plot(hz, dsp.hz_to_mel(hz), label="Slaney (mel)")
ax.plot(hz, htk / htk[-1] * dsp.hz_to_mel(hz)[-1], "--", label="HTK (rescaled)")
ax.axvline(1000, color="0.8", lw=1)
ax.set_xlabel("frequency (Hz)")
ax.legend(fontsize=7)
plt.show()
octave_steps = {f"{a}-{b} Hz": float(dsp.hz_to_mel(b) - dsp.hz_to_mel(a))
                for a, b in [(250, 500), (1000, 2000), (4000, 8000)]}
print("Slaney mel steps:", {k: round(v, 2) for k, v in octave_steps.items()})

# %% [markdown]
# A **mel filterbank** pools the $N/2+1$ STFT bins into `n_mels` bands equally spaced in
# mel. Filter $i$ is a triangle rising from edge $f_i$ to $f_{i+1}$ and falling to
# $f_{i+2}$, where $f_0 < \dots < f_{n+1}$ are `n_mels + 2` points equally spaced in
# mel between `f_min` and `f_max`. Built step by step:

# %%
mel_max = float(dsp.hz_to_mel(SAMPLE_RATE / 2))
mel_edges = torch.linspace(0.0, mel_max, N_MELS + 2, dtype=torch.float64)   # (n_mels + 2,)
hz_edges = dsp.mel_to_hz(mel_edges)                                     # (n_mels + 2,)
fft_freqs = torch.arange(N_FFT // 2 + 1, dtype=torch.float64) * SAMPLE_RATE / N_FFT  # (F,)
lower, centre, upper = hz_edges[:-2, None], hz_edges[1:-1, None], hz_edges[2:, None]
rising = (fft_freqs - lower) / (centre - lower)                        # (n_mels, F)
falling = (upper - fft_freqs) / (upper - centre)
triangles = torch.minimum(rising, falling).clamp_min(0)
print("triangles:", tuple(triangles.shape), " edges (Hz):", hz_edges[:3].round().tolist(), "...",
      hz_edges[-2:].round().tolist())

# %% [markdown]
# High bands are wide, so they would collect more energy just for being wide. Slaney's
# **area normalisation** scales each triangle by $2 / (f_{i+2} - f_i)$ so that every
# filter has unit area. Then we compare with `dsp.mel_filterbank` and with
# `librosa.filters.mel`, the function that produced Whisper's stored filters.

# %%
bank = (triangles * 2 / (upper - lower)).float()
library_bank = dsp.mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS)
librosa_bank = torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS))
fb_diff = (library_bank - librosa_bank).abs().max().item()
print(f"max |step-by-step - library| : {(bank - library_bank).abs().max():.1e}")
print(f"max |library - librosa|      : {fb_diff:.1e}  (largest weight {librosa_bank.max():.3f})")
assert fb_diff < 1e-6

fig, (ax_raw, ax_norm) = plt.subplots(1, 2, figsize=(9, 2.3))
ax_raw.plot(fft_freqs, triangles[::4].T, lw=0.8)
ax_raw.set_title("triangles (every 4th)", fontsize=9)
ax_norm.plot(fft_freqs, bank[::4].T, lw=0.8)
ax_norm.set_title("area-normalised (Slaney)", fontsize=9)
for ax in (ax_raw, ax_norm):
    ax.set_xlabel("frequency (Hz)")
plt.show()

# %% [markdown]
# The **mel spectrogram** is the filterbank applied to the power spectrogram,
# $M = W\,|X|^2$: an `(n_mels, F) @ (F, frames)` matrix product. It has 80 rows instead
# of 257, 3.2 times fewer (printed below), and keeps what matters for speech: formants,
# pitch contour, noise bands.

# %%
mel = dsp.mel_spectrogram(speech, SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS)       # (n_mels, frames)
librosa_mel = torch.from_numpy(librosa.feature.melspectrogram(
    y=speech.numpy(), sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS,
    power=2.0, center=True, pad_mode="reflect"))
mel_rel_diff = ((mel - librosa_mel).abs().max() / librosa_mel.abs().max()).item()
print("mel:", tuple(mel.shape), f" max relative difference to librosa: {mel_rel_diff:.1e};",
      f"{spectrum.shape[0]} / {mel.shape[0]} = {spectrum.shape[0] / mel.shape[0]:.1f}x fewer rows than the STFT")
assert mel_rel_diff < 1e-4
mel_db = dsp.amplitude_to_db(mel.sqrt(), ref="max", top_db=60)
ax = plot_spectrogram(mel_db, SAMPLE_RATE, HOP_LENGTH, title="mel spectrogram (dB)",
                      ylabel="mel band")
display(ax.figure)

# %% [markdown]
# ## 5. Whisper's log-mel, exactly
#
# Whisper (day 12 builds a small one) reads 30-second chunks at 16 kHz as 80 mel bands
# every 10 ms. Its constants, kept at the top of `dsp` as in Whisper's own `audio.py`:

# %%
print(f"SAMPLE_RATE={dsp.SAMPLE_RATE}  N_FFT={dsp.N_FFT} (25 ms)  "
      f"HOP_LENGTH={dsp.HOP_LENGTH} (10 ms)  N_MELS={dsp.N_MELS}")
print(f"N_SAMPLES={dsp.N_SAMPLES} (30 s)  N_FRAMES={dsp.N_FRAMES}")

# %% [markdown]
# The recipe, each step on our signal:
# 1. STFT with a 400-sample periodic Hann window, hop 160, reflect padding; drop the
#    last frame (so that 30 s gives exactly 3000 frames);
# 2. power $|X|^2$, then the Slaney mel filterbank (librosa's, 16 kHz, n_fft 400);
# 3. $\log_{10}$, after clamping at $10^{-10}$ so that silence gives $-10$, not $-\infty$;
# 4. floor at (maximum $- 8$): keep 8 decades (80 dB) below the loudest value, so quiet
#    background noise does not dominate;
# 5. $(x + 4) / 4$: roughly into $[-1, 1]$.

# %%
spec = dsp.stft(speech, dsp.N_FFT, dsp.HOP_LENGTH)[:, :-1]               # (201, frames)
power = spec.abs() ** 2
whisper_mel = dsp.mel_filterbank(dsp.SAMPLE_RATE, dsp.N_FFT, dsp.N_MELS) @ power   # (80, frames)
log_spec = whisper_mel.clamp_min(1e-10).log10()
log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
features = (log_spec + 4.0) / 4.0
print("features:", tuple(features.shape), f" range [{features.min():.2f}, {features.max():.2f}]",
      f" frames = {len(speech)} // 160 = {len(speech) // 160}")

library_features = dsp.log_mel_whisper(speech)
print(f"max |step-by-step - dsp.log_mel_whisper| : {(features - library_features).abs().max():.1e}")

# The same recipe from librosa's pieces: an independent check of the whole chain.
np_spec = librosa.stft(speech.numpy(), n_fft=400, hop_length=160, pad_mode="reflect")[:, :-1]
np_mel = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) @ np.abs(np_spec) ** 2
np_log = torch.from_numpy(np_mel).clamp_min(1e-10).log10()
np_features = (torch.maximum(np_log, np_log.max() - 8.0) + 4.0) / 4.0
whisper_diff = (library_features - np_features).abs().max().item()
print(f"max |dsp.log_mel_whisper - librosa recipe| : {whisper_diff:.1e}")
assert whisper_diff < 1e-4
ax = plot_spectrogram(library_features, dsp.SAMPLE_RATE, dsp.HOP_LENGTH,
                      title="Whisper log-mel features", ylabel="mel band")
display(ax.figure)

# %% [markdown]
# Silence is the edge case the clamp exists for: all zeros gives $\log_{10}(10^{-10}) =
# -10$ everywhere, hence $(-10 + 4)/4 = -1.5$, a finite number the model can read.

# %%
silence = dsp.log_mel_whisper(torch.zeros(dsp.SAMPLE_RATE))
print("silence:", tuple(silence.shape), "values:", silence.unique().tolist())

# %% [markdown]
# ## 6. From a spectrogram back to sound: Griffin-Lim
#
# A TTS model (days 10 and 11) predicts a magnitude spectrogram $|S|$; the phase is
# lost. Random phases give a wave whose spectrogram is **inconsistent**: overlapping
# frames disagree, and the STFT of that wave is not $|S|$. Listen to how rough it sounds.
#
# **Griffin-Lim** (1984) alternates two projections: impose the target magnitude, then
# go to the time domain and back (STFT of ISTFT), which lands on the nearest
# *consistent* spectrogram. Keep its phase, repeat:
#
# $$C_n = \mathrm{STFT}\big(\mathrm{ISTFT}(|S|\, e^{i\varphi_n})\big), \qquad
#   e^{i\varphi_{n+1}} = C_n / |C_n|.$$
#
# We measure progress with the **spectral convergence**
# $\lVert |S| - |C_n| \rVert_F / \lVert S \rVert_F$ (0 is perfect).
#
# The inverse STFT, `dsp.istft`, overlap-adds the windowed inverse FFTs and divides by the
# summed squared window; first check that it inverts `dsp.stft` exactly.

# %%
magnitude = dsp.stft(speech, N_FFT, HOP_LENGTH).abs().to(DEVICE)                 # (F, frames)
round_trip = dsp.istft(dsp.stft(speech, N_FFT, HOP_LENGTH), N_FFT, HOP_LENGTH, length=len(speech))
print(f"max |istft(stft(x)) - x| = {(round_trip - speech).abs().max():.1e}")

phase = 2 * math.pi * torch.rand(magnitude.shape, generator=seed_everything(0))
angles = torch.polar(torch.ones_like(phase), phase).to(DEVICE)     # random unit phasors
random_phase_wave = dsp.istft(magnitude * angles, N_FFT, HOP_LENGTH, length=len(speech))
random_sc = dsp.spectral_convergence(
    magnitude, dsp.stft(random_phase_wave, N_FFT, HOP_LENGTH).abs()).item()
print(f"spectral convergence with random phases: {random_sc:.3f}")
play_audio(random_phase_wave.cpu(), SAMPLE_RATE)

# %% [markdown]
# Plain Griffin-Lim is this loop around `dsp.griffin_lim_step` (one projection, shown
# with a progress bar):

# %%
plain_history = [random_sc]
for _ in tqdm(range(GL_ITERS), desc="plain Griffin-Lim"):
    angles = dsp.griffin_lim_step(magnitude, angles, N_FFT, HOP_LENGTH, length=len(speech))
    estimate = dsp.istft(magnitude * angles, N_FFT, HOP_LENGTH, length=len(speech))
    plain_history.append(dsp.spectral_convergence(
        magnitude, dsp.stft(estimate, N_FFT, HOP_LENGTH).abs()).item())
print(f"plain Griffin-Lim after {GL_ITERS} iterations: {plain_history[-1]:.3f}")

# The library's loop, run with momentum 0 from the same seed, is the same algorithm.
library_plain = dsp.griffin_lim(magnitude, N_FFT, HOP_LENGTH, n_iter=GL_ITERS, momentum=0.0,
                                generator=seed_everything(0), length=len(speech))
loop_diff = (library_plain - estimate).abs().max()
print(f"max |our loop - dsp.griffin_lim(momentum=0)| = {loop_diff:.1e}")

# %% [markdown]
# **Fast Griffin-Lim** (Perraudin et al., 2013, librosa's default) adds momentum: it
# steps past the projection, $T_n = C_n - \frac{\alpha}{1+\alpha} C_{n-1}$, and keeps the
# phase of $T_n$, with $\alpha = 0.99$. Same cost per iteration, much faster convergence:

# %%
reconstruction, fast_history = dsp.griffin_lim(
    magnitude, N_FFT, HOP_LENGTH, n_iter=GL_ITERS, momentum=0.99,
    generator=seed_everything(0), length=len(speech), return_history=True)
fast_sc = fast_history[-1].item()
print(f"fast Griffin-Lim after {GL_ITERS} iterations: {fast_sc:.3f}")

fig, ax = plt.subplots(figsize=(5, 2.5))
ax.plot(plain_history, label="plain (momentum 0)")
ax.plot(fast_history.cpu(), label="fast (momentum 0.99)")
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("spectral convergence")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# Listen to the reconstruction from the magnitude alone and compare it with the original
# in section 2: they sound nearly the same, with a faint "phasiness" that neural vocoders
# remove. Yet the waveforms differ: 20 ms of the vowel below. The magnitude fixes which
# harmonics sound and how loud, not how they line up in time, and the ear barely cares.

# %%
display(play_audio(reconstruction.cpu(), SAMPLE_RATE))
window_20ms = slice(int(0.4 * SAMPLE_RATE), int(0.42 * SAMPLE_RATE))
fig, ax = plt.subplots(figsize=(7, 2.2))
ax.plot(speech[window_20ms], label="original")
ax.plot(reconstruction.cpu()[window_20ms], label="Griffin-Lim")
ax.set_xlabel("sample")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## 7. Measure it
#
# The numbers this lesson claims, asserted so that a regression fails CI and not a reader.
# Measured on a 2-core CPU at these settings: fast Griffin-Lim reaches a spectral
# convergence of 0.049 after 64 iterations (plain: 0.120; random phases: 0.634); the
# threshold below leaves a margin.

# %%
print(f"STFT vs librosa, max abs difference          : {stft_diff:.1e}")
print(f"mel filterbank vs librosa, max abs difference: {fb_diff:.1e}")
print(f"mel spectrogram vs librosa, max relative diff: {mel_rel_diff:.1e}")
print(f"Whisper log-mel vs librosa recipe, max diff  : {whisper_diff:.1e}")
print(f"spectral convergence: random {random_sc:.3f}, plain GL {plain_history[-1]:.3f}, "
      f"fast GL {fast_sc:.3f}")
assert stft_diff < 1e-4 * reference.abs().max() and fb_diff < 1e-6
assert mel_rel_diff < 1e-4 and whisper_diff < 1e-4
assert fast_sc < 0.08, f"fast Griffin-Lim should reach < 0.08; got {fast_sc:.3f}"
assert fast_sc < plain_history[-1] < random_sc, "momentum should beat plain GL, plain beat random"

# %% [markdown]
# ## In production
#
# - **Whisper's front end** ([Radford et al., 2022](https://arxiv.org/abs/2212.04356)) is
#   exactly section 5: OpenAI's
#   [`whisper/audio.py`](https://github.com/openai/whisper/blob/main/whisper/audio.py)
#   ships the mel filters as `mel_filters.npz` (made with `librosa.filters.mel`) and
#   computes the STFT with `torch.stft`. Feeding it features with another mel scale, the
#   natural log, or 22.05 kHz audio silently degrades recognition; the model does not
#   complain. Resampling to 16 kHz is the step most often forgotten
#   (`course_lib.audio.io.resample`).
# - **Other front ends** differ in small ways that matter: Tacotron 2
#   ([Shen et al., 2017](https://arxiv.org/abs/1712.05884)) and HiFi-GAN use 22.05 kHz,
#   n_fft 1024, hop 256, 80 mels up to 8 kHz and a natural-log magnitude; Kaldi-style
#   features (wav2vec-era ASR) use the HTK mel scale and a Povey window.
#   [`torchaudio.transforms.MelSpectrogram`](https://pytorch.org/audio/stable/generated/torchaudio.transforms.MelSpectrogram.html)
#   defaults to the HTK scale without area normalisation, and
#   [`librosa.feature.melspectrogram`](https://librosa.org/doc/latest/generated/librosa.feature.melspectrogram.html)
#   to Slaney's with it. A vocoder only works on the exact features it was trained on.
# - **Vocoders replaced Griffin-Lim.** Tacotron (2017) used Griffin-Lim and sounded
#   metallic; WaveNet, WaveRNN, then GAN vocoders (MelGAN,
#   [HiFi-GAN](https://arxiv.org/abs/2010.05646), BigVGAN,
#   [Vocos](https://arxiv.org/abs/2306.00814)) generate the wave from a mel spectrogram
#   directly, faster than real time. Griffin-Lim survives as a baseline and a debugging
#   tool: if Griffin-Lim of your features is intelligible, the features carry the content.
# - **Neural codecs** (SoundStream, [EnCodec](https://arxiv.org/abs/2210.13438), DAC)
#   skip the spectrogram as the model's interface: an encoder turns the wave into
#   discrete tokens at 50–90 frames per second (EnCodec at 24 kHz: 75) and a decoder
#   turns them back, which lets a language model generate audio (MusicGen, VALL-E). Their
#   training losses still compare multi-resolution mel spectrograms.
# - **Failure modes** to watch for: clipping and DC offset in real recordings, sample
#   rate mismatches, stereo/mono confusion, padding conventions (librosa's default
#   `pad_mode` is "constant", torch's and Whisper's "reflect"), and off-by-one frame
#   counts (Whisper drops the last frame).
#
# The same front end from the production libraries (not run here: the course is offline
# and does not install `openai-whisper`):
#
# ```python
# import librosa
# import torchaudio
# import whisper                                   # pip install openai-whisper
#
# audio = whisper.load_audio("speech.wav")         # ffmpeg: any file -> 16 kHz mono float32
# audio = whisper.pad_or_trim(audio)               # exactly 30 s = 480,000 samples
# features = whisper.log_mel_spectrogram(audio)    # (80, 3000): section 5's recipe
#
# y, sr = librosa.load("speech.wav", sr=16000)
# mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=512, hop_length=128, n_mels=80)
# wave = librosa.feature.inverse.mel_to_audio(mel, sr=sr, n_fft=512, hop_length=128)  # Griffin-Lim
#
# to_mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=128,
#                                               n_mels=80, norm="slaney", mel_scale="slaney")
# ```

# %% [markdown]
# ## Summary
#
# - Sampling at $f_s$ keeps frequencies up to $f_s/2$; higher ones fold back (aliasing).
# - The STFT = reflect-pad, frame (`unfold`), periodic Hann window, `rfft`: shape
#   `(n_fft // 2 + 1, 1 + T // hop)`. Ours matches librosa and torch to float rounding.
# - The Slaney mel filterbank: triangles equally spaced in mel, area-normalised;
#   equal to `librosa.filters.mel` to $10^{-9}$. Mel spectrogram $= W |X|^2$.
# - Whisper's features: STFT (400, 160), drop the last frame, power, mel, $\log_{10}$
#   with a $10^{-10}$ clamp, floor at max $- 8$, $(x+4)/4$; 30 s -> `(80, 3000)`.
# - Griffin-Lim recovers a consistent phase from a magnitude; momentum makes it converge
#   much faster (spectral convergence 0.049 vs 0.120 after 64 iterations here).
#
# Everything is in `course_lib.audio.dsp` (and `course_lib.audio.io` for files and
# resampling); days 09-17 import it.
#
# **Exercises:** [../exercises/day01_audio.ipynb](../exercises/day01_audio.ipynb): write
# the Slaney mel scale, the mel filterbank, Whisper's log normalisation and one
# Griffin-Lim step yourself; the check cells tell you what is off.
