"""The banned-face check (day 22): an identity embedding of the procedural faces,
trained contrastively, and a gate that refuses an avatar too close to a banned identity.

    enc = train_face_id(preset(PRESETS, DEVICE))          # trains once (about 30 s), later loads
    gate = BannedFaces(enc.model, banned=[identity_style(i) for i in (900, 901)], threshold=...)
    gate.check(identity_style(900))                        # FaceMatch(banned=True, ...)

**Identities.** `identity_style(i)` draws a `data.faces.FaceStyle` from the number i:
skin, hair and lip colours, face width and height, eye spacing and size, mouth width,
hairline. The background is *not* part of an identity: every view redraws it, with the
mouth, blink, head offset and brightness, so nothing but the face can identify anyone.
Identities below `recipe.n_train` train the encoder; those from `HELD_OUT_START` on are
never seen in training and give the ROC.

**Training** (contrastive, as in SimCLR and CLIP): a batch is P identities, two views of
each; with a_i, b_i the unit embeddings of the two views of identity i and tau the
temperature, the loss is InfoNCE in both directions,

    L = -1/(2P) sum_i [ log softmax_j(a_i . b_j / tau)_i + log softmax_j(b_i . a_j / tau)_i ],

so each view must pick its own identity's other view out of the batch.

**The gate.** Each banned identity's reference is the mean embedding of `N_REF_VIEWS`
views; an avatar's score is the largest cosine between its own mean embedding and any
reference; at or above `threshold` the request is refused with the match named.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import partial
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.data.faces import FaceStyle, render_face
from course_lib.runtime import get_device, settings_key, step_random
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["identity_style", "face_views", "FaceIdConfig", "FaceIdEncoder", "info_nce", "FaceIdRecipe", "PRESETS",
           "TrainedFaceId", "new_face_id", "face_id_loss", "train_face_id", "identity_embedding", "BannedFaces", "FaceMatch", "HELD_OUT_START",
           "pair_scores"]

SIZE = 32                 # pixels per side, as day 17's faces
HELD_OUT_START = 10_000   # identities from here on are never trained on
N_REF_VIEWS = 8           # views averaged into an identity's reference embedding


def identity_style(i: int) -> FaceStyle:
    """The face of identity number `i` (a pure function of i; background left default)."""
    if not isinstance(i, int) or i < 0:
        raise ValueError(f"identity must be an int >= 0; got {i!r}")
    r = np.random.default_rng([7_919, i])
    skin = r.uniform(0.30, 1.0) * np.array([1.0, 0.78, 0.64]) + r.uniform(-0.05, 0.05, 3)
    hair = r.choice([r.uniform(0.02, 0.3, 3), r.uniform(0.5, 1.0) * np.array([1.0, 0.75, 0.35]),
                     np.full(3, r.uniform(0.3, 0.95))])
    lips = skin * r.uniform(0.55, 0.85) * np.array([1.05, 0.55, 0.55])
    rounded = lambda v: tuple(float(x) for x in np.clip(np.round(v, 3), 0.0, 1.0))   # noqa: E731
    return FaceStyle(skin=rounded(skin), hair=rounded(hair), lips=rounded(lips),
                     face_width=float(r.uniform(0.29, 0.39)), face_height=float(r.uniform(0.39, 0.47)),
                     eye_spacing=float(r.uniform(0.10, 0.17)), eye_size=float(r.uniform(0.04, 0.065)),
                     mouth_width=float(r.uniform(0.10, 0.15)), hairline=float(r.uniform(0.16, 0.27)))


def face_views(style: FaceStyle, n: int, rng: random.Random) -> Tensor:
    """n views (n, 3, SIZE, SIZE) in [0, 1] of one face: random mouth shape, eye
    openness, head offset (up to 1.5 px), background colour and brightness (x0.85-1.15)."""
    views = []
    for _ in range(n):
        background = tuple(rng.uniform(0.2, 0.95) for _ in range(3))
        look = replace(style, background=background)
        mouth = torch.tensor([[rng.random(), rng.random(), rng.random()]])
        head = torch.tensor([[rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)]])
        eyes = torch.tensor([rng.uniform(0.2, 1.0)])
        views.append((render_face(mouth, look, SIZE, head, eyes)[0] * rng.uniform(0.85, 1.15)).clamp(0, 1))
    return torch.stack(views)


@dataclass(frozen=True)
class FaceIdConfig:
    """The encoder's sizes: conv widths per stage (each stage halves the side) and the
    embedding's dimension."""
    widths: tuple[int, ...] = (24, 48, 96)
    dim: int = 64


class FaceIdEncoder(nn.Module):
    """(B, 3, 32, 32) in [0, 1] -> (B, dim) unit embeddings: conv stages (a stride-2
    conv 3x3 halving the side, GroupNorm, GELU, a conv 3x3, GELU: 32 -> 16 -> 8 -> 4),
    global average pool, a linear map, L2 norm."""

    def __init__(self, config: FaceIdConfig = FaceIdConfig()):
        super().__init__()
        self.config = config
        layers, c_in = [], 3
        for c in config.widths:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(8, c), nn.GELU(),
                       nn.Conv2d(c, c, 3, padding=1), nn.GELU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, config.dim)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"faces must be (B, 3, H, W); got {tuple(x.shape)}")
        return F.normalize(self.head(self.features(x * 2 - 1).mean(dim=(2, 3))), dim=-1)


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE of paired unit embeddings a, b (P, dim): row i of a must pick
    row i of b among all rows, and the other way round."""
    logits = a @ b.T / temperature                                   # (P, P)
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


@dataclass(frozen=True)
class FaceIdRecipe:
    """Everything that decides the trained identity encoder: sizes, optimisation
    (`train.batch_size` identities, two views each), the number of training identities,
    the views rendered per identity, and the InfoNCE temperature."""
    model: FaceIdConfig = FaceIdConfig()
    train: TrainSettings = TrainSettings(steps=600, batch_size=48, lr=2e-3, decay="cosine")
    n_train: int = 600
    views_per_identity: int = 8
    temperature: float = 0.1

    def __post_init__(self):
        if not 2 <= self.n_train <= HELD_OUT_START:
            raise ValueError(f"n_train must be in [2, {HELD_OUT_START}]; got {self.n_train}")
        if self.train.batch_size > self.n_train:
            raise ValueError("train.batch_size (identities per batch) must be <= n_train")
        if self.views_per_identity < 2:
            raise ValueError(f"views_per_identity must be >= 2; got {self.views_per_identity}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature}")

    def key(self) -> str:
        return settings_key(self)


PRESETS = {"cpu": FaceIdRecipe(),
           "gpu": FaceIdRecipe(model=FaceIdConfig(widths=(64, 128, 192), dim=128),
                               train=TrainSettings(steps=3000, batch_size=128, lr=2e-3, decay="cosine"),
                               n_train=4000)}


@dataclass
class TrainedFaceId:
    """The encoder (eval mode), its training run and its recipe."""
    model: FaceIdEncoder
    run: TrainingRun
    recipe: FaceIdRecipe = field(repr=False)


def new_face_id(recipe: FaceIdRecipe) -> FaceIdEncoder:
    """The untrained encoder of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return FaceIdEncoder(recipe.model)


def face_id_loss(model: FaceIdEncoder, views: tuple[Tensor, Tensor], temperature: float) -> Tensor:
    """InfoNCE of a batch of view pairs ((P, 3, H, W), (P, 3, H, W)): pair i is one identity."""
    return info_nce(model(views[0]), model(views[1]), temperature)


def _view_bank(recipe: FaceIdRecipe) -> Tensor:
    """(n_train, views_per_identity, 3, SIZE, SIZE): every training identity's views,
    rendered once (deterministic)."""
    rng = random.Random(recipe.train.seed)
    return torch.stack([face_views(identity_style(i), recipe.views_per_identity, rng) for i in range(recipe.n_train)])


def train_face_id(recipe: FaceIdRecipe | None = None, device: torch.device | None = None,
                  progress: bool = True) -> TrainedFaceId:
    """Train the identity encoder of `recipe` with InfoNCE, or load it.

    Batch `step`: `batch_size` distinct training identities, two different views of
    each from the rendered bank (`runtime.step_random`). One CPU thread."""
    recipe = recipe or PRESETS["cpu"]
    device = device or get_device()
    bank = _view_bank(recipe)
    model = new_face_id(recipe)

    def batch(step: int) -> tuple[Tensor, Tensor]:
        rng = step_random(recipe.train.seed, step)
        ids = rng.sample(range(recipe.n_train), recipe.train.batch_size)
        pairs = [rng.sample(range(recipe.views_per_identity), 2) for _ in ids]
        return bank[ids, [p[0] for p in pairs]], bank[ids, [p[1] for p in pairs]]

    run = load_or_train("face_id", recipe, model, partial(face_id_loss, temperature=recipe.temperature), batch, device=device, threads=1,
                        desc="face identity encoder", progress=progress)
    return TrainedFaceId(model.eval(), run, recipe)


@torch.no_grad()
def identity_embedding(model: FaceIdEncoder, faces: Tensor) -> Tensor:
    """The unit mean embedding (dim,) of several views (n, 3, H, W) of one face."""
    device = next(model.parameters()).device
    return F.normalize(model.eval()(faces.to(device)).mean(0), dim=0).cpu()


class FaceMatch(NamedTuple):
    banned: bool
    score: float          # the largest cosine to a banned identity
    nearest: int          # index into the banned list


class BannedFaces:
    """The banned list: a reference embedding per banned face (the mean of N_REF_VIEWS
    views); `check` refuses a face whose embedding's cosine to one reaches `threshold`."""

    def __init__(self, model: FaceIdEncoder, banned: list[FaceStyle], threshold: float, seed: int = 0):
        if not banned:
            raise ValueError("banned must list at least one FaceStyle")
        if not -1 <= threshold <= 1:
            raise ValueError(f"threshold is a cosine in [-1, 1]; got {threshold}")
        self.model, self.threshold = model, float(threshold)
        rng = random.Random(seed)
        self.references = torch.stack([identity_embedding(model, face_views(s, N_REF_VIEWS, rng)) for s in banned])

    def score(self, faces: Tensor) -> tuple[float, int]:
        """(largest cosine, index of that banned face) for views (n, 3, H, W) of one face."""
        sims = self.references @ identity_embedding(self.model, faces)
        best = int(sims.argmax())
        return float(sims[best]), best

    def check(self, face: FaceStyle | Tensor, seed: int = 1) -> FaceMatch:
        """Is this avatar (a FaceStyle, drawn in N_REF_VIEWS views, or its frames) banned?"""
        faces = face_views(face, N_REF_VIEWS, random.Random(seed)) if isinstance(face, FaceStyle) else face
        score, best = self.score(faces)
        return FaceMatch(score >= self.threshold, score, best)


def pair_scores(model: FaceIdEncoder, identities: list[int], n_views: int = N_REF_VIEWS,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Verification trials on `identities`: for every ordered pair (i, j), the cosine of
    identity i's reference (n_views views) and an independent probe of identity j (other
    views). Returns (scores, same) for the ROC: same[k] is True when i == j."""
    rng = random.Random(seed)
    refs = torch.stack([identity_embedding(model, face_views(identity_style(i), n_views, rng)) for i in identities])
    probes = torch.stack([identity_embedding(model, face_views(identity_style(i), n_views, rng)) for i in identities])
    sims = (refs @ probes.T).numpy()
    same = np.eye(len(identities), dtype=bool)
    return sims.ravel(), same.ravel()
