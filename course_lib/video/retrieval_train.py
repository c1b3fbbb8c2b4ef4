"""Day 18's video–text model trained on captioned moving digits: the clips, the recipe,
presets and load-or-train.

    recipe = preset(RETRIEVAL_PRESETS, DEVICE)                  # the temporal transformer
    trained = train_retrieval(recipe)                           # trains once; later calls load
    mean_pooled = train_retrieval(replace(recipe, model=replace(recipe.model, head="mean")))

The clips (`UNDERSTANDING_CLIPS`): digits starting at the wall behind their motion on a
16 × 16 canvas, 8 frames, at 1 or 2 pixels a frame — at speed 2 the digit reaches the far
wall and bounces back, at speed 1 it never does (the "does it hit a wall?" question).
Each batch sees k ∈ {1, 2, 4, 8} frames chosen by TSN segment sampling, so one model
answers for any number of frames. Checkpoint: artifacts/checkpoints/retrieval_<key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.data.captions import CaptionedClipsSpec, tokenize
from course_lib.data.digits import DIRECTIONS, MovingDigits, caption
from course_lib.runtime import settings_key, step_generator
from course_lib.train import TrainingRun, TrainSettings, load_or_train
from course_lib.video.frame_sampling import segment_indices
from course_lib.video.retrieval import RetrievalConfig, VideoTextModel, symmetric_info_nce

__all__ = ["UNDERSTANDING_CLIPS", "ALL_CAPTIONS", "FRAME_COUNTS", "caption_index", "clip_frames",
           "RetrievalRecipe", "RETRIEVAL_PRESETS", "TrainedRetrieval", "retrieval_loss", "train_retrieval"]

UNDERSTANDING_CLIPS = CaptionedClipsSpec(clips=3000, frames=8, canvas=16, speeds=(1, 2))
ALL_CAPTIONS = tuple(caption(d, v) for d in range(10) for v in DIRECTIONS)     # 80 captions
FRAME_COUNTS = (1, 2, 4, 8)


def caption_index(captions: list[str]) -> Tensor:
    """Captions -> their indices in ALL_CAPTIONS (N,) long."""
    index = {c: i for i, c in enumerate(ALL_CAPTIONS)}
    unknown = [c for c in captions if c not in index]
    if unknown:
        raise ValueError(f"unknown captions (expected e.g. {ALL_CAPTIONS[0]!r}): {unknown[:3]}")
    return torch.tensor([index[c] for c in captions])


def clip_frames(data: MovingDigits) -> Tensor:
    """MovingDigits' videos (N, 1, T, H, W) as frames (N, T, 1, H, W)."""
    return data.videos.transpose(1, 2).contiguous()


@dataclass(frozen=True)
class RetrievalRecipe:
    """The model's sizes and head, the clips and the optimisation."""
    model: RetrievalConfig = RetrievalConfig()
    clips: CaptionedClipsSpec = UNDERSTANDING_CLIPS
    train: TrainSettings = TrainSettings(steps=300, batch_size=64, lr=2e-3, warmup=30, decay="cosine")

    def __post_init__(self):
        if self.model.canvas != self.clips.canvas or self.model.max_frames < self.clips.frames:
            raise ValueError(f"the model ({self.model.canvas} px, {self.model.max_frames} frames) does not fit "
                             f"the clips ({self.clips.canvas} px, {self.clips.frames} frames)")

    def key(self) -> str:
        return settings_key(self)


RETRIEVAL_PRESETS = {
    "cpu": RetrievalRecipe(),
    "gpu": RetrievalRecipe(model=RetrievalConfig(dim=128, embed_dim=128, depth=4),
                           clips=CaptionedClipsSpec(clips=20000, frames=8, canvas=16, speeds=(1, 2)),
                           train=TrainSettings(steps=4000, batch_size=256, lr=1e-3, warmup=200, decay="cosine")),
}


def _batches(frames: Tensor, ids: Tensor, pad: Tensor, captions: Tensor, batch_size: int, seed: int):
    """step -> (frames (B, k, 1, H, W), frame_index (k,), ids, pad, same (B, B)): random clips,
    k from FRAME_COUNTS and TSN segment indices, from `runtime.step_generator(seed, step)`."""
    n, t = frames.shape[:2]

    def batch(step: int):
        g = step_generator(seed, step)
        rows = torch.randint(n, (batch_size,), generator=g)
        k = FRAME_COUNTS[int(torch.randint(len(FRAME_COUNTS), (1,), generator=g))]
        index = segment_indices(t, min(k, t), g)
        cap = captions[rows]
        return frames[rows][:, index], index, ids[rows], pad[rows], cap[:, None] == cap[None]
    return batch


def retrieval_loss(model: VideoTextModel, batch) -> tuple[Tensor, dict]:
    frames, index, ids, pad, same = batch
    loss = symmetric_info_nce(model.encode_video(frames, index), model.encode_text(ids, pad), model.scale(), same)
    return loss, {"scale": float(model.scale().detach())}


@dataclass
class TrainedRetrieval:
    """The trained model (eval mode), its run and its recipe."""
    model: VideoTextModel
    run: TrainingRun
    recipe: RetrievalRecipe = field(repr=False)


def train_retrieval(recipe: RetrievalRecipe | None = None, device: torch.device | None = None,
                    progress: bool = True) -> TrainedRetrieval:
    """Train (or load) the video–text model of `recipe` on its training clips."""
    recipe = recipe or RETRIEVAL_PRESETS["cpu"]
    data = recipe.clips.load("train")
    ids, pad = tokenize(data.captions)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = VideoTextModel(recipe.model)
    batches = _batches(clip_frames(data), ids, pad, caption_index(data.captions), recipe.train.batch_size,
                       recipe.train.seed)
    run = load_or_train("retrieval", recipe, model, retrieval_loss, batches, device=device,
                        desc=f"retrieval ({recipe.model.head})", progress=progress)
    return TrainedRetrieval(model.eval(), run, recipe)
