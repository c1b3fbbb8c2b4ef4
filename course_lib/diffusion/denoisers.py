"""Small denoisers for the first diffusion days: an MLP over flattened data.

It works for 2-D toy points and for 8x8 digits (64 numbers) alike, which keeps day 03
about diffusion, not architecture. Day 04 replaces it with a DiT.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.nn.embeddings import timestep_embedding


@dataclass(frozen=True)
class MLPDenoiserConfig:
    """Sizes of an MLP denoiser. Presets: `denoisers_train.PRESETS` (digits) and
    `denoisers_train.RING_PRESETS` (the 2-D toy)."""
    data_dim: int                 # numbers per sample: 2 for toy points, 64 for 8x8 digits
    dim: int = 256                # hidden width
    depth: int = 3                # residual blocks
    num_classes: int = 0          # 0: unconditional; else label num_classes is the null label
    class_dropout: float = 0.0    # probability of training with the null label (for guidance)
    time_dim: int = 64            # sinusoidal timestep features


class ResidualMLPBlock(nn.Module):
    """h + MLP(LayerNorm(h) * (1 + scale) + shift), with (shift, scale) from the condition."""

    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Linear(hidden, 2 * hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.film(c).chunk(2, dim=-1)
        return h + self.mlp(self.norm(h) * (1 + scale) + shift)


class MLPDenoiser(nn.Module):
    """Predicts eps for data of any shape (B, ...) flattened to `data_dim` numbers.

    forward(x (B, ...), t (B,), labels (B,) or None) -> (B, ...). With num_classes > 0,
    label index num_classes is the "null" label used for classifier-free guidance; in
    training mode each label is replaced by it with probability `class_dropout`."""

    def __init__(self, config: MLPDenoiserConfig):
        super().__init__()
        self.config = config
        d = config.dim
        self.inp = nn.Linear(config.data_dim, d)
        self.time = nn.Sequential(nn.Linear(config.time_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.label = nn.Embedding(config.num_classes + 1, d) if config.num_classes else None
        self.blocks = nn.ModuleList(ResidualMLPBlock(d) for _ in range(config.depth))
        self.out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, config.data_dim))

    @property
    def null_label(self) -> int:
        return self.config.num_classes

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        config = self.config
        flat = x.reshape(len(x), -1)                                    # (B, data_dim)
        if flat.shape[1] != config.data_dim:
            raise ValueError(f"x must hold {config.data_dim} numbers per sample; got {tuple(x.shape)}")
        c = self.time(timestep_embedding(t, config.time_dim))          # (B, dim)
        if self.label is not None:
            if labels is None:
                raise ValueError("labels are required for a class-conditional denoiser")
            if self.training and config.class_dropout > 0:
                drop = torch.rand(labels.shape, device=labels.device) < config.class_dropout
                labels = torch.where(drop, torch.full_like(labels, config.num_classes), labels)
            c = c + self.label(labels)
        h = self.inp(flat)
        for block in self.blocks:
            h = block(h, c)
        return self.out(h).reshape(x.shape)
