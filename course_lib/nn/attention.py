"""Attention from scratch: scaled dot-product attention, masks, multi-head attention,
cross-attention, a KV cache for incremental decoding, and chunked (online-softmax)
attention.

Shape names used throughout:
    B batch, H heads, L query length, S key/value length,
    E query/key feature size, Ev value feature size, D model width (= H * Dh).

Mask convention (the same as `torch.nn.functional.scaled_dot_product_attention`):
a bool mask is True where a query MAY attend to a key; a float mask is added to the
logits (0 = keep, -inf = block, anything else = a bias such as ALiBi or a relative
position term). Note that `torch.nn.MultiheadAttention` uses the opposite polarity for
bool masks (True = blocked); `key_padding_mask` here follows that module (True = pad).

A query whose keys are all masked has nothing to attend to: its attention weights are
all zero and its output is zero (modern PyTorch does the same), never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "scaled_dot_product_attention",
    "chunked_attention",
    "causal_mask",
    "length_mask",
    "split_heads",
    "merge_heads",
    "KVCache",
    "MultiHeadAttention",
]


# --------------------------------------------------------------------------- checks

def _shape(x) -> tuple:
    return tuple(x.shape) if isinstance(x, Tensor) else x


def _check_float_tensor(x, name: str, pattern: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {pattern}; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> tuple[int, ...]:
    """Validate q (..., L, E), k (..., S, E), v (..., S, Ev); return the batch shape."""
    for name, x, pattern in (("q", q, "(..., L, E)"), ("k", k, "(..., S, E)"), ("v", v, "(..., S, Ev)")):
        _check_float_tensor(x, name, pattern)
        if x.ndim < 2:
            raise ValueError(f"{name} must be {pattern}; got {_shape(x)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must have the same dtype; got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k and v must be on the same device; got {q.device}, {k.device}, {v.device}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same feature size E; got q {_shape(q)} and k {_shape(k)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length S; got k {_shape(k)} and v {_shape(v)}")
    try:
        return tuple(torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
    except RuntimeError:
        raise ValueError(f"the batch dims (...) of q, k and v must broadcast; got q {_shape(q)}, "
                         f"k {_shape(k)}, v {_shape(v)}") from None


def _check_mask(mask, q: Tensor, expected: tuple[int, ...]) -> None:
    """mask: bool or float, broadcastable to `expected` = (..., L, S)."""
    pattern = "(..., L, S) = " + str(expected)
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor broadcastable to {pattern}; got {type(mask).__name__}")
    if mask.dtype != torch.bool and mask.dtype != q.dtype:
        raise TypeError(f"mask must be bool (True = attend) or float of q's dtype {q.dtype} (added to "
                        f"the logits); got {mask.dtype}")
    if mask.device != q.device:
        raise ValueError(f"mask must be on q's device {q.device}; got {mask.device}")
    try:
        ok = tuple(torch.broadcast_shapes(mask.shape, expected)) == expected
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"mask must be broadcastable to {pattern}; got {_shape(mask)}")


def _check_scale(scale) -> None:
    if scale is not None and (not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0):
        raise ValueError(f"scale must be a positive number or None (= 1/sqrt(E)); got {scale!r}")


# --------------------------------------------------------------------------- masks

def causal_mask(L: int, S: int | None = None, offset: int = 0, device=None) -> Tensor:
    """Bool mask (L, S), True = attend: query i may see key j when j <= i + offset.

    offset=0 is torch's `is_causal` (aligned top-left, `torch.ones(L, S).tril(0)`).
    With a KV cache holding P past keys, the L new queries sit at positions P..P+L-1,
    so use offset=P = S - L (aligned bottom-right).
    """
    S = L if S is None else S
    if L < 0 or S < 0:
        raise ValueError(f"L and S must be >= 0; got L={L}, S={S}")
    return torch.ones(L, S, dtype=torch.bool, device=device).tril(diagonal=offset)


def length_mask(lengths: Tensor, S: int | None = None) -> Tensor:
    """Bool mask (B, S), True at the real tokens (position < length), i.e. the keys a query
    may attend to, from the true lengths (B,) of sequences padded to S.

    Reshape to (B, 1, 1, S) to use it as the mask of (B, H, L, S) logits; its negation is
    `MultiHeadAttention`'s key_padding_mask (True = padding).
    """
    if not isinstance(lengths, Tensor) or lengths.ndim != 1:
        raise ValueError(f"lengths must be a 1-D tensor (B,); got {_shape(lengths)}")
    S = int(lengths.max()) if S is None else S
    return torch.arange(S, device=lengths.device) < lengths[:, None]


def _and_masks(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """Combine two masks (bool: True = attend, or float: additive) into one."""
    if a is None or b is None:
        return a if b is None else b
    if a.dtype == torch.bool and b.dtype == torch.bool:
        return a & b
    if a.dtype == torch.bool:
        a, b = b, a
    if b.dtype == torch.bool:  # a float, b bool
        return torch.where(b, a, float("-inf"))
    return a + b


# --------------------------------------------------------------------------- attention

def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 is_causal: bool = False, scale: float | None = None,
                                 dropout_p: float = 0.0, return_weights: bool = False):
    r"""Attention(Q, K, V) = softmax(Q Kᵀ · scale + M) V, with scale = 1/sqrt(E) by default.

    q: (..., L, E) queries, k: (..., S, E) keys, v: (..., S, Ev) values; the batch dims
    (...) broadcast (so k, v of shape (B, 1, S, E) serve every head: multi-query attention).
    mask: bool, True = attend (M = 0 there, -inf elsewhere), or float added to the
        logits as M; broadcastable to (..., L, S).
    is_causal: query i attends to keys j <= i, aligned top-left like torch
        (`torch.ones(L, S).tril(0)`). Unlike torch, may be combined with `mask` (both apply).
    dropout_p: dropout on the attention weights (applied whenever > 0, as in torch;
        pass 0.0 at eval time).
    return_weights: also return the attention weights (..., L, S) (before dropout).

    Returns out (..., L, Ev), or (out, weights). A query with every key masked gets
    zero weights and a zero output (as modern torch does), not NaN.
    """
    batch = _check_qkv(q, k, v)
    _check_scale(scale)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1); got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    if mask is not None:
        _check_mask(mask, q, (*batch, L, S))
    if is_causal:
        mask = _and_masks(mask, causal_mask(L, S, device=q.device))

    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    logits = (q @ k.transpose(-2, -1)) * scale                   # (..., L, S)
    if mask is not None:
        logits = torch.where(mask, logits, float("-inf")) if mask.dtype == torch.bool else logits + mask
    weights = torch.softmax(logits, dim=-1)                      # (..., L, S), rows sum to 1
    # A row whose logits are all -inf is 0/0 = NaN after softmax: it has nothing to attend to.
    empty = torch.isneginf(logits).all(dim=-1, keepdim=True)
    weights = weights.masked_fill(empty, 0.0)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    out = dropped @ v                                            # (..., L, Ev)
    return (out, weights) if return_weights else out


def chunked_attention(q: Tensor, k: Tensor, v: Tensor, chunk_size: int, mask: Tensor | None = None,
                      is_causal: bool = False, scale: float | None = None) -> Tensor:
    r"""Exact attention that visits the keys `chunk_size` at a time (FlashAttention's
    online softmax), so only (..., L, chunk_size) logits exist at once instead of (..., L, S).

    For each chunk c with logits s_c, keep a running max m, sum l and output o:
        m' = max(m, max_j s_cj)
        l' = l · e^{m - m'} + Σ_j e^{s_cj - m'}
        o' = o · e^{m - m'} + Σ_j e^{s_cj - m'} v_j
    and return o / l, which equals softmax(s) V.

    q: (..., L, E), k: (..., S, E), v: (..., S, Ev); mask and is_causal as in
    `scaled_dot_product_attention` (no dropout, no weights: they never exist in full).
    Returns (..., L, Ev).
    """
    batch = _check_qkv(q, k, v)
    _check_scale(scale)
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}")
    L, S = q.shape[-2], k.shape[-2]
    if mask is not None:
        _check_mask(mask, q, (*batch, L, S))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale

    out_shape = (*batch, L, v.shape[-1])
    m = torch.full((*batch, L, 1), float("-inf"), dtype=q.dtype, device=q.device)  # running max
    l = torch.zeros((*batch, L, 1), dtype=q.dtype, device=q.device)                # running sum
    o = torch.zeros(out_shape, dtype=q.dtype, device=q.device)                     # running output
    rows = torch.arange(L, device=q.device)[:, None]
    for start in range(0, S, chunk_size):
        if is_causal and start > L - 1:
            break  # every later key is in the future of every query
        end = min(start + chunk_size, S)
        s = (q @ k[..., start:end, :].transpose(-2, -1)) * scale                  # (..., L, c)
        if mask is not None:
            mc = mask if mask.shape[-1] == 1 else mask[..., start:end]
            s = torch.where(mc, s, float("-inf")) if mc.dtype == torch.bool else s + mc
        if is_causal:
            s = s.masked_fill(torch.arange(start, end, device=q.device) > rows, float("-inf"))
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
        # While a row has seen only masked keys its max is -inf; shift by 0 to avoid inf - inf.
        m_safe = torch.where(torch.isneginf(m_new), torch.zeros_like(m_new), m_new)
        p = torch.exp(s - m_safe)                                                  # (..., L, c)
        correction = torch.exp(m - m_safe)                                         # rescales old sums
        l = l * correction + p.sum(dim=-1, keepdim=True)
        o = o * correction + p @ v[..., start:end, :]
        m = m_new
    # Rows that saw no unmasked key have l = 0 and o = 0: return zeros, like the full version.
    return o / torch.where(l == 0, torch.ones_like(l), l)


# --------------------------------------------------------------------------- heads

def split_heads(x: Tensor, heads: int) -> Tensor:
    """(B, L, D) -> (B, H, L, D/H): head h gets features h*Dh .. (h+1)*Dh - 1."""
    if not isinstance(x, Tensor) or x.ndim != 3:
        raise ValueError(f"x must be (B, L, D); got {_shape(x)}")
    if not isinstance(heads, int) or heads < 1 or x.shape[-1] % heads:
        raise ValueError(f"heads must be a positive int dividing D={x.shape[-1]}; got {heads!r}")
    B, L, D = x.shape
    return x.view(B, L, heads, D // heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, L, Dh) -> (B, L, H*Dh), the inverse of `split_heads`."""
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"x must be (B, H, L, Dh); got {_shape(x)}")
    B, H, L, Dh = x.shape
    return x.transpose(1, 2).reshape(B, L, H * Dh)


@dataclass
class KVCache:
    """Keys and values (B, H, S, Dh) of the positions already processed by one attention layer.

    Self-attention appends the new positions' k, v at every step. Cross-attention
    (`static=True`, set by `MultiHeadAttention` on first use) projects the context once
    and reuses it at every later step.
    """

    k: Tensor | None = None
    v: Tensor | None = None
    static: bool = False

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Concatenate (B, H, L, Dh) new keys/values along the sequence axis; return all of them."""
        if self.k is not None:
            k = torch.cat([self.k, k], dim=-2)
            v = torch.cat([self.v, v], dim=-2)
        self.k, self.v = k, v
        return k, v


class MultiHeadAttention(nn.Module):
    """Multi-head attention: H heads of width Dh = D/H attend in parallel, then mix.

        head_h = softmax(Q_h K_hᵀ / sqrt(Dh) + M) V_h,   Q = x W_q, K = c W_k, V = c W_v
        out    = concat(head_1 .. head_H) W_o

    with c = x (self-attention) or c = context (cross-attention, width kv_dim).

    dim: model width D (input and output of x). heads: H, must divide D.
    kv_dim: width of the context for cross-attention (default D).
    """

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None, bias: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int; got {dim!r}")
        if not isinstance(heads, int) or heads < 1 or dim % heads:
            raise ValueError(f"heads must be a positive int dividing dim={dim}; got {heads!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.kv_dim = dim if kv_dim is None else kv_dim
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(self.kv_dim, dim, bias=bias)
        self.v_proj = nn.Linear(self.kv_dim, dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None,
                key_padding_mask: Tensor | None = None, is_causal: bool = False,
                cache: KVCache | None = None, return_weights: bool = False):
        """x: (B, L, D) queries' inputs; context: (B, S, kv_dim) for cross-attention, else x.

        mask: bool (True = attend) or float additive, (L, S), (B, L, S) or (B, H, L, S).
        key_padding_mask: bool (B, S), True = padding (never attended).
        is_causal: position i sees keys up to i. With a cache of P past positions the
            new queries are positions P..P+L-1 (causal mask aligned bottom-right).
        cache: a `KVCache`; self-attention appends this call's k, v and attends over all
            cached positions (S = P + L; masks must then cover all S keys); cross-
            attention fills it from `context` on the first call and reuses it after
            (context may then be None).
        Returns out (B, L, D), or (out, weights (B, H, L, S)) with return_weights.
        """
        self._check_input(x, "x", self.dim)
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache or None; got {type(cache).__name__}")
        cross = context is not None or (cache is not None and cache.static)
        if context is not None:
            self._check_input(context, "context", self.kv_dim)
            if context.shape[0] != x.shape[0]:
                raise ValueError(f"context must have x's batch size {x.shape[0]}; got {_shape(context)}")

        q = split_heads(self.q_proj(x), self.heads)                  # (B, H, L, Dh)
        if cross and cache is not None and cache.k is not None:
            k, v = cache.k, cache.v                                      # projected once
        else:
            src = context if cross else x
            k = split_heads(self.k_proj(src), self.heads)           # (B, H, S, Dh)
            v = split_heads(self.v_proj(src), self.heads)
            if cache is not None and cross:
                cache.k, cache.v, cache.static = k, v, True
            elif cache is not None:
                k, v = cache.append(k, v)                                # (B, H, P+L, Dh)

        out = self.attend(q, k, v, self._build_mask(q, k, mask, key_padding_mask, is_causal),
                          return_weights=return_weights)
        out, weights = out if return_weights else (out, None)
        out = self.out_proj(merge_heads(out))                            # (B, L, D)
        return (out, weights) if return_weights else out

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, return_weights: bool = False):
        """The per-head attention, (B, H, L, Dh) x (B, H, S, Dh) -> (B, H, L, Dh).

        A subclass overrides this to change how logits are formed (e.g. relative
        position attention) while keeping projections, masks and the cache.
        """
        return scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=self.dropout if self.training else 0.0,
                                            return_weights=return_weights)

    def _check_input(self, x, name: str, width: int) -> None:
        _check_float_tensor(x, name, f"(B, L, {width})")
        if x.ndim != 3 or x.shape[-1] != width:
            raise ValueError(f"{name} must be (B, L, {width}); got {_shape(x)}")

    def _build_mask(self, q: Tensor, k: Tensor, mask, key_padding_mask, is_causal: bool):
        """One mask broadcastable to (B, H, L, S) from the three ways of masking."""
        B, H, L, _ = q.shape
        S = k.shape[-2]
        if mask is not None:
            if not isinstance(mask, Tensor) or mask.ndim not in (2, 3, 4):
                raise ValueError(f"mask must be (L, S), (B, L, S) or (B, H, L, S) with B={B}, H={H}, L={L}, "
                                 f"S={S}; got {_shape(mask)}")
            if mask.ndim == 3:
                mask = mask.unsqueeze(1)                                 # (B, 1, L, S)
            _check_mask(mask, q, (B, H, L, S))
        if key_padding_mask is not None:
            if not isinstance(key_padding_mask, Tensor) or key_padding_mask.dtype != torch.bool:
                raise TypeError("key_padding_mask must be a bool tensor (B, S), True = padding")
            if tuple(key_padding_mask.shape) != (B, S):
                raise ValueError(f"key_padding_mask must be (B, S) = ({B}, {S}); got {_shape(key_padding_mask)}")
            mask = _and_masks(mask, ~key_padding_mask[:, None, None, :])  # (B, 1, 1, S)
        if is_causal:
            mask = _and_masks(mask, causal_mask(L, S, offset=S - L, device=q.device))
        return mask
