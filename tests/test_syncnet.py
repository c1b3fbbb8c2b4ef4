"""course_lib.sync.syncnet and syncnet_train: lower half, the expert loss, encoders, windows,
the recipe and load-or-train."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.faces import make_clip
from course_lib.sync import avsync, syncnet
from course_lib.sync.syncnet import FaceWindows, SyncNet, SyncNetConfig, embed_clip, lower_half, sync_loss
from course_lib.sync.syncnet_train import PRESETS, SyncNetRecipe, TrainedSyncNet, train_syncnet
from course_lib.train import TrainSettings

TINY = SyncNetConfig(width=4, dim=8)


def test_lower_half_rows():
    x = torch.arange(2 * 3 * 7 * 4, dtype=torch.float32).reshape(2, 3, 7, 4)
    assert torch.equal(lower_half(x), x[:, :, 3:])             # H = 7: rows 3..6
    assert lower_half(torch.zeros(5, 3, 32, 32)).shape == (5, 3, 16, 32)
    with pytest.raises(ValueError, match="frames"):
        lower_half(torch.zeros(4, 4))


def test_sync_loss_is_bce_on_cosine_similarity():
    gen = torch.Generator().manual_seed(0)
    v, a = torch.rand(6, 5, generator=gen), torch.rand(6, 5, generator=gen)   # non-negative
    y = torch.tensor([1.0, 0, 1, 0, 1, 1])
    sim = (v * a).sum(-1) / (v.norm(dim=-1) * a.norm(dim=-1))
    expected = -(y * sim.log() + (1 - y) * (1 - sim).log()).mean()     # written out by hand
    assert torch.allclose(sync_loss(v, a, y), expected, atol=1e-6)
    assert torch.allclose(sync_loss(v, a, y), F.binary_cross_entropy(sim, y), atol=1e-6)   # torch's BCE
    # in-sync pairs with identical embeddings cost ~0; labelled off-sync they cost a lot
    assert sync_loss(v, v, torch.ones(6)) < 1e-4
    assert sync_loss(v, v, torch.zeros(6)) > 10
    # orthogonal non-negative embeddings (sim = 0) labelled in sync: finite thanks to the clamp
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    loss = sync_loss(e1, e2, torch.ones(1))
    assert torch.isfinite(loss) and abs(loss.item() + torch.log(torch.tensor(1e-6)).item()) < 1e-3
    with pytest.raises(ValueError, match="in_sync"):
        sync_loss(v, a, torch.ones(5))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        sync_loss(v, a[:3], y)


def test_syncnet_embeddings_are_unit_nonnegative_and_check_shapes():
    torch.manual_seed(0)
    model = SyncNet(TINY).eval()
    faces, mels = torch.rand(3, 15, 32, 32), torch.randn(3, 80, 16) * 3 - 5
    v, a = model.embed_face(faces), model.embed_audio(mels)
    assert v.shape == a.shape == (3, 8)
    for e in (v, a):
        assert (e >= 0).all() and torch.allclose(e.norm(dim=-1), torch.ones(3), atol=1e-5)
    sim = model(faces, mels)
    assert sim.shape == (3,) and (sim >= 0).all() and (sim <= 1 + 1e-6).all()
    # the upper half of the frames is never looked at
    changed = faces.clone()
    changed[:, :, :16] = torch.rand(3, 15, 16, 32)
    assert torch.allclose(model.embed_face(changed), v)
    with pytest.raises(ValueError, match="windows must be"):
        model.embed_face(torch.rand(3, 3, 32, 32))
    with pytest.raises(ValueError, match="mels must be"):
        model.embed_audio(torch.rand(3, 80, 12))


def test_face_windows_match_avsync_windows():
    clips = [make_clip("call anna", style=0), make_clip("stop the music", style=5)]
    w = FaceWindows(clips)
    for i, clip in enumerate(clips):
        t = torch.tensor([0, 3, clip.n_frames - 5])
        ref_v = avsync.video_windows(clip.video(), 5)[t]
        ref_a = avsync.mel_windows(clip.mel, clip.n_frames, 16)[t]
        assert torch.equal(w.face(i, t), ref_v)
        assert torch.equal(w.mel(i, t), ref_a)
        # the last frame's window reaches past the mel: padded with silence, not zeros
        last = w.mel(i, torch.tensor([clip.n_frames - 1]))[0]
        padded = avsync.mel_windows(syncnet.pad_mel(clip.mel, clip.n_frames), clip.n_frames)[-1]
        assert torch.equal(last, padded) and last.max() <= clip.mel.max()
        assert last[:, -1].eq(clip.mel.min()).all()
    batch = w.sample(10, random.Random(0))
    assert batch["faces"].shape == (10, 15, 32, 32) and batch["mels"].shape == (10, 80, 16)
    assert batch["in_sync"].tolist() == [1.0, 0.0] * 5
    off = batch["shift"][1::2]
    assert ((off.abs() >= 2) & (off.abs() <= 15)).all()


def test_embed_clip_shapes():
    clip = make_clip("call anna", style=2)
    model = SyncNet(TINY)
    v, a = embed_clip(model, clip.video(), clip.mel)
    assert v.shape == a.shape == (clip.n_frames, 8)
    assert model.training                           # mode restored
    with pytest.raises(ValueError, match="frames"):
        embed_clip(model, clip.video()[0], clip.mel)


def test_train_syncnet_runs_and_loads_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    recipe = SyncNetRecipe(model=TINY, train=TrainSettings(steps=3, batch_size=8, lr=2e-3, seed=17), n_clips=24)
    first = train_syncnet(recipe, progress=False)
    assert isinstance(first, TrainedSyncNet) and first.recipe == recipe
    assert len(first.run.history) == 3 and 0.0 <= first.valid_accuracy <= 1.0 and not first.run.cached
    assert not first.model.training and not any(p.requires_grad for p in first.model.parameters())
    again = train_syncnet(recipe, progress=False)              # loaded: same weights, no training
    assert again.run.cached and again.run.history == first.run.history
    assert again.valid_accuracy == first.valid_accuracy
    for p, q in zip(first.model.parameters(), again.model.parameters()):
        assert torch.equal(p, q)
    assert len(list((tmp_path / "checkpoints").glob(f"syncnet_{recipe.key()}*"))) == 1
    steps = lambda n: SyncNetRecipe(train=TrainSettings(steps=n, batch_size=64, lr=2e-3, seed=17))
    assert steps(4).key() != steps(5).key()
    assert SyncNetRecipe(max_shift=10).key() != SyncNetRecipe().key()


def test_recipe_is_frozen_and_typed_and_presets_follow_the_lesson():
    recipe = SyncNetRecipe()
    with pytest.raises(Exception):
        recipe.n_clips = 10                                     # frozen
    with pytest.raises(Exception):
        recipe.model.width = 8
    assert isinstance(recipe.model, SyncNetConfig) and isinstance(recipe.train, TrainSettings)
    # "cpu" is what day 17 trained before presets existed, "gpu" its CUDA branch
    assert PRESETS["cpu"] == recipe
    assert (recipe.n_clips, recipe.train.steps, recipe.train.batch_size, recipe.train.lr,
            recipe.train.seed) == (200, 300, 64, 2e-3, 17)
    gpu = PRESETS["gpu"]
    assert (gpu.train.steps, gpu.train.batch_size) == (2000, 128) and gpu.model == recipe.model
