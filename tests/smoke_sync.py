"""Smoke functions (tests/smoke.py) for the lip-sync presets: the SyncNet expert and the
Wav2Lip-style generator."""

import torch

from course_lib.sync.lipsync import dub, generator_loss
from course_lib.sync.lipsync_train import new_generator
from course_lib.sync.syncnet import MEL_WINDOW, WINDOW, embed_clip
from course_lib.sync.syncnet_train import new_syncnet, syncnet_loss
from tests.smoke import smoke, train_one_step


@smoke("course_lib.sync.syncnet_train.PRESETS")
def syncnet(recipe):
    model, c = new_syncnet(recipe), recipe.model
    batch = {"faces": torch.rand(2, WINDOW * c.channels, c.size, c.size),
             "mels": torch.randn(2, c.n_mels, MEL_WINDOW) * 3 - 5, "in_sync": torch.tensor([1.0, 0.0])}
    train_one_step(model, syncnet_loss, batch)
    v, a = embed_clip(model, torch.rand(6, c.channels, c.size, c.size), torch.randn(c.n_mels, 20) * 3 - 5)
    assert v.shape == a.shape == (6, c.dim) and torch.isfinite(v).all() and torch.isfinite(a).all()


@smoke("course_lib.sync.lipsync_train.PRESETS")
def lipsync(recipe):
    model, c = new_generator(recipe), recipe.model
    judge = new_syncnet(recipe.expert).eval().requires_grad_(False)
    frames = lambda *lead: torch.rand(*lead, c.channels, c.size, c.size)
    batch = {"targets": frames(2, WINDOW), "references": frames(2, WINDOW),
             "mels": torch.randn(2, WINDOW, c.n_mels, MEL_WINDOW) * 3 - 5,
             "sync_mel": torch.randn(2, c.n_mels, MEL_WINDOW) * 3 - 5}
    train_one_step(model, lambda m, b: generator_loss(m, judge, b, recipe.sync_weight), batch)
    out = dub(model.eval(), frames(3), torch.randn(3200) * 0.1)          # 0.2 s: 5 frames
    assert out.shape == (5, c.channels, c.size, c.size) and torch.isfinite(out).all()
