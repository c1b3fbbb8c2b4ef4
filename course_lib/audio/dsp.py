"""Audio as data: STFT, mel filterbank, Whisper's log-mel and Griffin-Lim, in plain torch.

Day 01 builds these; the speech, music and sync days import them. Every function is
checked against librosa (the reference implementation) in `tests/test_dsp.py`.

Shapes: a wave is (T,) or (B, T); a spectrogram is (F, frames) or (B, F, frames) with
F = n_fft // 2 + 1 frequency bins; a mel spectrogram is (n_mels, frames) or
(B, n_mels, frames).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

# Whisper's front end (openai/whisper, whisper/audio.py): 25 ms windows every 10 ms at 16 kHz.
SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
CHUNK_LENGTH = 30                            # seconds of audio per Whisper input
N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE       # 480,000 samples per chunk
N_FRAMES = N_SAMPLES // HOP_LENGTH           # 3,000 mel frames per chunk
LOG_CLAMP_MIN = 1e-10                        # mel power floor before log10 (-100 dB)
LOG_DYNAMIC_RANGE = 8.0                      # keep 8 decades (80 dB) below the peak

# Slaney's mel scale (Auditory Toolbox; librosa's default, htk=False):
# linear below 1 kHz, logarithmic above, continuous at 1 kHz = 15 mel.
MEL_HZ_PER_MEL = 200.0 / 3.0
MEL_MIN_LOG_HZ = 1000.0
MEL_MIN_LOG_MEL = MEL_MIN_LOG_HZ / MEL_HZ_PER_MEL     # 15.0
MEL_LOG_STEP = math.log(6.4) / 27.0                   # ln(6400 / 1000) spread over 27 mel

PAD_MODES = ("reflect", "constant", "replicate")


# ---------------------------------------------------------------- argument checks

def _check_wave(wave, name: str = "wave") -> None:
    if not isinstance(wave, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(wave).__name__}")
    if wave.ndim not in (1, 2) or not wave.is_floating_point():
        raise ValueError(f"{name} must be (T,) or (B, T) float tensor; "
                         f"got {tuple(wave.shape)} {wave.dtype}")


def _check_spec(spec, n_fft: int, name: str, complex_: bool) -> None:
    kind = "complex" if complex_ else "real float"
    if not isinstance(spec, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(spec).__name__}")
    right_kind = spec.is_complex() if complex_ else spec.is_floating_point()
    n_bins = n_fft // 2 + 1
    if spec.ndim not in (2, 3) or not right_kind or spec.shape[-2] != n_bins:
        raise ValueError(f"{name} must be (F, frames) or (B, F, frames) {kind} tensor with "
                         f"F = n_fft // 2 + 1 = {n_bins}; got {tuple(spec.shape)} {spec.dtype}")


def _check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def _check_fft_sizes(n_fft: int, hop_length: int, win_length: int | None) -> None:
    _check_positive_int(n_fft, "n_fft")
    _check_positive_int(hop_length, "hop_length")
    if win_length is not None:
        _check_positive_int(win_length, "win_length")
        if win_length > n_fft:
            raise ValueError(f"win_length must be <= n_fft ({n_fft}); got {win_length}")


def _check_band(sample_rate: int, f_min: float, f_max: float | None) -> float:
    """Validate the mel band; return f_max with None resolved to Nyquist."""
    _check_positive_int(sample_rate, "sample_rate")
    f_max = sample_rate / 2 if f_max is None else float(f_max)
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}; "
                         f"got f_min={f_min}, f_max={f_max}")
    return f_max


# ---------------------------------------------------------------- windows and framing

def hann_window(length: int, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Periodic Hann window, (length,): w[n] = 0.5 - 0.5 cos(2 pi n / length).

    "Periodic" (divide by length, not length - 1) makes shifted copies at hop
    length / 2 sum to a constant, which is what overlap-add inversion needs.
    """
    _check_positive_int(length, "length")
    n = torch.arange(length, dtype=torch.float64, device=device)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * n / length)).to(dtype)


def _window(window, n_fft: int, win_length: int | None, like: Tensor) -> Tensor:
    """The analysis window zero-padded (centred) to n_fft, (n_fft,), dtype of `like`."""
    win_length = n_fft if win_length is None else win_length
    real_dtype = like.real.dtype if like.is_complex() else like.dtype
    if isinstance(window, str):
        if window != "hann":
            raise ValueError(f"window must be 'hann' or a (win_length,) tensor; got {window!r}")
        window = hann_window(win_length, dtype=real_dtype, device=like.device)
    elif not isinstance(window, torch.Tensor) or window.shape != (win_length,):
        got = tuple(window.shape) if isinstance(window, torch.Tensor) else type(window).__name__
        raise ValueError(f"window must be 'hann' or a ({win_length},) tensor; got {got}")
    left = (n_fft - win_length) // 2
    return F.pad(window.to(like.device, real_dtype), (left, n_fft - win_length - left))


def _pad_both_sides(wave: Tensor, pad: int, pad_mode: str) -> Tensor:
    """(..., T) -> (..., T + 2 pad). torch pads 1-D signals only as (N, C, T)."""
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}; got {pad_mode!r}")
    if pad_mode == "reflect" and wave.shape[-1] <= pad:
        raise ValueError(f"wave must have more than n_fft // 2 = {pad} samples for reflect "
                         f"padding; got {wave.shape[-1]}")
    padded = F.pad(wave.reshape(-1, 1, wave.shape[-1]), (pad, pad), mode=pad_mode)
    return padded.reshape(*wave.shape[:-1], -1)


def _overlap_add(frames: Tensor, hop_length: int) -> Tensor:
    """Sum frames placed hop_length apart: (..., M, N) -> (..., N + hop_length (M - 1))."""
    *batch, n_frames, frame_length = frames.shape
    out_length = frame_length + hop_length * (n_frames - 1)
    columns = frames.reshape(-1, n_frames, frame_length).transpose(1, 2)  # (B, N, M)
    # fold is the inverse of unfold: it adds every column back at its offset.
    summed = F.fold(columns, output_size=(1, out_length), kernel_size=(1, frame_length),
                    stride=(1, hop_length))                                # (B, 1, 1, out)
    return summed.reshape(*batch, out_length)


# ---------------------------------------------------------------- STFT and its inverse

def stft(wave: Tensor, n_fft: int, hop_length: int, win_length: int | None = None,
         window="hann", center: bool = True, pad_mode: str = "reflect") -> Tensor:
    """Short-time Fourier transform, built as framing + window + real FFT.

        X[k, m] = sum_{n=0}^{N-1} w[n] x[m H + n] exp(-2 pi i k n / N),   k = 0 .. N/2

    with N = n_fft, H = hop_length and w the periodic Hann window of win_length samples
    zero-padded to N. With `center`, the wave is first padded by N // 2 on both sides
    (`pad_mode`), so frame m is centred on sample m H. Same result as
    `torch.stft(..., return_complex=True)` and `librosa.stft`.

    wave: (T,) or (B, T) float.
    Returns complex (F, frames) or (B, F, frames), F = n_fft // 2 + 1,
    frames = 1 + (T - n_fft) // hop_length, after padding T by 2 (n_fft // 2) with
    center (for even n_fft that is 1 + T // hop_length).
    """
    _check_wave(wave)
    _check_fft_sizes(n_fft, hop_length, win_length)
    w = _window(window, n_fft, win_length, wave)             # (N,)
    if center:
        wave = _pad_both_sides(wave, n_fft // 2, pad_mode)
    if wave.shape[-1] < n_fft:
        raise ValueError(f"wave must have at least n_fft = {n_fft} samples without "
                         f"center padding; got {wave.shape[-1]}")
    frames = wave.unfold(-1, n_fft, hop_length)              # (..., frames, N)
    spectrum = torch.fft.rfft(frames * w, dim=-1)            # (..., frames, F)
    return spectrum.transpose(-1, -2)                        # (..., F, frames)


def istft(spec: Tensor, n_fft: int, hop_length: int, win_length: int | None = None,
          window="hann", center: bool = True, length: int | None = None) -> Tensor:
    """Inverse STFT by weighted overlap-add (the least-squares inverse of Griffin & Lim).

        x[n] = sum_m w[n - m H] y_m[n - m H] / sum_m w[n - m H]^2,   y_m = irfft(X[:, m])

    Exact inverse of `stft` (same n_fft, hop, window, center) wherever the window-sum
    is non-zero; matches `librosa.istft`.

    spec: complex (F, frames) or (B, F, frames), F = n_fft // 2 + 1.
    length: samples to return (trim or zero-pad); default hop_length * (frames - 1)
    when center (n_fft even). Returns (T,) or (B, T) real.
    """
    _check_fft_sizes(n_fft, hop_length, win_length)
    _check_spec(spec, n_fft, "spec", complex_=True)
    if length is not None:
        _check_positive_int(length, "length")
    w = _window(window, n_fft, win_length, spec)                              # (N,)
    n_frames = spec.shape[-1]
    frames = torch.fft.irfft(spec.transpose(-1, -2), n=n_fft, dim=-1) * w    # (..., M, N)
    wave = _overlap_add(frames, hop_length)
    window_sum = _overlap_add(w.square().expand(n_frames, n_fft), hop_length)
    tiny = torch.finfo(window_sum.dtype).tiny
    wave = wave / torch.where(window_sum > tiny, window_sum, torch.ones_like(window_sum))
    start = n_fft // 2 if center else 0
    if length is None:
        length = wave.shape[-1] - 2 * start
    wave = wave[..., start:start + length]
    return F.pad(wave, (0, length - wave.shape[-1]))


# ---------------------------------------------------------------- mel scale

def hz_to_mel(freq) -> Tensor:
    """Slaney mel scale (librosa htk=False), elementwise, any shape:

        m = f / (200/3)                              for f < 1000 Hz
        m = 15 + ln(f / 1000) / (ln(6.4) / 27)       for f >= 1000 Hz
    """
    freq = torch.as_tensor(freq, dtype=torch.float64)
    if (freq < 0).any():
        raise ValueError("freq must be >= 0 Hz")
    linear = freq / MEL_HZ_PER_MEL
    above_1khz = freq.clamp_min(MEL_MIN_LOG_HZ) / MEL_MIN_LOG_HZ
    log = MEL_MIN_LOG_MEL + torch.log(above_1khz) / MEL_LOG_STEP
    return torch.where(freq >= MEL_MIN_LOG_HZ, log, linear)


def mel_to_hz(mel) -> Tensor:
    """Inverse of `hz_to_mel` (Slaney), elementwise, any shape:

        f = (200/3) m                         for m < 15
        f = 1000 exp((ln(6.4) / 27) (m - 15))   for m >= 15
    """
    mel = torch.as_tensor(mel, dtype=torch.float64)
    linear = mel * MEL_HZ_PER_MEL
    log = MEL_MIN_LOG_HZ * torch.exp(MEL_LOG_STEP * (mel - MEL_MIN_LOG_MEL))
    return torch.where(mel >= MEL_MIN_LOG_MEL, log, linear)


@functools.lru_cache(maxsize=32)
def _mel_filterbank_f64(sample_rate: int, n_fft: int, n_mels: int,
                        f_min: float, f_max: float) -> Tensor:
    fft_freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft  # (F,)
    mel_edges = torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                               dtype=torch.float64)
    hz_edges = mel_to_hz(mel_edges)                                            # (n_mels + 2,)
    lower, centre, upper = hz_edges[:-2, None], hz_edges[1:-1, None], hz_edges[2:, None]
    rising = (fft_freqs - lower) / (centre - lower)                           # (n_mels, F)
    falling = (upper - fft_freqs) / (upper - centre)
    triangles = torch.minimum(rising, falling).clamp_min(0.0)
    return triangles * (2.0 / (upper - lower))                                # unit area


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None, dtype: torch.dtype = torch.float32,
                   device=None) -> Tensor:
    """Slaney-normalised triangular mel filters, (n_mels, n_fft // 2 + 1).

    n_mels + 2 edges equally spaced on the mel scale between f_min and f_max; filter i
    rises from edge i to edge i+1 and falls to edge i+2, scaled by 2 / (f_{i+2} - f_i)
    so every triangle has unit area ("slaney" norm). Equals
    `librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min,
    fmax=f_max)` (htk=False, norm="slaney"), which is how Whisper's stored
    `mel_filters.npz` was produced. Computed in float64 once per setting (cached).
    """
    _check_positive_int(n_fft, "n_fft")
    _check_positive_int(n_mels, "n_mels")
    f_max = _check_band(sample_rate, float(f_min), f_max)
    bank = _mel_filterbank_f64(sample_rate, n_fft, n_mels, float(f_min), f_max)
    return bank.to(dtype=dtype, device=device, copy=True)


def mel_spectrogram(wave: Tensor, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                    power: float = 2.0, f_min: float = 0.0, f_max: float | None = None,
                    center: bool = True, pad_mode: str = "reflect") -> Tensor:
    """Mel spectrogram M = W |X|^power, W the (n_mels, F) Slaney filterbank.

    Equals `librosa.feature.melspectrogram` with the same center / pad_mode / power.
    wave: (T,) or (B, T) float. Returns (n_mels, frames) or (B, n_mels, frames).
    """
    _check_wave(wave)
    if not power > 0:
        raise ValueError(f"power must be > 0 (1 = magnitude, 2 = power); got {power!r}")
    spec = stft(wave, n_fft, hop_length, center=center, pad_mode=pad_mode).abs() ** power
    bank = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max,
                          dtype=wave.dtype, device=wave.device)
    return bank @ spec                                        # (..., n_mels, frames)


def log_mel_whisper(wave16k: Tensor, n_mels: int = N_MELS) -> Tensor:
    """Whisper's log-mel input features, exactly as `whisper.log_mel_spectrogram`.

    1. X = STFT(x), n_fft 400, hop 160, periodic Hann, reflect padding (center);
       the last frame is dropped (so 30 s -> exactly N_FRAMES = 3000 frames);
    2. M = W |X|^2 with the Slaney filterbank W (librosa, 16 kHz, n_fft 400);
    3. L = log10(max(M, 1e-10));
    4. L = max(L, max(L) - 8)   (max over the whole spectrogram of each item);
    5. return (L + 4) / 4       (roughly in [-1, 1]).

    wave16k: (T,) or (B, T) float samples at 16 kHz (T > 200).
    Returns (n_mels, T // 160) or (B, n_mels, T // 160).
    Whisper itself takes one clip at a time; for a batch, its `max` would run over the
    whole batch, here it runs per item, so each clip gets the same features as alone.
    """
    _check_wave(wave16k, "wave16k")
    _check_positive_int(n_mels, "n_mels")
    mel = mel_spectrogram(wave16k, SAMPLE_RATE, N_FFT, HOP_LENGTH, n_mels)[..., :-1]
    log_spec = mel.clamp_min(LOG_CLAMP_MIN).log10()
    peak = log_spec.amax(dim=(-2, -1), keepdim=True)                 # per item
    log_spec = torch.maximum(log_spec, peak - LOG_DYNAMIC_RANGE)
    return (log_spec + 4.0) / 4.0


# ---------------------------------------------------------------- Griffin-Lim

def spectral_convergence(ref_mag: Tensor, est_mag: Tensor) -> Tensor:
    """||S - S_hat||_F / ||S||_F over the last two axes: 0 is perfect.

    ref_mag, est_mag: (F, frames) or (B, F, frames) real magnitudes, same shape.
    Returns a scalar tensor, or (B,).
    """
    for name, mag in (("ref_mag", ref_mag), ("est_mag", est_mag)):
        if not isinstance(mag, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(mag).__name__}")
        if mag.ndim not in (2, 3) or not mag.is_floating_point():
            raise ValueError(f"{name} must be (F, frames) or (B, F, frames) real float tensor; "
                             f"got {tuple(mag.shape)} {mag.dtype}")
    if ref_mag.shape != est_mag.shape:
        raise ValueError(f"ref_mag and est_mag must have the same shape; "
                         f"got {tuple(ref_mag.shape)} and {tuple(est_mag.shape)}")
    ref_norm = torch.linalg.matrix_norm(ref_mag)
    if (ref_norm == 0).any():
        raise ValueError("ref_mag must not be all zeros (its norm is the denominator)")
    return torch.linalg.matrix_norm(ref_mag - est_mag) / ref_norm


def _unit_modulus(z: Tensor) -> Tensor:
    """z / |z|: keep the phase, drop the magnitude (as librosa: 0 stays 0, not NaN)."""
    return z / (z.abs() + torch.finfo(z.real.dtype).tiny)


def _consistent(spec: Tensor, n_fft: int, hop_length: int, length: int | None) -> Tensor:
    """STFT(ISTFT(spec)): the nearest spectrogram that some real wave actually has."""
    if length is not None:
        _check_positive_int(length, "length")
        n_frames = 1 + (length + 2 * (n_fft // 2) - n_fft) // hop_length
        if n_frames != spec.shape[-1]:
            raise ValueError(f"length={length} gives {n_frames} frames but the "
                             f"magnitude has {spec.shape[-1]}")
    return stft(istft(spec, n_fft, hop_length, length=length), n_fft, hop_length)


def _check_magnitude(magnitude, n_fft: int, hop_length: int) -> None:
    _check_fft_sizes(n_fft, hop_length, None)
    _check_spec(magnitude, n_fft, "magnitude", complex_=False)
    if (magnitude < 0).any():
        raise ValueError("magnitude must be non-negative (|STFT|, not log or dB)")


def griffin_lim_step(magnitude: Tensor, angles: Tensor, n_fft: int, hop_length: int,
                     length: int | None = None) -> Tensor:
    """One plain Griffin-Lim iteration; returns the new unit-modulus phases.

        C = STFT(ISTFT(|S| * angles));    angles_new = C / |C|

    magnitude: (F, frames) or (B, F, frames) real, F = n_fft // 2 + 1.
    angles: complex, same shape, |angles| = 1. Returns complex, same shape, modulus 1
    (0 in the rare bins where C is exactly 0 and has no phase, as in librosa).
    """
    _check_magnitude(magnitude, n_fft, hop_length)
    if not isinstance(angles, torch.Tensor):
        raise TypeError(f"angles must be a torch.Tensor; got {type(angles).__name__}")
    if not angles.is_complex() or angles.shape != magnitude.shape:
        raise ValueError(f"angles must be a complex tensor shaped like magnitude "
                         f"{tuple(magnitude.shape)}; got {tuple(angles.shape)} {angles.dtype}")
    return _unit_modulus(_consistent(magnitude * angles, n_fft, hop_length, length))


def griffin_lim(magnitude: Tensor, n_fft: int, hop_length: int, n_iter: int = 32,
                momentum: float = 0.99, generator: torch.Generator | None = None,
                length: int | None = None, init: str = "random", return_history: bool = False):
    """Recover a wave from an STFT magnitude: fast Griffin-Lim (Perraudin et al., 2013).

    Start from random phases; repeat n_iter times (as `librosa.griffinlim`):

        C_n = STFT(ISTFT(|S| e^{i phi_n}))               project onto consistent spectrograms
        T_n = C_n - momentum / (1 + momentum) * C_{n-1}  extrapolate (momentum = 0: plain GL)
        e^{i phi_{n+1}} = T_n / |T_n|                     keep only the phase

    magnitude: (F, frames) or (B, F, frames), F = n_fft // 2 + 1 (Hann window, center).
    init: "random" phases, seeded by `generator` (drawn on CPU, so any device agrees),
    or "zero" phases (librosa's init=None).
    Returns the wave (T,) or (B, T); with return_history also the spectral
    convergence after 0, 1, ..., n_iter iterations, (n_iter + 1,) or (n_iter + 1, B).
    """
    _check_magnitude(magnitude, n_fft, hop_length)
    if not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"n_iter must be an int >= 0; got {n_iter!r}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1]; got {momentum!r}")
    if init not in ("random", "zero"):
        raise ValueError(f"init must be 'random' or 'zero'; got {init!r}")
    phase = torch.zeros(magnitude.shape, dtype=magnitude.dtype)
    if init == "random":
        uniform = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype)
        phase = 2 * math.pi * uniform
    angles = torch.polar(torch.ones_like(phase), phase).to(magnitude.device)
    previous, history = None, []
    for _ in range(n_iter):
        rebuilt = _consistent(magnitude * angles, n_fft, hop_length, length)
        history.append(spectral_convergence(magnitude, rebuilt.abs()))
        accelerated = rebuilt
        if previous is not None:
            accelerated = rebuilt - momentum / (1 + momentum) * previous
        angles, previous = _unit_modulus(accelerated), rebuilt
    wave = istft(magnitude * angles, n_fft, hop_length, length=length)
    if not return_history:
        return wave
    history.append(spectral_convergence(magnitude, stft(wave, n_fft, hop_length).abs()))
    return wave, torch.stack(history)


# ---------------------------------------------------------------- for plots

def amplitude_to_db(magnitude: Tensor, ref: float | str = 1.0, amin: float = 1e-5,
                    top_db: float | None = 80.0) -> Tensor:
    """Decibels 20 log10(max(|x|, amin) / ref), floored at (max - top_db); any shape.

    ref="max" puts the loudest value at 0 dB. For a power spectrogram P use
    amplitude_to_db(P.sqrt()). Same as librosa.amplitude_to_db.
    """
    if not isinstance(magnitude, torch.Tensor):
        raise TypeError(f"magnitude must be a torch.Tensor; got {type(magnitude).__name__}")
    if not amin > 0:
        raise ValueError(f"amin must be > 0; got {amin!r}")
    magnitude = magnitude.abs()
    if ref == "max":
        ref = float(magnitude.max())
    if not isinstance(ref, (int, float)) or not ref > 0:
        raise ValueError(f"ref must be a positive number or 'max'; got {ref!r}")
    db = 20.0 * torch.log10(magnitude.clamp_min(amin)) - 20.0 * math.log10(max(amin, ref))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"top_db must be >= 0 or None; got {top_db!r}")
        db = torch.maximum(db, db.max() - top_db)
    return db
