"""Where are the beats? Onset strength, tempo and dynamic-programming beat tracking.

    env = onset_strength(wave, sample_rate)                   # (M,) spectral flux per frame
    bpm, beats = beat_track(env, sample_rate)                 # tempo and beat frames (n_beats,)
    times = frames_to_time(beats, sample_rate)                # seconds
    f_measure(reference_times, times)                         # +-70 ms hits, as mir_eval

The three steps of Ellis (2007), "Beat tracking by dynamic programming", as
`librosa.beat.beat_track` implements them (librosa 0.11, same defaults):
1. onset strength: how much louder each mel band got since the previous frame (log-mel
   spectral flux, half-wave rectified, averaged over bands);
2. tempo: the lag where the (windowed, local) autocorrelation of the onset strength peaks,
   weighted by a log-normal prior around 120 BPM;
3. beats: the sequence of frames that maximises the onset strength at the beats minus a
   penalty for beat intervals that stray from the tempo, found by dynamic programming.
`tests/test_beats.py` compares every step with librosa and the F-measure with mir_eval.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.audio import dsp

__all__ = ["N_FFT", "HOP_LENGTH", "N_MELS", "F_MEASURE_WINDOW", "log_mel_db", "onset_strength",
           "tempogram", "tempo_frequencies", "tempo", "beat_local_score", "beat_dp", "backtrack",
           "beat_track", "frames_to_time", "f_measure"]

# librosa's defaults (at 22,050 Hz: 93 ms windows, 23 ms hop, 43 onset frames a second).
N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128
TOP_DB = 80.0                 # keep 80 dB below the loudest mel bin
POWER_FLOOR = 1e-10           # power floor before the log (-100 dB)
START_BPM = 120.0             # centre of the tempo prior
STD_BPM = 1.0                 # its standard deviation, in octaves
AC_SIZE = 8.0                 # seconds of onset strength per local autocorrelation
MAX_TEMPO = 320.0             # BPM
TIGHTNESS = 100.0             # weight of the tempo-deviation penalty in the beat DP
F_MEASURE_WINDOW = 0.07       # seconds: a beat within +-70 ms of a reference beat is a hit


def _check_1d(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != 1 or not x.is_floating_point():
        raise ValueError(f"{name} must be a (T,) float tensor; got {tuple(x.shape)} {x.dtype}")


def _check_positive(value, name: str, integer: bool = False) -> None:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not value > 0:
        kind = "positive int" if integer else "positive number"
        raise ValueError(f"{name} must be a {kind}; got {value!r}")


# ---------------------------------------------------------------- 1. onset strength

def log_mel_db(wave: Tensor, sample_rate: int, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH,
               n_mels: int = N_MELS, center: bool = True) -> Tensor:
    """Log-mel power in dB, (n_mels, M), M = 1 + T // hop_length with center:

        S[f, m] = 10 log10(max(mel power, 1e-10)),   then   S = max(S, max(S) - 80 dB)

    librosa's `power_to_db(melspectrogram(y, sr))` with its defaults (128 mels up to
    sample_rate / 2, power 2, constant padding). wave: (T,) float.
    """
    _check_1d(wave, "wave")
    _check_positive(sample_rate, "sample_rate", integer=True)
    mel = dsp.mel_spectrogram(wave, sample_rate, n_fft, hop_length, n_mels,
                              center=center, pad_mode="constant")           # (n_mels, M)
    log_mel = 10.0 * mel.clamp_min(POWER_FLOOR).log10()
    return torch.maximum(log_mel, log_mel.max() - TOP_DB)


def onset_strength(wave: Tensor, sample_rate: int, n_fft: int = N_FFT,
                   hop_length: int = HOP_LENGTH, n_mels: int = N_MELS, lag: int = 1,
                   center: bool = True) -> Tensor:
    """Spectral flux on a log-mel spectrogram, (M,) with M = 1 + T // hop_length frames.

        S = log_mel_db(wave)                                     (n_mels, M), in dB
        o[m] = mean_f max(0, S[f, m] - S[f, m - lag])          (half-wave rectified)

    Only increases in energy count: a note starting is an onset, a note ending is not.
    The flux is shifted right by lag + n_fft // (2 hop) frames (zeros in front) and cut
    back to M frames, as `librosa.onset.onset_strength` does with center=True: frame m's
    window is centred on sample m hop, so it already hears an onset n_fft / 2 samples
    before; the shift moves the peak back to about where the onset is.
    wave: (T,) float (use float64 to compare with librosa to ~1e-9).
    """
    _check_positive(lag, "lag", integer=True)
    log_mel = log_mel_db(wave, sample_rate, n_fft, hop_length, n_mels, center)   # (n_mels, M)
    flux = (log_mel[:, lag:] - log_mel[:, :-lag]).clamp_min(0.0)            # (n_mels, M - lag)
    env = flux.mean(dim=0)                                                  # (M - lag,)
    shift = lag + (n_fft // (2 * hop_length) if center else 0)
    env = F.pad(env, (shift, 0))
    return env[:log_mel.shape[-1]] if center else env


# ---------------------------------------------------------------- 2. tempo

def tempo_frequencies(n_lags: int, sample_rate: int, hop_length: int = HOP_LENGTH) -> Tensor:
    """BPM of each autocorrelation lag, (n_lags,): 60 sr / (hop * lag); lag 0 is inf."""
    lags = torch.arange(n_lags, dtype=torch.float64)
    return 60.0 * sample_rate / (hop_length * lags)            # 1 / 0 = inf at lag 0


def _autocorrelate(x: Tensor) -> Tensor:
    """r[..., l] = sum_n x[..., n] x[..., n + l] for l < N, by FFT (zero-padded, no wrap)."""
    n = x.shape[-1]
    spectrum = torch.fft.rfft(x, n=2 * n - 1, dim=-1)
    return torch.fft.irfft(spectrum.abs() ** 2, n=2 * n - 1, dim=-1)[..., :n]


def tempogram(onset_env: Tensor, win_length: int) -> Tensor:
    """Local autocorrelation of the onset strength, (win_length, M), each column max = 1.

    Column m: the autocorrelation of the Hann-windowed excerpt of `onset_env` centred on
    frame m (the envelope is padded by win_length // 2 with linear ramps to zero at both
    ends), divided by its largest value (lag 0). As `librosa.feature.tempogram`.
    """
    _check_1d(onset_env, "onset_env")
    _check_positive(win_length, "win_length", integer=True)
    n, half = onset_env.shape[0], win_length // 2
    ramp = torch.linspace(0.0, 1.0, half + 1, dtype=onset_env.dtype)[:-1]    # 0 .. < 1
    padded = torch.cat([ramp * onset_env[0], onset_env, ramp.flip(0) * onset_env[-1]])
    window = torch.hann_window(win_length, periodic=True, dtype=onset_env.dtype)
    frames = padded.unfold(0, win_length, 1)[:n] * window                    # (M, win)
    ac = _autocorrelate(frames)                                              # (M, win)
    peak = ac.abs().amax(dim=-1, keepdim=True)
    peak = torch.where(peak < torch.finfo(ac.dtype).tiny, torch.ones_like(peak), peak)
    return (ac / peak).T


def tempo(onset_env: Tensor, sample_rate: int, hop_length: int = HOP_LENGTH,
          start_bpm: float = START_BPM, std_bpm: float = STD_BPM, ac_size: float = AC_SIZE,
          max_tempo: float | None = MAX_TEMPO) -> float:
    """Global tempo in BPM: the autocorrelation peak, weighted by a log-normal prior.

        A[l] = mean_m tempogram[l, m]                      (average local autocorrelation)
        log p(bpm) = -1/2 ((log2 bpm - log2 start_bpm) / std_bpm)^2
        l* = argmax_{l: bpm_l < max_tempo} log(1 + 1e6 A[l]) + log p(bpm_l)
        tempo = 60 sr / (hop l*)

    Without the prior, the autocorrelation is as high at 2 and 3 beats as at one, and
    the tracker may lock onto half or a third of the tempo. Same as
    `librosa.feature.tempo` (aggregate=np.mean). onset_env: (M,).
    """
    _check_1d(onset_env, "onset_env")
    _check_positive(sample_rate, "sample_rate", integer=True)
    _check_positive(start_bpm, "start_bpm")
    _check_positive(std_bpm, "std_bpm")
    win_length = int(ac_size * sample_rate) // hop_length
    mean_ac = tempogram(onset_env.double(), win_length).mean(dim=1)         # (win,)
    bpms = tempo_frequencies(win_length, sample_rate, hop_length)           # (win,)
    log_prior = -0.5 * ((bpms.log2() - math.log2(start_bpm)) / std_bpm) ** 2
    if max_tempo is not None:
        log_prior = torch.where(bpms < max_tempo, log_prior, torch.full_like(log_prior, -math.inf))
    best = int(torch.argmax(torch.log1p(1e6 * mean_ac) + log_prior))
    return float(bpms[best])


# ---------------------------------------------------------------- 3. beats by DP

def beat_local_score(onset_env: Tensor, frames_per_beat: float) -> Tensor:
    """Normalised onset strength smoothed by a Gaussian of width period / 32, (M,).

        o' = o / std(o),   w[j] = exp(-1/2 (32 j / P)^2),  j = -P .. P,   score = o' * w ('same')
    """
    env = onset_env / (onset_env.std() + torch.finfo(onset_env.dtype).tiny)
    period = int(frames_per_beat)
    j = torch.arange(-period, period + 1, dtype=env.dtype)
    window = torch.exp(-0.5 * (j * 32.0 / period) ** 2)                       # (2P + 1,)
    return F.conv1d(env[None, None], window.flip(0)[None, None], padding=period)[0, 0]


def beat_dp(local_score: Tensor, frames_per_beat: float,
            tightness: float = TIGHTNESS) -> tuple[Tensor, Tensor]:
    """The dynamic program: best cumulative score of a beat sequence ending at each frame.

        C[i] = score[i] + max_{p in [i - 2P, i - round(P/2)]} (C[p] - tightness (log((i - p) / P))^2)
        backlink[i] = the maximising p  (-1 if there is none, or before the first real onset)

    P = frames_per_beat. The penalty is 0 for an interval of exactly P frames and grows
    with the squared log-ratio, so the tracker trades onset strength against a steady
    tempo. Returns (backlink (M,) long, cumulative score C (M,)).
    """
    score = local_score.double().tolist()
    n, period = len(score), float(frames_per_beat)
    nearest, farthest = round(period / 2), int(2 * period)
    gaps = torch.arange(nearest, farthest + 1, dtype=torch.float64)           # i - p
    penalty = (tightness * (gaps.log() - math.log(period)) ** 2).tolist()
    threshold = 0.01 * max(score)
    cumulative, backlink = [0.0] * n, [-1] * n
    first_beat = True
    for i in range(n):
        best, best_p = -math.inf, -1
        for gap, cost in zip(range(nearest, farthest + 1), penalty):  # nearest p first, as librosa
            p = i - gap
            if p < 0:
                break
            candidate = cumulative[p] - cost
            if candidate > best:
                best, best_p = candidate, p
        cumulative[i] = score[i] + (best if best_p >= 0 else 0.0)
        if first_beat and score[i] < threshold:
            backlink[i] = -1                       # nothing has happened yet: start fresh
        else:
            backlink[i] = best_p
            first_beat = False
    return torch.tensor(backlink), torch.tensor(cumulative, dtype=torch.float64)


def _last_beat(cumulative: Tensor) -> int:
    """The last local maximum of C that reaches half the median of all local maxima."""
    c = cumulative
    is_max = torch.zeros(len(c), dtype=torch.bool)
    is_max[1:-1] = (c[1:-1] > c[:-2]) & (c[1:-1] >= c[2:])
    is_max[-1] = c[-1] > c[-2]
    threshold = 0.5 * float(np.median(c[is_max].numpy())) if is_max.any() else -math.inf
    candidates = torch.nonzero(is_max & (c >= threshold)).flatten()
    return int(candidates[-1]) if len(candidates) else len(c) - 1


def backtrack(backlink: Tensor, last: int) -> Tensor:
    """Follow the back-links from the last beat to the first (backlink -1): the beat
    frames in increasing order, (n_beats,) long. backlink: (M,) from `beat_dp`."""
    if not 0 <= last < len(backlink):
        raise ValueError(f"last must be a frame index in [0, {len(backlink)}); got {last!r}")
    beats, i = [], last
    while i >= 0:
        beats.append(i)
        i = int(backlink[i])
    return torch.tensor(beats[::-1], dtype=torch.long)


def _trim_beats(local_score: Tensor, beats: Tensor, trim: bool) -> Tensor:
    """Drop beats in the quiet lead-in and tail: local score <= half the beats' RMS."""
    if trim:
        # librosa's slice of the full convolution (it keeps two extra trailing values)
        full = np.convolve(local_score[beats].numpy(), np.hanning(5))
        smooth = torch.from_numpy(full[2:len(local_score) + 2])
        threshold = 0.5 * float(smooth.square().mean().sqrt())
    else:
        threshold = 0.0
    loud = torch.nonzero(local_score > threshold).flatten()
    if len(loud) == 0:
        return beats[:0]
    return beats[(beats >= loud[0]) & (beats <= loud[-1])]


def beat_track(onset_env: Tensor, sample_rate: int, hop_length: int = HOP_LENGTH,
               bpm: float | None = None, start_bpm: float = START_BPM,
               tightness: float = TIGHTNESS, trim: bool = True) -> tuple[float, Tensor]:
    """Ellis's DP beat tracker, as `librosa.beat.beat_track(onset_envelope=...)`.

    1. tempo (if bpm is None) -> P = round(60 frame_rate / bpm) frames per beat;
    2. local score = Gaussian-smoothed normalised onset strength (`beat_local_score`);
    3. cumulative score and back-links (`beat_dp`);
    4. start from the last strong local maximum of C and follow the back-links;
    5. trim weak beats at both ends.
    onset_env: (M,) from `onset_strength`. Returns (bpm, beat frames (n_beats,) long).
    """
    _check_1d(onset_env, "onset_env")
    _check_positive(sample_rate, "sample_rate", integer=True)
    _check_positive(tightness, "tightness")
    if not bool(onset_env.ne(0).any()):
        return 0.0, torch.zeros(0, dtype=torch.long)
    if bpm is None:
        bpm = tempo(onset_env, sample_rate, hop_length, start_bpm=start_bpm)
    _check_positive(bpm, "bpm")
    frames_per_beat = round(sample_rate / hop_length * 60.0 / bpm)
    local = beat_local_score(onset_env.double(), frames_per_beat)
    backlink, cumulative = beat_dp(local, frames_per_beat, tightness)
    beats = backtrack(backlink, _last_beat(cumulative))
    return float(bpm), _trim_beats(local, beats, trim)


def frames_to_time(frames: Tensor, sample_rate: int, hop_length: int = HOP_LENGTH) -> Tensor:
    """Frame indices -> seconds: frames * hop_length / sample_rate (float64)."""
    return torch.as_tensor(frames, dtype=torch.float64) * hop_length / sample_rate


# ---------------------------------------------------------------- evaluation

def f_measure(reference: Tensor, estimated: Tensor, window: float = F_MEASURE_WINDOW) -> float:
    """Beat F-measure: F = 2 P R / (P + R), a hit = a one-to-one match within +-window s.

    P = hits / len(estimated), R = hits / len(reference). Beats are matched greedily in
    time order, which for points on a line with a fixed window gives the maximum
    matching that `mir_eval.beat.f_measure` finds by bipartite matching.
    (mir_eval.beat.evaluate also ignores the first 5 s; this function, like
    mir_eval.beat.f_measure, does not.) reference, estimated: (N,) times in seconds.
    """
    reference = torch.as_tensor(reference, dtype=torch.float64).flatten().sort().values
    estimated = torch.as_tensor(estimated, dtype=torch.float64).flatten().sort().values
    if len(reference) == 0 or len(estimated) == 0:
        return 0.0
    hits, j = 0, 0
    ref, est = reference.tolist(), estimated.tolist()
    for r in ref:
        while j < len(est) and est[j] < r - window:      # too early for this and later refs
            j += 1
        if j < len(est) and est[j] <= r + window:
            hits += 1
            j += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / len(est), hits / len(ref)
    return 2 * precision * recall / (precision + recall)
