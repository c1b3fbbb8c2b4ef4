"""The neural vocoder trained on eSpeak's (mel, wave) pairs: recipe, presets, load-or-train.

    voc = train_vocoder(preset(PRESETS, DEVICE))     # trains once; later calls load
    wave = vocode(voc.model, mel)                    # vocoder.vocode
    voc.run.history, voc.run.metrics["sc"]

The checkpoint is artifacts/checkpoints/neural_vocoder_<recipe key>.pt. The network, its
loss (`vocoder.vocoder_loss`, the multi-resolution STFT loss) and `vocode` are in
`vocoder.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.speech import HOP_LENGTH, VOICES, voice_utterances
from course_lib.runtime import get_device, settings_key, step_random
from course_lib.speech.vocoder import NeuralVocoder, VocoderConfig, vocoder_loss
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["VocoderRecipe", "PRESETS", "TrainedVocoder", "new_vocoder", "train_vocoder"]


@dataclass(frozen=True)
class VocoderRecipe:
    """Everything that decides the trained vocoder: sizes, optimisation, and the teacher
    data: `per_voice` training utterances of each voice of `domain` (the corpus' or, for
    other voices, of their first `n_per_voice` sentences), cut into random segments of
    `segment` mel frames and their waves."""
    model: VocoderConfig = VocoderConfig()
    train: TrainSettings = TrainSettings(steps=300, batch_size=8, lr=2e-3)
    voices: tuple[str, ...] = ("en-us", "en-us+f3", "en-gb-x-rp", "en-us+m1", "en-us+m3",
                               "en-us+m7", "en-us+f1", "en-us+f4")
    domain: str = "digits"
    n_per_voice: int = 40            # sentences generated per voice outside the corpus
    per_voice: int = 30              # training utterances per voice
    segment: int = 32                # mel frames per training segment (0.4 s)

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


PRESETS = {
    # 0.44 M parameters, 300 steps of 8 segments of 0.4 s: about 10 s on a 2-core CPU.
    "cpu": VocoderRecipe(),
    "gpu": VocoderRecipe(train=TrainSettings(steps=1500, batch_size=16, lr=2e-3)),
}


@dataclass
class TrainedVocoder:
    """The vocoder (eval mode), the training run (metrics "sc" and "mag": the two terms
    of the loss) and the recipe."""
    model: NeuralVocoder
    run: TrainingRun
    recipe: VocoderRecipe = field(repr=False)


def new_vocoder(recipe: VocoderRecipe) -> NeuralVocoder:
    """The untrained vocoder of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return NeuralVocoder(recipe.model)


def train_vocoder(recipe: VocoderRecipe | None = None, device: torch.device | None = None,
                  progress: bool = True) -> TrainedVocoder:
    """Train the neural vocoder of `recipe` on teacher (mel, wave) pairs, or load it.

    The waves are spoken again by eSpeak (`Utterance.wave`). Batch `step`: `batch_size`
    random segments of `segment` frames and their (segment - 1) * hop samples
    (`runtime.step_random`). Loss: `vocoder.vocoder_loss`. One CPU thread."""
    recipe = recipe or PRESETS["cpu"]
    device = device or get_device()
    pairs = []
    for v in recipe.voices:
        utts = [u for u in voice_utterances(v, recipe.domain, None if v in VOICES else recipe.n_per_voice)
                if u.split == "train"][:recipe.per_voice]
        pairs += [(u.mel, u.wave()) for u in utts]
    model = new_vocoder(recipe)
    model.mel_norm.fit([m for m, _ in pairs])
    M, hop = recipe.segment, HOP_LENGTH

    def data(step: int) -> tuple[Tensor, Tensor]:
        rng = step_random(recipe.train.seed, step)
        mels, waves = [], []
        for _ in range(recipe.train.batch_size):
            mel, wave = pairs[rng.randrange(len(pairs))]
            start = rng.randrange(max(mel.shape[1] - M, 0) + 1)
            seg = mel[:, start:start + M]
            w = wave[start * hop:start * hop + (M - 1) * hop]
            mels.append(F.pad(seg, (0, M - seg.shape[1]), value=float(mel.min())))
            waves.append(F.pad(w, (0, (M - 1) * hop - len(w))))
        return torch.stack(mels), torch.stack(waves)

    run = load_or_train("neural_vocoder", recipe, model, vocoder_loss, data, device=device, threads=1,
                        desc="vocoder", progress=progress)
    return TrainedVocoder(model, run, recipe)
