"""DiT: a Diffusion Transformer with adaLN-Zero conditioning (Peebles & Xie 2023).

    image (B, C, H, W) --PatchEmbed2D--> tokens (B, N, D) + 2-D sin-cos positions
    c = timestep_embedding(t) MLP + label embedding                        (B, D)
    N x AdaLNZeroBlock(tokens, c) -> final adaLN + Linear -> unpatchify -> eps (B, C, H, W)

Each block turns c into six vectors (shift, scale, gate for attention and for the MLP)
through SiLU -> Linear(D, 6D). Those Linears and the final layer start at zero, so every
block starts as the identity and the untrained model predicts exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.nn.attention import MultiHeadAttention
from course_lib.nn.embeddings import PatchEmbed2D, sincos_2d, timestep_embedding, unpatchify


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x (B, N, D) normalised elsewhere, then x * (1 + scale) + shift, per sample."""
    return x * (1 + scale[:, None]) + shift[:, None]


@dataclass(frozen=True)
class DiTConfig:
    """Sizes of a DiT. Named presets of whole training recipes are in `dit_train.PRESETS`."""
    input_size: int = 16        # H = W of the (latent) image
    patch: int = 2
    in_channels: int = 1
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    num_classes: int = 10       # the null label for guidance is index num_classes
    class_dropout: float = 0.1  # probability of training with the null label

    @property
    def grid(self) -> int:
        return self.input_size // self.patch

    @property
    def num_tokens(self) -> int:
        return self.grid ** 2


class TimestepEmbedder(nn.Module):
    """t (B,) -> (B, D): sinusoidal features then a 2-layer MLP."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim))


class LabelEmbedder(nn.Module):
    """labels (B,) -> (B, D), with one extra "null" row used for classifier-free guidance.

    While training, each label is replaced by the null label with probability `dropout`,
    so one network learns both p(x | label) and p(x)."""

    def __init__(self, num_classes: int, dim: int, dropout: float):
        super().__init__()
        self.num_classes, self.dropout = num_classes, dropout
        self.table = nn.Embedding(num_classes + 1, dim)

    def forward(self, labels: Tensor) -> Tensor:
        if self.training and self.dropout > 0:
            drop = torch.rand(labels.shape, device=labels.device) < self.dropout
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return self.table(labels)


class AdaLNZeroBlock(nn.Module):
    """x + gate_a * Attn(modulate(LN(x))) ; x + gate_m * MLP(modulate(LN(x)))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + gate_a[:, None] * self.attn(modulate(self.norm1(x), shift_a, scale_a))   # (B, N, D)
        x = x + gate_m[:, None] * self.mlp(modulate(self.norm2(x), shift_m, scale_m))
        return x


class FinalLayer(nn.Module):
    """adaLN then Linear(D, p*p*C): tokens back to patch pixels."""

    def __init__(self, dim: int, patch: int, out_channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))       # (B, N, p*p*C)


class DiT(nn.Module):
    """Class-conditional DiT predicting the noise eps. forward(x (B,C,H,W), t (B,), labels (B,))."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        if config.input_size % config.patch:
            raise ValueError(f"input_size ({config.input_size}) must be a multiple of patch ({config.patch})")
        self.config = config
        d = config.dim
        self.patch_embed = PatchEmbed2D(config.in_channels, d, config.patch)
        self.register_buffer("pos_embed", sincos_2d(config.grid, config.grid, d)[None], persistent=False)
        self.t_embedder = TimestepEmbedder(d)
        self.y_embedder = LabelEmbedder(config.num_classes, d, config.class_dropout)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(d, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.final_layer = FinalLayer(d, config.patch, config.in_channels)
        self.initialize_weights()

    @property
    def null_label(self) -> int:
        return self.config.num_classes

    def initialize_weights(self) -> None:
        def xavier(m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.apply(xavier)
        w = self.patch_embed.proj.weight   # initialise the patch projection like a Linear
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        if isinstance(self.y_embedder, LabelEmbedder):   # (a caption embedder keeps its own init)
            nn.init.normal_(self.y_embedder.table.weight, std=0.02)
        for layer in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        # Zero-out adaLN modulation and the output layer: every block starts as the identity.
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def embed(self, x: Tensor, t: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """The stem: (tokens (B, N, D) with positions, conditioning c (B, D))."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1:] != (cfg.in_channels, cfg.input_size, cfg.input_size):
            raise ValueError(f"x must be (B, {cfg.in_channels}, {cfg.input_size}, {cfg.input_size}); "
                             f"got {tuple(x.shape)}")
        if t.shape != (len(x),) or labels.shape != (len(x),):
            raise ValueError(f"t and labels must be ({len(x)},); got {tuple(t.shape)} and {tuple(labels.shape)}")
        tokens = self.patch_embed(x) + self.pos_embed                    # (B, N, D)
        return tokens, self.t_embedder(t) + self.y_embedder(labels)      # c: (B, D)

    def head(self, tokens: Tensor, c: Tensor) -> Tensor:
        """The output: tokens (B, N, D) -> prediction (B, C, H, W)."""
        cfg = self.config
        out = self.final_layer(tokens, c)                                # (B, N, p*p*C)
        return unpatchify(out, cfg.patch, cfg.in_channels, (cfg.grid, cfg.grid))

    def forward(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        tokens, c = self.embed(x, t, labels)
        for block in self.blocks:
            tokens = block(tokens, c)                                    # (B, N, D)
        return self.head(tokens, c)
