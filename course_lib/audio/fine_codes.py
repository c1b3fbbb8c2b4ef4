"""Coarse first, fine after (day 15): VALL-E's non-autoregressive stage, small.

AudioLM and VALL-E split a codec's codebooks by how much they matter. An autoregressive
model generates the **coarse** codes (VALL-E: codebook 1) frame by frame; a
**non-autoregressive** model then fills in each finer codebook for *all frames at once*,
one pass per codebook, seeing every frame of the levels below it (bidirectional
attention):

    codes[:, j] = argmax p(c_j | codes[:, :j], condition)       j = coarse .. K − 1

Its input at frame t is Σ_{k<j} E_k[c_k(t)] + L_j + P_t + condition: the embeddings of
the known levels, a level embedding saying which codebook to predict, a position and
the sound's attributes (`token_lm.SoundCondition`). Training picks one level j per clip.
K − coarse passes replace (K − coarse) · T autoregressive steps of a flattened pattern.

    fine = FineCodes(FineCodesConfig(num_codebooks=4, coarse=1))
    loss = fine_codes_loss(fine, (codes, labels, pitches, loud, onsets))
    codes = fill_fine_codes(fine, coarse_codes, labels, pitches, loud)    # (B, 1, T) -> (B, 4, T)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.token_lm import SoundCondition, drop_condition
from course_lib.checks import check_positive_int, check_shape
from course_lib.nn.transformer import EncoderBlock

__all__ = ["FineCodesConfig", "FineCodes", "fine_codes_loss", "fill_fine_codes"]


@dataclass(frozen=True)
class FineCodesConfig:
    """K `num_codebooks` of `codebook_size`; the first `coarse` are given; the transformer's
    `dim`, `heads`, `depth`; at most `max_frames` frames."""
    num_codebooks: int = 4
    coarse: int = 1
    codebook_size: int = 256
    dim: int = 128
    heads: int = 4
    depth: int = 3
    max_frames: int = 64
    dropout: float = 0.1

    def __post_init__(self):
        for name in ("num_codebooks", "coarse", "codebook_size", "dim", "heads", "depth", "max_frames"):
            check_positive_int(getattr(self, name), name)
        if self.coarse >= self.num_codebooks:
            raise ValueError(f"coarse ({self.coarse}) must be below num_codebooks ({self.num_codebooks})")


class FineCodes(nn.Module):
    """(condition ids, codes (B, K, T) of which levels < j are read, level j) -> logits
    (B, T, V) of codebook j at every frame."""

    def __init__(self, config: FineCodesConfig):
        super().__init__()
        self.config = c = config
        self.code_embed = nn.ModuleList(nn.Embedding(c.codebook_size, c.dim) for _ in range(c.num_codebooks))
        self.level_embed = nn.Embedding(c.num_codebooks, c.dim)
        self.pos = nn.Embedding(c.max_frames, c.dim)
        self.condition = SoundCondition(c.dim)
        self.blocks = nn.ModuleList(EncoderBlock(c.dim, c.heads, 4.0, c.dropout) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.heads = nn.ModuleList(nn.Linear(c.dim, c.codebook_size) for _ in range(c.num_codebooks))

    def forward(self, cond: tuple[Tensor, ...], codes: Tensor, level: int) -> Tensor:
        c = self.config
        check_shape(codes, "codes", "B K T")
        if not c.coarse <= level < c.num_codebooks or codes.shape[1] < level:
            raise ValueError(f"level must be in [{c.coarse}, {c.num_codebooks}) with codes of at least `level` "
                             f"codebooks; got level {level}, codes {tuple(codes.shape)}")
        t = codes.shape[2]
        if t > c.max_frames:
            raise ValueError(f"{t} frames; this model has max_frames={c.max_frames}")
        x = sum(self.code_embed[k](codes[:, k]) for k in range(level))             # (B, T, D)
        x = x + self.level_embed.weight[level] + self.pos.weight[:t] + self.condition(cond)[:, None]
        for block in self.blocks:
            x = block(x, None)                                             # every frame is real: no padding
        return self.heads[level](self.norm(x))                                       # (B, T, V)


def fine_codes_loss(model: FineCodes, batch) -> Tensor:
    """Cross-entropy of one random fine level per batch, given the levels below it (and the
    condition, dropped like the token LM's at rate 0.15 so either can be used)."""
    codes, *attributes = batch
    c = model.config
    level = int(torch.randint(c.coarse, c.num_codebooks, ()))
    cond = drop_condition(SoundCondition.ids(*attributes), 0.15)
    logits = model(cond, codes, level)
    return F.cross_entropy(logits.flatten(0, 1), codes[:, level].flatten())


@torch.no_grad()
def fill_fine_codes(model: FineCodes, coarse_codes: Tensor, labels: Tensor, pitches: Tensor, loud: Tensor,
                    onsets: Tensor | None = None, tempi: Tensor | None = None) -> Tensor:
    """coarse codes (B, coarse, T) -> all codes (B, K, T): one greedy pass per fine level
    (VALL-E's NAR stage decodes greedily)."""
    c = model.config
    check_shape(coarse_codes, "coarse_codes", "B C T", C=c.coarse)
    model.eval()
    cond = SoundCondition.ids(labels, pitches, loud, onsets, tempi)
    b, _, t = coarse_codes.shape
    codes = torch.cat([coarse_codes, coarse_codes.new_zeros(b, c.num_codebooks - c.coarse, t)], dim=1)
    for level in range(c.coarse, c.num_codebooks):
        codes[:, level] = model(cond, codes, level).argmax(-1)
    return codes
