"""Day 02 figures: scaled dot-product attention, multi-head attention and the KV cache,
with the shapes and names of `course_lib.nn.attention` and of the lesson's cells."""

import math

import numpy as np

from course_lib.tools.diagrams import Diagram


def _causal_weights(n=6, seed=0):
    """Attention weights of random q, k (n, 8) under a causal mask: (mask, weights),
    as 0/1 grids for `pixels` (1 = white)."""
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((n, 8)), rng.standard_normal((n, 8))
    logits = q @ k.T / math.sqrt(8)
    mask = np.tril(np.ones((n, n), dtype=bool))
    logits = np.where(mask, logits, -np.inf)
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w = w / w.sum(axis=1, keepdims=True)
    return mask.astype(float), w


def sdpa() -> Diagram:
    """softmax(Q Kᵀ/√E + M) V with the shapes of the lesson's section 2."""
    d = Diagram(860, 300, title="Scaled dot-product attention: softmax(Q Kᵀ / √E + M) V")
    q = d.box(10, 20, 150, 44, "queries q\n(B, H, L, E) = (2, 4, 5, 16)", fill="data", size=11)
    k = d.box(10, 90, 150, 44, "keys k\n(B, H, S, E) = (2, 4, 7, 16)", fill="data", size=11)
    v = d.box(10, 200, 150, 44, "values v\n(B, H, S, Ev) = (2, 4, 7, 8)", fill="data", size=11)
    qk = d.box(220, 50, 120, 50, "q @ kᵀ / √E\n(B, H, L, S)", fill="op", size=12)
    d.arrow(q.right, (qk.x, qk.y + 15), via=[(190, q.right[1]), (190, qk.y + 15)])
    d.arrow(k.right, (qk.x, qk.y + 35), via=[(190, k.right[1]), (190, qk.y + 35)])
    mask = d.box(220, 150, 120, 44, "mask M (L, S)\nTrue = may attend", fill="data", size=11)
    plus = d.circle(390, 75, text="+")
    d.arrow(qk.right, plus.left)
    d.arrow(mask.right, plus.bottom, via=[(plus.bottom[0], mask.right[1])])
    d.text(395, 128, "blocked → −∞", size=11, anchor="start", italic=True)
    soft = d.box(440, 50, 130, 50, "softmax over\nthe keys (last axis)", fill="op", size=11)
    d.arrow(plus.right, soft.left)
    av = d.box(630, 150, 90, 50, "weights @ v", fill="op", size=12)
    d.arrow(soft.bottom, (av.x, av.y + 15), "weights (B, H, L, S)", via=[(soft.bottom[0], av.y + 15)],
            label_at=0.25)
    d.arrow(v.right, (av.x, av.y + 38), via=[(600, v.right[1]), (600, av.y + 38)])
    out = d.box(740, 150, 110, 50, "out\n(B, H, L, Ev)\n= (2, 4, 5, 8)", fill="data", size=11)
    d.arrow(av.right, out.left)

    # A real example: causal mask and the weights it leaves (6 queries × 6 keys).
    mask_grid, weights = _causal_weights()
    d.pixels(630, 20, 1 - 0.8 * mask_grid, cell=10)
    d.text(660, 10, "causal M", size=10)
    d.pixels(730, 20, 1 - weights, cell=10)
    d.text(760, 10, "weights", size=10)
    d.text(730, 92, "rows = queries i, columns = keys j", size=10)
    d.text(730, 106, "dark = allowed / large weight", size=10)
    d.text(730, 120, "each row sums to 1; 0 where blocked", size=10)
    d.text(430, 270, "One query row: a probability distribution over the S keys; the answer is the "
           "weighted average of the values.", size=11, italic=True)
    return d


def multi_head() -> Diagram:
    """MultiHeadAttention.forward with the lesson's sizes (dim 32, 4 heads, 6 tokens)."""
    d = Diagram(900, 330, title="MultiHeadAttention(dim=32, heads=4): project, split, attend per head, merge, mix")
    x = d.box(10, 110, 110, 50, "x\n(B, L, D)\n= (2, 6, 32)", fill="data", size=11)
    ctx = d.box(10, 230, 110, 50, "context\n(B, S, kv_dim)\n= (2, 9, 20)", fill="cond", size=11)
    projs = []
    for i, name in enumerate(["q_proj", "k_proj", "v_proj"]):
        projs.append(d.box(170, 40 + i * 80, 100, 40, f"{name}\nLinear → 32", fill="model", size=11))
    d.arrow(x.right, projs[0].left, via=[(145, x.right[1]), (145, projs[0].left[1])])
    d.arrow(x.right, projs[1].left, via=[(145, x.right[1]), (145, projs[1].left[1])])
    d.arrow(x.right, projs[2].left, via=[(145, x.right[1]), (145, projs[2].left[1])])
    for p in projs[1:]:
        d.arrow(ctx.right, (p.x, p.y + 32), via=[(157, ctx.right[1]), (157, p.y + 32)], dashed=True)
    d.text(170, 272, "cross-attention: k, v from the context,", size=10, anchor="start", italic=True)
    d.text(170, 286, "split to (2, 4, 9, 8)", size=10, anchor="start", italic=True)
    splits = []
    for i, name in enumerate(["q", "k", "v"]):
        splits.append(d.box(320, 40 + i * 80, 150, 40, f"split_heads → {name}\n(2, 4, 6, 8)", fill="op", size=11))
        d.arrow(projs[i].right, splits[i].left)
    d.frame(505, 25, 175, 220, "× 4 heads in parallel")
    att = d.box(520, 100, 145, 70, "scaled_dot_product\n_attention\n(+ masks)", fill="op", size=11)
    for i, s in enumerate(splits):
        d.arrow(s.right, (att.x, att.y + 15 + 20 * i), via=[(495, s.right[1]), (495, att.y + 15 + 20 * i)])
    d.text(592, 200, "Dh = 32 / 4 = 8", size=11)
    d.text(592, 218, "per head", size=11)
    merge = d.box(710, 100, 80, 70, "merge\n_heads\n(2, 6, 32)", fill="op", size=11)
    d.arrow(att.right, merge.left)
    outp = d.box(810, 40, 80, 40, "out_proj", fill="model", size=11)
    d.arrow(merge.top, outp.left, via=[(merge.top[0], outp.left[1])])
    out = d.box(810, 210, 80, 50, "out\n(2, 6, 32)", fill="data", size=11)
    d.arrow(outp.bottom, out.top)
    d.text(450, 318, "split_heads: view (B, L, H, Dh) then transpose → (B, H, L, Dh); "
           "merge_heads undoes it.", size=11, italic=True)
    return d


def kv_cache() -> Diagram:
    """One decoding step with a KV cache, as in the lesson's TinyDecoder (dim 128,
    4 heads of 32, 2 layers): a prompt of 8 tokens, then one new token per step."""
    d = Diagram(880, 300, title="Decoding with a KV cache: each step feeds only the new token")
    cell, x0, y0 = 28, 20, 40
    for i in range(9):
        d.box(x0 + i * cell, y0, cell - 4, 26, str(i), fill="cond" if i == 8 else "data", size=10, rounded=3)
    d.text(x0 + 4 * cell - 2, y0 + 42, "positions 0..7: already in the cache", size=10)
    d.text(x0 + 8 * cell + 12, y0 + 42, "new", size=10)
    proj = d.box(x0 + 8 * cell - 50, 160, 124, 48, "q, k, v of the new\ntoken only", fill="model", size=11)
    d.arrow((x0 + 8 * cell + 12, y0 + 26), (x0 + 8 * cell + 12, proj.y))
    d.text(proj.x + proj.w / 2 + 6, proj.y + proj.h + 14, "(1, 4, 1, 32) each", size=10, anchor="start")
    cache = d.frame(330, 20, 300, 130, "KVCache of one layer")
    for row, name in [(48, "k"), (86, "v")]:
        d.text(345, row + 12, name, size=12, anchor="middle", bold=True)
        for i in range(9):
            d.box(358 + i * 28, row, 24, 24, "", fill="cond" if i == 8 else "data", rounded=2)
    green_x = 358 + 8 * 28 + 12
    d.text(345, 132, "after append: (1, 4, 8 + 1, 32)", size=10, anchor="start")
    d.arrow(proj.right, (green_x, 110), "append along dim −2 (new k, v)", via=[(green_x, proj.right[1])],
            label_at=0.35, label_offset=-9)
    att = d.box(680, 55, 130, 60, "q attends over\nall 9 cached keys", fill="op", size=11)
    d.arrow(cache.right, att.left)
    d.arrow(proj.bottom, att.bottom, "q of the new token", via=[(proj.bottom[0], 250), (att.bottom[0], 250)],
            label_at=0.55)
    out = d.box(830, 55, 44, 60, "next\ntoken", fill="data", size=10)
    d.arrow(att.right, out.left)
    d.text(440, 282, "TinyDecoder: 2 layers, so 2 caches; a cross-attention cache is filled once from the "
           "context and never grows.", size=11, italic=True)
    return d


FIGURES = {
    "day02_sdpa.svg": sdpa,
    "day02_multi_head.svg": multi_head,
    "day02_kv_cache.svg": kv_cache,
}
