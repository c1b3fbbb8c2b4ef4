"""Vocoders: from a log-mel spectrogram back to a waveform.

Two here: Griffin-Lim (iterative phase recovery, no training) and a small neural
vocoder in the style of Vocos (Siuzdak, 2023) / iSTFTNet: a convolutional network
predicts, for every mel frame, the STFT magnitude *and phase* of the waveform, and a
single inverse STFT turns them into samples. It is trained with a multi-resolution STFT
loss (Yamamoto et al., Parallel WaveGAN, 2020), so it learns phases that make a
consistent, natural spectrogram at several time-frequency resolutions at once:

    L = mean_r  ||S_r - S^_r||_F / ||S_r||_F  +  mean_r mean |log S_r - log S^_r|

(spectral convergence + log-magnitude distance; S_r = |STFT_r(x)| of the true wave).

The baseline is Griffin-Lim (`audio.dsp.griffin_lim`): undo the log, undo the mel
filterbank as well as a least-squares fit allows (`mel_to_linear`), then let
Griffin-Lim find phases that fit the magnitudes. It needs no training, and it is the
"robotic, phasey" sound of early TTS demos; Day 11 compares neural vocoders with it.

    wave = griffin_lim_vocoder(mel)        # mel (80, frames) from data.speech.log_mel
    voc = train_vocoder()                  # the neural one (vocoder_train.py): loaded or trained
    wave = vocode(voc.model, mel)

The MR-STFT loss is averaged over the resolutions (the mean of the two terms).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.audio import dsp
from course_lib.audio.normalize import MelNormalizer
from course_lib.checks import check_positive_int, check_shape
from course_lib.data.speech import F_MAX, HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE

__all__ = ["mel_to_linear", "griffin_lim_vocoder", "stft_magnitude", "multi_resolution_stft_loss",
           "RESOLUTIONS", "VocoderConfig", "ConvNeXtBlock", "NeuralVocoder", "vocoder_loss", "vocode"]


@functools.lru_cache(maxsize=4)
def _pseudo_inverse(sample_rate: int, n_fft: int, n_mels: int, f_max: float) -> Tensor:
    bank = dsp.mel_filterbank(sample_rate, n_fft, n_mels, f_max=f_max, dtype=torch.float64)
    return torch.linalg.pinv(bank).float()                               # (F, n_mels)


def mel_to_linear(log_mel: Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT,
                  f_max: float = F_MAX) -> Tensor:
    """Linear-frequency magnitude (F, frames) from a natural-log mel magnitude (n_mels, frames).

    |X| ~ max(0, pinv(W) exp(log_mel)): the least-squares inverse of the filterbank W,
    clipped at 0 (magnitudes cannot be negative). Also (B, n_mels, frames) -> (B, F, frames).
    """
    if log_mel.ndim not in (2, 3):
        raise ValueError(f"log_mel must be (n_mels, frames) or (B, n_mels, frames); "
                         f"got {tuple(log_mel.shape)}")
    inverse = _pseudo_inverse(sample_rate, n_fft, log_mel.shape[-2], float(f_max))
    return (inverse.to(log_mel.device) @ log_mel.float().exp()).clamp_min(0.0)


def griffin_lim_vocoder(log_mel: Tensor, n_iter: int = 32, sample_rate: int = SAMPLE_RATE,
                        n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, f_max: float = F_MAX,
                        power: float = 1.2, seed: int = 0) -> Tensor:
    """Wave (T,) at sample_rate from a log-mel (n_mels, frames), T = (frames - 1) * hop_length.

    power > 1 sharpens the estimated magnitudes before phase recovery (Tacotron 1 used
    1.5), which makes Griffin-Lim's output less buzzy. Seeded: same input, same wave.
    """
    if not isinstance(log_mel, torch.Tensor) or log_mel.ndim != 2 or log_mel.shape[1] < 2:
        raise ValueError(f"log_mel must be a (n_mels, frames) tensor with frames >= 2; "
                         f"got {getattr(log_mel, 'shape', type(log_mel).__name__)}")
    magnitude = mel_to_linear(log_mel, sample_rate, n_fft, f_max) ** power
    generator = torch.Generator().manual_seed(seed)
    wave = dsp.griffin_lim(magnitude, n_fft, hop_length, n_iter=n_iter, generator=generator)
    peak = wave.abs().max().clamp_min(1e-8)
    return (wave / peak * 0.9).cpu()


# ---------------------------------------------------------------- the multi-resolution STFT loss

RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))   # (n_fft, hop): 16, 32, 64 ms windows


def stft_magnitude(wave: Tensor, n_fft: int, hop_length: int) -> Tensor:
    """|STFT| (B, F, frames) of a wave (B, T) (Hann window, centred, reflect padding),
    floored at 1e-7 so that its log stays finite."""
    return dsp.stft(wave, n_fft, hop_length).abs().clamp_min(1e-7)


def multi_resolution_stft_loss(est: Tensor, ref: Tensor,
                               resolutions=RESOLUTIONS) -> tuple[Tensor, dict]:
    """Mean over resolutions of spectral convergence + log-magnitude L1 (see module doc).

    est, ref: (B, T) waves. Returns (loss, {"sc": ..., "mag": ...}) (means over resolutions).
    """
    if est.shape != ref.shape or est.ndim != 2:
        raise ValueError(f"est and ref must be (B, T) of one shape; got {tuple(est.shape)} and "
                         f"{tuple(ref.shape)}")
    sc = mag = 0.0
    for n_fft, hop in resolutions:
        S, S_hat = stft_magnitude(ref, n_fft, hop), stft_magnitude(est, n_fft, hop)
        sc = sc + (torch.linalg.matrix_norm(S - S_hat) / torch.linalg.matrix_norm(S)).mean()
        mag = mag + (S.log() - S_hat.log()).abs().mean()
    sc, mag = sc / len(resolutions), mag / len(resolutions)
    return sc + mag, {"sc": float(sc.detach()), "mag": float(mag.detach())}


# ---------------------------------------------------------------- the network

@dataclass(frozen=True)
class VocoderConfig:
    """n_mels in; width `dim` and `depth` ConvNeXt blocks (MLP hidden int(dim * mlp_ratio),
    depthwise kernel); the output STFT (n_fft, hop = the mel's hop)."""
    n_mels: int = N_MELS
    dim: int = 128
    depth: int = 4
    mlp_ratio: float = 2.0
    kernel: int = 7
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH

    def __post_init__(self):
        for name in ("n_mels", "dim", "depth", "kernel", "n_fft", "hop_length"):
            check_positive_int(getattr(self, name), name)
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be > 0; got {self.mlp_ratio!r}")


class ConvNeXtBlock(nn.Module):
    """x + W2 GELU(W1 LN(DWConv(x))): a depthwise conv mixes time, the MLP mixes channels.

    (B, C, M) -> (B, C, M); the MLP's hidden width is int(C * mlp_ratio).
    """

    def __init__(self, dim: int, kernel: int, mlp_ratio: float = 2.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        h = self.dwconv(x).transpose(1, 2)                                   # (B, M, C)
        return x + self.mlp(self.norm(h)).transpose(1, 2)                    # (B, C, M)


class NeuralVocoder(nn.Module):
    """Log-mel (B, n_mels, M) -> wave (B, (M - 1) * hop): Vocos-style.

    conv in -> ConvNeXt blocks -> per frame log|X| and a phase angle p (F = n_fft/2 + 1
    each) -> X = exp(log|X|) (cos p + i sin p) -> one inverse STFT (`audio.dsp.istft`).
    """

    def __init__(self, config: VocoderConfig):
        super().__init__()
        self.config = config
        C, n_freq = config.dim, config.n_fft // 2 + 1
        self.inp = nn.Conv1d(config.n_mels, C, config.kernel, padding=config.kernel // 2)
        self.blocks = nn.ModuleList([ConvNeXtBlock(C, config.kernel, config.mlp_ratio)
                                     for _ in range(config.depth)])
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, 2 * n_freq)
        self.mel_norm = MelNormalizer(config.n_mels)     # per-band statistics of the training mels

    def spectrum(self, mel: Tensor) -> Tensor:
        """Complex STFT (B, F, M) predicted from log-mel (B, n_mels, M)."""
        check_shape(mel, "mel", "B n_mels frames", n_mels=self.config.n_mels)
        h = self.inp(self.mel_norm(mel))                                    # (B, C, M)
        for blk in self.blocks:
            h = blk(h)
        out = self.head(self.norm(h.transpose(1, 2))).transpose(1, 2)       # (B, 2F, M)
        log_mag, phase = out.float().chunk(2, dim=1)     # (B, F, M) each; float32 under AMP
        mag = log_mag.clamp(max=6.0).exp()
        return torch.polar(mag, phase)

    def forward(self, mel: Tensor) -> Tensor:
        spec = self.spectrum(mel)
        return dsp.istft(spec, self.config.n_fft, self.config.hop_length)    # (B, (M - 1) * hop)


def vocoder_loss(model: NeuralVocoder, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict]:
    """The training loss: `multi_resolution_stft_loss` of the vocoded mel segments
    (B, n_mels, M) against their waves (B, (M - 1) * hop). Returns (loss, {"sc", "mag"})."""
    mels, waves = batch
    return multi_resolution_stft_loss(model(mels), waves)


@torch.no_grad()
def vocode(model: NeuralVocoder, log_mel: Tensor) -> Tensor:
    """Wave (T,) on the CPU from one log-mel (n_mels, M), T = (M - 1) * hop, peak 0.9 at most."""
    if not isinstance(log_mel, Tensor) or log_mel.ndim != 2 or log_mel.shape[1] < 2:
        raise ValueError(f"log_mel must be a (n_mels, frames) tensor with frames >= 2; "
                         f"got {getattr(log_mel, 'shape', type(log_mel).__name__)}")
    was = model.training
    model.eval()
    wave = model(log_mel[None].to(model.mel_norm.mean.device).float())[0].cpu()
    model.train(was)
    peak = wave.abs().max()
    return wave * (0.9 / peak) if peak > 0.9 else wave
