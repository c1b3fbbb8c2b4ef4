"""The VAE's three equations against independent oracles; shapes, errors, the FLOP estimate."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from course_lib.diffusion import vae as V
from course_lib.diffusion.latent import clip_x0, latent_video_dit, video_dit_flops
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
    """A hundred steps on 2-pixel-wide bars: the loss falls and latents are informative."""
    from functools import partial

    from course_lib.diffusion.vae_train import vae_training_loss
    from course_lib.train import fit, random_batches
    frames = -torch.ones(64, 1, 8, 8)
    for i in range(64):
        frames[i, 0, :, (i % 4) * 2:(i % 4) * 2 + 2] = 1.0
    torch.manual_seed(0)
    model = V.VAE(V.VAEConfig(channels=(8, 8), latent_channels=2))
    run = fit(model, partial(vae_training_loss, beta=1e-3), random_batches(frames, batch_size=16, seed=0),
              steps=100, lr=5e-3, device=torch.device("cpu"), progress=False)
    assert sum(run.history[-10:]) / 10 < 0.3 * sum(run.history[:10]) / 10
    recon = V.decode_latents(model, V.encode_latents(model, frames))
    assert torch.nn.functional.mse_loss(recon, frames) < 0.1
    assert V.scale_factor(V.encode_latents(model, frames)) > 0
    # the recorded terms add up to the loss
    torch.testing.assert_close(torch.tensor(run.history),
                               torch.tensor(run.metrics["recon"]) + 1e-3 * torch.tensor(run.metrics["kl"]))


def test_train_vae_trains_once_then_loads(tmp_path, monkeypatch):
    from course_lib.data.digits import MovingDigitsSpec
    from course_lib.diffusion.vae_train import VAERecipe, train_vae
    from course_lib.train import TrainSettings
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    recipe = VAERecipe(model=V.VAEConfig(channels=(4, 4), latent_channels=2), data=MovingDigitsSpec(clips=8, frames=2),
                       train=TrainSettings(steps=4, batch_size=4, lr=2e-3))
    first = train_vae(recipe, torch.device("cpu"), progress=False)
    again = train_vae(recipe, torch.device("cpu"), progress=False)
    assert len(first.run.history) == 4 and again.run.cached and first.run.history == again.run.history
    assert first.scale == again.scale > 0 and set(first.run.metrics) == {"recon", "kl"}
    assert list(tmp_path.glob(f"checkpoints/vae_{recipe.key()}.pt"))
    assert recipe.latent_size == 3
    with pytest.raises(ValueError, match="multiple"):
        VAERecipe(data=MovingDigitsSpec(canvas=10))


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
    from dataclasses import replace

    from course_lib.diffusion.dit import DiTConfig
    from course_lib.diffusion.latent_train import PRESETS, LatentRecipe, new_latent_video_dit
    r = LatentRecipe()
    assert (r.vae.model.factor, r.vae.latent_size) == (4, 3) and len(r.key()) == 8
    # the VAE's recipe is part of every key downstream of it
    beta = replace(r, image=replace(r.image, vae=replace(r.vae, beta=1e-2)))
    assert beta.key() != r.key() and beta.image.key() != r.image.key()
    # the image stage is shared by recipes that differ only in the video stage
    assert r.image.key() == replace(r, train=replace(r.train, steps=5)).image.key()
    assert r.image.key() != replace(r.image, train=replace(r.image.train, steps=5)).key()
    # today's lesson settings (CPU) and its GPU branch; the same clips as day 05's presets
    from course_lib.diffusion.video_dit_train import PRESETS as PIXEL
    for device in ("cpu", "gpu"):
        latent, pixel = PRESETS[device], PIXEL[device]
        assert latent.data == pixel.data and latent.prediction == pixel.prediction
        assert (latent.image.train.steps, latent.train.steps, latent.train.batch_size) == \
            (pixel.image.train.steps, pixel.train.steps, pixel.train.batch_size)
        assert (latent.image.model.dim, latent.image.model.depth) == (pixel.image.model.dim, pixel.image.model.depth)
    assert PRESETS["cpu"].vae.train.steps == 1000
    with pytest.raises(ValueError, match="latents"):
        replace(r.image, model=DiTConfig(input_size=12, patch=4, in_channels=1))
    small = replace(r, image=replace(r.image, model=DiTConfig(input_size=3, patch=1, in_channels=4, dim=32, depth=1,
                                                               heads=2)))
    model = new_latent_video_dit(small)
    assert model.config == small.model and model.config.num_tokens == (8 // r.time_patch) * 3 * 3
    out = model(torch.randn(2, 4, 8, 3, 3), torch.tensor([1, 2]), torch.tensor([3, 4]))
    assert out.shape == (2, 4, 8, 3, 3)
    assert latent_video_dit(small.image.model, 8, 2).config == small.model


def test_train_latent_video_dit_trains_once_then_loads(tmp_path, monkeypatch):
    from course_lib.data.digits import MovingDigitsSpec
    from course_lib.diffusion.dit import DiTConfig
    from course_lib.diffusion.latent import sample_latent_videos
    from course_lib.diffusion.latent_train import LatentImageDiTRecipe, LatentRecipe, train_latent_video_dit
    from course_lib.diffusion.vae_train import VAERecipe
    from course_lib.train import TrainSettings
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    vae = VAERecipe(model=V.VAEConfig(channels=(4, 4), latent_channels=2), data=MovingDigitsSpec(clips=8, frames=4),
                    train=TrainSettings(steps=3, batch_size=4, lr=2e-3))
    image = LatentImageDiTRecipe(vae=vae, model=DiTConfig(input_size=3, patch=1, in_channels=2, dim=16, depth=1,
                                                          heads=2), train=TrainSettings(steps=3, batch_size=4, lr=3e-3))
    recipe = LatentRecipe(image=image, train=TrainSettings(steps=2, batch_size=2, lr=1e-3))
    first = train_latent_video_dit(recipe, torch.device("cpu"), progress=False)
    again = train_latent_video_dit(recipe, torch.device("cpu"), progress=False)
    assert len(first.run.history) == 2 and again.run.cached and first.run.history == again.run.history
    assert again.image.run.cached and again.vae.run.cached and first.bound == again.bound > 0
    assert set(first.stage_seconds) == {"vae", "image", "video"} and first.total_seconds > 0
    for name in ("vae", "latent_image_dit", "latent_video_dit"):
        assert len(list(tmp_path.glob(f"checkpoints/{name}_*.pt"))) == 1, name
    videos = sample_latent_videos(again, torch.tensor([1, 2]), steps=2, generator=torch.Generator().manual_seed(0))
    assert videos.shape == (2, 1, 4, 12, 12) and videos.abs().max() <= 1
