"""Day 03 figures: the DDPM forward/reverse chain, on a real 8×8 digit."""

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


FIGURES = {"day03_ddpm_chain.svg": ddpm_chain}
