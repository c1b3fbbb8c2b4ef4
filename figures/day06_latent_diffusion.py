"""Day 06 figure: the VAE (encoder -> mean, log-variance -> z -> decoder, with its two
losses) and latent video diffusion on its scaled latents, with the lesson's shapes."""

from course_lib.diffusion.latent_train import PRESETS
from course_lib.tools.diagrams import Diagram

RECIPE = PRESETS["cpu"]


def _frame():
    """One training frame of the lesson's clips, ink dark on white: (H, W)."""
    from course_lib.data.digits import make_moving_digits

    data = RECIPE.data
    video = make_moving_digits("train", n=1, frames=1, canvas=data.canvas, seed=3).videos
    return ((1 - video[0, 0, 0]) / 2).numpy()


def vae_latent_diffusion() -> Diagram:
    vae, data, model = RECIPE.vae.model, RECIPE.data, RECIPE.model
    H, h, zc, f = data.canvas, RECIPE.vae.latent_size, vae.latent_channels, vae.factor
    c1, c2 = vae.channels
    T = data.frames
    d = Diagram(860, 470, title="Latent diffusion: a VAE compresses each frame, the video DiT denoises the latents")

    # --- top: the VAE on frames
    d.text(10, 8, f"1. The VAE, trained on frames (f = {f}: {H}×{H} pixels → {zc}×{h}×{h} latents)", size=13,
           anchor="start", bold=True)
    img = d.pixels(14, 44, _frame(), cell=5)
    d.text(img.center[0], 114, f"x (N, 1, {H}, {H})", size=11)
    enc = d.box(95, 36, 175, 76, f"encoder\nConv 3×3 → {c1} channels\n2 × Conv 4×4, stride 2 → {c2}\n"
                f"Conv 3×3 → {2 * zc} = μ, log σ²", fill="model", size=10)
    d.arrow(img.right, enc.left)
    mu = d.box(300, 34, 120, 34, f"μ (N, {zc}, {h}, {h})", fill="data", size=11)
    lv = d.box(300, 80, 120, 34, f"log σ² (N, {zc}, {h}, {h})", fill="data", size=11)
    d.arrow((enc.right[0], 60), mu.left)
    d.arrow((enc.right[0], 88), lv.left)
    z = d.box(460, 52, 150, 44, "z = μ + σ ⊙ ε\nε ~ N(0, I)", fill="op", size=11)
    d.arrow(mu.right, (z.x, 66))
    d.arrow(lv.right, (z.x, 82))
    dec = d.box(635, 36, 155, 76, f"decoder\nConv 3×3 → {c2}\n2 × ConvT 4×4, stride 2\n→ {c1}, Conv 3×3 → 1",
                fill="model", size=10)
    d.arrow(z.right, dec.left)
    xh = d.box(805, 52, 45, 44, "x̂", fill="data", size=13)
    d.arrow(dec.right, xh.left)
    kl = d.box(300, 138, 310, 38, f"β · KL(N(μ, σ²) ‖ N(0, 1)),  β = {RECIPE.vae.beta:g}", fill="loss", size=11)
    d.arrow(lv.bottom, (lv.bottom[0], kl.y))
    rec = d.box(635, 138, 215, 38, "reconstruction ‖x − x̂‖²", fill="loss", size=11)
    d.arrow(xh.bottom, (xh.bottom[0], rec.y))
    d.text(130, 157, "loss = (‖x − x̂‖² + β Σ KL) / (C·H·W)", size=11, color="#c0392b")

    # --- bottom: latent video diffusion
    y0 = 210
    gt, gh, gw = model.grid
    d.text(10, y0, f"2. Latent video diffusion: day 05's video DiT on scaled latents "
           f"({T}×{H}×{H} pixels → {zc}×{T}×{h}×{h} latents)", size=13, anchor="start", bold=True)
    clip = d.box(10, y0 + 30, 120, 50, f"clip x\n(B, 1, {T}, {H}, {H})", fill="data", size=11)
    fe = d.box(160, y0 + 30, 130, 50, "VAE encoder\nper frame, μ only", fill="frozen", size=11)
    d.arrow(clip.right, fe.left)
    z0 = d.box(320, y0 + 30, 140, 50, f"z₀ = s · μ\n(B, {zc}, {T}, {h}, {h})", fill="data", size=11)
    d.arrow(fe.right, z0.left)
    zt = d.box(490, y0 + 30, 160, 50, f"z_t = √ᾱ_t z₀ + √(1−ᾱ_t) ε\nq_sample, t ~ U{{0..{RECIPE.num_steps - 1}}}", fill="op", size=11)
    d.arrow(z0.right, zt.left)
    dit = d.box(680, y0 + 22, 170, 66, f"VideoDiT (factorized)\npatches {model.patch} →\n"
                f"{gt}·{gh}·{gw} = {model.num_tokens} tokens", fill="model", size=11)
    d.arrow(zt.right, dit.left)
    loss = d.box(680, y0 + 110, 170, 38, "MSE(ẑ₀, z₀)", fill="loss", size=11)
    d.arrow(dit.bottom, loss.top, "ẑ₀")
    d.arrow(z0.bottom, (z0.bottom[0], loss.center[1]), via=[], head=False, dashed=True, color="#c0392b")
    d.arrow((z0.bottom[0], loss.center[1]), loss.left, dashed=True, color="#c0392b", label="target", label_at=0.3)
    d.text(10, y0 + 108, "s = 1 / std(μ) on training frames:\nunit-variance latents for the\nnoise schedule",
           size=11, anchor="start")

    # --- sampling
    ys = y0 + 175
    d.text(10, ys, "Sampling:", size=12, anchor="start", bold=True)
    noise = d.box(90, ys - 17, 120, 34, f"z_T ~ N(0, I)", fill="data", size=11)
    ddim = d.box(240, ys - 22, 200, 44, "DDIM + guidance with the DiT\nẑ₀ clipped to the latents' range",
                 fill="model", size=11)
    d.arrow(noise.right, ddim.left)
    unscale = d.circle(480, ys, 16, "÷ s", size=11)
    d.arrow(ddim.right, unscale.left)
    vd = d.box(530, ys - 22, 140, 44, "VAE decoder\nper frame", fill="frozen", size=11)
    d.arrow(unscale.right, vd.left)
    out = d.box(700, ys - 22, 150, 44, f"video (B, 1, {T}, {H}, {H})", fill="data", size=11)
    d.arrow(vd.right, out.left)
    d.text(430, ys + 45, "grey: the trained VAE, frozen while the DiT learns; orange: trained; "
           "red: losses; blue: tensors", size=11)
    return d


FIGURES = {"day06_vae_latent_diffusion.svg": vae_latent_diffusion}
