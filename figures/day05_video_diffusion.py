"""Day 05 figures: spacetime patches of a real moving-digit clip, which tokens attend to
which (full vs factorized attention, with the pair counts), and the video DiT."""

from course_lib.diffusion.video_dit import VideoDiTConfig
from course_lib.tools.diagrams import Diagram

CONFIG = VideoDiTConfig()          # the lesson's sizes: 8 frames of 12x12, patches (1, 4, 4), dim 64, depth 3


def _clip():
    """One training clip of the lesson's data (canvas 12, 8 frames), ink dark on white: (T, H, W)."""
    from course_lib.data.digits import make_moving_digits

    video = make_moving_digits("train", n=1, frames=CONFIG.frames, canvas=CONFIG.height, speeds=(1,), seed=3).videos
    return ((1 - video[0, 0]) / 2).numpy()          # [-1, 1] -> white background, dark ink


def spacetime_patches() -> Diagram:
    cfg = CONFIG
    gt, gh, gw = cfg.grid
    s = gh * gw
    pt, ph, pw = cfg.patch
    clip = _clip()
    d = Diagram(760, 330, title="Spacetime patches: a clip (C, T, H, W) becomes a sequence of N tokens")
    cell, gap, x0 = 5, 22, 22
    fw = cfg.width * cell
    for t in range(cfg.frames):
        x = x0 + t * (fw + gap)
        d.pixels(x, 30, clip[t], cell=cell)
        for k in range(1, gw):                     # the patch grid: every pw pixels
            d.arrow((x + k * pw * cell, 30), (x + k * pw * cell, 30 + fw), head=False, color="#e67e22")
        for k in range(1, gh):
            d.arrow((x, 30 + k * ph * cell), (x + fw, 30 + k * ph * cell), head=False, color="#e67e22")
        d.text(x + fw / 2, 18, f"t = {t}", size=11)
    d.text(380, 108, f"x: (B, C={cfg.in_channels}, T={cfg.frames}, H={cfg.height}, W={cfg.width}); "
           f"orange lines: patches of (pt, ph, pw) = ({pt}, {ph}, {pw}) → "
           f"{gh}×{gw} = {s} patches per frame", size=12)
    d.arrow((380, 120), (380, 150), f"patchify3d: N = T/pt · H/ph · W/pw = {gt}·{gh}·{gw} = {gt * s} tokens",
            label_at=0.5)

    # The token sequence: frames 0, 1, then ..., then the last frame; each token drawn as its patch.
    pcell, pgap = 3.5, 3
    pwid = pw * pcell
    groups = [0, 1, None, gt - 1]
    x = 40
    for g in groups:
        if g is None:
            d.text(x + 20, 195, "…", size=18)
            x += 45
            continue
        start = x
        for k in range(s):
            r, c = divmod(k, gw)
            patch = clip[g * pt, r * ph:(r + 1) * ph, c * pw:(c + 1) * pw]
            d.pixels(x, 180, patch, cell=pcell)
            x += pwid + pgap
        d.frame(start - 4, 172, x - start + 5, 30)
        d.text((start + x) / 2, 216, f"frame {g}: tokens {g * s}–{g * s + s - 1}", size=11)
        x += 18
    d.text(380, 246, f"tokens (B, N={gt * s}, pt·ph·pw·C={pt * ph * pw * cfg.in_channels}): "
           f"token n = t·{s} + row·{gw} + col, each patch flattened as (pt, ph, pw, C)", size=12)
    d.box(150, 272, 460, 50, f"SpacetimePatchEmbed: Conv3d, kernel = stride = ({pt}, {ph}, {pw})\n"
          f"= one Linear({pt * ph * pw * cfg.in_channels} → {cfg.dim}) per patch → tokens (B, {gt * s}, D={cfg.dim})",
          fill="model", size=12)
    d.arrow((380, 258), (380, 272))
    return d


def _grid(d: Diagram, x: float, y: float, gt: int, s: int, query: tuple[int, int], attended, cell: float = 15):
    """A T' x S grid of tokens (rows: frame groups, columns: patch positions); the query
    orange, the tokens it attends to blue."""
    for t in range(gt):
        for k in range(s):
            fill = "#f39c12" if (t, k) == query else ("#5b9bd5" if attended(t, k) else "white")
            d.box(x + k * cell, y + t * cell, cell, cell, fill=fill, rounded=0)
    d.text(x + s * cell / 2, y - 10, f"S = {s} patch positions →", size=10)
    d.text(x - 8, y + gt * cell / 2, f"T' = {gt}\nframes\n↓", size=10, anchor="end")


def attention_patterns() -> Diagram:
    cfg = CONFIG
    gt, s = cfg.grid[0], cfg.tokens_per_frame
    n = gt * s
    q = (3, 4)
    full, spatial, temporal = n * n, gt * s * s, s * gt * gt
    d = Diagram(780, 305, title="Which tokens one query token (orange) attends to (blue), for our clips")
    panels = [
        ("full 3-D attention", "all N = T'·S tokens: (B, T'·S, D)", lambda t, k: True,
         f"(T'S)² = {n}² = {full:,} pairs"),
        ("spatial attention", "its own frame: (B·T', S, D)", lambda t, k: t == q[0],
         f"T'·S² = {gt}·{s}² = {spatial:,} pairs"),
        ("temporal attention", "its position in every frame: (B·S, T', D)", lambda t, k: k == q[1],
         f"S·T'² = {s}·{gt}² = {temporal:,} pairs"),
    ]
    for i, (name, what, attended, cost) in enumerate(panels):
        x = 75 + i * 255
        d.text(x + s * 15 / 2, 10, name, size=13, bold=True)
        d.text(x + s * 15 / 2, 28, what, size=11)
        _grid(d, x, 62, gt, s, q, attended)
        d.text(x + s * 15 / 2, 62 + gt * 15 + 16, cost, size=12)
    d.text(75 + 255 + s * 15 + 40, 62 + gt * 15 / 2, "+", size=26, bold=True)
    d.box(60, 228, 660, 66,
          f"factorized = spatial, then temporal, in every layer: {spatial:,} + {temporal:,} = {spatial + temporal:,} "
          f"pairs, {full / (spatial + temporal):.1f}× fewer than full\n"
          "rearrange(tokens, \"b (t s) d -> (b t) s d\")  ·  \"(b t) s d -> (b s) t d\"  ·  \"(b s) t d -> (b t) s d\"\n"
          "a token reaches every other one in two steps: across its frame, then along time",
          fill="note", size=12)
    return d


def video_dit() -> Diagram:
    cfg = CONFIG
    gt, gh, gw = cfg.grid
    s, n, dim = gh * gw, gt * gh * gw, cfg.dim
    p = cfg.patch[0] * cfg.patch[1] * cfg.patch[2] * cfg.in_channels
    d = Diagram(800, 440, title="The factorized video DiT (VideoDiT), inflated from day 04's image DiT")
    x_in = d.box(10, 20, 150, 44, f"x_t (B, {cfg.in_channels}, {cfg.frames}, {cfg.height}, {cfg.width})", fill="data",
                 size=12)
    pe = d.box(200, 20, 200, 44, f"patch_embed: Conv3d {cfg.patch}\n→ (B, {n}, {dim})", fill="model", size=12)
    d.arrow(x_in.right, pe.left)
    r1 = d.box(440, 20, 340, 44, f"+ pos_space (2-D sin-cos);  rearrange\n\"b (t s) d -> (b t) s d\" → (B·{gt}, {s}, {dim})",
               fill="op", size=12)
    d.arrow(pe.right, r1.left)

    d.frame(170, 90, 610, 200, f"× depth = {cfg.depth}  (blocks[i], temporal_blocks[i])")
    sp = d.box(190, 120, 250, 56, f"blocks[i]: AdaLNZeroBlock\nspatial attention over (B·{gt}, {s}, {dim})\n"
               "copied from the image DiT", fill="model", size=11)
    d.arrow(r1.bottom, sp.top, via=[(610, 100), (315, 100)])
    r2 = d.box(480, 120, 280, 56, f"rearrange \"(b t) s d -> (b s) t d\"\n→ (B·{s}, {gt}, {dim})", fill="op", size=12)
    d.arrow(sp.right, r2.left)
    tb = d.box(480, 206, 280, 64, f"temporal_blocks[i]: TemporalBlock\nx + [Block(x + pos_time, c) − (x + pos_time)]\n"
               f"attention over (B·{s}, {gt}, {dim}); new, gates = 0", fill="model", size=11, dashed=True)
    d.arrow(r2.bottom, tb.top)
    r3 = d.box(190, 206, 250, 56, f"rearrange \"(b s) t d -> (b t) s d\"\n→ (B·{gt}, {s}, {dim})", fill="op", size=12)
    d.arrow((tb.x, r3.right[1]), r3.right)
    d.arrow((265, 206), (265, 176), "next layer", label_at=0.5)

    fl = d.box(190, 316, 250, 50, f"final_layer: adaLN + Linear({dim} → {p})\n→ (B·{gt}, {s}, {p}) → (B, {n}, {p})", fill="model", size=12)
    d.arrow((315, 262), fl.top)
    out = d.box(480, 316, 280, 50, f"unpatchify3d → x̂_0 (B, {cfg.in_channels}, {cfg.frames}, {cfg.height}, "
                f"{cfg.width})", fill="data", size=12)
    d.arrow(fl.right, out.left)
    loss = d.box(520, 386, 200, 40, "video_loss: MSE(x̂_0, x_0)", fill="loss", size=12)
    d.arrow(out.bottom, loss.top)

    tt = d.box(8, 110, 70, 44, "t\nt_embedder", fill="cond", size=10)
    yy = d.box(84, 110, 70, 44, "y\ny_embedder", fill="cond", size=10)
    c = d.circle(81, 185, 12, "+", fill="cond")
    d.arrow(tt.bottom, (c.x, c.center[1]), via=[(tt.bottom[0], c.center[1])])
    d.arrow(yy.bottom, (c.x + c.w, c.center[1]), via=[(yy.bottom[0], c.center[1])])
    cc = d.box(10, 222, 142, 50, f"c (B, {dim}), repeated\nper frame (spatial) and\nper position (temporal)",
               fill="cond", size=10)
    d.arrow(c.bottom, cc.top)
    green = "#2e8b57"
    d.arrow(cc.right, sp.left, dashed=True, color=green, via=[(166, cc.right[1]), (166, sp.left[1])])
    d.arrow(cc.right, tb.bottom, dashed=True, color=green,
            via=[(166, cc.right[1]), (166, 282), (tb.bottom[0], 282)])
    d.arrow(cc.bottom, fl.left, dashed=True, color=green, via=[(cc.bottom[0], fl.left[1])])
    d.text(10, 400, "orange: trained layers (solid: copied from the image DiT by inflate;\n"
           "dashed: new temporal blocks whose adaLN gates start at 0, so the inflated\n"
           "model is the image DiT on every frame); green: conditioning", size=11, anchor="start")
    return d


FIGURES = {
    "day05_spacetime_patches.svg": spacetime_patches,
    "day05_attention_patterns.svg": attention_patterns,
    "day05_video_dit.svg": video_dit,
}
