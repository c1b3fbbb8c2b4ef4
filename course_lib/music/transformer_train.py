"""Day 14's Music Transformer trained on the Bach chorales: the recipe, its size presets,
load-or-train, and the chorale token splits.

    recipe = preset(PRESETS, DEVICE)                 # relative attention, day 14's settings
    trained = train_music_transformer(recipe)        # trains once; later calls load
    trained.model, trained.tokenizer, trained.run.history
    absolute = replace(recipe, model=replace(recipe.model, relative=False))   # the baseline
    train, valid, test = chorale_token_splits(trained.tokenizer)

The checkpoint is artifacts/checkpoints/music_transformer_<recipe key>.pt. The model, its
loss (`lm_loss`), the training windows (`window_batches`) and sampling are in
`transformer.py`; this module only decides what to train on and for how long.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from course_lib.data.chorales import load_chorales, split_pieces
from course_lib.music.tokenizer import REMITokenizer, TokenizerConfig
from course_lib.music.transformer import MusicTransformer, MusicTransformerConfig, lm_loss, window_batches
from course_lib.runtime import get_device, settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["MusicTransformerRecipe", "PRESETS", "TrainedMusicTransformer", "chorale_token_splits",
           "new_music_transformer", "train_music_transformer"]


@dataclass(frozen=True)
class MusicTransformerRecipe:
    """Everything that decides the trained chorale model: sizes (vocab_size is filled from
    the tokenizer; no dropout: a few hundred steps see each window about once), optimisation
    (AdamW with weight decay, linear warm-up, cosine decay to 5 %), the REMI tokenizer's
    grid and bins, and the transposition range (semitones) applied to each training window.
    Data: the training split of the chorales (`chorale_token_splits`)."""
    model: MusicTransformerConfig = MusicTransformerConfig(dim=128, heads=4, depth=3, context=128,
                                                           dropout=0.0)
    train: TrainSettings = TrainSettings(steps=450, batch_size=16, lr=3e-3, warmup=30, decay="cosine",
                                         min_lr=0.05, weight_decay=0.01)
    tokenizer: TokenizerConfig = TokenizerConfig(beat_resolution=4, velocity_bins=8)
    transpose: tuple[int, int] = (-5, 6)

    def __post_init__(self):
        low, high = self.transpose
        if not (isinstance(low, int) and isinstance(high, int) and low <= high):
            raise ValueError(f"transpose must be (low, high) semitones with low <= high; "
                             f"got {self.transpose!r}")

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


PRESETS = {
    # 0.67 M parameters, 450 steps of 16 windows of 129 tokens: about 40 s on a 2-core CPU.
    "cpu": MusicTransformerRecipe(),
    # the lesson's CUDA run trains the same model (it only draws more samples).
    "gpu": MusicTransformerRecipe(),
}


@dataclass
class TrainedMusicTransformer:
    """The model (eval mode), the tokenizer of its recipe, the training run and the recipe."""
    model: MusicTransformer
    tokenizer: REMITokenizer
    run: TrainingRun
    recipe: MusicTransformerRecipe = field(repr=False)


def chorale_token_splits(tokenizer: REMITokenizer) -> tuple[list[list[int]], ...]:
    """Every parsed chorale encoded with `tokenizer`, split by piece into train / valid / test."""
    splits = split_pieces(load_chorales().pieces)
    return tuple([tokenizer.encode(c.notes, c.beats_per_bar) for c in s] for s in splits)


def new_music_transformer(recipe: MusicTransformerRecipe, tokenizer: REMITokenizer) -> MusicTransformer:
    """The untrained model of `recipe` for `tokenizer`'s vocabulary, initialised from
    `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return MusicTransformer(replace(recipe.model, vocab_size=len(tokenizer)))


def train_music_transformer(recipe: MusicTransformerRecipe | None = None, device: torch.device | None = None,
                            progress: bool = True) -> TrainedMusicTransformer:
    """Train the Music Transformer of `recipe` on the training chorales, or load it.

    Batches: `batch_size` random windows of context + 1 tokens of the training pieces,
    each transposed by a random number of semitones in `recipe.transpose`
    (`transformer.window_batches`); loss: `transformer.lm_loss`."""
    recipe = recipe or PRESETS["cpu"]
    tokenizer = REMITokenizer(recipe.tokenizer)
    train, _, _ = chorale_token_splits(tokenizer)
    model = new_music_transformer(recipe, tokenizer)
    data = window_batches(train, recipe.train.batch_size, recipe.model.context + 1, seed=recipe.train.seed,
                          transpose=recipe.transpose, pitch_offset=tokenizer.pitch_offset)
    kind = "relative" if recipe.model.relative else "absolute"
    run = load_or_train("music_transformer", recipe, model, lm_loss, data, device=device or get_device(),
                        desc=f"{kind} model", progress=progress)
    return TrainedMusicTransformer(model, tokenizer, run, recipe)
