"""Day 21's Gaussian splats fitted to the multi-view data: the recipe, presets, load-or-train.

    splats = train_splats(preset(SPLAT_PRESETS, DEVICE))
    image, alpha = render_splats(splats.splats, views.test.cameras[0])

Training (3DGS without densification; prune afterwards with `GaussianSplats.pruned`):
start from `n_gaussians` small grey Gaussians spread uniformly in the scene's ball; each
step renders `batch_size` random training views whole and regresses them on the true
images (mean squared error). Each kind of parameter has its own learning rate (`lr` ×
its multiplier, as 3DGS does: positions move slowly, opacities fast). Checkpoint: artifacts/checkpoints/gaussian_splats_<recipe key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.runtime import settings_key
from course_lib.threed.field_train import ViewsSpec
from course_lib.threed.scenes import SceneViews
from course_lib.threed.splats import GaussianSplats, render_splats
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["SplatRecipe", "SPLAT_PRESETS", "TrainedSplats", "new_splats", "splat_loss", "train_splats"]


@dataclass(frozen=True)
class SplatRecipe:
    """Everything that decides trained splats: the views, how many Gaussians and how they
    start, the splats' `low_pass` filter, per-parameter learning-rate multipliers (means, log scales, quaternions,
    opacity logits, colour logits) and the optimisation (`batch_size`: views per step)."""
    views: ViewsSpec = ViewsSpec()
    n_gaussians: int = 2000
    init_scale: float = 0.05
    init_opacity: float = 0.1
    low_pass: float = 0.1
    lr_multipliers: tuple[float, float, float, float, float] = (0.1, 1.0, 0.5, 5.0, 2.0)
    train: TrainSettings = TrainSettings(steps=600, batch_size=4, lr=1e-2, warmup=20, decay="cosine", grad_clip=None)

    def __post_init__(self):
        object.__setattr__(self, "lr_multipliers", tuple(self.lr_multipliers))
        if len(self.lr_multipliers) != 5 or any(m <= 0 for m in self.lr_multipliers):
            raise ValueError(f"lr_multipliers must be 5 positive numbers; got {self.lr_multipliers!r}")

    def key(self) -> str:
        return settings_key(self)


SPLAT_PRESETS = {
    "cpu": SplatRecipe(),
    "gpu": SplatRecipe(views=ViewsSpec(n_train=48, size=64), n_gaussians=20000,
                       train=TrainSettings(steps=3000, batch_size=8, lr=1e-2, warmup=50, decay="cosine",
                                           grad_clip=None)),
}


@dataclass
class TrainedSplats:
    """Trained Gaussians, the views they were fitted to, the run and the recipe."""
    splats: GaussianSplats
    views: SceneViews
    run: TrainingRun
    recipe: SplatRecipe = field(repr=False)


def new_splats(recipe: SplatRecipe, radius: float) -> GaussianSplats:
    """The starting Gaussians of `recipe` in a ball of `radius` (seeded by `recipe.train.seed`)."""
    g = torch.Generator().manual_seed(recipe.train.seed)
    return GaussianSplats.random(recipe.n_gaussians, radius, recipe.init_scale, recipe.init_opacity, generator=g,
                                 low_pass=recipe.low_pass)


def splat_loss(splats: GaussianSplats, views: Tensor, data: SceneViews) -> Tensor:
    """Mean squared error of the training views with indices `views` (B,), rendered whole
    (from the (pixel, Gaussian) pairs: the same image as one matrix, faster)."""
    loss = 0.0
    for index in views.tolist():
        image, _ = render_splats(splats, data.train.cameras[index], pairs=True)
        loss = loss + F.mse_loss(image, data.train.images[index].to(image))
    return loss / len(views)


def train_splats(recipe: SplatRecipe | None = None, device: torch.device | None = None,
                 progress: bool = True) -> TrainedSplats:
    """Fit the splats of `recipe` to its training views, or load them."""
    recipe = recipe or SPLAT_PRESETS["cpu"]
    views = recipe.views.load()
    splats = new_splats(recipe, views.scene.radius)
    parts = (splats.means, splats.log_scales, splats.quats, splats.opacity_logits, splats.color_logits)
    groups = [{"params": [p], "lr": recipe.train.lr * m} for p, m in zip(parts, recipe.lr_multipliers)]
    data = random_batches(torch.arange(len(views.train.cameras)), batch_size=recipe.train.batch_size,
                          seed=recipe.train.seed)
    run = load_or_train("gaussian_splats", recipe, splats, partial(splat_loss, data=views), data, device=device,
                        params=groups, desc="Gaussian splats", progress=progress)
    return TrainedSplats(splats.eval(), views, run, recipe)
