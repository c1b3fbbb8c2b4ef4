"""Day 21's radiance fields trained on the multi-view data: the recipe, presets, load-or-train.

    views = ViewsSpec().load()                              # SceneViews: 24 training and 8 held-out 32x32 views
    nerf = train_field(preset(NERF_PRESETS, DEVICE))        # frequency encoding + MLP (tiny NeRF)
    ngp = train_field(preset(HASH_PRESETS, DEVICE))         # hash grid + tiny MLP (Instant-NGP)
    image, depth = render_image(nerf.field, views.test.cameras[0], views.near, views.far, nerf.recipe.samples)
    psnr(image, views.test.images[0])

Training: batches of `batch_size` random rays from all training views, the rendered
colour regressed on the true one (mean squared error), stratified samples jittered
(`perturb`) so the field is asked about every depth, not a fixed grid of them.
Checkpoints: artifacts/checkpoints/radiance_field_<recipe key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.checks import check_choice
from course_lib.runtime import settings_key
from course_lib.threed.fields import FrequencyEncoding, RadianceField, render_image, render_rays
from course_lib.threed.hashgrid import HashGridEncoding
from course_lib.threed.occupancy import OccupancyGrid
from course_lib.threed.scenes import SceneViews, default_scene, make_views
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["ViewsSpec", "HashGridSpec", "FieldRecipe", "NERF_PRESETS", "HASH_PRESETS", "TrainedField", "psnr",
           "EVAL_EVERY", "held_out_psnr", "new_field", "field_loss", "train_field"]

EVAL_EVERY = 100          # steps between the held-out PSNR points of a training curve


@dataclass(frozen=True)
class ViewsSpec:
    """The multi-view data a 3D model trains on: `default_scene()` filmed by `n_train`
    cameras on an orbit of `radius` and `n_test` held-out cameras between them, `size` x
    `size` pixels (`scenes.make_views`)."""
    n_train: int = 48
    n_test: int = 8
    size: int = 32
    radius: float = 4.0
    seed: int = 0

    def load(self) -> SceneViews:
        return make_views(default_scene(), self.n_train, self.n_test, size=self.size, radius=self.radius,
                          seed=self.seed)


@dataclass(frozen=True)
class HashGridSpec:
    """The sizes of a `HashGridEncoding`."""
    levels: int = 8
    table_size: int = 2 ** 12
    features: int = 2
    min_res: int = 4
    max_res: int = 64


@dataclass(frozen=True)
class FieldRecipe:
    """Everything that decides a trained radiance field: the views, the encoding
    ("frequency" with `n_freqs`, or "hash" with `hash`), the MLP, the samples per ray
    (+ `hierarchical` fine samples), an optional occupancy grid of `occupancy`³ cells
    (0: none) refreshed every `occupancy_every` steps with `occupancy_decay` (Instant-NGP
    uses 0.95 over 35,000 steps; our 1,000 need a faster one), and the optimisation."""
    views: ViewsSpec = ViewsSpec()
    encoding: str = "frequency"
    n_freqs: int = 6
    hash: HashGridSpec = HashGridSpec()
    hidden: int = 64
    depth: int = 3
    samples: int = 32
    hierarchical: int = 0
    occupancy: int = 0
    occupancy_every: int = 16
    occupancy_decay: float = 0.8
    train: TrainSettings = TrainSettings(steps=1000, batch_size=1024, lr=5e-3, warmup=50, decay="cosine")

    def __post_init__(self):
        check_choice(self.encoding, "encoding", ("frequency", "hash"))

    def key(self) -> str:
        return settings_key(self)


NERF_PRESETS = {
    "cpu": FieldRecipe(),
    "gpu": FieldRecipe(views=replace(ViewsSpec(), n_train=48, size=64), hidden=128, depth=4, samples=64,
                       hierarchical=64, train=TrainSettings(steps=5000, batch_size=4096, lr=5e-3, warmup=100,
                                                            decay="cosine")),
}
HASH_PRESETS = {
    "cpu": FieldRecipe(encoding="hash", hash=HashGridSpec(levels=6, max_res=24), hidden=32, depth=1, occupancy=32,
                       train=TrainSettings(steps=1000, batch_size=1024, lr=1e-2, warmup=50, decay="cosine")),
    "gpu": replace(NERF_PRESETS["gpu"], encoding="hash", hash=HashGridSpec(levels=16, table_size=2 ** 16, max_res=256),
                   hidden=64, depth=2, occupancy=64),
}


@dataclass
class TrainedField:
    """A trained radiance field (eval mode), its data, run and recipe, and its validation
    `curve`: (step, held-out PSNR in dB, occupied share of the grid or 1.0) every
    `EVAL_EVERY` steps of training."""
    field: RadianceField
    views: SceneViews
    run: TrainingRun
    recipe: FieldRecipe = field(repr=False)
    curve: list[tuple[int, float, float]] = field(default_factory=list, repr=False)


def psnr(image: Tensor, target: Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1]: −10 log10(MSE)."""
    return float(-10 * torch.log10(F.mse_loss(image, target).clamp(min=1e-10)))


def new_field(recipe: FieldRecipe, bound: float = 1.3) -> RadianceField:
    """The untrained field of `recipe` (seeded by `recipe.train.seed`); the hash grid
    covers [−bound, bound]³."""
    torch.manual_seed(recipe.train.seed)
    if recipe.encoding == "frequency":
        encoding = FrequencyEncoding(recipe.n_freqs)
    else:
        h = recipe.hash
        encoding = HashGridEncoding(h.levels, h.table_size, h.features, h.min_res, h.max_res, bound=bound)
    grid = OccupancyGrid(recipe.occupancy, bound=bound, decay=recipe.occupancy_decay) if recipe.occupancy else None
    return RadianceField(encoding, recipe.hidden, recipe.depth, occupancy=grid)


def field_loss(model: RadianceField, batch: tuple[Tensor, Tensor, Tensor], recipe: FieldRecipe, near: float,
               far: float) -> Tensor:
    """Mean squared error of the colours rendered along a batch of rays (origins (B, 3),
    directions (B, 3), true colours (B, 3)), samples jittered within their strata."""
    origins, directions, colors = batch
    out = render_rays(model, origins, directions, near, far, recipe.samples, recipe.hierarchical, perturb=True)
    return F.mse_loss(out.rgb, colors)


def held_out_psnr(model: RadianceField, views: SceneViews, recipe: FieldRecipe) -> float:
    """PSNR of `model`'s renders of the held-out views against the true ones."""
    images = torch.stack([render_image(model, c, views.near, views.far, recipe.samples, recipe.hierarchical)[0]
                          for c in views.test.cameras])
    return psnr(images, views.test.images)


def _on_step(recipe: FieldRecipe, views: SceneViews, state: dict):
    """`on_step` for a field: update its occupancy grid every `occupancy_every` steps (a
    generator seeded by the step, so a resumed run draws the same points), and every
    `EVAL_EVERY` steps append (step, held-out PSNR, occupied share) to `state["curve"]` —
    watched, never trained on."""
    def on_step(step, model, logs):
        if recipe.occupancy and step % recipe.occupancy_every == 0:
            model.occupancy.update(model, generator=torch.Generator().manual_seed(recipe.train.seed * 100_003 + step))
        if step % EVAL_EVERY == 0 or step == recipe.train.steps:
            occupied = model.occupancy.fraction() if recipe.occupancy else 1.0
            state["curve"].append((step, held_out_psnr(model, views, recipe), occupied))
    return on_step


def train_field(recipe: FieldRecipe | None = None, device: torch.device | None = None,
                progress: bool = True) -> TrainedField:
    """Train the radiance field of `recipe` on its views' training rays, or load it."""
    recipe = recipe or NERF_PRESETS["cpu"]
    views = recipe.views.load()
    model = new_field(recipe, bound=views.scene.radius * 1.1)
    origins, directions, colors = views.train.rays()
    data = random_batches(origins, directions, colors, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(field_loss, recipe=recipe, near=views.near, far=views.far)
    state = {"curve": []}
    run = load_or_train("radiance_field", recipe, model, loss, data, device=device, on_step=_on_step(recipe, views, state),
                        state=state, desc=f"radiance field ({recipe.encoding})", progress=progress)
    return TrainedField(model.eval(), views, run, recipe, [tuple(p) for p in state["curve"]])
