"""course_lib.sync.lipsync: masking, the generator, its loss, the sync-loss switch, dubbing."""

from __future__ import annotations

import random

import pytest
import torch

from course_lib.data.faces import make_clip
from course_lib.sync import lipsync
from course_lib.sync.lipsync import (LipSyncConfig, LipSyncGenerator, LipSyncRecipe, dub,
                                     generator_loss, mask_lower_half, train_lipsync)
from course_lib.sync.syncnet import (FaceWindows, SyncNet, SyncNetConfig, SyncNetRecipe,
                                     train_syncnet)

TINY = LipSyncConfig(width=4, audio_dim=8)


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
    batch = lipsync._window_batch(FaceWindows(clips), 3, random.Random(0))
    assert batch["targets"].shape == (3, 5, 3, 32, 32) and batch["mels"].shape == (3, 5, 80, 16)
    model, expert = LipSyncGenerator(TINY).eval(), SyncNet(SyncNetConfig(width=4, dim=8)).eval()
    total0, l1, e_sync = generator_loss(model, expert, batch, 0.0)
    assert torch.allclose(total0, l1)
    total, l1b, e_syncb = generator_loss(model, expert, batch, 0.25)
    assert torch.allclose(total, 0.75 * l1b + 0.25 * e_syncb) and torch.allclose(l1b, l1)
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
    expert = train_syncnet(SyncNetRecipe(n_clips=24, steps=2, batch_size=8,
                                         config={**SyncNetConfig(width=4, dim=8).__dict__}),
                           progress=False)
    never = LipSyncRecipe(steps=22, batch_size=2, sync_start=0.0, config={**TINY.__dict__})
    at_once = LipSyncRecipe(steps=22, batch_size=2, sync_start=1e9, config={**TINY.__dict__})
    a = train_lipsync(expert, never, progress=False)
    b = train_lipsync(expert, at_once, progress=False)
    assert a.sync_started is None and len(a.l1_history) == len(a.sync_history) == 22
    assert b.sync_started == 20          # as soon as 20 expert losses are there to average
    # before the switch the total loss is the L1 loss alone
    assert a.history == pytest.approx(a.l1_history, rel=1e-5)
    w = at_once.sync_weight
    assert b.history[21] == pytest.approx((1 - w) * b.l1_history[21] + w * b.sync_history[21], rel=1e-5)
    again = train_lipsync(expert, at_once, progress=False)      # loaded from artifacts/
    assert again.history == b.history and again.sync_started == 20
    assert at_once.key(expert) != never.key(expert)


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
