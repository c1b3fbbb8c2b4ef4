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
    # the L1 term by hand: generate each frame of the 5-frame windows, mean |G - x|
    flat = batch["targets"].flatten(0, 1)
    generated = model(batch["references"].flatten(0, 1), mask_lower_half(flat), batch["mels"].flatten(0, 1))
    assert torch.allclose(l1, (generated - flat).abs().mean())
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
    # "cpu" is what day 17 trains (1,000 steps: at 500 the mouths did not follow the audio
    # for every seed), "gpu" its CUDA branch
    assert PRESETS["cpu"] == recipe and recipe.expert == SYNCNET_PRESETS["cpu"]
    assert (recipe.train.steps, recipe.train.batch_size, recipe.train.lr, recipe.train.seed,
            recipe.sync_weight, recipe.sync_start) == (1000, 8, 2e-3, 17, 0.03, 0.75)
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
