"""Day 04 figures: the DiT (`diffusion.dit.DiT`, cpu preset sizes), its adaLN-Zero
block, and the timesteps DDPM and DDIM visit (`ddpm.ddim_timesteps`)."""

import numpy as np

from course_lib.tools.diagrams import Diagram

# The cpu preset of `dit_train.PRESETS`: DiTConfig(input_size=16, patch=4, dim=64, depth=3, heads=4).
SIZE, PATCH, DIM, DEPTH, HEADS, MLP = 16, 4, 64, 3, 4, 256
TOKENS = (SIZE // PATCH) ** 2


def _digit16():
    """An sklearn 8×8 digit upscaled ×2 (nearest) to 16×16, ink dark on white."""
    from sklearn.datasets import load_digits

    img = np.kron(load_digits().images[0] / 16.0, np.ones((2, 2)))
    return 1 - img


def dit_overview() -> Diagram:
    d = Diagram(1000, 330, title=f"DiT: patches → {TOKENS} tokens → {DEPTH} adaLN-Zero blocks → "
                                 "patches → predicted noise (cpu preset)")
    y0, h = 55, 56
    img = d.pixels(10, 40, _digit16(), cell=5)
    for k in range(1, SIZE // PATCH):                      # the 4×4 patch grid
        d.arrow((10 + k * PATCH * 5, 40), (10 + k * PATCH * 5, 120), color="#c0392b", head=False)
        d.arrow((10, 40 + k * PATCH * 5), (90, 40 + k * PATCH * 5), color="#c0392b", head=False)
    d.text(50, 132, "x_t (B, 1, 16, 16)", size=11)
    d.text(50, 148, f"{PATCH}×{PATCH} patches", size=11, color="#c0392b")
    pe = d.box(120, y0, 120, h, f"patch_embed\nConv2d k = s = {PATCH}\n(B, {TOKENS}, {DIM})", size=11)
    add = d.circle(270, y0 + h / 2)
    pos = d.box(205, 150, 130, 45, f"pos_embed: 2-D\nsin-cos ({TOKENS}, {DIM})", fill="frozen", size=11)
    d.frame(300, 25, 200, 115, f"× {DEPTH}  blocks")
    blk = d.box(315, y0, 170, h, f"AdaLNZeroBlock\n{HEADS}-head attention + MLP\n(B, {TOKENS}, {DIM})", size=11)
    fin = d.box(525, y0, 145, h, f"final_layer\nadaLN, Linear {DIM}→{PATCH * PATCH}\n"
                                 f"(B, {TOKENS}, {PATCH * PATCH})", size=11)
    unp = d.box(695, y0, 110, h, f"unpatchify\n(B, 1, {SIZE}, {SIZE})", fill="op", size=11)
    eps = d.box(830, y0, 75, h, "ε̂", fill="data", size=15)
    loss = d.box(920, y0, 70, h, "MSE\nwith ε", fill="loss", size=11)
    d.arrow(img.right, pe.left, label_offset=-20)
    d.arrow(pe.right, add.left)
    d.arrow(pos.top, add.bottom)
    d.arrow(add.right, blk.left, label_offset=-20)
    for a, b in ((blk, fin), (fin, unp), (unp, eps), (eps, loss)):
        d.arrow(a.right, b.left)
    # conditioning c = t_embedder(t) + y_embedder(y)
    yc = 215
    t = d.box(360, yc, 80, 40, "t (B,)", fill="cond", size=12)
    temb = d.box(455, yc, 200, 40, "t_embedder: sin-cos 256\n→ Linear, SiLU, Linear → 64", size=11)
    y = d.box(360, yc + 55, 80, 40, "y (B,)", fill="cond", size=12)
    yemb = d.box(455, yc + 55, 200, 40, "y_embedder: Embedding(11, 64)\n10 % → null label 10", size=11)
    plus = d.circle(685, yc + 20)
    d.arrow(t.right, temb.left)
    d.arrow(y.right, yemb.left)
    d.arrow(temb.right, plus.left)
    d.arrow(yemb.right, plus.bottom, via=[(plus.bottom[0], yemb.right[1])])
    d.arrow(plus.top, (plus.top[0], 180), head=False)
    d.arrow((plus.top[0], 180), blk.bottom, via=[(blk.bottom[0], 180)])
    d.arrow((plus.top[0], 180), fin.bottom, via=[(fin.bottom[0], 180)])
    d.text(700, 195, f"c (B, {DIM}): modulates every block and the final layer", size=11, anchor="start",
           italic=True)
    d.text(700, 290, "Green: conditioning; orange: learned; grey: fixed.\nThe block is drawn in the next figure.",
           size=11, anchor="start", italic=True, color="#555555")
    return d


def adaln_zero_block() -> Diagram:
    d = Diagram(1000, 300, title=f"AdaLNZeroBlock (dim {DIM}, {HEADS} heads, mlp {DIM}→{MLP}→{DIM}): "
                                 "c decides shift, scale and gate of each half")
    y0, h = 70, 46
    cy = y0 + h / 2
    x = d.box(10, y0, 80, h, f"x\n(B, {TOKENS}, {DIM})", fill="data", size=11)
    n1 = d.box(115, y0, 70, h, "norm1\nLayerNorm", fill="op", size=11)
    m1 = d.box(205, y0, 95, h, "× (1 + scale_a)\n+ shift_a", fill="op", size=11)
    at = d.box(320, y0, 90, h, f"attn\n{HEADS}-head MHA", size=11)
    g1 = d.circle(435, cy, text="×")
    a1 = d.circle(480, cy)
    n2 = d.box(510, y0, 70, h, "norm2\nLayerNorm", fill="op", size=11)
    m2 = d.box(600, y0, 95, h, "× (1 + scale_m)\n+ shift_m", fill="op", size=11)
    mlp = d.box(715, y0, 130, h, f"mlp\nLinear {DIM}→{MLP}, GELU,\nLinear {MLP}→{DIM}", size=10)
    g2 = d.circle(866, cy, text="×")
    a2 = d.circle(903, cy)
    out = d.box(928, y0, 68, h, f"out\n(B, {TOKENS}, {DIM})", fill="data", size=10)
    for a, b in ((x, n1), (n1, m1), (m1, at), (at, g1), (g1, a1), (a1, n2), (n2, m2), (m2, mlp), (mlp, g2),
                 (g2, a2), (a2, out)):
        d.arrow(a.right, b.left)
    d.arrow((100, cy), a1.top, via=[(100, 25), (a1.top[0], 25)], label="residual", label_at=0.45)
    d.arrow((495, cy), a2.top, via=[(495, 25), (a2.top[0], 25)], label="residual", label_at=0.5)
    # the modulation: SiLU -> Linear(D, 6D), zero-initialised, chunked into six (B, D) vectors
    c = d.box(10, 225, 60, 45, f"c\n(B, {DIM})", fill="cond", size=11)
    ada = d.box(85, 215, 160, 65, f"adaLN_modulation\nSiLU → Linear({DIM}, {6 * DIM})\n"
                                  f"= 6 × {DIM}; starts at 0", size=10)
    d.arrow(c.right, ada.left)
    bus = 247
    d.arrow(ada.right, (g2.bottom[0], bus), head=False)
    for target, label in ((m1, "shift_a, scale_a"), (g1, "gate_a"), (m2, "shift_m, scale_m"), (g2, "gate_m")):
        d.arrow((target.bottom[0], bus), target.bottom, label=label)
    d.text(330, 290, "At initialisation every gate is 0, so out = x: each block starts as the identity "
           "(and final_layer starts at 0, so ε̂ = 0).", size=11, anchor="start", italic=True, color="#555555")
    return d


def ddpm_vs_ddim() -> Diagram:
    from course_lib.diffusion.ddpm import ddim_timesteps

    d = Diagram(1000, 210, title="The timesteps a sampler visits: DDPM walks all 1,000; DDIM-5 jumps")
    left, right = 80, 940                         # x of t = 999 and of t = -1 (clean data)

    def xpos(t):
        return left + (999 - t) / 1000 * (right - left)

    for row, y in (("DDPM", 60), ("DDIM-5", 150)):
        d.arrow((left, y), (right, y), head=False, color="#999999")
        d.text(10, y, row, size=13, bold=True, anchor="start")
        if row == "DDPM":
            d.text(left, y + 22, "t = 999\n(noise)", size=10)
        d.text(right, y + 22, "clean\n(t = −1)", size=10)
    for t in range(999, -1, -20):                 # every 20th of the 1,000 small steps
        d.arrow((xpos(t), 52), (xpos(t), 68), head=False, color="#c0392b")
    d.text(510, 35, "1,000 network calls: x_t → x_(t−1), fresh noise each step (every 20th drawn)", size=11,
           italic=True)
    steps = ddim_timesteps(1000, 5, "trailing") + [-1]
    for a, b in zip(steps, steps[1:]):
        xa, xb = xpos(a), xpos(b)
        d.arrow((xa, 145), (xb, 145), via=[(xa + 15, 118), (xb - 15, 118)], color="#c0392b")
        d.text(xa, 166, f"t = {a}" if a == 999 else f"{a}", size=10, color="#c0392b")
        d.circle(xa, 150, r=4, text="", fill="#c0392b")
    d.text(510, 100, "5 calls: predict x̂₀ from x_t, re-noise it to the next visited t (η = 0: no fresh noise)",
           size=11, italic=True)
    return d


FIGURES = {"day04_dit.svg": dit_overview, "day04_adaln_zero_block.svg": adaln_zero_block,
           "day04_ddim_steps.svg": ddpm_vs_ddim}
