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
    voc = train_vocoder()                  # the neural one: loaded from artifacts/ or trained
    wave = vocode(voc.model, mel)

The MR-STFT loss is averaged over the resolutions (the mean of the two terms).
"""

from __future__ import annotations

import functools
import random
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio import dsp
from course_lib.data.speech import F_MAX, HOP_LENGTH, N_FFT, SAMPLE_RATE
from course_lib.runtime import settings_key

__all__ = ["mel_to_linear", "griffin_lim_vocoder", "stft_magnitude", "multi_resolution_stft_loss",
           "RESOLUTIONS", "VocoderConfig", "ConvNeXtBlock", "NeuralVocoder", "vocode",
           "VocoderRecipe", "TrainedVocoder", "train_vocoder"]


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

@dataclass
class VocoderConfig:
    """n_mels in; channels and ConvNeXt blocks; the output STFT (n_fft, hop = mel hop)."""
    n_mels: int = 80
    channels: int = 128
    layers: int = 4
    kernel: int = 7
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH

    def __post_init__(self):
        for name in ("n_mels", "channels", "layers", "kernel", "n_fft", "hop_length"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")


class ConvNeXtBlock(nn.Module):
    """x + W2 GELU(W1 LN(DWConv(x))): a depthwise conv mixes time, the MLP mixes channels.

    (B, C, M) -> (B, C, M).
    """

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.dwconv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        h = self.dwconv(x).transpose(1, 2)                                   # (B, M, C)
        return x + self.mlp(self.norm(h)).transpose(1, 2)                    # (B, C, M)


class NeuralVocoder(nn.Module):
    """Log-mel (B, n_mels, M) -> wave (B, (M - 1) * hop): Vocos-style.

    conv in -> ConvNeXt blocks -> per frame log|X| and a phase angle p (F = n_fft/2 + 1
    each) -> X = exp(log|X|) (cos p + i sin p) -> one inverse STFT (`audio.dsp.istft`).
    """

    def __init__(self, cfg: VocoderConfig):
        super().__init__()
        self.cfg = cfg
        C, n_freq = cfg.channels, cfg.n_fft // 2 + 1
        self.inp = nn.Conv1d(cfg.n_mels, C, cfg.kernel, padding=cfg.kernel // 2)
        self.blocks = nn.ModuleList([ConvNeXtBlock(C, cfg.kernel) for _ in range(cfg.layers)])
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, 2 * n_freq)
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels, 1))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels, 1))

    def spectrum(self, mel: Tensor) -> Tensor:
        """Complex STFT (B, F, M) predicted from log-mel (B, n_mels, M)."""
        if mel.ndim != 3 or mel.shape[1] != self.cfg.n_mels:
            raise ValueError(f"mel must be (B, {self.cfg.n_mels}, frames); got {tuple(mel.shape)}")
        h = self.inp((mel - self.mel_mean) / self.mel_std)                  # (B, C, M)
        for blk in self.blocks:
            h = blk(h)
        out = self.head(self.norm(h.transpose(1, 2))).transpose(1, 2)       # (B, 2F, M)
        log_mag, phase = out.float().chunk(2, dim=1)     # (B, F, M) each; float32 under AMP
        mag = log_mag.clamp(max=6.0).exp()
        return torch.polar(mag, phase)

    def forward(self, mel: Tensor) -> Tensor:
        spec = self.spectrum(mel)
        return dsp.istft(spec, self.cfg.n_fft, self.cfg.hop_length)          # (B, (M - 1) * hop)


@torch.no_grad()
def vocode(model: NeuralVocoder, log_mel: Tensor) -> Tensor:
    """Wave (T,) on the CPU from one log-mel (n_mels, M), T = (M - 1) * hop, peak 0.9 at most."""
    if not isinstance(log_mel, Tensor) or log_mel.ndim != 2 or log_mel.shape[1] < 2:
        raise ValueError(f"log_mel must be a (n_mels, frames) tensor with frames >= 2; "
                         f"got {getattr(log_mel, 'shape', type(log_mel).__name__)}")
    was = model.training
    model.eval()
    wave = model(log_mel[None].to(model.mel_mean.device).float())[0].cpu()
    model.train(was)
    peak = wave.abs().max()
    return wave * (0.9 / peak) if peak > 0.9 else wave


# ---------------------------------------------------------------- training

@dataclass
class VocoderRecipe:
    """What `train_vocoder` trains: teacher waves of `voices`, segments, optimisation."""
    voices: tuple[str, ...] = ("en-us", "en-us+f3", "en-gb-x-rp", "en-us+m1", "en-us+m3",
                               "en-us+m7", "en-us+f1", "en-us+f4")
    domain: str = "digits"
    n_per_voice: int = 40            # sentences generated per voice outside the corpus
    per_voice: int = 30              # training utterances per voice
    segment: int = 32                # mel frames per training segment (0.4 s)
    steps: int = 300
    batch_size: int = 8
    lr: float = 2e-3
    seed: int = 0
    config: dict = field(default_factory=dict)

    def key(self) -> str:
        return settings_key(self)


@dataclass
class TrainedVocoder:
    model: NeuralVocoder
    history: list[float]
    recipe: VocoderRecipe


def train_vocoder(recipe: VocoderRecipe | None = None, checkpoint: str | None = "day11_vocoder",
                  device: torch.device | None = None, progress: bool = True) -> TrainedVocoder:
    """Train the neural vocoder on teacher (mel, wave) pairs with the MR-STFT loss, or load it.

    Data: `per_voice` training utterances of each voice (day 09's corpus or
    `speaker.voice_utterances`), spoken again by eSpeak for the wave. A batch holds
    `batch_size` random segments of `segment` frames and their (segment - 1) * hop
    samples (seeded by the step). Checkpoint: artifacts/checkpoints/{checkpoint}_{key}.pt.
    """
    from course_lib.data import speech
    from course_lib.runtime import get_device, torch_threads
    from course_lib.speech.speaker import voice_utterances
    from course_lib.train import fit

    recipe = recipe or VocoderRecipe()
    device = device or get_device()
    hop = HOP_LENGTH
    pairs = []
    for v in recipe.voices:
        utts = [u for u in voice_utterances(v, recipe.domain, None if v in speech.VOICES else recipe.n_per_voice)
                if u.split == "train"][:recipe.per_voice]
        pairs += [(u.mel, u.wave()) for u in utts]
    torch.manual_seed(recipe.seed)
    model = NeuralVocoder(VocoderConfig(**recipe.config))
    frames = torch.cat([m for m, _ in pairs], 1)
    model.mel_mean.copy_(frames.mean(1, keepdim=True))
    model.mel_std.copy_(frames.std(1, keepdim=True).clamp_min(1e-3))
    M = recipe.segment

    def data(step: int):
        rng = random.Random(recipe.seed * 1_000_003 + step)
        mels, waves = [], []
        for _ in range(recipe.batch_size):
            mel, wave = pairs[rng.randrange(len(pairs))]
            start = rng.randrange(max(mel.shape[1] - M, 0) + 1)
            seg = mel[:, start:start + M]
            w = wave[start * hop:start * hop + (M - 1) * hop]
            mels.append(F.pad(seg, (0, M - seg.shape[1]), value=float(mel.min())))
            waves.append(F.pad(w, (0, (M - 1) * hop - len(w))))
        return torch.stack(mels), torch.stack(waves)

    def loss_fn(model: NeuralVocoder, batch) -> Tensor:
        mels, waves = batch
        return multi_resolution_stft_loss(model(mels), waves)[0]

    with torch_threads(1) if device.type == "cpu" else nullcontext():
        history = fit(model, loss_fn, data, steps=recipe.steps, lr=recipe.lr, device=device,
                      checkpoint=None if checkpoint is None else f"{checkpoint}_{recipe.key()}",
                      checkpoint_every=10**9, desc="vocoder", progress=progress)
    model.eval()
    return TrainedVocoder(model, history, recipe)
