"""How close is decoded audio to the original? The measures day 15 puts beside every codec.

- **mel distance** (as in DAC's evaluation): the mean |log10 M̂ − log10 M| over mel bins and
  frames of magnitude mel spectrograms (1024-sample windows, hop 256, 64 bands) — 0 for a
  perfect copy, 1 when every band is off by a factor of 10. Both are floored `range_db`
  (60 dB) below the reference's loudest band: the course's clips are synthetic, with
  *exact* silence, and an absolute floor would score a codec mostly on how silent its
  silence is (a hiss at -80 dB costing as much as a missing note);
- **SI-SNR** (scale-invariant signal-to-noise ratio, Le Roux et al. 2019), in dB:
      s_t = (<ŝ, s> / ||s||²) s,   e = ŝ − s_t,   SI-SNR = 10 log10(||s_t||² / ||e||²)
  after removing the means; it needs the *waveform* right, phase included;
- **PESQ** (ITU-T P.862, wide-band mode, 1.0-4.5) and **STOI** (short-time objective
  intelligibility, 0-1) from the `pesq` and `pystoi` packages — perceptual scores made for
  *speech*, so they are reported on speech clips only.

    mel_distance(decoded, original)           # (N,) or a float for (T,) waves
    si_snr(decoded, original)                 # dB
    pesq_wb(decoded, original), stoi(decoded, original)
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.audio import dsp

__all__ = ["mel_distance", "si_snr", "pesq_wb", "stoi"]


def _pair(est: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(est, Tensor) or not isinstance(ref, Tensor):
        raise TypeError("est and ref must be tensors")
    if est.shape != ref.shape or est.ndim not in (1, 2) or est.shape[-1] < 2:
        raise ValueError(f"est and ref must be waves (T,) or (N, T) of one shape; got {tuple(est.shape)} "
                         f"and {tuple(ref.shape)}")
    return est.detach().float().cpu(), ref.detach().float().cpu()


def mel_distance(est: Tensor, ref: Tensor, sample_rate: int = 16_000, n_fft: int = 1024, hop_length: int = 256,
                 n_mels: int = 64, range_db: float = 60.0) -> Tensor | float:
    """Mean |log10 max(M̂, f) − log10 max(M, f)| of magnitude mel spectrograms, f = the
    reference's largest mel value · 10^(−range_db / 20) (per clip): a float for waves (T,),
    (N,) for (N, T)."""
    est, ref = _pair(est, ref)
    if not range_db > 0:
        raise ValueError(f"range_db must be > 0; got {range_db!r}")
    mel = lambda w: dsp.mel_spectrogram(w, sample_rate, n_fft, hop_length, n_mels, power=1.0)  # noqa: E731
    m_est, m_ref = mel(est), mel(ref)
    floor = m_ref.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-8) * 10 ** (-range_db / 20)
    d = (torch.maximum(m_est, floor).log10() - torch.maximum(m_ref, floor).log10()).abs().mean(dim=(-2, -1))
    return d.item() if d.ndim == 0 else d


def si_snr(est: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor | float:
    """Scale-invariant SNR in dB (higher is better): a float for (T,), (N,) for (N, T)."""
    est, ref = _pair(est, ref)
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    target = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps) * ref
    noise = est - target
    out = 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))
    return out.item() if out.ndim == 0 else out


def _per_clip(fn, est: Tensor, ref: Tensor) -> Tensor | float:
    est, ref = _pair(est, ref)
    if est.ndim == 1:
        return float(fn(ref.numpy().astype("float64"), est.numpy().astype("float64")))
    return torch.tensor([float(fn(r.numpy().astype("float64"), e.numpy().astype("float64")))
                         for e, r in zip(est, ref)])


def pesq_wb(est: Tensor, ref: Tensor, sample_rate: int = 16_000) -> Tensor | float:
    """Wide-band PESQ (`pesq` package, ITU-T P.862.2) of 16 kHz speech, 1.0 (bad) to 4.5."""
    from pesq import pesq

    if sample_rate != 16_000:
        raise ValueError(f"wide-band PESQ needs 16 kHz audio; got sample_rate={sample_rate}")
    return _per_clip(lambda r, e: pesq(sample_rate, r, e, "wb"), est, ref)


def stoi(est: Tensor, ref: Tensor, sample_rate: int = 16_000) -> Tensor | float:
    """STOI (`pystoi` package, Taal et al. 2011) of speech, 0 to 1 (higher: more intelligible)."""
    from pystoi import stoi as _stoi

    return _per_clip(lambda r, e: _stoi(r, e, sample_rate, extended=False), est, ref)
