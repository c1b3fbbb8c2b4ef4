"""Music Transformer (Huang et al., 2018): a decoder-only transformer over music tokens
with relative attention computed by the skewing trick; an absolute-position baseline;
cached generation; temperature / top-k / top-p sampling; the loss, training windows and
held-out NLL. Recipes and training: `transformer_train.py`.

Relative attention adds to each logit a term that depends on the query-key *distance*
r = j - i (r <= 0 under the causal mask), one learned vector E_r per distance and head:

    logits_ij = (q_i · k_j + q_i · E_{j-i}) / sqrt(Dh)

Computing q_i · E_{j-i} for every (i, j) by gathering an (L, S, Dh) tensor of
embeddings costs O(L·S·Dh) memory. The skew computes Q Eᵀ once, (L, S), and moves
each row into place with a pad, a reshape and a slice (`skew`), in O(L·S) memory.

Shapes: B batch, L new tokens (queries), S keys (= cached + new), H heads, Dh head width,
V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_positive_int
from course_lib.music.tokenizer import PAD
from course_lib.nn.attention import KVCache, MultiHeadAttention, _and_masks, scaled_dot_product_attention
from course_lib.runtime import step_random


# --------------------------------------------------------------------------- relative attention

def skew(rel: Tensor) -> Tensor:
    """Move relative logits into absolute (query, key) places.

    rel: (..., L, S), column m = q_i · E_m where E_m is the embedding of distance
    m - (S - 1) (last column = distance 0). The L queries are the *last* L of the S
    positions (query i sits at position S - L + i). Returns (..., L, S) with

        out[..., i, j] = rel[..., i, j + (L - 1 - i)]   for every key j <= S - L + i,

    i.e. the logit of distance j - (S - L + i). Entries above that (future keys) are
    garbage and must be masked (causal attention masks them anyway).

    The trick: pad one zero column on the left, (L, S + 1); read the L·(S + 1) numbers
    row-major, drop the first L, and read the rest as (L, S). Row i then starts L - 1 - i
    columns further right in the padded matrix. (For L = S this is dropping the first
    row of the (S + 1, S) reshape, as in the paper.)
    """
    if not isinstance(rel, Tensor) or rel.ndim < 2:
        raise ValueError(f"rel must be a tensor (..., L, S); got {getattr(rel, 'shape', type(rel))}")
    *batch, L, S = rel.shape
    if L > S:
        raise ValueError(f"rel must have L <= S (queries are the last L of S positions); got L={L}, S={S}")
    padded = F.pad(rel, (1, 0))                                  # (..., L, S + 1)
    flat = padded.reshape(*batch, L * (S + 1))                   # row-major
    return flat[..., L:].reshape(*batch, L, S)                   # drop L, re-read as (L, S)


class RelativeMultiHeadAttention(MultiHeadAttention):
    """Causal self-attention with learned relative-position logits (Shaw et al. 2018,
    made memory-efficient by Huang et al. 2018), per head.

    max_distance: distances 0 .. max_distance - 1 get their own embedding; farther keys
    share the embedding of distance max_distance - 1 (so generation may run past the
    training context). Only for causal self-attention: the skew is exact only for keys
    at or before the query.
    """

    def __init__(self, dim: int, heads: int, max_distance: int, dropout: float = 0.0):
        super().__init__(dim, heads, dropout=dropout)
        if not isinstance(max_distance, int) or max_distance < 1:
            raise ValueError(f"max_distance must be a positive int; got {max_distance!r}")
        self.max_distance = max_distance
        # row m <-> distance m - (max_distance - 1): the last row is distance 0 (the query itself)
        self.rel = nn.Parameter(torch.randn(heads, max_distance, self.head_dim) / math.sqrt(self.head_dim))

    def rel_table(self, S: int) -> Tensor:
        """(H, S, Dh): embeddings of distances -(S-1) .. 0, the far ones clipped."""
        M = self.max_distance
        if S <= M:
            return self.rel[:, M - S:]
        return torch.cat([self.rel[:, :1].expand(-1, S - M, -1), self.rel], dim=1)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, return_weights: bool = False):
        """q (B, H, L, Dh), k, v (B, H, S, Dh) -> (B, H, L, Dh); logits get q_i · E_{j-i} added."""
        L, S = q.shape[-2], k.shape[-2]
        rel = skew(q @ self.rel_table(S).transpose(-2, -1))      # (B, H, L, S)
        bias = rel / math.sqrt(self.head_dim)                    # same scale as q · k
        return scaled_dot_product_attention(q, k, v, mask=_and_masks(bias, mask),
                                            dropout_p=self.dropout if self.training else 0.0,
                                            return_weights=return_weights)


# --------------------------------------------------------------------------- model

@dataclass(frozen=True)
class MusicTransformerConfig:
    """Sizes. relative=True: relative attention (distances up to `context`), no position
    table; relative=False: a learned absolute position table of `max_len` rows.
    vocab_size 0 in a recipe: `train_music_transformer` fills it from the tokenizer."""

    vocab_size: int = 0
    dim: int = 128
    heads: int = 4
    depth: int = 3
    context: int = 128
    relative: bool = True
    dropout: float = 0.1
    max_len: int = 1024
    mlp_ratio: float = 4.0

    def __post_init__(self):
        check_positive_int(self.vocab_size, "vocab_size", allow_zero=True)
        for name in ("dim", "heads", "depth", "context", "max_len"):
            check_positive_int(getattr(self, name), name)
        if self.dim % self.heads:
            raise ValueError(f"heads must divide dim; got dim={self.dim}, heads={self.heads}")
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive; got {self.mlp_ratio!r}")


class DecoderBlock(nn.Module):
    """Pre-norm block: x + attn(norm(x)) (causal), then x + mlp(norm(x))."""

    def __init__(self, config: MusicTransformerConfig):
        super().__init__()
        c, hidden = config, int(config.dim * config.mlp_ratio)
        self.norm1, self.norm2 = nn.LayerNorm(c.dim), nn.LayerNorm(c.dim)
        self.attn = (RelativeMultiHeadAttention(c.dim, c.heads, c.context, dropout=c.dropout)
                     if c.relative else MultiHeadAttention(c.dim, c.heads, dropout=c.dropout))
        self.mlp = nn.Sequential(nn.Linear(c.dim, hidden), nn.GELU(), nn.Linear(hidden, c.dim))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:   # (B, L, D)
        x = x + self.drop(self.attn(self.norm1(x), is_causal=True, cache=cache))
        return x + self.drop(self.mlp(self.norm2(x)))


class MusicTransformer(nn.Module):
    """Decoder-only transformer: tokens (B, L) -> next-token logits (B, L, V)."""

    def __init__(self, config: MusicTransformerConfig):
        super().__init__()
        if config.vocab_size < 1:
            raise ValueError("config.vocab_size is 0: fill it from the tokenizer, "
                             "dataclasses.replace(config, vocab_size=len(tokenizer))")
        self.config = c = config
        self.tok = nn.Embedding(c.vocab_size, c.dim)
        self.pos = None if c.relative else nn.Embedding(c.max_len, c.dim)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(c) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.vocab_size, bias=False)
        self.head.weight = self.tok.weight                       # tied input/output embeddings
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        """GPT-2 style: small normal weights, zero biases."""
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def new_caches(self) -> list[KVCache]:
        return [KVCache() for _ in self.blocks]

    def forward(self, idx: Tensor, caches: list[KVCache] | None = None) -> Tensor:
        """idx (B, L) token ids -> logits (B, L, V). With `caches` (one KVCache per block,
        from `new_caches`), idx are the tokens after those already cached."""
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.dtype != torch.long:
            raise ValueError(f"idx must be a (B, L) long tensor; got {getattr(idx, 'shape', type(idx))}")
        start = len(caches[0]) if caches else 0
        x = self.tok(idx)                                        # (B, L, D)
        if self.pos is not None:
            end = start + idx.shape[1]
            if end > self.config.max_len:
                raise ValueError(f"absolute positions go up to max_len={self.config.max_len}; asked for {end}")
            x = x + self.pos(torch.arange(start, end, device=idx.device))
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(self.norm(x))                           # (B, L, V)


def lm_loss(model: nn.Module, batch: Tensor) -> Tensor:
    """Next-token cross-entropy of a (B, T + 1) batch: predict batch[:, 1:] from batch[:, :-1];
    PAD targets are ignored."""
    logits = model(batch[:, :-1])                                # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten(), ignore_index=PAD)


# --------------------------------------------------------------------------- data

def window_batches(sequences: list[list[int]], batch_size: int, length: int, seed: int = 0,
                   transpose: tuple[int, int] | None = None, pitch_offset: int | None = None):
    """A function step -> (batch_size, length) long tensor of random windows, drawn by
    `runtime.step_random(seed, step)` (deterministic per step, so `fit` resumes exactly). A window is `length` consecutive tokens of one
    sequence (pieces chosen in proportion to their length; short ones are PAD-padded).

    transpose=(lo, hi): shift the window's Pitch tokens (ids pitch_offset .. +127) by a
    random number of semitones in lo..hi, kept only if every pitch stays in 0..127.
    """
    if not sequences:
        raise ValueError("sequences must not be empty")
    if transpose is not None and pitch_offset is None:
        raise ValueError("transpose needs pitch_offset (the id of Pitch_0)")
    tensors = [torch.tensor(s, dtype=torch.long) for s in sequences]
    weights = [max(len(s) - 1, 1) for s in sequences]

    def batch(step: int) -> Tensor:
        rng = step_random(seed, step)
        out = torch.full((batch_size, length), PAD, dtype=torch.long)
        for b, i in enumerate(rng.choices(range(len(tensors)), weights=weights, k=batch_size)):
            seq = tensors[i]
            start = rng.randrange(max(len(seq) - length, 0) + 1)
            window = seq[start:start + length].clone()
            if transpose is not None:
                shift = rng.randint(*transpose)
                is_pitch = (window >= pitch_offset) & (window < pitch_offset + 128)
                pitches = window[is_pitch] + shift
                if len(pitches) and pitches.min() >= pitch_offset and pitches.max() < pitch_offset + 128:
                    window[is_pitch] = pitches
            out[b, :len(window)] = window
        return out

    return batch


@torch.no_grad()
def sequence_nll(model: nn.Module, sequences: list[list[int]], context: int, stride: int | None = None,
                 batch_size: int = 64) -> float:
    """Mean negative log-likelihood (nats) per predicted token over `sequences`.

    Every token after the first of each sequence is scored exactly once, seeing up to
    `context` earlier tokens: windows of `context` inputs slide by `stride` (default
    context // 2), and each window scores only the targets no earlier window scored.
    """
    stride = stride or context // 2
    if not 1 <= stride <= context:
        raise ValueError(f"stride must be in 1..context={context}; got {stride}")
    model.eval()
    device = next(model.parameters()).device
    inputs, targets = [], []
    for seq in sequences:
        seq = torch.tensor(seq, dtype=torch.long)
        n, scored = len(seq), 1                                  # targets 1 .. n-1
        end = min(context + 1, n)
        while scored < n:
            begin = max(end - context - 1, 0)
            window = seq[begin:end]                              # inputs window[:-1], targets window[1:]
            tgt = window[1:].clone()
            tgt[: scored - begin - 1] = PAD                      # already scored: ignore
            inp = torch.full((context,), PAD, dtype=torch.long)
            t = torch.full((context,), PAD, dtype=torch.long)
            inp[:len(window) - 1], t[:len(tgt)] = window[:-1], tgt
            inputs.append(inp)
            targets.append(t)
            scored, end = end, min(end + stride, n)
    total, count = 0.0, 0
    for i in range(0, len(inputs), batch_size):
        x = torch.stack(inputs[i:i + batch_size]).to(device)
        y = torch.stack(targets[i:i + batch_size]).to(device)
        logits = model(x)
        total += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=PAD,
                                 reduction="sum").item()
        count += (y != PAD).sum().item()
    return total / count


# --------------------------------------------------------------------------- sampling

def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits of the last axis, set the rest to -inf."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be a positive int; got {k!r}")
    k = min(k, logits.shape[-1])
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability
    reaches p, *including* the token that crosses p; set the rest to -inf.

    A token is dropped when the probability of the tokens ranked above it already
    reaches p: cumsum - prob >= p.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1]; got {p}")
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs                        # mass ranked above each token
    drop_sorted = before >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)           # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """logits (B, V) -> next tokens (B, 1). temperature 0 = greedy (argmax)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0; got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).to(logits.device)


@torch.no_grad()
def generate(model: MusicTransformer, prompt: Tensor, steps: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
             use_cache: bool = True, return_logits: bool = False):
    """Extend prompt (B, P) by `steps` sampled tokens -> (B, P + steps)
    (and the (B, steps, V) logits they were drawn from, with return_logits).

    use_cache=True feeds only the new token at each step (a KV cache per block);
    use_cache=False recomputes the whole prefix every step. Both see the whole prefix,
    so they give the same logits (up to float rounding) and, for the same generator,
    the same tokens.
    """
    if prompt.ndim != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must be (B, P) with P >= 1; got {tuple(prompt.shape)}")
    model.eval()
    caches = model.new_caches() if use_cache else None
    idx, all_logits = prompt, []
    logits = model(prompt, caches)[:, -1]                        # (B, V)
    for _ in range(steps):
        all_logits.append(logits)
        next_tok = sample_next(logits, temperature, top_k, top_p, generator)
        idx = torch.cat([idx, next_tok], dim=1)
        if len(all_logits) == steps:
            break
        logits = (model(next_tok, caches) if use_cache else model(idx))[:, -1]
    out = idx
    return (out, torch.stack(all_logits, dim=1)) if return_logits else out
