"""Day 04's DiT trained on 16x16 digits: the recipe, its size presets, load-or-train.

    recipe = preset(PRESETS, DEVICE)     # PRESETS["cpu"] on a laptop, PRESETS["gpu"] on CUDA
    trained = train_dit(recipe)          # trains once; later calls load
    trained.model, trained.schedule, trained.run.history, trained.run.seconds

The checkpoint is artifacts/checkpoints/dit_digits_<recipe key>.pt. The model, its loss
(`ddpm.conditional_loss`) and samplers (`ddpm.sample_ddim`, `ddpm.guided`) are in
`dit.py` and `ddpm.py`; this module only decides what to train on and for how long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch

from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.schedules import NoiseSchedule, make_schedule
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches


@dataclass(frozen=True)
class DiTRecipe:
    """Everything that decides the trained DiT: sizes, optimisation, noise schedule and
    what the network predicts (`ddpm.PREDICTIONS`). Data: the training split of the
    16x16 digits (`data.digits.load_digits16`, `digits_split`)."""
    model: DiTConfig = DiTConfig(input_size=16, patch=4, in_channels=1, dim=64, depth=3, heads=4)
    train: TrainSettings = TrainSettings(steps=2500, batch_size=64, lr=6e-3, warmup=100)
    schedule: str = "cosine"
    num_steps: int = 1000            # T, diffusion timesteps
    prediction: str = "eps"

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


PRESETS = {
    # 16 tokens of 4x4 pixels, 0.2 M parameters: about a minute on a 2-core CPU.
    "cpu": DiTRecipe(),
    # 64 tokens of 2x2 pixels, twice as wide and deep, longer on bigger batches.
    "gpu": DiTRecipe(model=DiTConfig(input_size=16, patch=2, in_channels=1, dim=128, depth=6, heads=4),
                     train=TrainSettings(steps=6000, batch_size=256, lr=6e-3, warmup=100)),
}


@dataclass
class TrainedDiT:
    """The DiT (eval mode), its noise schedule, the training run and the recipe."""
    model: DiT
    schedule: NoiseSchedule
    run: TrainingRun
    recipe: DiTRecipe = field(repr=False)


def new_dit(recipe: DiTRecipe) -> DiT:
    """The untrained DiT of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return DiT(recipe.model)


def train_dit(recipe: DiTRecipe | None = None, device: torch.device | None = None,
              progress: bool = True) -> TrainedDiT:
    """Train the DiT of `recipe` on the training digits, or load it when already trained.

    Batches: `batch_size` random training digits with their labels, drawn per step
    (`train.random_batches`); loss: `ddpm.conditional_loss` (the label is replaced by the
    null label inside the model with probability `model.class_dropout`)."""
    from course_lib.data.digits import digits_split, load_digits16

    recipe = recipe or PRESETS["cpu"]
    images, labels = load_digits16()
    train_idx, _ = digits_split()
    model = new_dit(recipe)
    schedule = make_schedule(recipe.schedule, recipe.num_steps)
    data = random_batches(images[train_idx], labels[train_idx], batch_size=recipe.train.batch_size,
                          seed=recipe.train.seed)
    loss = partial(ddpm.conditional_loss, schedule=schedule, kind=recipe.prediction)
    run = load_or_train("dit_digits", recipe, model, loss, data, device=device, desc="DiT", progress=progress)
    return TrainedDiT(model, schedule, run, recipe)


__all__ = ["DiTRecipe", "PRESETS", "TrainedDiT", "new_dit", "train_dit"]
