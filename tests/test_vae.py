"""The VAE's three equations against independent oracles; shapes, errors, the FLOP estimate."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from course_lib.diffusion import vae as V
from course_lib.diffusion.latent import (LatentRecipe, clip_x0, latent_video_model, video_dit_flops)
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.video_dit import VideoDiT, VideoDiTConfig


def test_kl_matches_torch_distributions_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(64, generator=g) * 2, torch.randn(64, generator=g)
    ours = V.kl_to_standard_normal(mean, logvar)
    ref = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    # Monte Carlo: KL = E_q[log q(z) - log p(z)], with 200k samples per element.
    q = Normal(mean[:4], (0.5 * logvar[:4]).exp())
    z = q.sample((100_000,))
    mc = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).mean(0)
    torch.testing.assert_close(ours[:4], mc, rtol=0.03, atol=0.02)
    # zero exactly at the prior, positive elsewhere
    assert V.kl_to_standard_normal(torch.zeros(3), torch.zeros(3)).abs().max() == 0
    assert (ours > 0).all()


def test_reparameterisation_has_the_right_mean_and_std_and_gradients():
    mean = torch.tensor([1.5, -2.0, 0.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(0.25), math.log(4.0)], requires_grad=True)
    g = torch.Generator().manual_seed(1)
    z = V.reparameterize(mean.expand(100_000, 3), logvar.expand(100_000, 3), generator=g)
    torch.testing.assert_close(z.mean(0), mean.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 0.5, 2.0]), atol=0.02, rtol=0)
    z.sum().backward()            # d z / d mean = 1 for every sample; gradients flow to both
    torch.testing.assert_close(mean.grad, torch.full((3,), 100_000.0))
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0
    eps = torch.randn(3)
    torch.testing.assert_close(V.reparameterize(mean.detach(), logvar.detach(), noise=eps),
                               mean.detach() + (0.5 * logvar.detach()).exp() * eps)
    with pytest.raises(ValueError, match="noise"):
        V.reparameterize(torch.zeros(3), torch.zeros(3), noise=torch.zeros(2))
    with pytest.raises(ValueError, match="mean and logvar"):
        V.kl_to_standard_normal(torch.zeros(3), torch.zeros(4))


def test_scale_factor_gives_unit_std():
    z = torch.randn(500, 4, 4, 4, generator=torch.Generator().manual_seed(2)) * 5.3 + 0.7
    s = V.scale_factor(z)
    assert abs((s * z).std().item() - 1.0) < 1e-5
    assert s == pytest.approx(1 / 5.3, rel=0.02)
    with pytest.raises(ValueError, match="std"):
        V.scale_factor(torch.ones(10))


def test_vae_shapes_for_frames_and_videos():
    torch.manual_seed(0)
    model = V.VAE(V.VAEConfig(latent_channels=4, channels=(8, 16)))
    frames = torch.rand(6, 1, 16, 16) * 2 - 1
    mean, logvar = model.encode(frames)
    assert mean.shape == logvar.shape == (6, 4, 4, 4)
    video = torch.rand(2, 1, 8, 16, 16) * 2 - 1
    out = model(video)
    assert out.recon.shape == video.shape and out.mean.shape == (2, 4, 8, 4, 4)
    # a video is encoded frame by frame: frame t of clip b equals encoding that frame alone
    torch.testing.assert_close(out.mean[1, :, 5], model.encode(video[1:2, :, 5])[0][0], rtol=1e-5, atol=1e-6)
    loss, recon, kl = V.vae_loss(model, video, beta=0.1)
    assert loss.ndim == 0 and recon >= 0 and kl >= 0
    assert V.decode_latents(model, out.mean).shape == video.shape
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        model.encode(torch.zeros(16, 16))
    with pytest.raises(ValueError, match="multiples of 4"):
        model.encode(torch.zeros(1, 1, 10, 10))
    with pytest.raises(ValueError, match="4 channels"):
        model.decode(torch.zeros(1, 3, 4, 4))


def test_vae_learns_to_reconstruct():
    """A few hundred steps on 2-pixel-wide bars: the loss falls and latents are informative."""
    torch.manual_seed(0)
    frames = -torch.ones(64, 1, 8, 8)
    for i in range(64):
        frames[i, 0, :, (i % 4) * 2:(i % 4) * 2 + 2] = 1.0
    trained = V.train_vae(frames, V.VAERecipe(config=dict(channels=(8, 8), latent_channels=2), steps=100,
                                               batch_size=16, lr=5e-3), checkpoint=None, progress=False)
    assert sum(trained.history[-10:]) / 10 < 0.3 * sum(trained.history[:10]) / 10
    recon = V.decode_latents(trained.model, V.encode_latents(trained.model, frames))
    assert torch.nn.functional.mse_loss(recon, frames) < 0.1
    assert trained.scale > 0


def test_clip_x0_clamps_the_implied_clean_sample():
    schedule = make_schedule("cosine", 100)
    x_t, t = torch.randn(4, 3) * 3, torch.full((4,), 90)
    wild = clip_x0(lambda x, t: -10 * torch.ones_like(x), schedule, bound=2.0)
    from course_lib.diffusion import ddpm
    x0 = ddpm.x0_from_eps(x_t, t, wild(x_t, t), schedule)
    assert x0.abs().max() <= 2.0 + 1e-4 and x0.abs().max() > 1.9


def test_flop_estimate_matches_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode
    for attention in ("factorized", "spatial", "full"):
        cfg = VideoDiTConfig(in_channels=4, frames=8, height=8, width=8, patch=(1, 2, 2), dim=32, depth=2,
                             heads=4, attention=attention)
        model = VideoDiT(cfg).eval()
        x = torch.randn(2, 4, 8, 8, 8)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x, torch.tensor([3, 500]), torch.tensor([1, 10]))
        measured = counter.get_total_flops() / 2
        estimate = video_dit_flops(cfg)
        assert abs(estimate - measured) / measured < 0.02, (attention, estimate, measured)
    with pytest.raises(TypeError, match="VideoDiTConfig"):
        video_dit_flops("big")


def test_latent_recipe_and_model_shapes():
    r = LatentRecipe()
    assert (r.factor, r.latent_size) == (4, 3) and len(r.key()) == 8
    assert r.key() != LatentRecipe(vae_beta=1e-2).key()
    # the image stage is shared by recipes that differ only in the video stage
    assert r.image_key() == LatentRecipe(video_steps=5).image_key() != LatentRecipe(image_steps=5).image_key()
    model = latent_video_model(LatentRecipe(dim=32, depth=1, heads=2))
    assert model.config.num_tokens == (8 // r.time_patch) * 3 * 3
    out = model(torch.randn(2, 4, 8, 3, 3), torch.tensor([1, 2]), torch.tensor([3, 4]))
    assert out.shape == (2, 4, 8, 3, 3)
