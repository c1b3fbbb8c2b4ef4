"""Caption conditioning for the video DiT (day 08): the caption embedder and the
cross-attention block.

A label-conditional DiT adds one vector per class to the timestep embedding. A caption
is a sequence, so it enters twice (PixArt-α / SD3-style):

    c       = t_emb + W_pool · mean(text tokens)            (adaLN: every block's modulation)
    x       = x + CrossAttn(LN(x), text tokens, pad)         (after every spatial block)

In the video DiT (`VideoDiT.initialize_weights`) the cross-attention's output projection
and W_pool start at zero: a model built with them computes, before training, exactly what it computes without them (the same
promise as the zero-initialised temporal blocks of day 05 and ControlNet of day 07).

Classifier-free guidance over captions: while training, a caption is replaced by the
null caption — every position the word <null> — with probability `dropout`;
`ddpm.guided` then works unchanged, with the caption ids (B, L) as its "labels" and
`NULL_ID` as the null label (it fills a row with NULL_ID).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.data.captions import NULL, PAD, WORDS
from course_lib.nn.attention import MultiHeadAttention
from course_lib.nn.text_encoder import TextEncoder, TextEncoderConfig

__all__ = ["PAD_ID", "NULL_ID", "CaptionEmbedder", "CrossAttentionBlock"]

PAD_ID, NULL_ID = WORDS.index(PAD), WORDS.index(NULL)


class CaptionEmbedder(nn.Module):
    """ids (B, L) -> (c (B, D), tokens (B, L, Dt), pad (B, L) bool, True = padding).

    In training mode each caption becomes the null caption with probability `dropout`."""

    def __init__(self, text: TextEncoderConfig, dim: int, dropout: float):
        super().__init__()
        self.dropout = dropout
        self.encoder = TextEncoder(text)
        self.pool_proj = nn.Linear(text.dim, dim)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.training and self.dropout > 0:
            drop = torch.rand(ids.shape[0], device=ids.device) < self.dropout
            ids = torch.where(drop[:, None], torch.full_like(ids, NULL_ID), ids)
        pad = ids == PAD_ID
        tokens = self.encoder(ids, pad)                                   # (B, L, Dt)
        return self.pool_proj(TextEncoder.pool(tokens, pad)), tokens, pad


class CrossAttentionBlock(nn.Module):
    """x (B, N, D) + CrossAttn(LN(x), context (B, L, Dc), key padding pad (B, L)) -> (B, N, D).
    A model that zeroes the output projection (the video DiT does) starts with the block
    as the identity; the 3D U-Net, trained from scratch, keeps PyTorch's initialisation."""

    def __init__(self, dim: int, heads: int, context_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, kv_dim=context_dim)

    def forward(self, x: Tensor, context: Tensor, pad: Tensor) -> Tensor:
        return x + self.attn(self.norm(x), context=context, key_padding_mask=pad)
