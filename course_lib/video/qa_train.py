"""Day 18's captioner and question answerer trained on the retrieval model's frozen frame
features: the answers each clip has, the recipe, presets and load-or-train.

    trained = train_video_qa(preset(VIDEO_QA_PRESETS, DEVICE))     # trains once; later calls load
    feats = trained.frame_features(clip_frames(test))              # (N, 8, 64), frozen encoder
    answer(trained.model, feats, torch.arange(8), ["which way does it move ?"] * N)

As BLIP-2 freezes its image encoder, the Q-Former and the language model learn on top of
the retrieval model's frame encoder (`retrieval_train`), which is trained (or loaded)
first. Each training row is one clip with one of the four tasks of `qformer.QUESTIONS`
drawn at random. Checkpoint: artifacts/checkpoints/video_qa_<key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.data.digits import MovingDigits
from course_lib.runtime import settings_key, step_generator
from course_lib.train import TrainingRun, TrainSettings, load_or_train
from course_lib.video.qformer import QUESTIONS, VideoQA, VideoQAConfig, qa_loss, qa_sequences
from course_lib.video.retrieval import VideoTextModel
from course_lib.video.retrieval_train import RETRIEVAL_PRESETS, RetrievalRecipe, clip_frames, train_retrieval

__all__ = ["hits_wall", "clip_answers", "VideoQARecipe", "VIDEO_QA_PRESETS", "TrainedVideoQA", "frozen_features",
           "train_video_qa"]


def hits_wall(data: MovingDigits, canvas: int, size: int = 8) -> Tensor:
    """(N,) bool: the digit touches a wall after the first frame, on an axis it moves along."""
    span = canvas - size
    moving = data.velocities != 0                                          # (N, 2)
    touches = (data.positions[:, 1:] == 0) | (data.positions[:, 1:] == span)   # (N, T - 1, 2)
    return (touches & moving[:, None]).any(dim=(1, 2))


def clip_answers(data: MovingDigits, canvas: int) -> dict[str, list[str]]:
    """The true answer of every clip to each task of QUESTIONS: the caption, the digit, the
    direction words, yes / no."""
    directions = [c.split(" moving ")[1] for c in data.captions]
    walls = hits_wall(data, canvas).tolist()
    return {"caption": list(data.captions), "digit": [str(int(y)) for y in data.labels],
            "direction": directions, "wall": ["yes" if w else "no" for w in walls]}


@dataclass(frozen=True)
class VideoQARecipe:
    """The Q-Former and language model's sizes, the retrieval model whose frame encoder it
    reads (frozen), and the optimisation (the clips are the retrieval model's)."""
    model: VideoQAConfig = VideoQAConfig()
    retrieval: RetrievalRecipe = RETRIEVAL_PRESETS["cpu"]
    train: TrainSettings = TrainSettings(steps=600, batch_size=64, lr=2e-3, warmup=30, decay="cosine")

    def __post_init__(self):
        if self.model.frame_dim != self.retrieval.model.dim:
            raise ValueError(f"frame_dim ({self.model.frame_dim}) must be the retrieval model's dim "
                             f"({self.retrieval.model.dim})")

    def key(self) -> str:
        return settings_key(self)


VIDEO_QA_PRESETS = {
    "cpu": VideoQARecipe(),
    "gpu": VideoQARecipe(model=VideoQAConfig(frame_dim=128, dim=192, depth=4), retrieval=RETRIEVAL_PRESETS["gpu"],
                         train=TrainSettings(steps=4000, batch_size=256, lr=1e-3, warmup=200, decay="cosine")),
}


@dataclass
class TrainedVideoQA:
    """The trained model (eval mode), the frozen video–text model whose frame encoder it
    reads, its run and recipe."""
    model: VideoQA
    encoder: VideoTextModel
    run: TrainingRun
    recipe: VideoQARecipe = field(repr=False)

    def frame_features(self, frames: Tensor) -> Tensor:
        """Frames (N, k, 1, H, W) -> frozen frame features (N, k, F)."""
        return frozen_features(self.encoder, frames)


@torch.no_grad()
def frozen_features(encoder: VideoTextModel, frames: Tensor) -> Tensor:
    """The frame encoder's features of frames (N, k, 1, H, W): (N, k, F), on the CPU."""
    device = next(encoder.parameters()).device
    return torch.cat([encoder.frame_features(f.to(device)) for f in frames.split(512)]).cpu()


def _batches(features: Tensor, answers: dict[str, list[str]], batch_size: int, seed: int):
    tasks = list(QUESTIONS)
    n, k = features.shape[:2]
    index = torch.arange(k)

    def batch(step: int):
        g = step_generator(seed, step)
        rows = torch.randint(n, (batch_size,), generator=g).tolist()
        picked = [tasks[t] for t in torch.randint(len(tasks), (batch_size,), generator=g).tolist()]
        tokens, targets = qa_sequences([QUESTIONS[t] for t in picked], [answers[t][r] for t, r in zip(picked, rows)])
        return features[rows], index, tokens, targets
    return batch


def train_video_qa(recipe: VideoQARecipe | None = None, device: torch.device | None = None,
                   progress: bool = True) -> TrainedVideoQA:
    """Train (or load) the Q-Former captioner / question answerer of `recipe`."""
    recipe = recipe or VIDEO_QA_PRESETS["cpu"]
    encoder = train_retrieval(recipe.retrieval, device=device, progress=progress).model
    data = recipe.retrieval.clips.load("train")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = VideoQA(recipe.model)
    features = frozen_features(encoder, clip_frames(data))
    batches = _batches(features, clip_answers(data, recipe.retrieval.clips.canvas), recipe.train.batch_size,
                       recipe.train.seed)
    run = load_or_train("video_qa", recipe, model, qa_loss, batches, device=device, desc="video QA",
                        progress=progress)
    return TrainedVideoQA(model.eval(), encoder, run, recipe)
