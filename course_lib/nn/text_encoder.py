"""A small caption encoder from scratch (day 08): word embeddings, sin-cos positions and
pre-norm Transformer encoder blocks with a padding mask — the role T5 or CLIP's text
tower plays in a text-to-video model, at the scale of our captions.

    encoder = TextEncoder(TextEncoderConfig())
    ids, pad = captions.tokenize(["a 3 moving up-left"])
    tokens = encoder(ids, pad)            # (B, L, D), zeros at the padding positions
    pooled = encoder.pool(tokens, pad)    # (B, D), the mean of the real tokens

The video model's cross-attention reads `tokens` (with `pad` as its key padding mask);
`pool` gives one vector per caption for the timestep-style (adaLN) conditioning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.checks import check_shape
from course_lib.nn.embeddings import sincos_1d
from course_lib.nn.transformer import EncoderBlock

__all__ = ["TextEncoderConfig", "TextEncoder"]


@dataclass(frozen=True)
class TextEncoderConfig:
    """Sizes of the caption encoder. vocab_size and max_len default to day 08's captions
    (`data.captions.WORDS`, `MAX_WORDS`)."""
    vocab_size: int = 18
    max_len: int = 5
    dim: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0

    def __post_init__(self):
        for name in ("vocab_size", "max_len", "dim", "depth", "heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if self.dim % 2 or self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be even and divisible by heads ({self.heads})")


class TextEncoder(nn.Module):
    """ids (B, L) int64, pad (B, L) bool (True = padding) -> (B, L, D) token features.

        h_0 = E[ids] + P[:L]                 (word embeddings + sin-cos positions)
        h_k = EncoderBlock(h_{k-1}, pad)     (self-attention never attends to padding)
        out = LN(h_K), then 0 at the padding positions
    """

    def __init__(self, config: TextEncoderConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        self.register_buffer("pos", sincos_1d(torch.arange(config.max_len), config.dim), persistent=False)
        self.blocks = nn.ModuleList(EncoderBlock(config.dim, config.heads, config.mlp_ratio)
                                    for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim)

    def forward(self, ids: Tensor, pad: Tensor) -> Tensor:
        check_shape(ids, "ids", "B L")
        check_shape(pad, "pad", "B L", B=ids.shape[0], L=ids.shape[1])
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"ids has {ids.shape[1]} positions; the encoder knows {self.config.max_len}")
        if pad.dtype != torch.bool or bool(pad.all(dim=1).any()):
            raise ValueError("pad must be bool (True = padding) with at least one real token per caption "
                             "(the null caption is the token <null>, not an empty one)")
        x = self.embed(ids) + self.pos[: ids.shape[1]]                    # (B, L, D)
        for block in self.blocks:
            x = block(x, pad)
        return self.norm(x).masked_fill(pad[..., None], 0.0)

    @staticmethod
    def pool(tokens: Tensor, pad: Tensor) -> Tensor:
        """(B, L, D), (B, L) -> (B, D): the mean over each caption's real tokens."""
        keep = (~pad).to(tokens.dtype)[..., None]                          # (B, L, 1)
        return (tokens * keep).sum(dim=1) / keep.sum(dim=1)
