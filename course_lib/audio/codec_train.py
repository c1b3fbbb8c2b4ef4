"""Day 15's codec trained on the course's own sounds: the recipe, presets, load-or-train.

    recipe = preset(CODEC_PRESETS, DEVICE)
    trained = train_codec(recipe)                  # trains once; later calls load
    codes = trained.model.encode(clips.waves[:4])  # (4, 8, 50)

Batches are random one-second clips of `data.sound_clips` (notes, drums, effects, speech);
the per-bin normalisers are fitted on the first 200 training clips before training; the
loss is `codec.codec_loss`, with quantizer dropout, the EMA codebooks updating inside the
forward pass, and no quantization for the config's first `warmup_steps` steps.
Checkpoint: artifacts/checkpoints/codec_<recipe key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from course_lib.audio.codec import Codec, CodecConfig, codec_loss
from course_lib.data.sound_clips import VERSION as CLIPS_VERSION
from course_lib.data.sound_clips import load_sound_clips
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["CodecRecipe", "CODEC_PRESETS", "TrainedCodec", "train_codec", "NORMALIZER_CLIPS"]

NORMALIZER_CLIPS = 200


@dataclass(frozen=True)
class CodecRecipe:
    """The codec's sizes, the number of training clips and the optimisation."""
    model: CodecConfig = CodecConfig()
    clips: int = 800
    clips_version: int = CLIPS_VERSION      # retrain when the clips change
    train: TrainSettings = TrainSettings(steps=800, batch_size=16, lr=2e-3, warmup=20, decay="cosine")

    def __post_init__(self):
        if not isinstance(self.clips, int) or self.clips < NORMALIZER_CLIPS:
            raise ValueError(f"clips must be an int >= {NORMALIZER_CLIPS}; got {self.clips!r}")

    def key(self) -> str:
        return settings_key(self)


CODEC_PRESETS = {
    # 1.4 M parameters; 800 steps of 16 one-second clips, the first 400 unquantized: ~50 s on 2 CPU cores.
    "cpu": CodecRecipe(),
    "gpu": CodecRecipe(model=CodecConfig(hidden=512, latent_dim=16, warmup_steps=2000), clips=4000,
                       train=TrainSettings(steps=8000, batch_size=32, lr=1e-3, warmup=200, decay="cosine")),
}


@dataclass
class TrainedCodec:
    """The trained codec (eval mode), its run and its recipe."""
    model: Codec
    run: TrainingRun
    recipe: CodecRecipe = field(repr=False)


def train_codec(recipe: CodecRecipe | None = None, device: torch.device | None = None,
                progress: bool = True) -> TrainedCodec:
    """Train the codec of `recipe` on `recipe.clips` training clips, or load it."""
    recipe = recipe or CODEC_PRESETS["cpu"]
    if recipe.model.sample_rate != 16_000:
        raise ValueError(f"the sound clips are 16 kHz; got sample_rate={recipe.model.sample_rate}")
    clips = load_sound_clips("train", n=recipe.clips)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = Codec(recipe.model).fit_normalizers(clips.waves[:NORMALIZER_CLIPS])
    data = random_batches(clips.waves, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    run = load_or_train("codec", recipe, model, codec_loss, data, device=device, desc="codec", progress=progress)
    return TrainedCodec(model.eval(), run, recipe)
