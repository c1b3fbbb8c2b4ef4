"""course_lib.sync.lipsync and lipsync_train: masking, the generator, its loss, the recipe,
the sync-loss switch (also across a resumed run), dubbing."""

from __future__ import annotations

import random

import pytest
import torch

from course_lib.data.faces import make_clip
from course_lib.sync import lipsync
from course_lib.sync import lipsync_train
from course_lib.sync.lipsync import LipSyncConfig, LipSyncGenerator, dub, generator_loss, mask_lower_half
from course_lib.sync.lipsync_train import PRESETS, LipSyncRecipe, train_lipsync, window_batch
from course_lib.sync.syncnet import FaceWindows, SyncNet, SyncNetConfig
from course_lib.sync.syncnet_train import PRESETS as SYNCNET_PRESETS
from course_lib.sync.syncnet_train import SyncNetRecipe
from course_lib.train import TrainSettings

TINY = LipSyncConfig(width=4, audio_dim=8)
TINY_EXPERT = SyncNetRecipe(model=SyncNetConfig(width=4, dim=8), n_clips=24,
                            train=TrainSettings(steps=2, batch_size=8, lr=2e-3, seed=17))


def tiny_recipe(sync_start: float, steps: int = 22) -> LipSyncRecipe:
    return LipSyncRecipe(model=TINY, train=TrainSettings(steps=steps, batch_size=2, lr=2e-3, seed=17),
                         expert=TINY_EXPERT, sync_start=sync_start)


def test_mask_lower_half_zeroes_exactly_the_lower_rows():
    x = torch.rand(2, 3, 7, 5) + 0.5
    out = mask_lower_half(x)
    assert torch.equal(out[..., :3, :], x[..., :3, :])        # rows 0..2 kept (H // 2 = 3)
    assert (out[..., 3:, :] == 0).all()                        # rows 3..6 masked
    assert (x > 0).all()                                       # the input is not modified
    assert mask_lower_half(torch.ones(3, 32, 32))[:, 15:17, 0].tolist() == [[1.0, 0.0]] * 3
    with pytest.raises(ValueError, match="frames"):
        mask_lower_half(torch.ones(4, 4))


def test_generator_shapes_range_and_audio_conditioning():
    torch.manual_seed(0)
    model = LipSyncGenerator(TINY).eval()
    ref, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    mel = torch.randn(2, 80, 16) * 3 - 5
    out = model(ref, mask_lower_half(target), mel)
    assert out.shape == (2, 3, 32, 32) and (out >= 0).all() and (out <= 1).all()
    other = model(ref, mask_lower_half(target), mel.flip(-1))
    assert not torch.allclose(out, other), "the output must depend on the audio"
    # the masked rows carry no information: the target's lower half is invisible
    target2 = target.clone()
    target2[..., 16:, :] = torch.rand(2, 3, 16, 32)
    assert torch.equal(model(ref, mask_lower_half(target2), mel), out)
    with pytest.raises(ValueError, match="reference must be"):
        model(ref[:, :1], target, mel)
    with pytest.raises(ValueError, match="mel must be"):
        model(ref, target, mel[:, :40])


def test_generator_loss_combines_l1_and_expert_loss():
    torch.manual_seed(0)
    clips = [make_clip("call anna", style=1)]
    batch = window_batch(FaceWindows(clips), 3, random.Random(0))
    assert batch["targets"].shape == (3, 5, 3, 32, 32) and batch["mels"].shape == (3, 5, 80, 16)
    model, expert = LipSyncGenerator(TINY).eval(), SyncNet(SyncNetConfig(width=4, dim=8)).eval()
    total0, parts = generator_loss(model, expert, batch, 0.0)
    l1, e_sync = parts["l1"], parts["sync"]
    assert set(parts) == {"l1", "sync"} and torch.allclose(total0, l1)
    total, parts_b = generator_loss(model, expert, batch, 0.25)
    assert torch.allclose(total, 0.75 * parts_b["l1"] + 0.25 * parts_b["sync"])
    assert torch.allclose(parts_b["l1"], l1) and torch.allclose(parts_b["sync"], e_sync)
    # the L1 term by hand: generate each frame of the 5-frame windows, paste it into the
    # target, mean |P - x|; with a mouth weight, a weighted mean
    flat = batch["targets"].flatten(0, 1)
    generated = model(batch["references"].flatten(0, 1), mask_lower_half(flat), batch["mels"].flatten(0, 1))
    pasted = lipsync.paste(generated, flat)
    assert torch.allclose(l1, (pasted - flat).abs().mean())
    err = (pasted - flat).abs()
    weighted = generator_loss(model, expert, batch, 0.0, mouth_weight=6.0)[1]["l1"]
    box = err[..., 16:, 8:24]
    assert torch.allclose(weighted, (err.sum() + 6 * box.sum()) / (err.numel() + 6 * box.numel()))
    assert (pasted[..., :13, :] == flat[..., :13, :]).all()      # the rows above the ramp are the target's
    assert e_sync > 0
    # gradients reach the generator through the frozen expert, none reach the expert
    expert.requires_grad_(False)
    generator_loss(model.train(), expert, batch, 1.0)[0].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_train_lipsync_switches_the_sync_loss_on_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    never, at_once = tiny_recipe(sync_start=0.0), tiny_recipe(sync_start=1e9)
    a = train_lipsync(never, progress=False)             # trains the tiny expert first
    b = train_lipsync(at_once, progress=False)           # loads it
    assert len(list((tmp_path / "checkpoints").glob("syncnet_*.pt"))) == 1
    assert a.expert.recipe == TINY_EXPERT and not a.run.cached
    l1_a, sync_a = a.run.metrics["l1"], a.run.metrics["sync"]
    assert a.sync_started is None and len(l1_a) == len(sync_a) == 22
    assert b.sync_started == 20          # as soon as 20 expert losses are there to average
    # before the switch the total loss is the L1 loss alone
    assert a.run.history == pytest.approx(l1_a, rel=1e-5)
    assert b.run.history[:20] == pytest.approx(b.run.metrics["l1"][:20], rel=1e-5)
    w = at_once.sync_weight
    l1_b, sync_b = b.run.metrics["l1"], b.run.metrics["sync"]
    assert b.run.history[21] == pytest.approx((1 - w) * l1_b[21] + w * sync_b[21], rel=1e-5)
    again = train_lipsync(at_once, progress=False)      # loaded from artifacts/, the switch too
    assert again.run.cached and again.run.history == b.run.history and again.sync_started == 20
    assert again.run.metrics == b.run.metrics
    assert len(list((tmp_path / "checkpoints").glob(f"lipsync_{at_once.key()}.pt"))) == 1
    assert at_once.key() != never.key()
    # the key covers the expert: another expert, another generator
    other = LipSyncRecipe(model=TINY, train=at_once.train, sync_start=1e9,
                          expert=SyncNetRecipe(model=TINY_EXPERT.model, n_clips=24, train=TrainSettings(
                              steps=3, batch_size=8, lr=2e-3, seed=17)))
    assert other.key() != at_once.key()


def test_sync_switch_uses_the_losses_before_each_step():
    recipe = tiny_recipe(sync_start=0.5, steps=100)
    state: dict = {}
    on_step = lipsync_train.sync_switch(recipe, state)
    losses = [0.9] * 25 + [0.2] * 30
    for step, value in enumerate(losses, start=1):        # on_step gets the steps done
        on_step(step, None, {"loss": 0.0, "sync": value})
        mean = sum(losses[max(0, step - 20):step]) / 20
        if state["sync_started"] is None:
            assert step < 20 or mean >= 0.5
    # steps 0..24 at 0.9, then 0.2: the mean of steps s-20..s-1 is 0.515 at s = 36, 0.48 at s = 37
    assert state["sync_started"] == 37 and len(state["recent_sync"]) == 20
    # never switched on after the last step (the old loop never decided for step `steps`)
    late: dict = {}
    on_late = lipsync_train.sync_switch(tiny_recipe(sync_start=0.5, steps=20), late)
    for step in range(1, 21):
        on_late(step, None, {"loss": 0.0, "sync": 0.1})
    assert late["sync_started"] is None


def test_interrupted_run_resumes_with_its_switch(tmp_path, monkeypatch):
    """Stop at step 25 (checkpoints every 10 steps), rerun: the run resumes from step 20 with
    the saved expert losses and switch step, and ends as the uninterrupted run does."""
    recipe = tiny_recipe(sync_start=1e9, steps=30)
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path / "straight"))
    straight = train_lipsync(recipe, progress=False)

    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path / "resumed"))
    real = lipsync_train.load_or_train

    def interrupted(name, recipe, model, loss_fn, data, **kw):
        def on_step(step, model, logs):
            kw_on_step(step, model, logs)
            if name == "lipsync" and step == 25:
                raise KeyboardInterrupt
        kw_on_step = kw.pop("on_step")
        return real(name, recipe, model, loss_fn, data, on_step=on_step, checkpoint_every=10, **kw)

    monkeypatch.setattr(lipsync_train, "load_or_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_lipsync(recipe, progress=False)
    monkeypatch.setattr(lipsync_train, "load_or_train", real)
    resumed = train_lipsync(recipe, progress=False)
    assert resumed.sync_started == straight.sync_started == 20
    assert resumed.run.history == pytest.approx(straight.run.history, rel=1e-5)
    assert resumed.run.metrics["sync"] == pytest.approx(straight.run.metrics["sync"], rel=1e-5)


def test_recipe_is_frozen_typed_and_presets_follow_the_lesson():
    recipe = LipSyncRecipe()
    with pytest.raises(Exception):
        recipe.sync_weight = 0.1
    assert isinstance(recipe.model, LipSyncConfig) and isinstance(recipe.train, TrainSettings)
    assert isinstance(recipe.expert, SyncNetRecipe)
    # "cpu" is what day 17 loads (2,000 steps, sync loss from step 0, mouth box x7, window
    # centred), "gpu" its CUDA branch
    assert PRESETS["cpu"] == recipe and recipe.expert == SYNCNET_PRESETS["cpu"]
    assert (recipe.train.steps, recipe.train.batch_size, recipe.train.lr, recipe.train.seed,
            recipe.sync_weight, recipe.sync_start, recipe.mouth_weight, recipe.model.mel_lead) == (
        2000, 8, 2e-3, 17, 0.03, None, 6.0, 2)
    gpu = PRESETS["gpu"]
    assert (gpu.train.steps, gpu.train.batch_size) == (3000, 32) and gpu.expert == SYNCNET_PRESETS["gpu"]
    with pytest.raises(ValueError, match="one size"):
        train_lipsync(LipSyncRecipe(model=LipSyncConfig(size=48)), progress=False)


def test_dub_lengths_still_and_clip_faces():
    torch.manual_seed(0)
    model = LipSyncGenerator(TINY)
    clip = make_clip("call anna", style=4)
    wave = torch.randn(16_000) * 0.1                   # 1 s: 25 frames
    out = dub(model, clip.video(), wave)
    assert out.shape == (25, 3, 32, 32) and (out >= 0).all() and (out <= 1).all()
    assert dub(model, clip.video()[0], wave).shape == (25, 3, 32, 32)
    assert lipsync.n_video_frames(16_000) == 25 and lipsync.n_video_frames(639) == 0
    assert model.training                               # mode restored
    with pytest.raises(ValueError, match="face must be"):
        dub(model, torch.rand(32, 32), wave)
    with pytest.raises(ValueError, match="sample_rate"):
        dub(model, clip.video(), wave, sample_rate=22_050)
    with pytest.raises(ValueError, match="shorter than one video frame"):
        dub(model, clip.video(), wave[:100])


def test_sync_loss_from_step_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    recipe = LipSyncRecipe(model=TINY, train=TrainSettings(steps=4, batch_size=2, lr=2e-3, seed=17),
                           expert=TINY_EXPERT, mouth_weight=6.0)
    assert recipe.sync_start is None
    run = train_lipsync(recipe, progress=False)
    assert run.sync_started == 0
    w, l1, e = recipe.sync_weight, run.run.metrics["l1"], run.run.metrics["sync"]
    assert run.run.history == pytest.approx([(1 - w) * a + w * b for a, b in zip(l1, e)], rel=1e-5)
    assert train_lipsync(recipe, progress=False).sync_started == 0      # loaded: the same


def test_paste_ramps_from_the_pose_to_the_generated_half():
    w = lipsync.paste_weights(32)[:, 0]
    assert w.shape == (32,) and (w[:14] == 0).all() and (w[17:] == 1).all()
    assert w[14:17].tolist() == pytest.approx([1 / 6, 1 / 2, 5 / 6])    # the ramp, rows 13.5 .. 16.5
    generated, pose = torch.ones(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)
    out = lipsync.paste(generated, pose)
    assert torch.equal(out[0, 0, :, 5], w) and torch.equal(out[..., :14, :], pose[..., :14, :])
    m = lipsync.mouth_weights(32, 6.0)
    assert m.sum() == 32 * 32 + 6 * 16 * 16 and m[16, 8] == 7 and m[15, 8] == 1 and m[16, 7] == 1


def test_generator_mel_windows_are_centred_and_hear_silence_before_the_start():
    mel = torch.randn(80, 60)
    n = 18
    plain = lipsync.generator_mel_windows(mel, n, lead=0)
    from course_lib.sync.avsync import mel_windows
    from course_lib.sync.syncnet import pad_mel
    assert torch.equal(plain, mel_windows(pad_mel(mel, n), n, 16))     # lead 0: day 16's windows
    centred = lipsync.generator_mel_windows(mel, n, lead=2)
    assert torch.equal(centred[2:], plain[:n - 2])                      # frame t hears frame t-2's window
    assert centred.shape == (n, 80, 16)
    assert (centred[0, :, :6] == mel.min()).all() and torch.equal(centred[0, :, 6:], mel[:, :10])
    with pytest.raises(ValueError, match="mel_lead"):
        LipSyncConfig(mel_lead=5)
    with pytest.raises(ValueError, match="mel_lead"):
        LipSyncConfig(mel_lead=-1)


def test_film_starts_as_the_identity_and_then_follows_the_audio():
    torch.manual_seed(0)
    model = LipSyncGenerator(TINY).eval()
    h, a = torch.randn(2, 16, 4, 4), torch.randn(2, 8)
    assert torch.equal(model.modulate(0, h, a), h)                      # gamma = beta = 0 at first
    torch.nn.init.normal_(model.film[0].weight)
    gamma, beta = model.film[0](a).chunk(2, dim=1)
    torch.testing.assert_close(model.modulate(0, h, a), h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None])


def test_window_batch_with_a_lead_draws_the_earlier_mel_windows():
    clips = [make_clip("call anna", style=1)]
    windows = FaceWindows(clips)
    batch = window_batch(windows, 6, random.Random(3), mel_lead=2)
    again = window_batch(windows, 6, random.Random(3), mel_lead=2)
    assert torch.equal(batch["mels"], again["mels"])
    rng = random.Random(3)
    positions = [(c, t) for c, t in windows.positions if t >= 2]
    clip, t = rng.choice(positions)
    assert torch.equal(batch["mels"][0], windows.mel(clip, torch.arange(t - 2, t + 3)))
    assert torch.equal(batch["sync_mel"][0], windows.mel(clip, torch.tensor([t]))[0])
    with pytest.raises(ValueError, match="mel_lead"):
        window_batch(windows, 2, random.Random(0), mel_lead=10_000)


def test_dub_keeps_the_pose_above_the_mouth():
    torch.manual_seed(0)
    model = LipSyncGenerator(TINY)
    clip = make_clip("call anna", style=2)
    out = dub(model, clip.video(), clip.wave)
    assert torch.equal(out[:, :, :14], clip.video()[:len(out), :, :14])
