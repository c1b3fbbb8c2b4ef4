"""Day 03 figures: the DDPM forward/reverse chain, on a real 8×8 digit, and the MLP
denoiser the lesson trains (`diffusion.denoisers.MLPDenoiser`, cpu preset sizes)."""

import numpy as np

from course_lib.tools.diagrams import Diagram


def _noised_digits(steps=(0, 50, 150, 300, 999), num_steps=1000):
    """One sklearn digit at several timesteps of the linear schedule (β 1e-4 → 0.02)."""
    from sklearn.datasets import load_digits

    x0 = load_digits().images[0] / 16.0 * 2 - 1            # (8, 8) in [-1, 1]
    betas = np.linspace(1e-4, 0.02, num_steps)
    alpha_bar = np.cumprod(1 - betas)
    noise = np.random.default_rng(0).standard_normal(x0.shape)
    for t in steps:
        xt = np.sqrt(alpha_bar[t]) * x0 + np.sqrt(1 - alpha_bar[t]) * noise
        yield t, alpha_bar[t], (1 - np.clip(xt, -1, 1)) / 2   # ink dark on white


def ddpm_chain() -> Diagram:
    d = Diagram(720, 230, title="DDPM: a fixed noising chain q, and a learned denoising chain p_θ")
    xs = [30 + i * 150 for i in range(5)]
    boxes = []
    for x, (t, ab, img) in zip(xs, _noised_digits()):
        boxes.append(d.pixels(x, 60, img, cell=7))
        d.text(x + 28, 40, f"x_{t}" if t else "x_0", size=13, bold=True)
        d.text(x + 28, 132, f"ᾱ = {ab:.3f}", size=11)
    for a, b in zip(boxes, boxes[1:]):
        d.arrow((a.right[0] + 6, a.right[1] - 12), (b.left[0] - 6, b.left[1] - 12), "q: add noise")
        d.arrow((b.left[0] - 6, b.left[1] + 12), (a.right[0] + 6, a.right[1] + 12), "p_θ: denoise",
                color="#c0392b", label_offset=11)
    d.text(360, 165, "q(x_t | x_0) = N(√ᾱ_t · x_0, (1 − ᾱ_t) I): jump to any t in one step", size=12)
    d.text(360, 188, "p_θ(x_{t−1} | x_t): a network predicts the noise ε in x_t; the loss is ‖ε − ε_θ(x_t, t)‖²",
           size=12, color="#c0392b")
    return d


def mlp_denoiser() -> Diagram:
    """MLPDenoiser(MLPDenoiserConfig(data_dim=64, dim=128, depth=3, num_classes=10)):
    the names are the module's attributes, the shapes those of one batch of B digits."""
    d = Diagram(990, 370, title="The day-03 denoiser ε_θ(x_t, t, y): MLPDenoiser, cpu preset (dim 128, depth 3)")
    y0, h = 55, 50
    xt = d.box(10, y0, 95, h, "x_t\n(B, 1, 8, 8)", fill="data", size=12)
    flat = d.box(125, y0, 80, h, "reshape\n(B, 64)", fill="op", size=12)
    inp = d.box(225, y0, 100, h, "inp\nLinear 64→128", fill="model", size=12)
    d.frame(345, 15, 400, 185, "× 3  blocks[i]: ResidualMLPBlock")
    norm = d.box(365, y0, 75, h, "norm\nLayerNorm", fill="model", size=12)
    mod = d.box(460, y0, 95, h, "× (1 + scale)\n+ shift", fill="op", size=12)
    mlp = d.box(575, y0 - 8, 110, h + 16, "mlp\nLinear 128→256\nSiLU\nLinear 256→128", fill="model", size=11)
    add = d.circle(715, y0 + h / 2, text="+")
    out = d.box(770, y0, 100, h, "out\nLayerNorm,\nLinear 128→64", fill="model", size=11)
    eps = d.box(890, y0, 90, h, "ε̂\n(B, 1, 8, 8)", fill="data", size=12)
    for a, b in ((xt, flat), (flat, inp), (norm, mod), (mod, mlp), (add, out), (out, eps)):
        d.arrow(a.right, b.left)
    d.arrow(inp.right, norm.left)
    d.text(275, 122, "h (B, 128)", size=11, italic=True)
    d.arrow(mlp.right, add.left)
    d.arrow((352, y0 + h / 2), add.top, via=[(352, 38), (add.top[0], 38)], label="residual: h + mlp(…)", label_at=0.72)
    film = d.box(445, 130, 125, 55, "film\nLinear 128→256\n→ shift, scale", fill="model", size=11)
    d.arrow(film.top, mod.bottom)
    loss = d.box(875, 150, 110, 50, "loss\nMSE(ε̂, ε)", fill="loss", size=12)
    d.arrow(eps.bottom, loss.top)
    d.text(930, 225, "ε: the noise\nq_sample added", size=11, color="#c0392b")
    # conditioning: c = time(timestep_embedding(t, 64)) + label(y)
    yc = 245
    t = d.box(10, yc, 95, 45, "t  (B,)\n0 … 999", fill="cond", size=12)
    emb = d.box(125, yc, 130, 45, "timestep_embedding\n(B, 64) cos | sin", fill="op", size=11)
    time = d.box(275, yc, 150, 45, "time\nLinear 64→128, SiLU,\nLinear 128→128", fill="model", size=11)
    y = d.box(10, yc + 65, 95, 45, "label y  (B,)\n0–9; 10 = null", fill="cond", size=11)
    lab = d.box(275, yc + 65, 150, 45, "label\nEmbedding(11, 128)", fill="model", size=11)
    plus = d.circle(480, yc + 22.5, text="+")
    d.arrow(t.right, emb.left)
    d.arrow(emb.right, time.left)
    d.arrow(time.right, plus.left)
    d.arrow(y.right, lab.left)
    d.arrow(lab.right, plus.bottom, via=[(plus.bottom[0], lab.right[1])])
    d.arrow(plus.top, (plus.top[0], film.bottom[1]), "c (B, 128): to every block's film")
    d.text(540, 325, "In training, y is replaced by the null label 10 with\nprobability "
           "class_dropout = 0.1 (day 04 uses it for guidance).", size=11, anchor="start", italic=True)
    return d


FIGURES = {"day03_ddpm_chain.svg": ddpm_chain, "day03_mlp_denoiser.svg": mlp_denoiser}
