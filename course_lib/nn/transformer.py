"""The pre-norm Transformer encoder block, shared by the encoders of the course.

    x = x + SelfAttn(LN(x))          (padding positions never attended to)
    x = x + MLP(LN(x))               MLP: Linear(D, r·D) → GELU → Linear(r·D, D)

Used by day 12's Whisper-style audio encoder, day 08's caption encoder and day 15's fine-codes
stage (VALL-E's non-autoregressive model).
"""

from __future__ import annotations

from torch import Tensor, nn

from course_lib.nn.attention import MultiHeadAttention

__all__ = ["MLP", "EncoderBlock"]


class MLP(nn.Sequential):
    """(..., D) -> (..., D): Linear(D, ratio·D), GELU, Linear(ratio·D, D)."""

    def __init__(self, dim: int, ratio: float):
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class EncoderBlock(nn.Module):
    """x (B, S, D), pad (B, S) bool, True = padding (or None) -> (B, S, D)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, dropout=dropout)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
        x = x + self.attn(self.ln1(x), key_padding_mask=pad)            # (B, S, D)
        return x + self.mlp(self.ln2(x))
