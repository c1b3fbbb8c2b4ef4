"""Day 17's Wav2Lip-style generator trained against the SyncNet expert: the recipe (which
holds the expert's), its size presets, the window batches, load-or-train.

    recipe = preset(PRESETS, DEVICE)       # PRESETS["cpu"] on a laptop, PRESETS["gpu"] on CUDA
    trained = train_lipsync(recipe)        # trains (or loads) recipe.expert first, then the generator
    trained.model, trained.sync_started, trained.run.history, trained.run.metrics["sync"]

Why each part of the cpu recipe (measured by dubbing the 23 test faces with *another*
clip's audio, correlation of the mouth opening read from the pixels with the heard
audio's true opening; 1,000-step ablations, seed 17): the v1 design (audio only at the
bottleneck, window starting at the frame, plain L1, full frame, Wav2Lip's switch) 0.70;
all of today's parts 0.87; without FiLM 0.80, without the centred window 0.83, without
the mouth weight 0.79, without the paste 0.83, with Wav2Lip's switch instead of the sync
loss from step 0 0.86. 2,000 steps: 0.89-0.91 over seeds 0, 1, 17. A sync weight of 0.1
instead of 0.03 fell to 0.77.

The checkpoint is artifacts/checkpoints/lipsync_<recipe key>.pt; the key covers the
expert's recipe too, so a new expert means a new generator. The model, its loss
(`generator_loss`) and `dub` are in `lipsync.py`; this module decides what to train on,
for how long, and when the expert's sync loss starts to count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.runtime import get_device, settings_key, step_random
from course_lib.sync.lipsync import LipSyncConfig, LipSyncGenerator, generator_loss
from course_lib.sync.syncnet import WINDOW, FaceWindows
from course_lib.sync.syncnet_train import PRESETS as SYNCNET_PRESETS
from course_lib.sync.syncnet_train import SyncNetRecipe, TrainedSyncNet, face_windows, train_syncnet
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["LipSyncRecipe", "PRESETS", "TrainedLipSync", "SYNC_WINDOW", "new_generator",
           "window_batch", "sync_switch", "train_lipsync"]

SYNC_WINDOW = 20        # steps averaged to decide when the sync loss switches on


@dataclass(frozen=True)
class LipSyncRecipe:
    """Everything that decides the trained generator: sizes, optimisation, the expert it
    learns from (a nested recipe: `train_lipsync` trains or loads it), the L1 weight of the
    mouth box and the sync loss, weighted `sync_weight`: from step 0 when `sync_start` is
    None, else (Wav2Lip's switch: 0.03 and 0.75) from the first step where the mean expert
    loss of the last `SYNC_WINDOW` steps is below `sync_start`. Data: the training clips of
    the expert's data set (`expert.n_clips` clips at the expert's frame size)."""
    model: LipSyncConfig = LipSyncConfig()
    train: TrainSettings = TrainSettings(steps=2000, batch_size=8, lr=2e-3, seed=17)  # 8 windows of 5 frames
    expert: SyncNetRecipe = SyncNetRecipe()
    mouth_weight: float = 6.0
    sync_weight: float = 0.03
    sync_start: float | None = None

    def key(self) -> str:
        """8 hex digits naming every field, the expert's included (part of the checkpoint's name)."""
        return settings_key(self)


PRESETS = {
    # 2,000 steps of 8 five-frame windows: about 140 s on one CPU thread (cached by
    # tests/test_lipsync_trained.py). Dubbing with other clips' audio, the opening
    # correlation was 0.89 / 0.91 / 0.90 for seeds 0 / 1 / 17, 0.87 at 1,000 steps.
    "cpu": LipSyncRecipe(),
    # three times the steps on four times the batch, against the GPU expert.
    "gpu": LipSyncRecipe(train=TrainSettings(steps=3000, batch_size=32, lr=2e-3, seed=17),
                         expert=SYNCNET_PRESETS["gpu"]),
}


@dataclass
class TrainedLipSync:
    """The generator (eval mode, CPU), the training run (`run.metrics` holds the per-step
    "l1" and "sync" losses), the recipe, the expert it was trained against, and the step
    from which the sync loss counted (None: never)."""
    model: LipSyncGenerator
    run: TrainingRun
    recipe: LipSyncRecipe = field(repr=False)
    expert: TrainedSyncNet | None = field(default=None, repr=False)
    sync_started: int | None = None


def new_generator(recipe: LipSyncRecipe) -> LipSyncGenerator:
    """The untrained generator of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return LipSyncGenerator(recipe.model)


def window_batch(windows: FaceWindows, batch_size: int, rng: random.Random,
                 mel_lead: int = 0) -> dict[str, Tensor]:
    """batch_size windows of 5 frames: targets (B, 5, C, H, W), references (B, 5, C, H, W)
    (random frames of the same clips), mels (B, 5, 80, 16) (each frame's generator window,
    starting `mel_lead` frames early as in `lipsync.generator_mel_windows`) and sync_mel
    (B, 80, 16) (the expert's window of the first frame). Windows start at t >= mel_lead,
    so every generator window lies inside its clip."""
    targets, refs, mels, sync_mels = [], [], [], []
    positions = [(c, t) for c, t in windows.positions if t >= mel_lead] if mel_lead else windows.positions
    if not positions:
        raise ValueError(f"no window starts at or after mel_lead={mel_lead}")
    for _ in range(batch_size):
        clip, t = rng.choice(positions)
        frames = torch.arange(t, t + WINDOW) - mel_lead
        targets.append(windows.face(clip, torch.tensor([t])).unflatten(1, (WINDOW, -1)))
        r = torch.tensor([rng.randrange(windows.lengths[clip]) for _ in range(WINDOW)])
        refs.append(windows.frames[windows.frame_start[clip] + r][None])
        mels.append(windows.mel(clip, frames)[None])
        sync_mels.append(windows.mel(clip, torch.tensor([t])))
    return {"targets": torch.cat(targets), "references": torch.cat(refs),
            "mels": torch.cat(mels), "sync_mel": torch.cat(sync_mels)}


def sync_switch(recipe: LipSyncRecipe, state: dict):
    """`on_step` for `fit`: keeps the expert losses of the last SYNC_WINDOW steps in
    `state["recent_sync"]` and sets `state["sync_started"]` to the number of steps done at
    the first point where their mean is below `recipe.sync_start`: the sync loss counts
    from that (0-based) step on. The decision for step s uses the losses of steps < s."""
    state.setdefault("recent_sync", [])
    state.setdefault("sync_started", None)

    def on_step(step: int, model, logs: dict[str, float]) -> None:
        recent = (state["recent_sync"] + [logs["sync"]])[-SYNC_WINDOW:]
        state["recent_sync"] = recent
        if (state["sync_started"] is None and step < recipe.train.steps and len(recent) == SYNC_WINDOW
                and sum(recent) / SYNC_WINDOW < recipe.sync_start):
            state["sync_started"] = step

    return on_step


def train_lipsync(recipe: LipSyncRecipe | None = None, device: torch.device | None = None,
                  progress: bool = True) -> TrainedLipSync:
    """Train the generator of `recipe` against its frozen expert, or load it when already
    trained. The expert comes from `train_syncnet(recipe.expert)` (trained or loaded).

    Batch `step`: `window_batch` of the training clips, drawn with a random.Random seeded
    by `runtime.step_random(seed, step)`; loss `generator_loss`, whose sync weight is 0
    until `sync_switch` (the `on_step`) switches it on. The switch step is kept in the
    checkpoint's `state`, so a resumed or loaded run knows it; with `sync_start` None it
    counts from step 0. Trains on one CPU thread.
    """
    recipe = recipe or PRESETS["cpu"]
    if recipe.model.size != recipe.expert.model.size:
        raise ValueError(f"the generator and its expert must see frames of one size; got "
                         f"{recipe.model.size} and {recipe.expert.model.size}")
    device = device or get_device()
    expert = train_syncnet(recipe.expert, device=device, progress=progress)
    train, _ = face_windows(recipe.expert.n_clips, recipe.expert.model.size, recipe.expert.max_shift, progress)
    model = new_generator(recipe)
    judge = expert.model.to(device)                       # eval mode, requires_grad off
    state: dict = {} if recipe.sync_start is not None else {"sync_started": 0}
    on_step = sync_switch(recipe, state) if recipe.sync_start is not None else None

    def batches(step: int) -> dict[str, Tensor]:
        return window_batch(train, recipe.train.batch_size, step_random(recipe.train.seed, step),
                            recipe.model.mel_lead)

    def loss(model: LipSyncGenerator, batch: dict[str, Tensor]):
        weight = recipe.sync_weight if state["sync_started"] is not None else 0.0
        return generator_loss(model, judge, batch, weight, recipe.mouth_weight)

    run = load_or_train("lipsync", recipe, model, loss, batches, device=device, on_step=on_step,
                        state=state, threads=1, desc="lip-sync generator", progress=progress)
    model.cpu().eval()
    judge.cpu()
    return TrainedLipSync(model, run, recipe, expert=expert, sync_started=state["sync_started"])
