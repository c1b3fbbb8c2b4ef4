"""Day 07's distilled students of day 04's DiT: recipes, size presets, load-or-train.

    recipe = preset(CONSISTENCY_PRESETS, DEVICE)
    student = train_consistency(recipe)       # distils once; later calls load
    student.model, student.teacher, student.run.seconds
    x0 = consistency.sample_consistency(student.model_fn(labels), shape, student.schedule, steps=4)

The teacher is day 04's DiT, loaded (or trained) through its own recipe (`dit_train`);
its classifier-free guidance is folded into what the student learns (`guidance`), so
one student call replaces the teacher's two. Checkpoint:
artifacts/checkpoints/dit_consistency_<recipe key>.pt (student, and its EMA target in
the checkpoint's state). The losses and the sampler are in `consistency.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch

from course_lib.checks import check_range
from course_lib.diffusion import consistency, ddpm
from course_lib.diffusion.dit import DiT
from course_lib.diffusion.dit_train import PRESETS as DIT_PRESETS
from course_lib.diffusion.dit_train import DiTRecipe, TrainedDiT, train_dit
from course_lib.diffusion.schedules import NoiseSchedule
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

CLIP = (-1.0, 1.0)          # the digits' pixel range: x̂_0 is clamped to it (see consistency_function)


@dataclass(frozen=True)
class ConsistencyRecipe:
    """Consistency distillation of the DiT of `teacher`: the teacher's guided
    (scale `guidance`) DDIM step over `skip` timesteps, the EMA target with `ema_decay`,
    the student initialised from the teacher (label dropout off: every label is kept).
    Data: the training digits the teacher learnt from.

    skip = 250 makes the training grid (250, 500, 750, 999) the 4-step sampler's own
    timesteps (999, 749, 499, 249, one apart), as LCM samples on its skip grid. Measured
    on the CPU preset (500 samples, 4-step judge accuracy): skip 100 (1,500 steps)
    94.2 %, skip 200 (1,200 steps) 96.4 %, skip 250 (1,000 steps) 96.0 %."""
    teacher: DiTRecipe = DiTRecipe()
    guidance: float = 3.0
    skip: int = 250
    ema_decay: float = 0.95
    train: TrainSettings = TrainSettings(steps=1000, batch_size=64, lr=3e-4, decay="cosine")

    def __post_init__(self):
        check_range(self.ema_decay, "ema_decay", 0.0, 1.0)
        if not isinstance(self.skip, int) or not 1 <= self.skip < self.teacher.num_steps:
            raise ValueError(f"skip must be an int in [1, {self.teacher.num_steps - 1}]; got {self.skip!r}")
        if self.guidance < 0:
            raise ValueError(f"guidance must be >= 0 (0: the unguided model); got {self.guidance!r}")

    def key(self) -> str:
        """8 hex digits naming every field, the teacher's included."""
        return settings_key(self)


CONSISTENCY_PRESETS = {
    "cpu": ConsistencyRecipe(),
    "gpu": ConsistencyRecipe(teacher=DIT_PRESETS["gpu"],
                             train=TrainSettings(steps=4000, batch_size=256, lr=3e-4, decay="cosine")),
}


@dataclass
class TrainedStudent:
    """A distilled student (eval mode; for consistency distillation the EMA target, the
    network LCM samples with), its teacher, the schedule, the run and the recipe."""
    model: DiT
    teacher: TrainedDiT
    run: TrainingRun
    recipe: ConsistencyRecipe = field(repr=False)

    @property
    def schedule(self) -> NoiseSchedule:
        return self.teacher.schedule

    def model_fn(self, labels: torch.Tensor):
        """(x_t, t) -> ε̂ of the student for these labels (no guidance pass: it is folded in)."""
        return lambda x, t: self.model(x, t, labels)


def student_from(teacher: DiT) -> DiT:
    """A copy of `teacher` that never drops the label (distillation trains on the guided
    ODE of each label; the null label stays in the weights but is not learnt further)."""
    student = DiT(replace(teacher.config, class_dropout=0.0))
    student.load_state_dict(teacher.state_dict())
    return student.to(next(teacher.parameters()).device)


def distillation_loss(student: DiT, batch: tuple[torch.Tensor, torch.Tensor], target: DiT, teacher: DiT,
                      schedule: NoiseSchedule, recipe: ConsistencyRecipe) -> torch.Tensor:
    """`consistency.consistency_distillation_loss` for a batch (x0 (B, 1, H, W), labels (B,)):
    the student and its EMA target see the labels; the teacher steps along its guided
    ODE (scale `recipe.guidance`); x̂_0 clamped to [-1, 1]."""
    x0, y = batch
    return consistency.consistency_distillation_loss(
        lambda x, t: student(x, t, y), lambda x, t: target(x, t, y),
        ddpm.guided(teacher, y, teacher.null_label, recipe.guidance), x0, schedule, skip=recipe.skip, clip_x0=CLIP)


def train_consistency(recipe: ConsistencyRecipe | None = None, device: torch.device | None = None,
                      progress: bool = True) -> TrainedStudent:
    """Distil the teacher of `recipe` into a consistency model, or load it when done.

    Per step: `batch_size` training digits with their labels, `distillation_loss`, then
    the EMA update of the target (`consistency.ema_update`). Returns the EMA target as
    the student."""
    from course_lib.data.digits import digits_split, load_digits16

    recipe = recipe or CONSISTENCY_PRESETS["cpu"]
    teacher = train_dit(recipe.teacher, device=device, progress=progress)
    net = teacher.model.eval()
    student = student_from(net)
    target = consistency.ema_copy(student)
    images, labels = load_digits16()
    train_idx, _ = digits_split()
    data = random_batches(images[train_idx], labels[train_idx], batch_size=recipe.train.batch_size,
                          seed=recipe.train.seed)
    loss = partial(distillation_loss, target=target, teacher=net, schedule=teacher.schedule, recipe=recipe)
    state = {"target": target.state_dict()}      # the live tensors: saved as they are at the end
    run = load_or_train("dit_consistency", recipe, student, loss, data, device=device, desc="consistency",
                        on_step=lambda step, model, logs: consistency.ema_update(target, model, recipe.ema_decay),
                        state=state, progress=progress)
    target.load_state_dict(state["target"])      # a no-op unless the checkpoint was loaded
    return TrainedStudent(target.eval(), teacher, run, recipe)


__all__ = ["CLIP", "ConsistencyRecipe", "CONSISTENCY_PRESETS", "TrainedStudent", "student_from",
           "distillation_loss", "train_consistency"]
