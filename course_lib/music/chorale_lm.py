"""Day 14's chorale language model in one call: the token splits, the settings, and a
trained Music Transformer loaded from `artifacts/checkpoints/` or trained when missing.

    model, tokenizer = chorale_music_transformer()            # relative attention, Day 14 settings
    train, valid, test = chorale_token_splits(tokenizer)

Later days use this instead of copying Day 14's code; CI, running the days in order,
trains each model once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from course_lib.data.chorales import load_chorales, split_pieces
from course_lib.music.tokenizer import REMITokenizer, TokenizerConfig
from course_lib.music.transformer import MusicTransformer, MusicTransformerConfig, lm_loss, window_batches
from course_lib.runtime import get_device, seed_everything
from course_lib.train import fit


@dataclass(frozen=True)
class TrainSettings:
    """How Day 14 trains: optimiser steps, batch of windows, peak lr (linear warm-up,
    cosine decay to 5 %), transposition range in semitones, seed."""

    steps: int = 450
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int = 30
    weight_decay: float = 0.01
    transpose: tuple[int, int] = (-5, 6)
    seed: int = 0

    def schedule(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup)
        return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, self.steps) / self.steps)))


DAY14_TOKENIZER = TokenizerConfig(beat_resolution=4, velocity_bins=8)
DAY14_MODEL = dict(dim=128, heads=4, layers=3, context=128, dropout=0.0)   # short training: no dropout
DAY14_TRAIN = TrainSettings()


def chorale_token_splits(tokenizer: REMITokenizer) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Every parsed chorale encoded with `tokenizer`, split by piece into train / valid / test."""
    splits = split_pieces(load_chorales().pieces)
    return tuple([tokenizer.encode(c.notes, c.beats_per_bar) for c in s] for s in splits)


def train_music_transformer(model: MusicTransformer, tokenizer: REMITokenizer, train: list[list[int]],
                            settings: TrainSettings = DAY14_TRAIN, checkpoint: str | None = None,
                            device: torch.device | None = None, desc: str = "training") -> list[float]:
    """Train `model` on random windows (context + 1 tokens) of the training sequences with
    transposition augmentation; returns the loss history (see `course_lib.train.fit`)."""
    data = window_batches(train, settings.batch_size, model.cfg.context + 1, seed=settings.seed,
                          transpose=settings.transpose, pitch_offset=tokenizer.pitch_offset)
    return fit(model, lm_loss, data, steps=settings.steps, lr=settings.lr, weight_decay=settings.weight_decay,
               scheduler=settings.schedule, checkpoint=checkpoint, device=device or get_device(), desc=desc)


def chorale_music_transformer(relative: bool = True, settings: TrainSettings = DAY14_TRAIN,
                              device: torch.device | None = None, **model_overrides):
    """(model, tokenizer): Day 14's Music Transformer, from its checkpoint under artifacts/
    or trained now with Day 14's settings (with a progress bar). relative=False gives the
    absolute-position baseline."""
    tokenizer = REMITokenizer(DAY14_TOKENIZER)
    train, _, _ = chorale_token_splits(tokenizer)
    cfg = MusicTransformerConfig(vocab_size=len(tokenizer), relative=relative, **{**DAY14_MODEL, **model_overrides})
    seed_everything(settings.seed)
    model = MusicTransformer(cfg)
    name = f"day14_{'relative' if relative else 'absolute'}_{cfg.dim}x{cfg.layers}_{settings.steps}"
    train_music_transformer(model, tokenizer, train, settings, checkpoint=name, device=device,
                            desc=f"{'relative' if relative else 'absolute'} model")
    return model.eval(), tokenizer


__all__ = ["TrainSettings", "DAY14_TOKENIZER", "DAY14_MODEL", "DAY14_TRAIN", "chorale_token_splits",
           "train_music_transformer", "chorale_music_transformer"]
