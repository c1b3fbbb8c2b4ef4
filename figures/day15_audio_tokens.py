"""Day 15 figures: residual vector quantization as the codec does it (`audio.rvq`, with
the sizes of `audio.codec.CodecConfig`: 50 frames/s, 8 codebooks of 256 codewords) and
MusicGen's two ways to lay K codebooks out for a token LM, computed with the library's own
`audio.codebook_patterns.delay` / `flatten_codes`, so the figure cannot disagree with the code."""

import math

import torch

from course_lib.audio.codebook_patterns import delay, flatten_codes, pattern_steps
from course_lib.audio.codec import CodecConfig
from course_lib.audio.rvq import bitrate
from course_lib.tools.diagrams import Diagram

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
# One colour per codebook, the same in both figures (codebook 1 blue, 2 orange, 3 green, 4 red ...).
CODEBOOK_FILL = ["#c6dbf3", "#fdd9a8", "#cdebc7", "#f6c1c1", "#e1d5f0", "#f9e79f", "#d3eeee", "#f2d4e6"]
PAD_FILL = "#e4e4e4"
CODES = [17, 203, 88, 5]             # the example frame's tokens c₁ … c₄ (any integers 0 … K − 1)


def _code(k: int, t: int) -> str:
    """c with codebook k as superscript and frame t as subscript, both 1-based: c¹₁."""
    return f"c{str(k).translate(SUP)}{str(t).translate(SUB)}"


def _point(d, x, y, r, fill):
    """A dot: a circle without text."""
    d.circle(x, y, r=r, text="", fill=fill)


# ------------------------------------------------------------------ figure 1: RVQ
def _rvq_chain(d):
    """(a) one encoder frame z through codebooks 1-4: codes out, residuals on, ẑ summed back."""
    cfg = CodecConfig()
    n_show, stream_y, box_y, token_y, sum_y = len(CODES), 75, 108, 178, 245
    d.text(10, 10, f"(a) one encoder frame z ({cfg.frame_rate:g} per second) through codebooks 1–{n_show}, "
                   f"K = {cfg.codebook_size} codewords each",
           size=12, anchor="start", bold=True)
    # z: the frame as a short column of numbers (greys), one of 50 per second
    values = [0.15, 0.8, 0.45, 0.95, 0.3, 0.65, 0.05, 0.55][:cfg.latent_dim]
    d.pixels(22, stream_y - 5 * len(values), [[v] for v in values], cell=10)
    d.text(27, stream_y - 5 * len(values) - 10, "z", size=13, bold=True)
    d.text(27, stream_y + 5 * len(values) + 16, f"{cfg.latent_dim}\nnumbers", size=9, color="#555555")
    xs = [110 + 155 * k for k in range(n_show)]
    start = (32, stream_y)
    plus_prev = None
    for k, (bx, code) in enumerate(zip(xs, CODES)):
        sup, cx = str(k + 1).translate(SUP), bx + 85
        d.arrow(start, (bx, stream_y), head=False)                   # the residual stream
        _point(d, bx, stream_y, 3, "#333333")
        box = d.box(bx - 50, box_y, 100, 48, f"codebook {k + 1}\npicks the\nnearest codeword",
                    fill=CODEBOOK_FILL[k], size=10)
        d.arrow((bx, stream_y), box.top)
        minus = d.circle(cx, stream_y, text="−")
        d.arrow((bx, stream_y), minus.left, head=False)
        e = f"e{sup}{str(code).translate(SUB)}"
        d.arrow(box.right, minus.bottom, via=[(cx, box.right[1])])
        d.text(cx + 6, stream_y + 30, e, size=11, anchor="start", italic=True)
        _point(d, cx, box.right[1], 3, "#333333")
        # the code leaves as a token
        tok = d.box(bx - 34, token_y, 68, 24, f"c{str(k + 1).translate(SUB)} = {code}", fill=CODEBOOK_FILL[k],
                    size=11, bold=True, rounded=3)
        d.arrow(box.bottom, tok.top)
        # the codeword goes down to be summed into ẑ
        if plus_prev is None:
            d.arrow((cx, box.right[1]), (cx, sum_y), head=False)
            plus_prev = (cx, sum_y)
            d.text(cx - 8, sum_y - 12, e, size=11, anchor="end", italic=True)
        else:
            plus = d.circle(cx, sum_y, text="+")
            d.arrow((cx, box.right[1]), plus.top)
            d.arrow(plus_prev, plus.left)
            plus_prev = plus.right
        # the residual goes on to the next codebook
        r = f"r{str(k + 1).translate(SUB)}"
        end = (xs[k + 1], stream_y) if k + 1 < n_show else (cx + 52, stream_y)
        d.arrow(minus.right, end, head=k + 1 == n_show)
        d.text((minus.right[0] + end[0]) / 2, stream_y - 11, r, size=11, italic=True)
        start = end
    d.text(xs[-1] + 85 + 57, stream_y, f"… up to\ncodebook {cfg.num_quantizers}", size=10, anchor="start",
           color="#555555")
    d.text(8, token_y + 12, "tokens for\nthe LM\n(0 … 255)", size=9, anchor="start", color="#555555")
    d.text(8, sum_y, "ẑ = sum of the\nchosen codewords", size=10, anchor="start", color="#555555")
    zhat = d.box(706, sum_y - 20, 86, 40, "ẑ\nto the decoder", fill="data", size=10)
    d.arrow(plus_prev, zhat.left)
    d.text(400, sum_y + 32, "eᵏ₁₇ = codeword 17 of codebook k.  r₁ = z − e¹₁₇ is what codebook 1 "
                            "missed; codebook 2 quantizes r₁, and so on.  "
                            "ẑ = e¹₁₇ + e²₂₀₃ + e³₈₈ + e⁴₅ ≈ z", size=10, italic=True)


def _rvq_plane(d, top):
    """(b) the same in 2-D: a coarse codebook 1, then a finer codebook 2 inside e¹'s cell."""
    d.text(10, top, "(b) the same in 2-D: each level refines the one before", size=12, anchor="start", bold=True)
    coarse = [(u, v) for v in range(3) for u in range(3)]        # codebook 1: spacing 1
    fine = [(u / 5, v / 5) for v in range(-2, 3) for u in range(-2, 3)]   # codebook 2: spacing 0.2
    z = (1.33, 1.26)

    def nearest(points, p):
        return min(points, key=lambda q: (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2)

    e1 = nearest(coarse, z)
    r1 = (z[0] - e1[0], z[1] - e1[1])
    e2 = nearest(fine, r1)
    # left: codebook 1, 60 px per unit, its cells (Voronoi regions of a grid) in light grey
    s1, x0, y0 = 60, 55, top + 184
    P = lambda u, v: (x0 + u * s1, y0 - v * s1)                          # noqa: E731
    for g in (-0.5, 0.5, 1.5, 2.5):
        d.arrow(P(g, -0.5), P(g, 2.5), head=False, color="#cccccc")
        d.arrow(P(-0.5, g), P(2.5, g), head=False, color="#cccccc")
    for q in coarse:
        _point(d, *P(*q), 6 if q == e1 else 4, CODEBOOK_FILL[0] if q != e1 else "#6f9fd8")
    d.text(x0 + s1, top + 22, "codebook 1: coarse", size=10)
    zx, zy = P(*z)
    ex, ey = P(*e1)
    d.arrow((ex, ey), (zx - 2, zy + 2), color="#c0392b")
    _point(d, zx, zy, 3.5, "#c0392b")
    d.text(zx - 5, zy - 9, "z", size=12, bold=True, color="#c0392b", anchor="end")
    d.text(ex - 8, ey + 10, "e¹", size=11, anchor="end", italic=True)
    d.text(x0 + s1, y0 + 46, "z is replaced by its nearest codeword e¹;\n"
                             "the red arrow r₁ = z − e¹ is what is left", size=9, color="#555555")
    # right: zoom into e¹'s cell; codebook 2 quantizes r₁ around the origin on a 5× finer grid
    s2, cx, cy = 180, 330, top + 124
    Q = lambda u, v: (cx + u * s2, cy - v * s2)                          # noqa: E731
    d.box(cx - s2 / 2, cy - s2 / 2, s2, s2, fill="#fafafa", rounded=0, color="#999999")
    for dv in (0.5, -0.5):                                        # zoom lines from the cell's right corners
        d.arrow(P(e1[0] + 0.5, e1[1] + dv), Q(-0.5, dv), head=False, dashed=True, color="#aaaaaa")
    for q in fine:
        _point(d, *Q(*q), 5 if q == e2 else 3, CODEBOOK_FILL[1] if q != e2 else "#f0a04b")
    ox, oy = Q(0, 0)
    rx, ry = Q(*r1)
    d.arrow((ox, oy), (rx - 2, ry + 2), color="#c0392b")
    _point(d, rx, ry, 3.5, "#c0392b")
    d.text(rx - 4, ry - 10, "r₁", size=11, bold=True, color="#c0392b", anchor="end")
    ex2, ey2 = Q(*e2)
    d.text(ex2 + 7, ey2 + 8, "e²", size=11, anchor="start", italic=True)
    d.text(ox, oy + 16, "0 (= e¹)", size=9, color="#555555")
    d.text(cx, top + 22, "zoom into e¹'s cell: codebook 2, 5× finer", size=10)
    d.text(cx, cy + s2 / 2 + 16, "codebook 2 quantizes r₁ to e²; what is left,\n"
                                 "r₂ = r₁ − e², is smaller still", size=9, color="#555555")


def _bitrate_bars(d, top):
    """(c) bits per second for n = 1 … 8 codebooks, one coloured segment per codebook."""
    cfg = CodecConfig()
    bits = round(math.log2(cfg.codebook_size))                         # 8 bits for K = 256
    left, bar0, unit = 476, 524, 200 / cfg.num_quantizers
    d.text(left, top, "(c) every codebook adds log₂K bits per frame", size=12, anchor="start", bold=True)
    d.text(left, top + 24, f"{cfg.frame_rate:g} frames/s × n codebooks × {bits} bits "
                           f"(K = {cfg.codebook_size})", size=10, anchor="start")
    for n in range(1, cfg.num_quantizers + 1):
        y = top + 36 + (n - 1) * 19
        d.text(left, y + 7, f"n = {n}", size=10, anchor="start")
        for k in range(n):
            d.box(bar0 + k * unit, y, unit, 14, fill=CODEBOOK_FILL[k], rounded=0, color="#777777")
        bps = bitrate(cfg.frame_rate, n, cfg.codebook_size)
        label = f"{bps:.0f} bit/s" if bps < 1000 else f"{bps / 1000:g} kbit/s"
        d.text(bar0 + n * unit + 6, y + 7, label, size=10, anchor="start")
    y = top + 36 + cfg.num_quantizers * 19 + 38
    d.text(left, y, "Quantizer dropout: each training batch uses only the\n"
                    "first n codebooks (n drawn at random), so one codec\n"
                    "decodes at every bitrate. Dropping the last codebooks\n"
                    "leaves a coarser ẑ, not garbage.", size=10, anchor="start", italic=True)


def rvq() -> Diagram:
    d = Diagram(800, 570, title="Residual vector quantization: each codebook quantizes what the ones before it missed")
    _rvq_chain(d)
    d.arrow((10, 300), (790, 300), head=False, color="#dddddd")
    _rvq_plane(d, 316)
    _bitrate_bars(d, 316)
    return d


# ------------------------------------------------------------------ figure 2: codebook patterns
def _patterns(K: int = 4, T: int = 5):
    """The codes as (k, t) labels (1-based), delayed and flattened by the library's functions."""
    ids = torch.tensor([[[k * T + t for t in range(T)] for k in range(K)]])     # (1, K, T), id -> (k, t)
    label = lambda i: None if i < 0 else divmod(i, T)                            # noqa: E731
    grid = [[label(i) for i in row] for row in ids[0].tolist()]
    delayed = [[label(i) for i in row] for row in delay(ids, pad=-1)[0].tolist()]
    flat = [label(i) for i in flatten_codes(ids)[0].tolist()]
    return grid, delayed, flat


def _cell(d, x, y, w, h, item):
    if item is None:
        d.box(x, y, w, h, fill=PAD_FILL, rounded=0, color="#aaaaaa")
        d.text(x + w / 2, y + h / 2, "pad", size=10, color="#888888")
    else:
        k, t = item
        d.box(x, y, w, h, _code(k + 1, t + 1), fill=CODEBOOK_FILL[k], size=12, rounded=0, color="#555555")


def delay_pattern() -> Diagram:
    K, T, fps = 4, 5, round(CodecConfig().frame_rate)
    grid, delayed, flat = _patterns(K, T)
    steps = {p: pattern_steps(p, T, K) for p in ("delay", "flattened")}
    second = {p: pattern_steps(p, fps, K) for p in ("delay", "flattened")}
    d = Diagram(800, 388, title=f"Laying out K = {K} codebooks for a token LM: T = {T} frames, "
                                f"delayed or flattened (MusicGen)")
    w, h, top = 46, 28, 52
    ax, bx = 100, 404
    d.text(10, 10, "(a) the codes: codebook × frame", size=12, anchor="start", bold=True)
    d.text(bx, 10, "(b) delay: row k shifted right by k − 1 steps", size=12, anchor="start", bold=True)
    for k in range(K):                                            # row labels double as the colour legend
        d.box(10, top + k * h, 80, h, f"codebook {k + 1}", fill=CODEBOOK_FILL[k], size=11, rounded=0,
              color="#555555")
    for t in range(T):
        d.text(ax + t * w + w / 2, top - 12, f"frame {t + 1}", size=10, italic=True)
        for k in range(K):
            _cell(d, ax + t * w, top + k * h, w, h, grid[k][t])
    d.arrow((ax + T * w + 10, top + 2 * h), (bx - 12, top + 2 * h), label="delay", label_offset=-10)
    for s in range(len(delayed[0])):
        d.text(bx + s * w + w / 2, top - 12, f"step {s + 1}", size=10, italic=True)
        for k in range(K):
            _cell(d, bx + s * w, top + k * h, w, h, delayed[k][s])
    hl = bx + (K - 1) * w                                          # the first step with no pad
    d.frame(hl - 2, top - 24, w + 4, K * h + 28)
    d.text(hl + w / 2, top + K * h + 18, f"one step predicts all {K} codebooks at once ({K} output heads)",
           size=10, italic=True)
    d.text(ax + T * w / 2, top + K * h + 18, "cᵏₜ = the code of codebook k in frame t", size=10, italic=True)
    d.text(bx + len(delayed[0]) * w / 2, top + K * h + 42,
           f"{steps['delay']} steps = T + K − 1;  one second ({fps} frames): {second['delay']} steps",
           size=12, bold=True, color="#c0392b")
    # (c) flattened: one token per step, frame by frame
    cy, cw = 268, 37
    cx = (800 - len(flat) * cw) / 2
    d.text(10, cy - 40, "(c) flattened: one token per step, frame after frame", size=12, anchor="start", bold=True)
    for s, item in enumerate(flat):
        d.text(cx + s * cw + cw / 2, cy - 10, f"{s + 1}", size=9, italic=True, color="#555555")
        _cell(d, cx + s * cw, cy, cw, h, item)
    for t in range(T):                                             # frame brackets under each group of K
        x1, x2 = cx + t * K * cw + 3, cx + (t + 1) * K * cw - 3
        d.arrow((x1, cy + h + 6), (x2, cy + h + 6), head=False, color="#888888")
        d.text((x1 + x2) / 2, cy + h + 18, f"frame {t + 1}", size=10, italic=True, color="#555555")
    d.text(400, cy + h + 44, f"{steps['flattened']} steps = T · K;  one second ({fps} frames): "
                             f"{second['flattened']} steps", size=12, bold=True, color="#c0392b")
    d.text(400, cy + h + 72, f"Delay keeps most of what flattening models: c²₁ comes one step after c¹₁, so it "
                             f"can depend on it —\nat about 1/{K} of the steps. pad = no token at this position "
                             f"(before the clip starts or after it ends).", size=10, italic=True,
           color="#555555")
    return d


FIGURES = {"day15_rvq.svg": rvq, "day15_delay_pattern.svg": delay_pattern}
