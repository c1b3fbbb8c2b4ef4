"""The speaker encoder trained on many eSpeak voices: recipe, presets, load-or-train.

    enc = train_speaker_encoder(preset(PRESETS, DEVICE))    # trains once; later calls load
    enc.model.embed(mel), enc.table["en-us+f3"], enc.run.history

The checkpoint is artifacts/checkpoints/speaker_encoder_<recipe key>.pt. FastSpeech's
recipe holds a `SpeakerRecipe` and `train_fastspeech` calls `train_speaker_encoder`
itself. The model and its loss are in `speaker.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.speech import TTS_VOICES, voice_utterances
from course_lib.runtime import cpu_threads, get_device, settings_key, step_random
from course_lib.speech.speaker import SpeakerEncoder, SpeakerEncoderConfig, embed_batch, speaker_loss
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["SpeakerRecipe", "PRESETS", "TrainedSpeakerEncoder", "new_speaker_encoder", "crop",
           "train_speaker_encoder"]

TABLE_CLIPS = 40        # training clips per voice averaged into the speaker table


@dataclass(frozen=True)
class SpeakerRecipe:
    """Everything that decides the trained speaker encoder: the voices it tells apart
    (training clips of `domain`: the corpus' for its voices, the first `n_per_voice`
    sentences for the others), sizes (`model.n_voices` is filled from `voices`),
    optimisation, and the length of the random crops it trains on."""
    model: SpeakerEncoderConfig = SpeakerEncoderConfig()
    train: TrainSettings = TrainSettings(steps=120, batch_size=32, lr=3e-3)
    voices: tuple[str, ...] = TTS_VOICES
    domain: str = "digits"
    n_per_voice: int = 40            # sentences per extra voice (corpus voices: all)
    crop: int = 48                   # frames per training clip (0.6 s)

    def __post_init__(self):
        if len(self.voices) < 2:
            raise ValueError(f"voices must name at least 2 voices; got {self.voices}")

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


# The encoder trains in a few seconds anywhere: the GPU preset is the same recipe.
PRESETS = {"cpu": SpeakerRecipe(), "gpu": SpeakerRecipe()}


@dataclass
class TrainedSpeakerEncoder:
    """The encoder (eval mode), the training run, the recipe, and the speaker table:
    voice -> mean d-vector of its first training clips (unit norm)."""
    model: SpeakerEncoder
    run: TrainingRun
    recipe: SpeakerRecipe = field(repr=False)
    table: dict[str, Tensor] = field(default_factory=dict, repr=False)


def new_speaker_encoder(recipe: SpeakerRecipe) -> SpeakerEncoder:
    """The untrained encoder of `recipe` (one classifier row per voice), initialised from
    `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return SpeakerEncoder(replace(recipe.model, n_voices=len(recipe.voices)))


def crop(mel: Tensor, frames: int, rng: random.Random) -> Tensor:
    """A random `frames`-frame window of a log-mel (n_mels, T); a shorter mel is padded
    with its own minimum (silence)."""
    T = mel.shape[1]
    if T <= frames:
        return F.pad(mel, (0, frames - T), value=float(mel.min()))
    start = rng.randrange(T - frames + 1)
    return mel[:, start:start + frames]


def train_speaker_encoder(recipe: SpeakerRecipe | None = None, device: torch.device | None = None,
                          progress: bool = True) -> TrainedSpeakerEncoder:
    """Train the speaker encoder of `recipe` as a cosine classifier over its voices, or load it.

    Batch `step`: `batch_size` random crops of `crop` frames from random training
    utterances (`runtime.step_random`). Loss: `speaker.speaker_loss`. One CPU thread."""
    recipe = recipe or PRESETS["cpu"]
    device = device or get_device()
    data = {v: [u for u in voice_utterances(v, recipe.domain, recipe.n_per_voice) if u.split == "train"]
            for v in recipe.voices}
    items = [(u.mel, i) for i, v in enumerate(recipe.voices) for u in data[v]]
    model = new_speaker_encoder(recipe)
    model.mel_norm.fit([m for m, _ in items])

    def batch(step: int) -> tuple[Tensor, Tensor]:
        rng = step_random(recipe.train.seed, step)
        chosen = [items[rng.randrange(len(items))] for _ in range(recipe.train.batch_size)]
        mels = torch.stack([crop(m, recipe.crop, rng) for m, _ in chosen])
        return mels, torch.tensor([c for _, c in chosen])

    run = load_or_train("speaker_encoder", recipe, model, speaker_loss, batch, device=device,
                        threads=1, desc="speaker encoder", progress=progress)
    with cpu_threads(device, 1):
        table = {v: F.normalize(torch.stack(embed_batch(model, [u.mel for u in data[v][:TABLE_CLIPS]])).mean(0),
                                dim=0) for v in recipe.voices}
    return TrainedSpeakerEncoder(model, run, recipe, table)
