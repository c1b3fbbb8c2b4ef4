"""A neural audio codec (day 15): 50 latent frames per second, residual vector
quantization, and a decoder that writes a spectrum for one inverse STFT.

    wave (B, N) at 16 kHz
      └ log|STFT| (1024-sample windows, hop 320), normalised per frequency bin
      └ conv k ─ GELU ─ conv k                                   -> z (B, T, D), T = N / 320
      └ ResidualVQ: n of `num_quantizers` codebooks             -> codes (B, n, T), ẑ
      └ conv k ─ GELU ─ conv k -> normalised log|X̂| (641 bins per frame)
      └ X̂[f, t] = (exp(log|X̂|) − floor) · e^{iφ[f, t]},  φ[f, t] = Σ_{τ≤t} 2π f hop / n_fft
      └ inverse STFT (1280-sample windows, hop 320)              -> wave (B, N)

Bitrate with n codebooks of K entries: 50 · n · log2 K bits/s (8 × 256: 3.2 kbps).

How this differs from SoundStream and EnCodec, and why (each was measured on the
course's clips, on a 2-core CPU, with a budget of about a minute of training):

- **The first layer is fixed**: a strided convolution with Fourier kernels (the STFT)
  instead of learned kernels on raw samples, as in frequency-domain codecs (FunCodec's
  freq-codec, NVIDIA's spectral codec). Learned full-rate convolutions cost most of the
  budget and had learned nothing useful when it ran out.
- **The decoder writes a spectrum** and one inverse STFT makes the samples (Vocos'
  idea, which Vocos itself applies to EnCodec's tokens). Its magnitudes are trained by
  regression, in **per-bin normalised log units** (as the TTS days normalise mels),
  squared (L2). L1 learns each bin's *median*, and a note's harmonic is rare in any one
  bin, so an L1 decoder learns silence there; the STFT losses through the inverse
  STFT (spectral convergence, log magnitude) also pulled every decoder tried toward
  silence on these clips, whose silences are exact zeros.
- **A log-mel term** joins the per-bin loss (EnCodec's and DAC's mel loss, computed on
  the predicted magnitudes): per-bin regression smoothed the levels of a note's upper
  harmonics, which is what tells the course's four timbres apart; mel bands pool
  neighbouring bins as the ear does. Measured with a 16-dimensional latent: the sound
  judge named 95 % of the reconstructions right (83 % without the term, 8 dimensions).
- **Phases are not learned**: bin f advances by 2π f hop / n_fft per frame, the phase
  of a steady sinusoid at the bin's centre frequency (what a phase vocoder assumes), so
  overlapping frames add up instead of cancelling. A note between two bins comes out as
  the two neighbouring bin frequencies; noise comes out too regular ("phasey"). Real
  codecs learn phase with adversarial losses (below).
- **No GAN.** SoundStream, EnCodec and DAC add multi-scale STFT and waveform
  discriminators with feature matching; without them reconstructions are smoothed —
  noise-like texture and fine detail are averaged away, which a regression loss cannot
  see.
- **Quantization waits**: for the first `warmup_steps` training steps the latents pass
  unquantized, so the codebooks' k-means start sees latents that already mean
  something; the encoder is then trained through the straight-through estimator alone
  (`commitment` 0 by default: measured, the commitment pull made the decoder drop notes).

    codec = Codec(CodecConfig()).fit_normalizers(training_waves)
    codes = codec.encode(wave)           # (B, 8, N / 320)
    back = codec.decode(codes[:, :2])    # the 2-codebook (800 bps) reconstruction
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio import dsp
from course_lib.audio.normalize import MelNormalizer
from course_lib.audio.rvq import ResidualVQ, RVQOutput, bitrate
from course_lib.checks import check_positive_int, check_range, check_shape

__all__ = ["CodecConfig", "Codec", "bin_centre_phase", "log_mel_of_magnitudes", "codec_loss"]


@dataclass(frozen=True)
class CodecConfig:
    """Sizes of the codec: analysis and synthesis STFTs (`n_fft_in`, `n_fft_out`, one
    `hop` = samples per latent frame), the convolutions' `hidden` width and `kernel`,
    the latent size `latent_dim`, the RVQ (an entry whose EMA count falls under
    `dead_threshold` is restarted; 0: never), and training details (`log_floor` of the
    magnitudes, `warmup_steps` without quantization, `commitment` weight, the weight
    `mel_weight` of the log-mel term of the loss and its `mel_bands`)."""
    sample_rate: int = 16000
    hop: int = 320
    n_fft_in: int = 1024
    n_fft_out: int = 1280
    hidden: int = 256
    kernel: int = 3
    latent_dim: int = 16
    num_quantizers: int = 8
    codebook_size: int = 256
    quantizer_dropout: float = 0.5
    dead_threshold: float = 0.5
    log_floor: float = 1e-3
    warmup_steps: int = 400
    commitment: float = 0.0
    mel_weight: float = 3.0
    mel_bands: int = 80

    def __post_init__(self):
        for name in ("sample_rate", "hop", "n_fft_in", "n_fft_out", "hidden", "kernel", "latent_dim",
                     "num_quantizers", "codebook_size", "mel_bands"):
            check_positive_int(getattr(self, name), name)
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (same-length convolutions); got {self.kernel}")
        if self.n_fft_out < self.hop:
            raise ValueError(f"n_fft_out ({self.n_fft_out}) must be at least the hop ({self.hop})")
        check_range(self.quantizer_dropout, "quantizer_dropout", 0.0, 1.0)
        if not self.dead_threshold >= 0:
            raise ValueError(f"dead_threshold must be >= 0 (0: no restarts); got {self.dead_threshold!r}")
        if not self.log_floor > 0:
            raise ValueError(f"log_floor must be > 0; got {self.log_floor!r}")
        if not self.mel_weight >= 0:
            raise ValueError(f"mel_weight must be >= 0; got {self.mel_weight!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative int; got {self.warmup_steps!r}")

    @property
    def frame_rate(self) -> float:
        """Latent frames per second (50 at 16 kHz with a hop of 320)."""
        return self.sample_rate / self.hop

    def bitrate(self, num_quantizers: int | None = None) -> float:
        """Bits per second with `num_quantizers` codebooks (all by default)."""
        return bitrate(self.frame_rate, num_quantizers or self.num_quantizers, self.codebook_size)


def bin_centre_phase(n_bins: int, frames: int, hop: int, n_fft: int) -> Tensor:
    """φ (n_bins, frames): φ[f, t] = 2π f hop t / n_fft, the phase at frame t of a steady
    sinusoid at bin f's centre frequency f · sr / n_fft (modulo 2π)."""
    f = torch.arange(n_bins, dtype=torch.float64)[:, None]
    t = torch.arange(frames, dtype=torch.float64)[None]
    return torch.remainder(2 * math.pi * f * hop * t / n_fft, 2 * math.pi).float()


class Codec(nn.Module):
    """wave (B, N) in [-1, 1], N a multiple of `config.hop` -> (reconstruction (B, N),
    RVQOutput). `encode` / `decode` go to and from codes (B, n, N / hop)."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = c = config
        bins_in, bins_out, k = c.n_fft_in // 2 + 1, c.n_fft_out // 2 + 1, c.kernel
        self.in_norm = MelNormalizer(bins_in)       # per-bin mean/std of log|STFT|: fitted on training audio
        self.out_norm = MelNormalizer(bins_out)
        self.encoder = nn.Sequential(nn.Conv1d(bins_in, c.hidden, k, padding=k // 2), nn.GELU(),
                                     nn.Conv1d(c.hidden, c.latent_dim, k, padding=k // 2))
        self.rvq = ResidualVQ(c.latent_dim, c.num_quantizers, c.codebook_size, c.quantizer_dropout,
                              dead_threshold=c.dead_threshold)
        self.decoder = nn.Sequential(nn.Conv1d(c.latent_dim, c.hidden, k, padding=k // 2), nn.GELU(),
                                     nn.Conv1d(c.hidden, 2 * bins_out, k, padding=k // 2))
        with torch.no_grad():                     # the phase deviations start at 0: bin-centre phases
            self.decoder[-1].weight[bins_out:].zero_()
            self.decoder[-1].bias[bins_out:].zero_()
        self.register_buffer("steps_seen", torch.tensor(0))   # training forward passes (the warm-up clock)

    # ---------------------------------------------------------------- the two spectra
    def _check_wave(self, wave: Tensor) -> None:
        check_shape(wave, "wave", "B N")
        if wave.shape[1] % self.config.hop:
            raise ValueError(f"wave length {wave.shape[1]} must be a multiple of the hop {self.config.hop}")

    def analysis(self, wave: Tensor) -> Tensor:
        """log(|STFT| + floor) (B, n_fft_in / 2 + 1, N / hop): the encoder's input frames."""
        c = self.config
        frames = wave.shape[1] // c.hop
        return torch.log(dsp.stft(wave, c.n_fft_in, c.hop).abs() + c.log_floor)[..., :frames]

    def target(self, wave: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """What the decoder should predict for `wave`, at its frames (B, F, N / hop + 1) each:
        log(|X| + floor); δ, the phase advance of every bin from frame t − 1 to t minus the
        bin centre's (0 at frame 0); and |X| / max |X| per clip (how much each bin matters)."""
        c = self.config
        spec = dsp.stft(wave, c.n_fft_out, c.hop)
        magnitude = spec.abs()
        advance = bin_centre_phase(spec.shape[1], 2, c.hop, c.n_fft_out)[:, 1:].to(wave.device)   # (F, 1)
        delta = F.pad(torch.angle(spec[..., 1:] * spec[..., :-1].conj()) - advance, (1, 0))
        relative = magnitude / magnitude.amax(dim=(1, 2), keepdim=True).clamp_min(1e-8)
        return torch.log(magnitude + c.log_floor), delta, relative

    @torch.no_grad()
    def fit_normalizers(self, waves: Tensor) -> "Codec":
        """Fit the per-bin log-magnitude statistics of both spectra on training waves (M, N)."""
        check_shape(waves, "waves", "M N")
        self.in_norm.fit(list(self.analysis(waves.float())))
        self.out_norm.fit(list(self.target(waves.float())[0]))
        return self

    # ---------------------------------------------------------------- the network
    def latents(self, wave: Tensor) -> Tensor:
        """wave (B, N) -> z (B, N / hop, latent_dim), before quantization."""
        self._check_wave(wave)
        return self.encoder(self.in_norm(self.analysis(wave))).transpose(1, 2)

    def predict_spectrum(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(quantized) latents (B, T, D) -> (normalised log magnitudes (B, F, T + 1), phase
        deviations δ in (−π, π) (B, F, T + 1)); the extra last frame (the inverse STFT's
        closing half-window) is the bins' mean with no deviation."""
        check_shape(z, "z", "B T D", D=self.config.latent_dim)
        log_mag, deviation = F.pad(self.decoder(z.transpose(1, 2)), (0, 1)).chunk(2, dim=1)
        return log_mag, math.pi * torch.tanh(deviation)

    def spectrum_to_wave(self, normalised_log_mag: Tensor, deviation: Tensor | None = None) -> Tensor:
        """Normalised log magnitudes (B, F, T + 1) -> wave (B, T · hop): undo the
        normalisation and the floor; phases advance per frame by the bin centre's
        2π f hop / n_fft plus the deviation δ (a phase vocoder: δ is how far the bin's
        true frequency lies from its centre); one inverse STFT."""
        c = self.config
        log_mag = self.out_norm.inverse(normalised_log_mag)
        magnitude = (log_mag.clamp(max=10.0).exp() - c.log_floor).clamp_min(0.0)
        phase = bin_centre_phase(magnitude.shape[1], magnitude.shape[2], c.hop, c.n_fft_out).to(magnitude.device)
        if deviation is not None:
            phase = phase + torch.cumsum(F.pad(deviation[..., 1:], (1, 0)), dim=-1)   # frame 0 has none
        frames = magnitude.shape[2] - 1
        return dsp.istft(torch.polar(magnitude, phase), c.n_fft_out, c.hop)[:, :frames * c.hop]

    def spectra(self, wave: Tensor, n: int | None = None) -> tuple[RVQOutput, Tensor, Tensor]:
        """wave (B, N) -> (RVQOutput, normalised log magnitudes, phase deviations (B, F, T + 1)
        each): everything but the inverse STFT (what training needs). In training, the first
        `warmup_steps` calls skip quantization (codes (B, 0, T))."""
        z = self.latents(wave)
        if self.training and int(self.steps_seen) < self.config.warmup_steps:
            out = RVQOutput(z, z.new_zeros((z.shape[0], 0, z.shape[1]), dtype=torch.long), z.new_zeros(()))
        else:
            out = self.rvq(z, n)
        if self.training:
            self.steps_seen += 1
        return (out, *self.predict_spectrum(out.quantized))

    def forward(self, wave: Tensor, n: int | None = None) -> tuple[Tensor, RVQOutput]:
        """wave (B, N) -> (reconstruction (B, N), RVQOutput) with n codebooks (all by default;
        a random number under quantizer dropout in training)."""
        out, log_mag, deviation = self.spectra(wave, n)
        return self.spectrum_to_wave(log_mag, deviation), out

    @torch.no_grad()
    def encode(self, wave: Tensor, n: int | None = None) -> Tensor:
        """wave (B, N) -> codes (B, n, N / hop) (all codebooks by default)."""
        return self.rvq(self.latents(wave), n or self.config.num_quantizers).codes

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """codes (B, n, T) -> wave (B, T · hop), with the n codebooks given."""
        return self.spectrum_to_wave(*self.predict_spectrum(self.rvq.decode(codes)))

    @torch.no_grad()
    def decode_latents(self, z: Tensor, n: int | None = None) -> Tensor:
        """Latents (B, T, D) from anywhere (e.g. a style transfer) -> wave (B, T · hop):
        quantized with n codebooks (all by default), then decoded."""
        check_shape(z, "z", "B T D", D=self.config.latent_dim)
        return self.spectrum_to_wave(*self.predict_spectrum(self.rvq(z, n or self.config.num_quantizers).quantized))


def log_mel_of_magnitudes(magnitude: Tensor, filterbank: Tensor) -> Tensor:
    """log10 of the mel spectrogram of magnitudes (B, F, T) with filters (M, F), floored
    60 dB under each clip's loudest band: (B, M, T) (what `quality.mel_distance` compares)."""
    mel = torch.einsum("mf,bft->bmt", filterbank, magnitude)
    floor = mel.amax(dim=(1, 2), keepdim=True).detach().clamp_min(1e-8) * 1e-3
    return torch.log10(torch.maximum(mel, floor))


def codec_loss(codec: Codec, wave: Tensor, peak_weight: float = 20.0) -> tuple[Tensor, dict]:
    """For waves (B, N), with quantizer dropout in training mode, with per-bin weights
    w = 1 + peak_weight · sqrt(|X| / max |X|) (the loud bins, a note's harmonics, count most):
        Σ w (â − a)² / Σ w             a: the normalised log magnitudes (at the decoder's frames)
      + Σ r (1 − cos(δ̂ − δ)) / Σ r     δ: the phase deviations, r = |X| / max |X|
      + mel_weight · mean |log10 mel(|X̂|) − log10 mel(|X|)|    (floored 60 dB down)
      + commitment · the RVQ's commitment loss.      Returns (loss, parts).
    An unweighted mean learns the loud-but-rare bins last: a bright note came back dark.
    The log-mel term (EnCodec's and DAC's mel loss, on the predicted magnitudes, without
    the inverse STFT) pools neighbouring bins as the ear and the sound judge do: with it
    the judge named 88 % of the reconstructions right instead of 83 % (the four timbres
    differ in the levels of their upper harmonics, which the per-bin loss smoothed)."""
    c = codec.config
    out, log_mag, deviation = codec.spectra(wave)
    log_target, delta, relative = codec.target(wave)
    weight = 1 + peak_weight * relative.sqrt()
    spectral = ((log_mag - codec.out_norm(log_target)).pow(2) * weight).sum() / weight.sum()
    phase = ((1 - torch.cos(deviation - delta)) * relative).sum() / relative.sum()
    loss = spectral + phase + c.commitment * out.commitment
    parts = {"spectral": float(spectral.detach()), "phase": float(phase.detach()),
             "commit": float(out.commitment.detach()), "codebooks": out.codes.shape[1]}
    if c.mel_weight > 0:
        filterbank = dsp.mel_filterbank(c.sample_rate, c.n_fft_out, c.mel_bands, device=wave.device)
        magnitude = (codec.out_norm.inverse(log_mag).clamp(max=10.0).exp() - c.log_floor).clamp_min(0.0)
        target = (log_target.exp() - c.log_floor).clamp_min(0.0)
        mel = (log_mel_of_magnitudes(magnitude, filterbank) - log_mel_of_magnitudes(target, filterbank)).abs().mean()
        loss = loss + c.mel_weight * mel
        parts["mel"] = float(mel.detach())
    return loss, parts
