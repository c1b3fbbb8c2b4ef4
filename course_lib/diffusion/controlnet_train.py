"""Day 07's ControlNet on day 04's DiT: the recipe, size presets, load-or-train, and how
well a sample follows its condition.

    recipe = preset(CONTROLNET_PRESETS, DEVICE)
    trained = train_controlnet(recipe)                   # trains once; later calls load
    model_fn = controlled(trained.model, edges)          # model(x, t, labels) with edges fixed
    x0 = ddpm.sample_ddim(ddpm.guided(model_fn, labels, trained.model.base.null_label, 3.0), ...)
    edge_iou(edge_map(x0), edges)                        # (B,) overlap of edges with the condition

The base is day 04's DiT (`dit_train`), frozen; only the control branch (`ControlDiT`)
trains, on (digit, its edge map) pairs of the training split. Checkpoint:
artifacts/checkpoints/dit_controlnet_<recipe key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from course_lib.diffusion import ddpm
from course_lib.diffusion.controlnet import ControlDiT, edge_map
from course_lib.diffusion.dit_train import PRESETS as DIT_PRESETS
from course_lib.diffusion.dit_train import DiTRecipe, TrainedDiT, train_dit
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["ControlNetRecipe", "CONTROLNET_PRESETS", "TrainedControlNet", "controlled", "control_loss",
           "edge_iou", "train_controlnet"]


@dataclass(frozen=True)
class ControlNetRecipe:
    """A ControlNet copying the first `n_blocks` blocks of the DiT of `base`, trained with
    the base's ε-loss on training digits whose condition is `edge_map(digit, threshold)`."""
    base: DiTRecipe = DiTRecipe()
    n_blocks: int = 2
    threshold: float = 0.25
    train: TrainSettings = TrainSettings(steps=400, batch_size=64, lr=1e-3, warmup=50)

    def key(self) -> str:
        """8 hex digits naming every field, the base's included."""
        return settings_key(self)


CONTROLNET_PRESETS = {
    "cpu": ControlNetRecipe(),
    "gpu": ControlNetRecipe(base=DIT_PRESETS["gpu"], n_blocks=3,
                            train=TrainSettings(steps=3000, batch_size=256, lr=1e-3, warmup=100)),
}


@dataclass
class TrainedControlNet:
    """The ControlDiT (eval mode; its `base` is the frozen DiT), the base's training,
    this run and the recipe."""
    model: ControlDiT
    base: TrainedDiT
    run: TrainingRun
    recipe: ControlNetRecipe = field(repr=False)

    @property
    def schedule(self):
        return self.base.schedule


def controlled(control: ControlDiT, cond: Tensor, scale: float = 1.0):
    """`control` with its condition (B, 1, H, W) and conditioning scale fixed: a
    label-conditional model(x, t, labels) for `ddpm.guided`, whose batch of 2B
    (conditional + null passes) gets the condition twice."""
    def model(x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        if x.shape[0] % cond.shape[0]:
            raise ValueError(f"batch {x.shape[0]} is not a multiple of the {cond.shape[0]} conditions")
        return control(x, t, labels, cond.repeat(x.shape[0] // cond.shape[0], 1, 1, 1), scale)
    return model


def control_loss(control: ControlDiT, batch: tuple[Tensor, Tensor], schedule, threshold: float = 0.25) -> Tensor:
    """The base's ε-loss with the condition computed from the clean digit: batch = (x0
    (B, 1, H, W), labels (B,)) -> mean ‖ε − control(x_t, t, labels, edge_map(x0))‖²."""
    x0, labels = batch
    cond = edge_map(x0, threshold)
    return ddpm.conditional_loss(controlled(control, cond), batch, schedule)


def edge_iou(edges: Tensor, cond: Tensor) -> Tensor:
    """Intersection over union of two binary edge maps in {-1, 1}, (B, 1, H, W) each -> (B,)
    (an empty union counts as agreement 1)."""
    if edges.shape != cond.shape or edges.ndim != 4:
        raise ValueError(f"edges and cond must be (B, 1, H, W) of one shape; got {tuple(edges.shape)}, "
                         f"{tuple(cond.shape)}")
    a, b = edges > 0, cond > 0
    inter, union = (a & b).sum(dim=(1, 2, 3)).float(), (a | b).sum(dim=(1, 2, 3)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def train_controlnet(recipe: ControlNetRecipe | None = None, device: torch.device | None = None,
                     progress: bool = True) -> TrainedControlNet:
    """Train the control branch of `recipe` on the frozen DiT of `recipe.base`, or load it.

    The base's label dropout stays on while training (the null label still sees the
    condition), so the controlled model can be guided like the base."""
    from course_lib.data.digits import digits_split, load_digits16

    recipe = recipe or CONTROLNET_PRESETS["cpu"]
    base = train_dit(recipe.base, device=device, progress=progress)
    torch.manual_seed(recipe.train.seed)
    control = ControlDiT(base.model, n_blocks=recipe.n_blocks)
    images, labels = load_digits16()
    train_idx, _ = digits_split()
    data = random_batches(images[train_idx], labels[train_idx], batch_size=recipe.train.batch_size,
                          seed=recipe.train.seed)
    loss = partial(control_loss, schedule=base.schedule, threshold=recipe.threshold)
    run = load_or_train("dit_controlnet", recipe, control, loss, data, device=device,
                        params=control.control_parameters(), desc="ControlNet", progress=progress)
    return TrainedControlNet(control.eval(), base, run, recipe)
