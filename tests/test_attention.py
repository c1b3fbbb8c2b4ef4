"""course_lib.nn.attention against torch's own attention (the independent oracle)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.nn.attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    chunked_attention,
    length_mask,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)

ATOL = 1e-5
SHAPES = [  # (batch dims, L, S, E, Ev)
    ((), 5, 7, 8, 8),
    ((3,), 4, 9, 16, 5),
    ((2, 3), 6, 6, 8, 12),
    ((2, 1, 4), 9, 3, 4, 6),
    ((1,), 1, 13, 32, 32),
]


def rand_qkv(batch, L, S, E, Ev, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, L, E, generator=g, dtype=dtype)
    k = torch.randn(*batch, S, E, generator=g, dtype=dtype)
    v = torch.randn(*batch, S, Ev, generator=g, dtype=dtype)
    return q, k, v


def rand_bool_mask(shape, seed=1, p=0.7):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) < p


def max_diff(a, b):
    return (a - b).abs().max().item()


# ------------------------------------------------------------------ scaled_dot_product_attention

@pytest.mark.parametrize("batch,L,S,E,Ev", SHAPES)
@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_matches_torch(batch, L, S, E, Ev, scale):
    q, k, v = rand_qkv(batch, L, S, E, Ev)
    ours = scaled_dot_product_attention(q, k, v, scale=scale)
    ref = F.scaled_dot_product_attention(q, k, v, scale=scale)
    assert ours.shape == (*batch, L, Ev)
    assert max_diff(ours, ref) < ATOL


@pytest.mark.parametrize("batch,L,S,E,Ev", SHAPES)
def test_sdpa_bool_mask_matches_torch(batch, L, S, E, Ev):
    q, k, v = rand_qkv(batch, L, S, E, Ev)
    for mask_shape in [(*batch, L, S), (L, S), (1, S), (L, 1)]:
        mask = rand_bool_mask(mask_shape)
        ours = scaled_dot_product_attention(q, k, v, mask=mask)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert not ours.isnan().any()
        assert max_diff(ours, ref) < ATOL, mask_shape


@pytest.mark.parametrize("batch,L,S,E,Ev", SHAPES)
def test_sdpa_float_mask_matches_torch(batch, L, S, E, Ev):
    q, k, v = rand_qkv(batch, L, S, E, Ev)
    g = torch.Generator().manual_seed(3)
    bias = torch.randn(*batch, L, S, generator=g)
    bias = bias.masked_fill(rand_bool_mask((L, S), p=0.2), float("-inf"))
    ours = scaled_dot_product_attention(q, k, v, mask=bias, scale=0.5)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.5)
    assert max_diff(ours, ref) < ATOL


@pytest.mark.parametrize("L,S", [(5, 5), (3, 8), (8, 3), (1, 6)])
def test_sdpa_causal_matches_torch_top_left(L, S):
    q, k, v = rand_qkv((2, 3), L, S, 8, 5)
    ours = scaled_dot_product_attention(q, k, v, is_causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert max_diff(ours, ref) < ATOL
    assert torch.equal(causal_mask(L, S), torch.ones(L, S).tril(diagonal=0).bool())


def test_sdpa_causal_combined_with_mask():
    q, k, v = rand_qkv((2,), 6, 6, 8, 8)
    pad = rand_bool_mask((2, 1, 6), p=0.8)
    ours = scaled_dot_product_attention(q, k, v, mask=pad, is_causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=pad & causal_mask(6))
    assert max_diff(ours, ref) < ATOL


def test_fully_masked_rows_give_zeros_like_torch():
    q, k, v = rand_qkv((2,), 4, 5, 8, 3)
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[1] = False
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    assert not out.isnan().any() and not w.isnan().any()
    assert torch.all(out[:, 1] == 0) and torch.all(w[:, 1] == 0)
    assert torch.allclose(w[:, [0, 2, 3]].sum(-1), torch.ones(2, 3))
    assert max_diff(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)) < ATOL
    float_mask = torch.zeros(4, 5).masked_fill(~mask, float("-inf"))
    assert max_diff(scaled_dot_product_attention(q, k, v, mask=float_mask), out) < ATOL
    assert max_diff(chunked_attention(q, k, v, 2, mask=mask), out) < ATOL


def test_sdpa_broadcast_kv_heads_multi_query():
    q, _, _ = rand_qkv((2, 4), 5, 7, 8, 8)
    _, k, v = rand_qkv((2, 1), 5, 7, 8, 8, seed=1)
    ours = scaled_dot_product_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k.expand(2, 4, 7, 8), v.expand(2, 4, 7, 8))
    assert ours.shape == (2, 4, 5, 8)
    assert max_diff(ours, ref) < ATOL


def test_sdpa_gradients_match_torch():
    q, k, v = rand_qkv((2,), 4, 6, 8, 5, dtype=torch.float64)
    mask = rand_bool_mask((4, 6), p=0.8)
    grads = []
    for fn in (lambda *a: scaled_dot_product_attention(*a, mask=mask),
               lambda *a: F.scaled_dot_product_attention(*a, attn_mask=mask)):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        fn(*leaves).square().sum().backward()
        grads.append([t.grad for t in leaves])
    for ours, ref in zip(*grads):
        assert max_diff(ours, ref) < 1e-10


def test_sdpa_dropout_drops_and_rescales_weights():
    torch.manual_seed(0)
    q, k, _ = rand_qkv((2,), 16, 16, 8, 8)
    v = torch.eye(16).expand(2, 16, 16)  # output = dropped weights
    out, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    kept = out != 0
    assert 0.3 < kept.float().mean() < 0.7
    assert torch.allclose(out[kept], w[kept] / 0.5)


# ------------------------------------------------------------------ chunked attention

@pytest.mark.parametrize("chunk_size", [1, 3, 4, 7, 12, 50])
@pytest.mark.parametrize("is_causal", [False, True])
def test_chunked_equals_full(chunk_size, is_causal):
    for batch, L, S, E, Ev in SHAPES:
        q, k, v = rand_qkv(batch, L, S, E, Ev)
        full = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
        ours = chunked_attention(q, k, v, chunk_size, is_causal=is_causal)
        assert max_diff(ours, full) < ATOL, (batch, L, S)


@pytest.mark.parametrize("chunk_size", [2, 5])
def test_chunked_with_masks_equals_full(chunk_size):
    q, k, v = rand_qkv((2, 3), 6, 12, 8, 4)
    bool_mask = rand_bool_mask((2, 1, 6, 12), p=0.5)
    bias = torch.randn(6, 12, generator=torch.Generator().manual_seed(5))
    key_only = rand_bool_mask((2, 3, 1, 12), p=0.6)
    row_only = rand_bool_mask((6, 1), p=0.7)  # last dim 1: broadcast over every key chunk
    for mask in (bool_mask, bias, key_only, row_only):
        full = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.4)
        ours = chunked_attention(q, k, v, chunk_size, mask=mask, scale=0.4)
        assert max_diff(ours, full) < ATOL
    ours = chunked_attention(q, k, v, chunk_size, mask=bool_mask, is_causal=True)
    full = scaled_dot_product_attention(q, k, v, mask=bool_mask, is_causal=True)
    assert max_diff(ours, full) < ATOL


# ------------------------------------------------------------------ heads and masks

def test_split_merge_heads_layout_and_round_trip():
    x = torch.arange(2 * 3 * 12, dtype=torch.float32).view(2, 3, 12)
    h = split_heads(x, 4)
    assert h.shape == (2, 4, 3, 3)
    for head in range(4):
        assert torch.equal(h[:, head], x[:, :, 3 * head: 3 * head + 3])
    assert torch.equal(merge_heads(h), x)


def test_causal_mask_offset_and_padding_mask():
    assert torch.equal(causal_mask(2, 5, offset=3), torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]).bool())
    assert torch.equal(length_mask(torch.tensor([2, 4])),
                       torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]).bool())


# ------------------------------------------------------------------ multi-head attention

def torch_mha_like(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """A torch.nn.MultiheadAttention holding the same weights as ours."""
    ref = nn.MultiheadAttention(ours.dim, ours.heads, batch_first=True,
                                kdim=ours.kv_dim, vdim=ours.kv_dim)
    with torch.no_grad():
        if ref._qkv_same_embed_dim:
            ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        else:
            ref.q_proj_weight.copy_(ours.q_proj.weight)
            ref.k_proj_weight.copy_(ours.k_proj.weight)
            ref.v_proj_weight.copy_(ours.v_proj.weight)
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ref.eval()


def test_mha_self_attention_matches_torch_with_padding_and_causal():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4).eval()
    ref = torch_mha_like(mha)
    x = torch.randn(3, 7, 32)
    pad = ~length_mask(torch.tensor([7, 4, 6]), 7)  # True = padding
    ours, w = mha(x, key_padding_mask=pad, return_weights=True)
    theirs, w_ref = ref(x, x, x, key_padding_mask=pad)
    assert max_diff(ours, theirs) < ATOL
    assert max_diff(w.mean(1), w_ref) < ATOL
    # torch's bool attn_mask means True = blocked, ours True = attend.
    ours = mha(x, key_padding_mask=pad, is_causal=True)
    theirs, _ = ref(x, x, x, key_padding_mask=pad, attn_mask=~causal_mask(7))
    assert max_diff(ours, theirs) < ATOL
    assert max_diff(mha(x, mask=causal_mask(7)), mha(x, is_causal=True)) < ATOL
    # Per-sequence (B, L, S) bool mask; torch wants (B*H, L, S) with True = blocked.
    per_seq = rand_bool_mask((3, 7, 7), p=0.6) | torch.eye(7, dtype=torch.bool)
    theirs, _ = ref(x, x, x, attn_mask=(~per_seq).repeat_interleave(4, dim=0))
    assert max_diff(mha(x, mask=per_seq), theirs) < ATOL
    # A float mask is an additive bias in both.
    bias = torch.randn(7, 7, generator=torch.Generator().manual_seed(4))
    assert max_diff(mha(x, mask=bias), ref(x, x, x, attn_mask=bias)[0]) < ATOL


def test_mha_cross_attention_matches_torch():
    torch.manual_seed(1)
    mha = MultiHeadAttention(24, 3, kv_dim=10).eval()
    ref = torch_mha_like(mha)
    x, ctx = torch.randn(2, 5, 24), torch.randn(2, 9, 10)
    pad = ~length_mask(torch.tensor([9, 6]), 9)
    ours = mha(x, context=ctx, key_padding_mask=pad)
    theirs, _ = ref(x, ctx, ctx, key_padding_mask=pad)
    assert ours.shape == (2, 5, 24)
    assert max_diff(ours, theirs) < ATOL


def test_mha_kv_cache_equals_full_causal_recompute():
    torch.manual_seed(2)
    mha = MultiHeadAttention(16, 2).eval()
    x = torch.randn(2, 10, 16)
    full = mha(x, is_causal=True)
    cache = KVCache()
    steps = [mha(x[:, :4], is_causal=True, cache=cache)]  # prefill 4 tokens at once
    for t in range(4, 10):
        steps.append(mha(x[:, t:t + 1], is_causal=True, cache=cache))
    assert len(cache) == 10 and cache.k.shape == (2, 2, 10, 8)
    assert max_diff(torch.cat(steps, dim=1), full) < ATOL


class TinyDecoderLayer(nn.Module):
    def __init__(self, dim=16, heads=2, ctx_dim=12):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, heads)
        self.cross_attn = MultiHeadAttention(dim, heads, kv_dim=ctx_dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 32), nn.GELU(), nn.Linear(32, dim))
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, ctx, ctx_pad=None, caches=(None, None)):
        x = x + self.self_attn(self.n1(x), is_causal=True, cache=caches[0])
        x = x + self.cross_attn(self.n2(x), context=ctx, key_padding_mask=ctx_pad, cache=caches[1])
        return x + self.mlp(self.n3(x))


def test_decoder_layer_with_cross_attention_cache_equals_recompute():
    torch.manual_seed(3)
    layer = TinyDecoderLayer().eval()
    x, ctx = torch.randn(2, 8, 16), torch.randn(2, 6, 12)
    ctx_pad = ~length_mask(torch.tensor([6, 3]), 6)
    full = layer(x, ctx, ctx_pad)
    caches = (KVCache(), KVCache())
    calls = []
    layer.cross_attn.k_proj.register_forward_hook(lambda *_: calls.append(1))
    steps = [layer(x[:, t:t + 1], ctx if t == 0 else None, ctx_pad, caches) for t in range(8)]
    assert max_diff(torch.cat(steps, dim=1), full) < ATOL
    assert len(calls) == 1, "cross-attention must project the context once"
    assert caches[1].static and len(caches[1]) == 6 and len(caches[0]) == 8


# ------------------------------------------------------------------ bad input

def test_bad_inputs_raise_clear_errors():
    q, k, v = rand_qkv((2,), 4, 6, 8, 5)
    with pytest.raises(ValueError, match=r"q must be \(\.\.\., L, E\); got \(4,\)"):
        scaled_dot_product_attention(torch.randn(4), k, v)
    with pytest.raises(ValueError, match="k and v must have the same length S"):
        scaled_dot_product_attention(q, k, v[:, :5])
    with pytest.raises(ValueError, match="q and k must have the same feature size E"):
        scaled_dot_product_attention(q, k[..., :7], v)
    with pytest.raises(ValueError, match="batch dims"):
        scaled_dot_product_attention(q, torch.randn(3, 6, 8), torch.randn(3, 6, 5))
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        scaled_dot_product_attention(q.numpy(), k, v)
    with pytest.raises(TypeError, match="k must be a floating-point tensor"):
        scaled_dot_product_attention(q, k.long(), v)
    with pytest.raises(TypeError, match="same dtype"):
        scaled_dot_product_attention(q, k, v.double())
    with pytest.raises(ValueError, match=r"mask must be broadcastable to \(\.\.\., L, S\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be bool"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 6, dtype=torch.int64))
    with pytest.raises(ValueError, match="scale must be a positive number"):
        scaled_dot_product_attention(q, k, v, scale=0.0)
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        chunked_attention(q, k, v, 0)
    with pytest.raises(ValueError, match="k and v must have the same length S"):
        chunked_attention(q, k, v[:, :2], 2)
    with pytest.raises(ValueError, match=r"x must be \(B, L, D\)"):
        split_heads(torch.randn(2, 12), 4)
    with pytest.raises(ValueError, match="heads must be a positive int dividing D=12"):
        split_heads(torch.randn(2, 3, 12), 5)
    with pytest.raises(ValueError, match=r"x must be \(B, H, L, Dh\)"):
        merge_heads(torch.randn(2, 3, 12))
    with pytest.raises(ValueError, match="heads must be a positive int dividing dim=10"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(8, 2, kv_dim=6)
    with pytest.raises(ValueError, match=r"x must be \(B, L, 8\); got \(2, 3, 6\)"):
        mha(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match=r"context must be \(B, L, 6\)"):
        mha(torch.randn(2, 3, 8), context=torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="context must have x's batch size 2"):
        mha(torch.randn(2, 3, 8), context=torch.randn(3, 4, 6))
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(B, S\) = \(2, 4\)"):
        mha(torch.randn(2, 3, 8), context=torch.randn(2, 4, 6), key_padding_mask=torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="cache must be a KVCache"):
        mha(torch.randn(2, 3, 8), cache={})
