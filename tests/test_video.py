"""Day 05: spacetime patches, the video DiT, moving digits, the frame judge and video metrics."""

import pytest
import torch
from einops import rearrange

from course_lib.data.digits import caption, load_digits, load_moving_digits, make_moving_digits
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.video_dit import (VideoDiT, VideoDiTConfig, coherent_noise, inflate, sample_video,
                                            video_loss)
from course_lib.nn.attention import MultiHeadAttention
from course_lib.nn.embeddings import SpacetimePatchEmbed, patchify3d, spacetime_token_count, unpatchify3d
from course_lib import video_metrics as vm


# ---------------------------------------------------------------- spacetime patches

def test_token_count_of_a_sora_sized_clip():
    assert spacetime_token_count(60, 256, 256, (2, 16, 16)) == 7_680      # 30 * 16 * 16
    assert spacetime_token_count(8, 16, 16, (1, 4, 4)) == 128
    with pytest.raises(ValueError, match="frames"):
        spacetime_token_count(61, 256, 256, (2, 16, 16))
    with pytest.raises(ValueError, match="patch"):
        spacetime_token_count(60, 256, 256, (16, 16))


def test_patchify3d_round_trip_and_order():
    x = torch.randn(2, 3, 4, 6, 8)
    patch = (2, 3, 4)
    tokens = patchify3d(x, patch)
    assert tokens.shape == (2, 2 * 2 * 2, 2 * 3 * 4 * 3)
    assert torch.equal(unpatchify3d(tokens, patch, 3, (2, 2, 2)), x)
    # Token n = (it, ih, iw) time-major; each flattened as (pt, ph, pw, C): an einops oracle.
    ref = rearrange(x, "b c (gt pt) (gh ph) (gw pw) -> b (gt gh gw) (pt ph pw c)", pt=2, ph=3, pw=4)
    assert torch.equal(tokens, ref)
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        patchify3d(torch.zeros(2, 3, 8, 8), patch)
    with pytest.raises(ValueError, match="multiples"):
        patchify3d(torch.zeros(1, 1, 3, 6, 8), patch)


def test_spacetime_patch_embed_is_a_linear_map_of_patchify3d():
    torch.manual_seed(0)
    embed = SpacetimePatchEmbed(2, 16, (2, 4, 4))
    x = torch.randn(3, 2, 4, 8, 8)
    w = embed.proj.weight.permute(0, 2, 3, 4, 1).reshape(16, -1)       # (D, pt*ph*pw*C)
    ref = patchify3d(x, (2, 4, 4)) @ w.T + embed.proj.bias
    torch.testing.assert_close(embed(x), ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- the video DiT

def _tiny(attention: str, **kw) -> VideoDiTConfig:
    return VideoDiTConfig(in_channels=1, frames=4, height=8, width=8, patch=(1, 4, 4), dim=32, depth=2,
                          heads=2, attention=attention, **kw)


def _perturbed_image_dit(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    dit = DiT(DiTConfig(input_size=8, patch=4, dim=32, depth=2, heads=2)).eval()
    with torch.no_grad():                                 # leave the zero init: a "trained" DiT
        for p in dit.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return dit


@pytest.mark.parametrize("attention", ["spatial", "factorized"])
def test_inflated_model_is_the_image_dit_on_every_frame(attention):
    dit = _perturbed_image_dit()
    video = inflate(dit, frames=4, attention=attention).eval()
    x = torch.randn(2, 1, 4, 8, 8)
    t, y = torch.tensor([10, 700]), torch.tensor([3, 10])
    with torch.no_grad():
        ref = torch.stack([dit(x[:, :, i], t, y) for i in range(4)], dim=2)
        out = video(x, t, y)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_full_attention_mixes_frames_and_spatial_does_not():
    dit = _perturbed_image_dit()
    x = torch.randn(1, 1, 4, 8, 8)
    t, y = torch.tensor([300]), torch.tensor([2])
    x2 = x.clone()
    x2[:, :, 3] += 1.0                                    # change the last frame only
    for attention, mixes in (("spatial", False), ("full", True)):
        model = inflate(dit, frames=4, attention=attention).eval()
        with torch.no_grad():
            changed = (model(x, t, y) - model(x2, t, y))[:, :, :3].abs().max().item()
        assert (changed > 1e-4) == mixes, f"{attention}: frames 0-2 changed by {changed}"


def test_temporal_blocks_mix_frames_once_trained():
    torch.manual_seed(0)
    model = VideoDiT(_tiny("factorized")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(1, 1, 4, 8, 8)
    x2 = x.clone()
    x2[:, :, 3] += 1.0
    t, y = torch.tensor([300]), torch.tensor([2])
    with torch.no_grad():
        changed = (model(x, t, y) - model(x2, t, y))[:, :, :3].abs().max().item()
    assert changed > 1e-4


def test_factorized_attention_matches_a_loop_over_frames_and_positions():
    """The einops regrouping against an explicit loop: spatial attention within each frame,
    temporal attention along each patch position."""
    torch.manual_seed(0)
    B, T, S, D = 2, 3, 4, 8
    attn = MultiHeadAttention(D, 2)
    x = torch.randn(B, T * S, D)                          # time-major tokens
    spatial = rearrange(attn(rearrange(x, "b (t s) d -> (b t) s d", t=T)), "(b t) s d -> b (t s) d", b=B)
    temporal = rearrange(attn(rearrange(x, "b (t s) d -> (b s) t d", t=T)), "(b s) t d -> b (t s) d", b=B)
    grid = x.view(B, T, S, D)
    ref_s = torch.stack([torch.stack([attn(grid[b, t][None])[0] for t in range(T)]) for b in range(B)])
    ref_t = torch.stack([torch.stack([attn(grid[b, :, s][None])[0] for s in range(S)], 1) for b in range(B)])
    torch.testing.assert_close(spatial, ref_s.reshape(B, T * S, D), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(temporal, ref_t.reshape(B, T * S, D), rtol=1e-5, atol=1e-6)


def test_video_dit_general_channels_and_bad_input():
    cfg = VideoDiTConfig(in_channels=4, frames=4, height=8, width=8, patch=(2, 2, 2), dim=32, depth=1, heads=2)
    model = VideoDiT(cfg)
    x = torch.randn(2, 4, 4, 8, 8)
    out = model(x, torch.tensor([1, 2]), torch.tensor([0, 10]))
    assert out.shape == x.shape and out.abs().max() == 0            # adaLN-Zero: untrained output is 0
    assert cfg.num_tokens == 2 * 4 * 4
    with pytest.raises(ValueError, match=r"x must be \(B, C=4, T=4, H=8, W=8\)"):
        model(torch.randn(2, 4, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels must be \(B=2\)"):
        model(x, torch.tensor([1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(Exception):                                  # configs are frozen
        cfg.dim = 8
    assert VideoDiTConfig(patch=[1, 4, 4]).patch == (1, 4, 4)        # normalised to a tuple
    with pytest.raises(ValueError, match="attention"):
        VideoDiTConfig(attention="3d")
    with pytest.raises(ValueError, match="multiple"):
        VideoDiTConfig(frames=7, patch=(2, 4, 4))


def test_coherent_noise_has_the_asked_correlation():
    g = torch.Generator().manual_seed(0)
    for rho in (0.0, 0.5, 0.9):
        eps = coherent_noise((4000, 1, 3, 2, 2), rho, g)
        a, b = eps[:, :, 0].flatten(), eps[:, :, 2].flatten()
        assert eps.std().item() == pytest.approx(1.0, abs=0.02)
        assert torch.corrcoef(torch.stack([a, b]))[0, 1].item() == pytest.approx(rho, abs=0.03)
    with pytest.raises(ValueError, match="rho"):
        coherent_noise((1, 1, 2, 2, 2), 1.5)


def test_video_loss_and_sampling_shapes():
    torch.manual_seed(0)
    model = VideoDiT(_tiny("factorized"))
    schedule = make_schedule("cosine", 50)
    x0 = torch.rand(3, 1, 4, 8, 8) * 2 - 1
    loss = video_loss(model, (x0, torch.tensor([1, 2, 3])), schedule, rho=0.5)
    assert loss.item() == pytest.approx(1.0, abs=0.3)    # untrained: predicts 0, target N(0, 1)
    loss.backward()
    out = sample_video(model, torch.tensor([1, 2]), schedule, steps=3, guidance=2.0,
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 1, 4, 8, 8) and torch.isfinite(out).all()


# ---------------------------------------------------------------- data

def test_moving_digits_are_deterministic_and_consistent():
    data = make_moving_digits("test", n=20, frames=6, canvas=16, seed=3)
    again = make_moving_digits("test", n=20, frames=6, canvas=16, seed=3)
    assert torch.equal(data.videos, again.videos) and data.captions == again.captions
    assert data.videos.shape == (20, 1, 6, 16, 16)
    images, labels = load_digits()
    for i in range(3):
        for t in range(6):
            r, c = data.positions[i, t].tolist()
            assert torch.equal(data.videos[i, :, t, r:r + 8, c:c + 8], images[data.digit_index[i]])
    assert torch.equal(data.labels, labels[data.digit_index])
    step = data.positions[:, 1] - data.positions[:, 0]
    bounced = (data.positions[:, 0] + data.velocities < 0) | (data.positions[:, 0] + data.velocities > 8)
    assert torch.equal(step[~bounced], data.velocities[~bounced])
    assert caption(3, (0, -2)) == "a 3 moving left" and caption(7, (1, 1)) == "a 7 moving down-right"
    with pytest.raises(ValueError, match="split"):
        make_moving_digits("valid")


def test_load_moving_digits_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    a = load_moving_digits("train", n=5, frames=4, canvas=12)
    assert list((tmp_path / "data").glob("moving_digits_*.pt"))
    b = load_moving_digits("train", n=5, frames=4, canvas=12)
    assert torch.equal(a.videos, b.videos) and a.captions == b.captions


# ---------------------------------------------------------------- metrics on constructed clips

@pytest.fixture(scope="module")
def clips():
    return make_moving_digits("test", n=40, frames=8, canvas=12, seed=5)   # the lesson's canvas and judge


def test_metrics_are_perfect_on_real_clips(clips):
    assert vm.appearance_consistency(clips.videos) == pytest.approx(1.0, abs=1e-5)
    assert vm.motion_error(clips.videos) < 1e-3
    assert vm.flicker(clips.videos) == 0.0
    # The tracked path moves exactly as the digit does.
    path = vm.track_digit(clips.videos)
    torch.testing.assert_close(path - path[:, :1], (clips.positions - clips.positions[:, :1]).float())


def test_consistency_drops_when_the_digit_is_swapped_midway(clips):
    v = clips.videos
    swapped = v.clone()
    swapped[:, :, 4:] = v.roll(1, dims=0)[:, :, 4:]       # another clip's digit (and path) from frame 4 on
    per_clip = vm.consistency_per_clip(swapped)
    assert per_clip.max() < 0.99 and vm.appearance_consistency(swapped) < 0.85
    assert vm.appearance_consistency(swapped, search=1) < 0.9           # shifting the crop does not rescue it
    assert vm.appearance_consistency(clips.videos, search=1) == pytest.approx(1.0, abs=1e-5)


def test_consistency_search_forgives_a_one_pixel_tracking_error(clips):
    v = clips.videos.clone()
    v[:, :, 1::2] = -1.0                                  # odd frames: the digit shifted by one pixel right
    for i in range(len(clips)):
        for t in range(1, 8, 2):
            r, c = clips.positions[i, t].tolist()
            v[i, 0, t] = -1.0
            v[i, 0, t, r:r + 8, c + 1:c + 8] = clips.videos[i, 0, t, r:r + 8, c:c + 7]
    # Shifted crops that lose a column are no longer identical, but one shift realigns them.
    assert vm.appearance_consistency(v, search=1) > vm.appearance_consistency(v, search=0)


def test_motion_error_catches_jitter(clips):
    images, _ = load_digits()
    g = torch.Generator().manual_seed(0)
    jittered = torch.full_like(clips.videos, -1.0)
    for i in range(len(clips)):
        for t in range(8):
            r, c = (clips.positions[i, t] + torch.randint(-1, 2, (2,), generator=g)).clamp(0, 4).tolist()
            jittered[i, 0, t, r:r + 8, c:c + 8] = images[clips.digit_index[i], 0]
    assert vm.motion_error(jittered) > 0.3
    assert vm.appearance_consistency(jittered) == pytest.approx(1.0, abs=1e-5)   # same instance: still 1


def test_flicker_sees_background_noise_but_not_the_digit(clips):
    g = torch.Generator().manual_seed(1)
    v = clips.videos
    noisy = (v + 0.2 * torch.rand(v.shape, generator=g) * (v == -1)).clamp(-1, 1)
    assert vm.flicker(noisy) > 0.05
    inside = v.clone()
    inside[:, :, ::2] = torch.where(v[:, :, ::2] > -1, v[:, :, ::2] * 0.5, v[:, :, ::2])   # the digit blinks
    assert vm.flicker(inside) == 0.0


def test_frame_judge_and_report(clips):
    from course_lib.data.frame_judge import load_frame_judge
    judge, accuracy = load_frame_judge()
    assert accuracy >= 0.95, f"the frame judge must be trustworthy; held-out accuracy {accuracy:.3f}"
    report = vm.video_report(clips.videos, clips.labels, judge)
    assert report["accuracy"] >= 0.9 and report["consistency"] > 0.999
    wrong = vm.frame_accuracy(clips.videos, (clips.labels + 1) % 10, judge)
    assert wrong < 0.1


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 1, T, H, W\)"):
        vm.appearance_consistency(torch.zeros(2, 8, 16, 16))
    with pytest.raises(TypeError, match="Tensor"):
        vm.flicker([[0.0]])
    with pytest.raises(ValueError, match="labels"):
        vm.frame_accuracy(torch.zeros(2, 1, 4, 12, 12), torch.zeros(3, dtype=torch.int64))


def _tiny_video_recipe(**kw):
    from course_lib.data.digits import MovingDigitsSpec
    from course_lib.diffusion.video_dit_train import ImageDiTRecipe, VideoRecipe
    from course_lib.train import TrainSettings
    image = ImageDiTRecipe(data=MovingDigitsSpec(clips=16, frames=4, canvas=12),
                           model=DiTConfig(input_size=12, patch=4, dim=16, depth=1, heads=2),
                           train=TrainSettings(steps=3, batch_size=4, lr=5e-3, warmup=100, weight_decay=0.01))
    return VideoRecipe(image=image, train=TrainSettings(steps=3, batch_size=2, lr=3e-3, warmup=100, weight_decay=0.01),
                       **kw)


def test_train_video_dit_trains_once_then_loads(tmp_path, monkeypatch):
    from dataclasses import replace

    from course_lib.diffusion.video_dit_train import train_video_dit
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    recipe = _tiny_video_recipe(freeze_spatial=True)
    first = train_video_dit(recipe, torch.device("cpu"), progress=False)
    again = train_video_dit(recipe, torch.device("cpu"), progress=False)
    assert len(first.run.history) == 3 and first.run.history == again.run.history
    assert not first.run.cached and again.run.cached and again.image.run.cached
    assert first.run.seconds == again.run.seconds and first.image.run.seconds == again.image.run.seconds > 0
    for (name, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert first.model.config == recipe.model           # the recipe names the inflated model's sizes
    assert list(tmp_path.glob(f"checkpoints/video_dit_{recipe.key()}.pt"))
    assert list(tmp_path.glob(f"checkpoints/video_image_dit_{recipe.image.key()}.pt"))
    # Frozen spatial blocks: only the temporal blocks moved away from the inflated image DiT.
    image = first.model.blocks[0].attn.q_proj.weight
    inflated = train_video_dit(replace(recipe, train=replace(recipe.train, steps=0)), torch.device("cpu"), False)
    assert torch.equal(image, inflated.model.blocks[0].attn.q_proj.weight) and inflated.run.history == []
    assert all(p.requires_grad for p in first.model.parameters())
    # Every attention mode shares the one image stage: only the video checkpoint is new.
    full = train_video_dit(replace(recipe, attention="full", freeze_spatial=False), torch.device("cpu"), False)
    assert full.image.run.cached and len(list(tmp_path.glob("checkpoints/video_image_dit_*.pt"))) == 1
    with pytest.raises(ValueError, match="freeze_spatial"):
        replace(recipe, attention="full")


def test_video_recipe_keys_and_presets():
    from dataclasses import replace

    from course_lib.diffusion.video_dit_train import FULL_ATTENTION_PRESETS, PRESETS, VideoRecipe
    cpu, gpu = PRESETS["cpu"], PRESETS["gpu"]
    # today's lesson settings: 1,600 image steps, 2,000 video steps at batch 8; GPU longer and bigger
    assert (cpu.image.train.steps, cpu.train.steps, cpu.train.batch_size) == (1600, 2000, 8)
    assert (gpu.image.train.steps, gpu.train.steps, gpu.train.batch_size) == (6000, 3000, 32)
    assert cpu.model.num_tokens == 72 and cpu.data.canvas == 12 and cpu.prediction == "x0"
    assert FULL_ATTENTION_PRESETS["cpu"].attention == "full" and FULL_ATTENTION_PRESETS["cpu"].train.steps == 500
    assert FULL_ATTENTION_PRESETS["cpu"].image == cpu.image          # one shared image stage
    assert replace(cpu, rho=0.5).key() != cpu.key() and replace(cpu, rho=0.5).image.key() == cpu.image.key()
    with pytest.raises(ValueError, match="attention"):
        VideoRecipe(attention="3d")
    with pytest.raises(ValueError, match="input_size"):
        replace(cpu.image, model=DiTConfig(input_size=16, patch=4))


def test_motion_direction_reads_every_caption_of_real_clips():
    data = make_moving_digits("test", n=80, frames=8, canvas=16, seed=2, start="behind")
    assert vm.direction_accuracy(data.videos, data.velocities) == 1.0
    # a clip mirrored in both axes moves the other way; one frame repeated does not move
    mirrored = data.videos.flip(-2, -1)
    assert vm.direction_accuracy(mirrored, -data.velocities) == 1.0
    assert vm.direction_accuracy(mirrored, data.velocities) == 0.0
    still = data.videos[:, :, :1].expand_as(data.videos)
    assert (vm.motion_direction(still) == 0).all()
    with pytest.raises(ValueError, match="velocities must be"):
        vm.direction_accuracy(data.videos, data.velocities[:, 0])
    with pytest.raises(ValueError, match="frames must be"):
        vm.motion_direction(data.videos, frames=9)


def test_caption_scores_on_real_and_wrong_clips():
    data = make_moving_digits("test", n=60, frames=8, canvas=12, speeds=(1,), seed=4, start="behind")
    real = vm.caption_scores(data.videos, data.labels, data.velocities)
    assert real["joint"].float().mean() >= 0.9 and torch.equal(real["joint"], real["digit"] & real["direction"])
    wrong = vm.caption_scores(data.videos, (data.labels + 1) % 10, -data.velocities)
    assert wrong["digit"].float().mean() < 0.2 and not wrong["direction"].any()
    with pytest.raises(ValueError, match="labels must be"):
        vm.caption_scores(data.videos, data.labels[:3], data.velocities)


def test_trajectory_error_and_frame_psnr(clips):
    videos = clips.videos
    assert torch.equal(vm.trajectory_error(videos, videos), torch.zeros(len(videos)))
    shifted = torch.roll(videos, shifts=2, dims=-1)          # every digit 2 pixels right (ink that wraps moves the median little)
    err = vm.trajectory_error(shifted, videos)
    assert torch.allclose(err.median(), torch.tensor(2.0), atol=0.3)
    stills = videos[:, :, 0]
    assert torch.isinf(vm.frame_psnr(videos, stills)).all()                 # frame 0 is the still
    noisy = (stills + 0.1 * torch.randn(stills.shape, generator=torch.Generator().manual_seed(0)))
    psnr = vm.frame_psnr(videos, noisy)                       # MSE 0.01 on a peak-to-peak of 2: 26 dB
    assert torch.allclose(psnr.mean(), torch.tensor(26.0), atol=0.3)
    with pytest.raises(ValueError, match="stills must be"):
        vm.frame_psnr(videos, videos[:, 0])
    # identity: a real clip is its first frame's digit everywhere; another clip's still is not
    assert torch.allclose(vm.still_identity(videos, stills), torch.ones(len(videos)), atol=1e-5)
    others = stills.roll(1, dims=0)
    assert vm.still_identity(videos, others).mean() < 0.7
    per_frame = vm.still_identity(videos, others, per_frame=True)
    assert per_frame.shape == videos.shape[:1] + videos.shape[2:3]
    assert torch.allclose(per_frame.mean(-1), vm.still_identity(videos, others))
    # frame by frame against a reference clip: the still repeated gives still_identity's numbers
    repeated = others[:, :, None].expand_as(videos)
    torch.testing.assert_close(vm.crop_correlation(videos, repeated), per_frame, atol=1e-5, rtol=0)
    assert torch.allclose(vm.crop_correlation(videos, videos), torch.ones(videos.shape[0], videos.shape[2]), atol=1e-5)
    with pytest.raises(ValueError, match="reference"):
        vm.crop_correlation(videos, videos[:2])
    with pytest.raises(ValueError, match="stills must be"):
        vm.still_identity(videos, videos[:, 0])
    with pytest.raises(ValueError, match="one shape"):
        vm.trajectory_error(videos[:, :, :4], videos)
