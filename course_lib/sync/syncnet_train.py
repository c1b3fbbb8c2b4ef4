"""Day 17's SyncNet expert trained on the talking faces: the recipe, its size presets,
load-or-train.

    recipe = preset(PRESETS, DEVICE)       # PRESETS["cpu"] on a laptop, PRESETS["gpu"] on CUDA
    expert = train_syncnet(recipe)         # trains once; later calls load
    expert.model, expert.valid_accuracy, expert.run.history, expert.run.seconds

The checkpoint is artifacts/checkpoints/syncnet_<recipe key>.pt. The model, its loss
(`sync_loss`) and the training pairs (`FaceWindows.sample`) are in `syncnet.py`; this
module only decides what to train on and for how long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.runtime import settings_key, step_random
from course_lib.sync.syncnet import FaceWindows, SyncNet, SyncNetConfig, sync_accuracy, sync_loss
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["SyncNetRecipe", "PRESETS", "TrainedSyncNet", "new_syncnet", "syncnet_loss",
           "face_windows", "train_syncnet"]


@dataclass(frozen=True)
class SyncNetRecipe:
    """Everything that decides the trained expert: sizes, optimisation and data. Data: the
    training split of `n_clips` talking-face clips (`data.faces.load_faces`) at the
    model's frame size; each batch is half in-sync pairs, half pairs whose audio is 2 to
    `max_shift` frames away (`FaceWindows.sample`)."""
    model: SyncNetConfig = SyncNetConfig()
    train: TrainSettings = TrainSettings(steps=300, batch_size=64, lr=2e-3, seed=17)
    n_clips: int = 200
    max_shift: int = 15

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


PRESETS = {
    # 286 k parameters, 300 steps of 64 pairs: about 15 s on one CPU thread.
    "cpu": SyncNetRecipe(),
    # the same network, seven times the steps on twice the batch.
    "gpu": SyncNetRecipe(train=TrainSettings(steps=2000, batch_size=128, lr=2e-3, seed=17)),
}


@dataclass
class TrainedSyncNet:
    """The expert (eval mode, frozen: requires_grad off), the training run, the recipe, and
    `sync_accuracy` on the validation clips (test clips when there are none)."""
    model: SyncNet
    run: TrainingRun
    recipe: SyncNetRecipe = field(repr=False)
    valid_accuracy: float = 0.0


def new_syncnet(recipe: SyncNetRecipe) -> SyncNet:
    """The untrained expert of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return SyncNet(recipe.model)


def syncnet_loss(model: SyncNet, batch: dict[str, Tensor]) -> Tensor:
    """`sync_loss` of a `FaceWindows.sample` batch: faces (B, 5C, H, W), mels (B, 80, 16),
    in_sync (B,)."""
    return sync_loss(model.embed_face(batch["faces"]), model.embed_audio(batch["mels"]), batch["in_sync"])


def face_windows(n_clips: int, size: int, max_shift: int = 15,
                 progress: bool = True) -> tuple[FaceWindows, FaceWindows]:
    """(train, valid) `FaceWindows` of `load_faces(n_clips, size)`; valid falls back on the
    test clips when the data set is too small to have validation clips."""
    from course_lib.data.faces import load_faces

    data = load_faces(n_clips, size=size, progress=progress)
    return (FaceWindows(data.split("train"), max_shift),
            FaceWindows(data.split("valid") or data.split("test"), max_shift))


def train_syncnet(recipe: SyncNetRecipe | None = None, device: torch.device | None = None,
                  progress: bool = True) -> TrainedSyncNet:
    """Train the expert of `recipe` on the training clips, or load it when already trained.

    Batch `step`: `batch_size` pairs from `FaceWindows.sample`, drawn with a random.Random
    seeded by `runtime.step_random(seed, step)`; loss `sync_loss` (`syncnet_loss`). Trains on
    one CPU thread (small convolutions on tiny frames). The returned model is on the CPU,
    in eval mode, with requires_grad off (a frozen judge).
    """
    recipe = recipe or PRESETS["cpu"]
    train, valid = face_windows(recipe.n_clips, recipe.model.size, recipe.max_shift, progress)
    model = new_syncnet(recipe)

    def batches(step: int) -> dict[str, Tensor]:
        return train.sample(recipe.train.batch_size, step_random(recipe.train.seed, step))

    run = load_or_train("syncnet", recipe, model, syncnet_loss, batches, device=device, threads=1,
                        desc="SyncNet", progress=progress)
    model.cpu().eval().requires_grad_(False)
    return TrainedSyncNet(model, run, recipe, sync_accuracy(model, valid))

