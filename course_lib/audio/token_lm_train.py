"""Day 15's token models trained on the codec's codes of the course's sound clips: the
recipes, presets and load-or-train for the token LM (`token_lm`) and VALL-E's fine stage
(`fine_codes`).

    lm = train_token_lm(preset(TOKEN_LM_PRESETS, DEVICE))           # trains once; later calls load
    codes = sample_codes(lm.model, labels, pitches, loud, guidance=3.0)
    wave = lm.codec.decode(codes)

Both encode `clips` training clips with the recipe's codec (`codec_train`, trained or
loaded first) into their first `num_codebooks` codebooks, and train on random batches of
(codes, class, pitch, loudness, onset, tempo).
Checkpoints: artifacts/checkpoints/token_lm_<key>.pt and fine_codes_<key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.audio.codec import Codec
from course_lib.audio.codec_train import CODEC_PRESETS, CodecRecipe, train_codec
from course_lib.audio.fine_codes import FineCodes, FineCodesConfig, fine_codes_loss
from course_lib.audio.token_lm import TokenLM, TokenLMConfig, token_lm_loss
from course_lib.data.sound_clips import VERSION as CLIPS_VERSION
from course_lib.data.sound_clips import load_sound_clips
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["TokenLMRecipe", "FineCodesRecipe", "TOKEN_LM_PRESETS", "FINE_CODES_PRESETS", "TrainedTokenModel",
           "clip_codes", "train_token_lm", "train_fine_codes"]


@dataclass(frozen=True)
class TokenLMRecipe:
    """The token LM's sizes and pattern, the codec whose codes it models, the number of
    training clips and the optimisation."""
    model: TokenLMConfig = TokenLMConfig()
    codec: CodecRecipe = CODEC_PRESETS["cpu"]
    clips: int = 2000
    clips_version: int = CLIPS_VERSION
    train: TrainSettings = TrainSettings(steps=400, batch_size=32, lr=3e-3, warmup=30, decay="cosine")

    def key(self) -> str:
        return settings_key(self)


@dataclass(frozen=True)
class FineCodesRecipe:
    """VALL-E's non-autoregressive stage: sizes, the codec, clips and optimisation."""
    model: FineCodesConfig = FineCodesConfig()
    codec: CodecRecipe = CODEC_PRESETS["cpu"]
    clips: int = 2000
    clips_version: int = CLIPS_VERSION
    train: TrainSettings = TrainSettings(steps=200, batch_size=32, lr=2e-3, warmup=20, decay="cosine")

    def key(self) -> str:
        return settings_key(self)


TOKEN_LM_PRESETS = {
    # 0.9 M parameters; 400 steps of 32 clips (53 delay-pattern steps each).
    "cpu": TokenLMRecipe(),
    "gpu": TokenLMRecipe(model=TokenLMConfig(dim=256, depth=6, heads=8), codec=CODEC_PRESETS["gpu"], clips=8000,
                         train=TrainSettings(steps=4000, batch_size=64, lr=1e-3, warmup=200, decay="cosine")),
}
FINE_CODES_PRESETS = {
    "cpu": FineCodesRecipe(),
    "gpu": FineCodesRecipe(model=FineCodesConfig(dim=256, depth=4, heads=8), codec=CODEC_PRESETS["gpu"], clips=8000,
                           train=TrainSettings(steps=2000, batch_size=64, lr=1e-3, warmup=100, decay="cosine")),
}


@dataclass
class TrainedTokenModel:
    """A trained token model (eval mode, on the training device), the codec whose codes it
    models (on the CPU), its run and recipe."""
    model: TokenLM | FineCodes
    codec: Codec
    run: TrainingRun
    recipe: TokenLMRecipe | FineCodesRecipe = field(repr=False)


def clip_codes(codec: Codec, n_clips: int, num_codebooks: int, split: str = "train") -> tuple[Tensor, ...]:
    """The first `n_clips` clips of `split` as (codes (N, num_codebooks, 50), labels, pitches,
    loud, onsets, tempi): what the token models train on."""
    clips = load_sound_clips(split, n=n_clips)
    codes = torch.cat([codec.encode(w, num_codebooks) for w in clips.waves.split(500)])
    return codes, clips.labels, clips.pitches, clips.loud, clips.onsets, clips.tempi


def _train(name: str, recipe, model: torch.nn.Module, loss, num_codebooks: int, device, progress: bool):
    codec = train_codec(recipe.codec, device=device, progress=progress).model.to("cpu")   # encodes on the CPU
    if codec.config.codebook_size != model.config.codebook_size:
        raise ValueError(f"the codec has {codec.config.codebook_size} codes per codebook; "
                         f"the model expects {model.config.codebook_size}")
    data = random_batches(*clip_codes(codec, recipe.clips, num_codebooks), batch_size=recipe.train.batch_size,
                          seed=recipe.train.seed)
    run = load_or_train(name, recipe, model, loss, data, device=device, desc=name.replace("_", " "), progress=progress)
    return TrainedTokenModel(model.eval(), codec, run, recipe)


def train_token_lm(recipe: TokenLMRecipe | None = None, device: torch.device | None = None,
                   progress: bool = True) -> TrainedTokenModel:
    """Train (or load) the token LM of `recipe` on its codec's codes."""
    recipe = recipe or TOKEN_LM_PRESETS["cpu"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = TokenLM(recipe.model)
    return _train("token_lm", recipe, model, token_lm_loss, recipe.model.num_codebooks, device, progress)


def train_fine_codes(recipe: FineCodesRecipe | None = None, device: torch.device | None = None,
                     progress: bool = True) -> TrainedTokenModel:
    """Train (or load) VALL-E's fine stage of `recipe` on its codec's codes."""
    recipe = recipe or FINE_CODES_PRESETS["cpu"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = FineCodes(recipe.model)
    return _train("fine_codes", recipe, model, fine_codes_loss, recipe.model.num_codebooks, device, progress)
