"""A speaker encoder: a clip's log-mel -> a unit "d-vector" that says who is speaking.

A multi-speaker TTS model needs to be told *who* speaks. Two ways, both used on day 11:

- a **speaker table**: one vector per known voice (we store each voice's mean d-vector);
- a **speaker encoder** (a "d-vector" network, as in SV2TTS / Jia et al., 2018): a small
  network that maps any reference mel spectrogram to a unit vector such that clips of
  one voice land close together (cosine similarity near 1) and different voices apart.
  Conditioning the TTS model on that vector instead of a table row is what lets it
  speak in a voice it never saw in training ("cloning" from a reference clip).

    enc = SpeakerEncoder(SpeakerEncoderConfig(n_voices=27))
    loss = speaker_loss(enc, (mels, voice_ids))     # cosine classifier over the voices
    e = enc.embed(utt.mel)                          # (dim,) unit vector

The encoder is trained as a classifier over the training voices with a cosine
("normalised softmax") head: logits_c = s cos(e, w_c). Its embedding layer then measures
voices by angle, which is what we compare with `similarity`. Training (recipe, presets,
the speaker table): `speaker_train.py`; the voices' data: `data.speech.voice_utterances`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.normalize import MelNormalizer
from course_lib.checks import check_positive_int, check_shape
from course_lib.data.speech import N_MELS

__all__ = ["SpeakerEncoderConfig", "SpeakerEncoder", "speaker_loss", "similarity", "embed_batch"]


@dataclass(frozen=True)
class SpeakerEncoderConfig:
    """n_mels input bands; channels of the dilated convolutions; dim of the d-vector;
    scale s of the cosine classifier; n_voices rows of its head (training only: 0 in a
    recipe, filled from the recipe's voices by `train_speaker_encoder`)."""
    n_mels: int = N_MELS
    channels: int = 64
    dim: int = 64
    scale: float = 10.0
    n_voices: int = 0

    def __post_init__(self):
        check_positive_int(self.n_voices, "n_voices", allow_zero=True)
        for name in ("n_mels", "channels", "dim"):
            check_positive_int(getattr(self, name), name)


class SpeakerEncoder(nn.Module):
    """Reference log-mel (B, n_mels, T) -> unit d-vector (B, dim).

    Three dilated 1-D convolutions (receptive field 1 + 4·(1 + 2 + 4) = 29 frames, about
    0.36 s at day 11's 12.5 ms hop) see the local timbre; statistics pooling (mean and
    standard deviation over the real frames) makes the result independent of what is said and of the clip's length; a linear layer
    and L2 normalisation give the d-vector. Mels are normalised per band inside
    (`mel_norm`, fitted on the training clips).
    """

    def __init__(self, config: SpeakerEncoderConfig):
        super().__init__()
        self.config = config
        C = config.channels
        self.convs = nn.ModuleList([nn.Conv1d(config.n_mels, C, 5, padding=2),
                                    nn.Conv1d(C, C, 5, padding=4, dilation=2),
                                    nn.Conv1d(C, C, 5, padding=8, dilation=4)])
        self.proj = nn.Linear(2 * C, config.dim)
        self.classes = nn.Parameter(torch.randn(config.n_voices, config.dim) * 0.1)   # w_c
        self.mel_norm = MelNormalizer(config.n_mels)

    def forward(self, mels: Tensor, lengths: Tensor | None = None) -> Tensor:
        check_shape(mels, "mels", "B n_mels T", n_mels=self.config.n_mels)
        B, _, T = mels.shape
        lengths = torch.full((B,), T, device=mels.device) if lengths is None else lengths
        mask = (torch.arange(T, device=mels.device) < lengths[:, None])[:, None].float()  # (B, 1, T)
        h = self.mel_norm(mels)                                            # (B, n_mels, T)
        for conv in self.convs:
            h = F.relu(conv(h * mask))                                   # (B, C, T)
        n = mask.sum(-1).clamp_min(1)                                    # (B, 1)
        mean = (h * mask).sum(-1) / n                                    # (B, C)
        std = (((h - mean[..., None]) ** 2 * mask).sum(-1) / n + 1e-5).sqrt()
        return F.normalize(self.proj(torch.cat([mean, std], -1)), dim=-1)  # (B, dim)

    @torch.no_grad()
    def embed(self, mel: Tensor) -> Tensor:
        """d-vector (dim,) of one log-mel (n_mels, T) (eval mode, on the model's device)."""
        check_shape(mel, "mel", "n_mels frames", n_mels=self.config.n_mels)
        was = self.training
        self.eval()
        e = self(mel[None].to(self.mel_norm.mean.device).float())[0]
        self.train(was)
        return e


def speaker_loss(model: SpeakerEncoder, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Cross-entropy of the cosine classifier, logits_c = s cos(e, w_c), over the voices.

    batch: mels (B, n_mels, T) (fixed-length crops) and voice ids (B,)."""
    mels, labels = batch
    e = model(mels)                                                      # (B, dim)
    logits = model.config.scale * e @ F.normalize(model.classes, dim=-1).T   # (B, voices)
    return F.cross_entropy(logits, labels)


@torch.no_grad()
def embed_batch(model: SpeakerEncoder, mels: Sequence[Tensor], batch_size: int = 64) -> list[Tensor]:
    """d-vectors (dim,) on the CPU of many log-mels (n_mels, M_i), padded into batches."""
    was = model.training
    model.eval()
    device, out = model.mel_norm.mean.device, []
    for i in range(0, len(mels), batch_size):
        chunk = mels[i:i + batch_size]
        lengths = torch.tensor([m.shape[1] for m in chunk])
        padded = torch.stack([F.pad(m, (0, int(lengths.max()) - m.shape[1])) for m in chunk])
        out.extend(model(padded.to(device), lengths.to(device)).cpu())
    model.train(was)
    return out


def similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of d-vectors along the last axis: (..., dim) x (..., dim) -> (...)."""
    return F.cosine_similarity(a, b, dim=-1)
