"""Text-to-3D as Point-E does it (Nichol et al. 2022), at the scale of a word: a diffusion
model over point clouds conditioned on a shape word, and a PointNet that judges the result.

`PointDenoiser`: every point is a token (Linear(3 → D)), with NO positional encoding —
a point cloud is a set, so the model is permutation equivariant (permuting the input
points permutes the predicted noise the same way). The tokens go through day 04's DiT
blocks (`dit.AdaLNZeroBlock`): the conditioning c = MLP(sin-cos(t)) + E[word] (B, D)
reaches every block through adaLN-Zero (shift, scale and gate of LN per sample) instead
of Point-E's extra conditioning token. E has one extra "null" row for classifier-free
guidance; training replaces a word by it with probability `class_dropout`. The model
predicts eps (the recipe's `prediction`):

    points x0 (B, N, 3) → x_t = sqrt(a_t) x0 + sqrt(1 − a_t) eps → eps_hat (B, N, 3)

Sampling is day 04's DDIM with guidance (`ddpm.guided`, `ddpm.sample_ddim`). Its default
clip of x0_hat to [-1, 1] per coordinate is kept: every real shape lies in the unit ball
(`shapes`), so clipping removes nothing a real cloud has.

`PointCloudClassifier`: PointNet (Qi et al. 2017) without its alignment networks: a
shared per-point MLP 3 → 64 → 128, max-pooled over the points (permutation invariant,
any number of points), then an MLP to 4 logits. A measuring instrument with ONE recipe
(`POINT_CLASSIFIER_RECIPE`), trained on real shapes of its own seed on the CPU and cached
as point_classifier_<key>.pt; `load_point_classifier()` also returns its accuracy on
held-out real clouds of a third seed.

    recipe = preset(POINT_CLOUD_PRESETS, DEVICE)
    trained = train_point_diffusion(recipe)            # point_diffusion_<key>.pt
    clouds = sample_points(trained.model, word_labels(["torus"] * 8), trained.schedule, recipe.n_points)
    judge, accuracy = load_point_classifier()          # judge.predict(clouds) → (8,) labels

(`word_labels` is `shapes.word_labels`: words → indices into SHAPES.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_choice, check_positive_int, check_range, check_shape
from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import AdaLNZeroBlock, FinalLayer, LabelEmbedder, TimestepEmbedder
from course_lib.diffusion.schedules import NoiseSchedule, make_schedule
from course_lib.runtime import settings_key
from course_lib.threed.shapes import SHAPES, shape_dataset
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches


# ---------------------------------------------------------------- the judge: PointNet

class PointCloudClassifier(nn.Module):
    """points (B, N, 3), any N >= 1 → logits (B, num_classes); `features` (B, 128) is the
    max-pooled vector (Point-E's P-FID uses a PointNet's pooled features the same way)."""

    def __init__(self, num_classes: int = len(SHAPES)):
        super().__init__()
        self.point_mlp = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def features(self, points: Tensor) -> Tensor:
        check_shape(points, "points", "B N 3")
        return self.point_mlp(points).amax(dim=1)                         # (B, N, 128) → (B, 128)

    def forward(self, points: Tensor) -> Tensor:
        return self.head(self.features(points))

    @torch.no_grad()
    def predict(self, points: Tensor, batch: int = 512) -> Tensor:
        """(B, N, 3) → (B,) predicted labels (index into SHAPES), computed on the CPU."""
        self.eval()
        return torch.cat([self(points[i:i + batch].float().cpu()).argmax(-1) for i in range(0, len(points), batch)])


# ---------------------------------------------------------------- the denoiser

@dataclass(frozen=True)
class PointDenoiserConfig:
    """Sizes of a `PointDenoiser`; the null label for guidance is index num_classes."""
    dim: int = 64
    depth: int = 3
    heads: int = 2
    mlp_ratio: float = 2.0
    num_classes: int = len(SHAPES)
    class_dropout: float = 0.1


class PointDenoiser(nn.Module):
    """forward(x (B, N, 3), t (B,) int64, labels (B,)) → eps_hat (B, N, 3).

    tokens = Linear(3 → D)(x) (no positions), c = TimestepEmbedder(t) + LabelEmbedder(labels),
    depth × AdaLNZeroBlock(tokens, c), then adaLN + Linear(D → 3) (`dit.FinalLayer` with
    patch 1). The adaLN modulations and the output layer start at zero, as in DiT: the
    untrained model predicts exactly 0."""

    def __init__(self, config: PointDenoiserConfig = PointDenoiserConfig()):
        super().__init__()
        self.config = c = config
        self.embed = nn.Linear(3, c.dim)
        self.t_embedder = TimestepEmbedder(c.dim)
        self.y_embedder = LabelEmbedder(c.num_classes, c.dim, c.class_dropout)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(c.dim, c.heads, c.mlp_ratio) for _ in range(c.depth))
        self.final_layer = FinalLayer(c.dim, 1, 3)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.y_embedder.table.weight, std=0.02)
        for layer in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        zeroed = [b.adaLN_modulation[-1] for b in self.blocks] + [self.final_layer.adaLN_modulation[-1],
                                                                   self.final_layer.linear]
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def null_label(self) -> int:
        return self.config.num_classes

    def forward(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        check_shape(x, "x", "B N 3")
        check_shape(t, "t", "B", B=x.shape[0])
        check_shape(labels, "labels", "B", B=x.shape[0])
        tokens = self.embed(x)                                            # (B, N, D)
        c = self.t_embedder(t) + self.y_embedder(labels)                  # (B, D)
        for block in self.blocks:
            tokens = block(tokens, c)
        return self.final_layer(tokens, c)                                # (B, N, 3)


def point_loss(model: PointDenoiser, batch: tuple[Tensor, Tensor], schedule: NoiseSchedule,
               kind: str = "eps") -> Tensor:
    """The simple DDPM loss on clouds: batch = (points (B, N, 3), labels (B,));
    `ddpm.conditional_loss` (MSE to the `kind` target at a uniform random timestep)."""
    points, labels = batch
    check_shape(points, "points", "B N 3")
    check_shape(labels, "labels", "B", B=points.shape[0])
    return ddpm.conditional_loss(model, (points, labels), schedule, kind)


@torch.no_grad()
def sample_points(model: PointDenoiser, labels: Tensor, schedule: NoiseSchedule, n_points: int,
                  steps: int = 50, guidance: float = 2.0, generator: torch.Generator | None = None,
                  kind: str = "eps", progress: bool = False) -> Tensor:
    """Clouds (B, n_points, 3) of the words `labels` (B,) by DDIM (`steps` model calls, eta 0,
    x0_hat clipped to [-1, 1]) with classifier-free guidance of scale `guidance` (1 = plain
    conditional; one batch of 2B per step otherwise). x_T is drawn from `generator` on the
    CPU, so a seed gives the same clouds on any device."""
    check_shape(labels, "labels", "B")
    check_positive_int(n_points, "n_points")
    check_range(guidance, "guidance", low=0.0)
    device = next(model.parameters()).device
    x_T = torch.randn(len(labels), n_points, 3, generator=generator)
    model_fn = ddpm.guided(model, labels.to(device), model.null_label, guidance)
    return ddpm.sample_ddim(model_fn, tuple(x_T.shape), schedule.to(device), steps=steps, kind=kind,
                            x_T=x_T.to(device), clip_x0=True, progress=progress).cpu()


# ---------------------------------------------------------------- recipes

@dataclass(frozen=True)
class PointCloudRecipe:
    """What decides a trained point-cloud diffusion model: its sizes, the real clouds it
    learns (`n_per_shape` posed clouds per word of `n_points` points, `shape_dataset`
    with `data_seed`), the noise schedule, the prediction target and the optimisation."""
    model: PointDenoiserConfig = PointDenoiserConfig()
    n_per_shape: int = 512
    n_points: int = 128
    data_seed: int = 0
    schedule: str = "cosine"
    num_steps: int = 1000
    prediction: str = "eps"
    train: TrainSettings = TrainSettings(steps=1500, batch_size=16, lr=2e-3, warmup=100, decay="cosine")

    def __post_init__(self):
        check_choice(self.prediction, "prediction", ddpm.PREDICTIONS)
        check_choice(self.schedule, "schedule", ("linear", "cosine"))

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


# cpu: 1,500 steps of 16 clouds trained in 85 s on one thread of a busy 2-core CPU; full
# attention over the points is most of a step, so 128 points (256: 2.3x slower per step;
# Point-E: 1,024). One seed, 16 DDIM-50 samples per word; Chamfer to the nearest of 64 real
# clouds (`shapes.family_distance`) for sphere / cube / torus / cone, real clouds .035 / .029
# / .021 / .014: guidance 1 .039 / .038 / .025 / .020, 88-100 % recognised by the PointNet
# (cubes least); guidance 2 .069 / .039 / .036 / .040, 94-100 %; guidance 3 100 %, spheres .15.
POINT_CLOUD_PRESETS = {
    "cpu": PointCloudRecipe(),
    "gpu": PointCloudRecipe(
        model=PointDenoiserConfig(dim=256, depth=6, heads=8, mlp_ratio=4.0), n_per_shape=2048, n_points=512,
        train=TrainSettings(steps=8000, batch_size=64, lr=5e-4, warmup=500, decay="cosine", weight_decay=0.01)),
}


@dataclass
class TrainedPointDiffusion:
    """The point denoiser (eval mode), its noise schedule, run and recipe."""
    model: PointDenoiser
    schedule: NoiseSchedule
    run: TrainingRun
    recipe: PointCloudRecipe = field(repr=False)


def new_point_denoiser(recipe: PointCloudRecipe) -> PointDenoiser:
    """The untrained denoiser of `recipe`, initialised from `recipe.train.seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        return PointDenoiser(recipe.model)


def train_point_diffusion(recipe: PointCloudRecipe | None = None, device: torch.device | None = None,
                          progress: bool = True) -> TrainedPointDiffusion:
    """Train the denoiser of `recipe` (or load it). Batches: `batch_size` random real clouds
    with their labels (`train.random_batches`); loss: `point_loss`."""
    recipe = recipe or POINT_CLOUD_PRESETS["cpu"]
    points, labels = shape_dataset(recipe.n_per_shape, recipe.n_points, recipe.data_seed)
    schedule = make_schedule(recipe.schedule, recipe.num_steps)
    model = new_point_denoiser(recipe)
    data = random_batches(points, labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    loss = partial(point_loss, schedule=schedule, kind=recipe.prediction)
    run = load_or_train("point_diffusion", recipe, model, loss, data, device=device,
                        desc="point-cloud diffusion", progress=progress)
    return TrainedPointDiffusion(model.eval(), schedule, run, recipe)


@dataclass(frozen=True)
class PointClassifierRecipe:
    """The one PointNet judge: real clouds (`n_per_shape` per word, `data_seed`, a little
    `jitter` so imperfect samples are not out of its world), held-out clouds of
    `test_seed` for its accuracy, and the optimisation."""
    n_per_shape: int = 256
    n_points: int = 256
    data_seed: int = 1
    test_seed: int = 2
    test_per_shape: int = 100
    jitter: float = 0.01
    train: TrainSettings = TrainSettings(steps=300, batch_size=32, lr=2e-3)

    def key(self) -> str:
        return settings_key(self)


# The one judge, on every device: 6.5 s of training on one thread of a busy 2-core CPU (8 s
# with data and test); held-out accuracy 100 %, also on 64 or 512 points, or jitter 0.06.
POINT_CLASSIFIER_RECIPE = PointClassifierRecipe()


@dataclass
class TrainedPointClassifier:
    """The judge (CPU, eval mode), its accuracy on held-out real clouds, run and recipe."""
    model: PointCloudClassifier
    accuracy: float
    run: TrainingRun
    recipe: PointClassifierRecipe = field(repr=False)


def classifier_loss(model: PointCloudClassifier, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Cross-entropy of the logits of points (B, N, 3) against labels (B,)."""
    points, labels = batch
    return F.cross_entropy(model(points), labels)


def train_point_classifier(recipe: PointClassifierRecipe | None = None, progress: bool = True
                           ) -> TrainedPointClassifier:
    """Train the PointNet judge of `recipe` on the CPU (or load it) and measure its accuracy
    on `test_per_shape` held-out clouds per word. The caller's random state is untouched."""
    recipe = recipe or POINT_CLASSIFIER_RECIPE
    points, labels = shape_dataset(recipe.n_per_shape, recipe.n_points, recipe.data_seed, recipe.jitter)
    data = random_batches(points, labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = PointCloudClassifier()
        run = load_or_train("point_classifier", recipe, model, classifier_loss, data, device=torch.device("cpu"),
                            threads=1, desc="training the point-cloud judge", progress=progress)
    test, test_labels = shape_dataset(recipe.test_per_shape, recipe.n_points, recipe.test_seed)
    accuracy = (model.predict(test) == test_labels).float().mean().item()
    return TrainedPointClassifier(model.eval(), accuracy, run, recipe)


def load_point_classifier(progress: bool = False) -> tuple[PointCloudClassifier, float]:
    """The trained judge (CPU, eval mode) and its accuracy on held-out real clouds; trains
    it the first time (seconds) and caches it."""
    trained = train_point_classifier(POINT_CLASSIFIER_RECIPE, progress)
    return trained.model, trained.accuracy


__all__ = ["PointCloudClassifier", "PointDenoiserConfig", "PointDenoiser", "point_loss", "sample_points",
           "PointCloudRecipe", "POINT_CLOUD_PRESETS", "TrainedPointDiffusion", "new_point_denoiser",
           "train_point_diffusion", "PointClassifierRecipe", "POINT_CLASSIFIER_RECIPE", "TrainedPointClassifier",
           "classifier_loss", "train_point_classifier", "load_point_classifier"]
