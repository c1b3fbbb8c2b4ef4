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
# # Day 01 exercises: Audio as data
#
# Four functions from the lesson ([../notebooks/day01_audio.ipynb](../notebooks/day01_audio.ipynb)),
# written by you this time, and one experiment:
#
# 1. the Slaney mel scale, `hz_to_mel` and `mel_to_hz`;
# 2. the Slaney mel filterbank, `mel_filterbank`;
# 3. Whisper's log normalisation, `whisper_normalize`;
# 4. one Griffin-Lim iteration, `griffin_lim_step`;
# 5. an experiment: which frame length separates two close tones, and which two close
#    clicks?
#
# Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code, then run
# the check cell below it. A check compares your function with `course_lib.audio.dsp` or
# librosa on fixed inputs, and its message says what looks wrong. `course check day01`
# runs all checks and prints one line per check.
#
# **Run time:** a few seconds on a 2-core CPU.

# %%
import math

import librosa
import torch

from course_lib.audio import dsp
from course_lib.runtime import seed_everything

seed_everything(0)

# %% [markdown]
# ## Exercise 1: the Slaney mel scale
#
# Whisper, Tacotron 2 and librosa's defaults all use Slaney's mel scale: linear below
# 1 kHz, logarithmic above, with 1000 Hz = 15 mel:
#
# $$m(f) = \begin{cases} f / (200/3) & f < 1000 \\
#   15 + \dfrac{\ln(f / 1000)}{\ln(6.4)/27} & f \ge 1000 \end{cases}$$
#
# Write `hz_to_mel` and its inverse `mel_to_hz`. Both take a float tensor of any shape
# and return a float64 tensor of the same shape. Hint: compute both branches on the whole
# tensor and pick with `torch.where`.

# %%
def hz_to_mel(freq: torch.Tensor) -> torch.Tensor:
    """Slaney mel scale, elementwise. freq: Hz, any shape -> mel, same shape (float64)."""
    ### BEGIN SOLUTION
    freq = freq.to(torch.float64)
    linear = freq / (200.0 / 3.0)
    log = 15.0 + torch.log(freq.clamp_min(1000.0) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(freq >= 1000.0, log, linear)
    ### END SOLUTION


def mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    """Inverse of hz_to_mel, elementwise. mels: any shape -> Hz, same shape (float64)."""
    ### BEGIN SOLUTION
    mels = mels.to(torch.float64)
    linear = mels * (200.0 / 3.0)
    log = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mels - 15.0))
    return torch.where(mels >= 15.0, log, linear)
    ### END SOLUTION


# %% tags=["check"]
# Check: hz_to_mel and mel_to_hz follow Slaney's mel scale
freqs = torch.tensor([[0.0, 200.0, 999.0], [1000.0, 2500.0, 8000.0]], dtype=torch.float64)
mels = hz_to_mel(freqs)
assert isinstance(mels, torch.Tensor) and mels.shape == freqs.shape, \
    f"hz_to_mel must return a tensor shaped like its input {tuple(freqs.shape)}"
htk = 2595.0 * torch.log10(1.0 + freqs / 700.0)
assert not torch.allclose(mels.double(), htk, rtol=1e-3), \
    "that is the HTK formula 2595 log10(1 + f/700); use Slaney's (linear below 1 kHz)"
assert abs(float(hz_to_mel(torch.tensor([1000.0]))) - 15.0) < 1e-9, "1000 Hz must be exactly 15 mel"
expected = torch.from_numpy(librosa.hz_to_mel(freqs.numpy()))
assert torch.allclose(mels[0].double(), expected[0], rtol=1e-9), (
    f"below 1 kHz the scale is linear, f / (200/3): for {freqs[0].tolist()} Hz expected "
    f"{expected[0].tolist()}, got {mels[0].tolist()}")
assert torch.allclose(mels.double(), expected, rtol=1e-9), (
    f"above 1 kHz use 15 + ln(f/1000) / (ln(6.4)/27): for {freqs[1].tolist()} Hz expected "
    f"{expected[1].tolist()}, got {mels[1].tolist()}")
back = mel_to_hz(torch.from_numpy(librosa.hz_to_mel(freqs.numpy())))
assert isinstance(back, torch.Tensor) and back.shape == freqs.shape, \
    "mel_to_hz must return a tensor shaped like its input"
assert torch.allclose(back.double(), freqs, rtol=1e-9, atol=1e-9), \
    f"mel_to_hz must invert hz_to_mel: expected {freqs.tolist()}, got {back.tolist()}"
print("hz_to_mel / mel_to_hz: correct")

# %% [markdown]
# ## Exercise 2: the mel filterbank
#
# Write `mel_filterbank(sample_rate, n_fft, n_mels)`: the `(n_mels, n_fft // 2 + 1)`
# matrix $W$ that turns a power spectrogram `(F, frames)` into a mel spectrogram
# `W @ power`, covering 0 Hz to `sample_rate / 2`.
#
# 1. The FFT bin frequencies: bin $k$ is $k \cdot$ `sample_rate / n_fft` Hz.
# 2. `n_mels + 2` edges equally spaced **in mel** from `hz_to_mel(0)` to
#    `hz_to_mel(sample_rate / 2)`, converted back to Hz: $f_0 < f_1 < \dots < f_{n+1}$.
# 3. Filter $i$ (row $i$) is a triangle: 0 below $f_i$, rising to 1 at $f_{i+1}$, falling
#    to 0 at $f_{i+2}$: $\max\big(0, \min\big(\frac{f - f_i}{f_{i+1} - f_i},
#    \frac{f_{i+2} - f}{f_{i+2} - f_{i+1}}\big)\big)$.
# 4. Slaney normalisation: multiply row $i$ by $2 / (f_{i+2} - f_i)$ so each triangle has
#    unit area.
#
# It must equal `librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)` to
# $10^{-6}$. Work in float64; use your functions from exercise 1.

# %%
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """Slaney-normalised triangular mel filters, (n_mels, n_fft // 2 + 1)."""
    ### BEGIN SOLUTION
    fft_freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    top = float(hz_to_mel(torch.tensor(sample_rate / 2.0)))
    edges = mel_to_hz(torch.linspace(0.0, top, n_mels + 2, dtype=torch.float64))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_freqs - lower) / (centre - lower)
    falling = (upper - fft_freqs) / (upper - centre)
    triangles = torch.minimum(rising, falling).clamp_min(0.0)
    return triangles * (2.0 / (upper - lower))
    ### END SOLUTION


# %% tags=["check"]
# Check: mel_filterbank matches librosa's Slaney filterbank
bank = mel_filterbank(16000, 400, 80)
assert isinstance(bank, torch.Tensor), f"return a torch.Tensor; got {type(bank).__name__}"
assert tuple(bank.shape) != (201, 80), \
    "got (201, 80) = (F, n_mels): return (n_mels, F), one filter per row (is it transposed?)"
assert tuple(bank.shape) == (80, 201), \
    f"expected (n_mels, n_fft // 2 + 1) = (80, 201); got {tuple(bank.shape)}"
bank = bank.double()
for htk_scale in (False, True):
    unnormalised = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80, htk=htk_scale, norm=None)
    assert not torch.allclose(bank, torch.from_numpy(unnormalised).double(), atol=1e-6), \
        "the triangles are not area-normalised: multiply row i by 2 / (f[i+2] - f[i])"
htk = torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=400, n_mels=80, htk=True)).double()
assert not torch.allclose(bank, htk, atol=1e-6), \
    "these are HTK-scale filters (2595 log10(1 + f/700)): space the edges with Slaney's scale"
for sr, n_fft, n_mels in [(16000, 400, 80), (22050, 1024, 64)]:
    ours = mel_filterbank(sr, n_fft, n_mels).double()
    reference = torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)).double()
    setting = f"sample_rate={sr}, n_fft={n_fft}, n_mels={n_mels}"
    assert ours.shape == reference.shape, \
        f"{setting}: shape {tuple(ours.shape)}, expected {tuple(reference.shape)}"
    err = (ours - reference).abs().max().item()
    assert err < 1e-6, (f"{setting}: max difference to librosa {err:.2e} (edges equally spaced "
                        "in mel from 0 to sample_rate / 2? bin k at k * sample_rate / n_fft?)")
    assert torch.allclose(ours, dsp.mel_filterbank(sr, n_fft, n_mels).double(), atol=1e-6), \
        f"{setting}: differs from course_lib.audio.dsp.mel_filterbank"
print("mel_filterbank: matches librosa.filters.mel and course_lib")

# %% [markdown]
# ## Exercise 3: Whisper's log normalisation
#
# Whisper turns a mel power spectrogram $M$ (`(n_mels, frames)`, already with the last
# STFT frame dropped) into its input features in three steps:
#
# 1. clamp at $10^{-10}$ and take $\log_{10}$ (base 10, not the natural log);
# 2. floor every value at $\max(L) - 8$, where the max is over the **whole** spectrogram;
# 3. return $(L + 4) / 4$.
#
# Write `whisper_normalize(mel_power)`. The check feeds it
# `dsp.mel_spectrogram(wave, 16000, 400, 160, 80)[..., :-1]` and compares with
# `dsp.log_mel_whisper(wave)`, and also feeds it pure silence (all zeros).

# %%
def whisper_normalize(mel_power: torch.Tensor) -> torch.Tensor:
    """Whisper's log compression. mel_power: (n_mels, frames) >= 0 -> (n_mels, frames)."""
    ### BEGIN SOLUTION
    log_spec = mel_power.clamp_min(1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0
    ### END SOLUTION


# %% tags=["check"]
# Check: whisper_normalize reproduces Whisper's log-mel features
silence = whisper_normalize(torch.zeros(80, 100))
assert isinstance(silence, torch.Tensor) and silence.shape == (80, 100), \
    "whisper_normalize must return a tensor shaped like its input (n_mels, frames)"
assert torch.isfinite(silence).all(), \
    "silence gives -inf or NaN: clamp the power at 1e-10 before the log"
assert torch.allclose(silence, torch.full_like(silence, -1.5)), (
    "silence should give (log10(1e-10) + 4) / 4 = -1.5 everywhere; got "
    f"{silence.unique()[:3].tolist()} (the natural log gives -4.76; no (x + 4) / 4 gives -10)")
t = torch.arange(8000) / 16000
loud_then_quiet = torch.cat([torch.sin(2 * math.pi * 440 * t),                          # 0.5 s tone
                             1e-4 * torch.randn(8000, generator=torch.Generator().manual_seed(0))])
mel_power = dsp.mel_spectrogram(loud_then_quiet, 16000, 400, 160, 80)[..., :-1]          # (80, 100)
features = whisper_normalize(mel_power)
expected = dsp.log_mel_whisper(loud_then_quiet)
assert features.shape == expected.shape, \
    f"expected shape {tuple(expected.shape)}; got {tuple(features.shape)}"
natural = mel_power.clamp_min(1e-10).log()
natural = (torch.maximum(natural, natural.max() - 8.0) + 4.0) / 4.0
assert not torch.allclose(features, natural, atol=1e-4), "use log10 (Whisper), not the natural log"
spread = (features.max() - features.min()).item()
assert spread <= 2.0 + 1e-5, (
    f"features span {spread:.2f}; floored at max - 8 and divided by 4 they span at most 2. "
    "Take the floor from the max of the whole spectrogram (not per frame or per band).")
err = (features - expected).abs().max().item()
assert err < 1e-5, \
    f"max difference to dsp.log_mel_whisper is {err:.2e}: check the floor and the final (x + 4) / 4"
print("whisper_normalize: matches dsp.log_mel_whisper")

# %% [markdown]
# ## Exercise 4: one Griffin-Lim iteration
#
# Given a target magnitude $|S|$ (`(F, frames)`, real) and current phases `angles`
# (complex, same shape, $|\text{angles}| = 1$), one plain Griffin-Lim iteration is
#
# 1. `wave = dsp.istft(magnitude * angles, n_fft, hop_length)`: impose the magnitude, go to
#    the time domain;
# 2. `rebuilt = dsp.stft(wave, n_fft, hop_length)`: back to a *consistent* spectrogram;
# 3. return its phases as unit phasors, `rebuilt / (|rebuilt| + eps)`, with
#    `eps = torch.finfo(magnitude.dtype).tiny` so a zero bin stays 0 instead of NaN.
#
# Write `griffin_lim_step(magnitude, angles, n_fft, hop_length)` returning the new
# `angles` (complex, same shape, modulus 1).

# %%
def griffin_lim_step(magnitude: torch.Tensor, angles: torch.Tensor, n_fft: int,
                     hop_length: int) -> torch.Tensor:
    """One Griffin-Lim projection: (F, frames) magnitude and phases -> new phases (F, frames)."""
    ### BEGIN SOLUTION
    wave = dsp.istft(magnitude * angles, n_fft, hop_length)
    rebuilt = dsp.stft(wave, n_fft, hop_length)
    return rebuilt / (rebuilt.abs() + torch.finfo(magnitude.dtype).tiny)
    ### END SOLUTION


# %% tags=["check"]
# Check: griffin_lim_step returns the unit phases of the rebuilt spectrogram
t = torch.arange(8000, dtype=torch.float64) / 16000
noise = torch.randn(8000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
test_wave = (torch.sin(2 * math.pi * (300 * t + 2000 * t**2))          # chirp
             + 0.5 * torch.sin(2 * math.pi * 220 * t) + 0.01 * noise)  # tone, a little noise
magnitude = dsp.stft(test_wave, 512, 128).abs()                                  # (257, 63)
phase = 2 * math.pi * torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(1),
                                 dtype=torch.float64)
start = torch.polar(torch.ones_like(phase), phase)
new = griffin_lim_step(magnitude, start, 512, 128)
assert isinstance(new, torch.Tensor) and new.is_complex(), \
    "return complex phasors (rebuilt / |rebuilt|), not angles in radians"
assert new.shape == magnitude.shape, \
    f"expected shape {tuple(magnitude.shape)}; got {tuple(new.shape)}"
assert torch.allclose(new.abs(), torch.ones_like(magnitude), atol=1e-6), \
    "the new angles must have modulus 1: divide the rebuilt spectrogram by its magnitude"
assert not torch.allclose(new, start, atol=1e-3), \
    "the angles did not change: take the phase of STFT(ISTFT(magnitude * angles)), not of the input"
expected = dsp.griffin_lim_step(magnitude, start, 512, 128)
err = (new - expected).abs().max().item()
assert err < 1e-6, (f"max difference to dsp.griffin_lim_step is {err:.2e}: istft the spectrogram "
                    "magnitude * angles, stft it again, keep only the phase")
print("griffin_lim_step: matches dsp.griffin_lim_step")

# %% tags=["check"]
# Check: repeating griffin_lim_step lowers the spectral convergence
def estimate_convergence(angles: torch.Tensor) -> float:
    estimate = dsp.istft(magnitude * angles, 512, 128)
    return dsp.spectral_convergence(magnitude, dsp.stft(estimate, 512, 128).abs()).item()


history, angles = [estimate_convergence(start)], start
for _ in range(8):
    angles = griffin_lim_step(magnitude, angles, 512, 128)
    history.append(estimate_convergence(angles))
rounded = [round(h, 3) for h in history]
assert all(b <= a + 1e-9 for a, b in zip(history, history[1:])), \
    f"spectral convergence must never increase from one step to the next; got {rounded}"
assert history[-1] < 0.7 * history[0], \
    f"8 steps should lower spectral convergence by 30% or more; got {rounded}"
print("spectral convergence over 8 steps:", rounded)

# %% [markdown]
# ## Exercise 5: an experiment on the time/frequency trade-off
#
# Two test sounds, each with two events close together:
# - `tones`: 1000 Hz and 1100 Hz at once (100 Hz apart), 0.25 s;
# - `clicks`: two single-sample clicks 96 samples (6 ms) apart.
#
# Write `profile(wave, n_fft, along)`: the power spectrogram $|X|^2$ of `wave` with
# `dsp.stft(wave, n_fft, HOP)` (`(F, frames)`), reduced to one curve:
# - `along="frequency"`: the mean over the frames, a spectrum `(F,)`;
# - `along="time"`: the sum over the frequencies, the energy of each frame `(frames,)`.
#
# `count_peaks` (given) counts the separate regions of a curve above half its maximum:
# 2 means the two events are resolved, 1 means they blur into one. The check then
# changes one thing, the frame length `n_fft` from 128 to 2048 samples, and measures
# which events each length resolves (the hop stays 16 samples, so only the window
# changes). Predict the outcome before running it: a frame of $N$ samples lasts
# $N / f_s$ and its bins are $f_s / N$ apart.

# %%
HOP = 16
SR = 16_000


def count_peaks(curve: torch.Tensor) -> int:
    """Separate regions of `curve` (1-D) at or above half its maximum."""
    above = curve / curve.max() >= 0.5
    return int(above[0]) + int((above[1:] & ~above[:-1]).sum())


def test_sounds(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tones, clicks), each (4000,) at 16 kHz, with a little seeded noise (-60 dB)."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(4000) / SR
    tones = torch.sin(2 * math.pi * 1000 * t) + torch.sin(2 * math.pi * 1100 * t)
    clicks = torch.zeros(4000)
    clicks[[2000, 2096]] = 1.0
    return (tones + 1e-3 * torch.randn(4000, generator=gen),
            clicks + 1e-3 * torch.randn(4000, generator=gen))


def profile(wave: torch.Tensor, n_fft: int, along: str) -> torch.Tensor:
    """Power spectrogram of wave reduced along time ("frequency": (F,)) or frequency
    ("time": (frames,))."""
    ### BEGIN SOLUTION
    power = dsp.stft(wave, n_fft, HOP).abs() ** 2                 # (F, frames)
    return power.mean(dim=1) if along == "frequency" else power.sum(dim=0)
    ### END SOLUTION


# %% tags=["check"]
# Check: long frames resolve close tones, short frames close clicks, none both
N_FFTS = [128, 256, 512, 1024, 2048]
for seed in range(3):
    tones, clicks = test_sounds(seed)
    table = {n: (count_peaks(profile(tones, n, "frequency")), count_peaks(profile(clicks, n, "time")))
             for n in N_FFTS}
    if seed == 0:
        print("n_fft  frame   bin spacing   peaks: tones (frequency)  clicks (time)")
        for n, (tone_peaks, click_peaks) in table.items():
            print(f"{n:>5} {1000 * n / SR:>4.0f} ms {SR / n:>8.1f} Hz {tone_peaks:>17} {click_peaks:>14}")
    assert profile(tones, 512, "frequency").shape == (257,), \
        "along='frequency' must give one value per frequency bin: (n_fft // 2 + 1,)"
    assert profile(clicks, 512, "time").shape == (1 + 4000 // HOP,), \
        "along='time' must give one value per frame: (1 + T // hop,)"
    assert table[2048][0] == 2 and table[128][0] == 1, \
        f"tones 100 Hz apart: 2048-sample frames must separate them, 128 must not; got {table}"
    assert table[128][1] == 2 and table[2048][1] == 1, \
        f"clicks 6 ms apart: 128-sample frames must separate them, 2048 must not; got {table}"
    assert not any(t == 2 and c == 2 for t, c in table.values()), \
        f"no frame length should resolve both (6 ms x 100 Hz < 1); got {table}"

# %% [markdown]
# Measured (seeds 0, 1 and 2 give the same table): 128 samples separate the clicks but
# not the tones, 512 and longer the tones but not the clicks, and 256 neither. No frame
# length does both. With a Hann window, two tones $\Delta f$ apart need a frame of about
# $2 / \Delta f$ or longer (here 20 ms: 32 ms works, 16 ms does not), and two clicks
# $\Delta t$ apart a frame shorter than about $2 \Delta t$ (here 12 ms: 8 ms works,
# 16 ms does not). Both at once would need $\Delta t \, \Delta f > 1$, and here
# $6\,\text{ms} \times 100\,\text{Hz} = 0.6$. This is the uncertainty principle of the
# STFT; multi-resolution spectrogram losses (used to train neural vocoders) are one way
# of living with it.

# %% [markdown]
# ## Going further
#
# - Add momentum to your loop (fast Griffin-Lim): keep the previous rebuilt spectrogram
#   $C_{n-1}$ and take the phase of $C_n - \frac{\alpha}{1+\alpha} C_{n-1}$. Compare the
#   convergence curve with `dsp.griffin_lim(..., return_history=True)`.
# - Compute Tacotron 2's features (22.05 kHz, n_fft 1024, hop 256, 80 mels, f_max
#   8 kHz, natural log of the magnitude clamped at $10^{-5}$) and plot them beside
#   Whisper's for the same sound resampled with `course_lib.audio.io.resample`.
