"""Timbre transfer by AdaIN with learned features (day 15): the same notes in another
instrument, on a trained codec's latents.

AdaIN swaps per-channel statistics (`style.adain`). On the codec's own latents it moves
pitch and timbre together, because nothing asked those channels to keep them apart.
Here two small convolutional encoders learn features in which it works, as in AdaIN-VC
(Chou et al. 2019) and the image style transfer of Huang & Belongie (2017):

    h = E_c(z_content)                 (B, T, H)   content features, instance-normalised below
    s = E_s(z_style)                   (B, T', H)  style features: only their mean and std are used
    ẑ = D(AdaIN(h, s))                 (B, T, D)   codec latents -> codec.rvq -> the codec's decoder
      AdaIN(h, s) = σ_s (h − μ_h) / σ_h + μ_s      per channel, over time

Training pairs (`pairing`):
- "parallel": content = melody i in timbre a, style = another melody j in timbre b,
  target = melody i in timbre b. Our sounds are formulas, so the answer exists; real
  recordings seldom give such pairs.
- "self" (AdaIN-VC's recipe, no parallel data): style = another melody j in the *same*
  timbre a, target = melody i in timbre a itself; at test time the style clip comes from
  another timbre, and one hopes the instance normalisation kept timbre out of h.

    model = train_timbre_transfer(preset(TIMBRE_TRANSFER_PRESETS, DEVICE)).model
    z = model(codec.latents(melody_in_bright), codec.latents(any_clip_in_soft))
    wave = codec.decode_latents(z)                            # (B, T · 320)

Checkpoint: artifacts/checkpoints/timbre_transfer_<recipe key>.pt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio.codec import Codec
from course_lib.audio.codec_train import CODEC_PRESETS, CodecRecipe, train_codec
from course_lib.audio.style import adain
from course_lib.checks import check_positive_int, check_shape
from course_lib.data.sound_clips import CLASSES, PITCHES, SAMPLE_RATE, TIMBRES, make_melody
from course_lib.runtime import settings_key, step_generator
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["TimbreTransferConfig", "TimbreTransfer", "TimbreTransferRecipe", "TIMBRE_TRANSFER_PRESETS",
           "TrainedTimbreTransfer", "random_melodies", "melody_latents", "transfer_loss", "train_timbre_transfer",
           "score_transfers"]

PAIRINGS = ("parallel", "self")


@dataclass(frozen=True)
class TimbreTransferConfig:
    """The codec's `latent_dim`, the features' `hidden` width, the convolutions' `kernel`,
    and the training `pairing` ("parallel" or "self", see the module docstring)."""
    latent_dim: int = 16
    hidden: int = 128
    kernel: int = 5
    pairing: str = "parallel"

    def __post_init__(self):
        for name in ("latent_dim", "hidden", "kernel"):
            check_positive_int(getattr(self, name), name)
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (same-length convolutions); got {self.kernel}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}; got {self.pairing!r}")


def _conv_stack(c_in: int, hidden: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, hidden, k, padding=k // 2), nn.GELU(),
                         nn.Conv1d(hidden, c_out, k, padding=k // 2))


class TimbreTransfer(nn.Module):
    """(content latents (B, T, D), style latents (B, T', D)) -> latents (B, T, D): the
    content's notes with the style's timbre (the codec's `rvq` and decoder make the sound)."""

    def __init__(self, config: TimbreTransferConfig):
        super().__init__()
        self.config = c = config
        self.content_encoder = _conv_stack(c.latent_dim, c.hidden, c.hidden, c.kernel)
        self.style_encoder = _conv_stack(c.latent_dim, c.hidden, c.hidden, c.kernel)
        self.decoder = _conv_stack(c.hidden, c.hidden, c.latent_dim, c.kernel)

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        D = self.config.latent_dim
        check_shape(content, "content", "B T D", D=D)
        check_shape(style, "style", "B T D", D=D)
        h = self.content_encoder(content.transpose(1, 2)).transpose(1, 2)     # (B, T, H)
        s = self.style_encoder(style.transpose(1, 2)).transpose(1, 2)         # (B, T', H)
        return self.decoder(adain(h, s).transpose(1, 2)).transpose(1, 2)


def random_melodies(n: int, notes: int = 4, seed: int = 0) -> Tensor:
    """n melodies of `notes` MIDI pitches drawn from PITCHES: (n, notes) long."""
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(PITCHES)[torch.randint(len(PITCHES), (n, notes), generator=g)]


@torch.no_grad()
def melody_latents(codec: Codec, melodies: Tensor) -> Tensor:
    """The codec latents of every melody (M, notes) in every timbre: (M, len(TIMBRES), T, D)."""
    waves = torch.stack([torch.stack([make_melody(kind, m.tolist()) for kind in TIMBRES]) for m in melodies])
    M, K, N = waves.shape
    return torch.cat([codec.latents(w) for w in waves.reshape(M * K, N).split(256)]).reshape(M, K, -1,
                                                                                          codec.config.latent_dim)


def _pair_batches(latents: Tensor, pairing: str, batch_size: int, seed: int):
    """step -> (content, style, target) latents (B, T, D) each, drawn as `pairing` says."""
    M, K = latents.shape[:2]

    def batch(step: int):
        g = step_generator(seed, step)
        i, j = torch.randint(M, (batch_size,), generator=g), torch.randint(M, (batch_size,), generator=g)
        j = torch.where(j == i, (j + 1) % M, j)                  # the style is always another melody
        a, b = torch.randint(K, (batch_size,), generator=g), torch.randint(K, (batch_size,), generator=g)
        if pairing == "self":
            b = a
        return latents[i, a], latents[j, b], latents[i, b]
    return batch


def transfer_loss(model: TimbreTransfer, batch: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, dict]:
    """Mean squared error between the predicted and the target latents."""
    content, style, target = batch
    loss = F.mse_loss(model(content, style), target)
    return loss, {"mse": float(loss.detach())}


@dataclass(frozen=True)
class TimbreTransferRecipe:
    """The converter's sizes and pairing, the codec it works on, the number of training
    melodies (each rendered in every timbre) and the optimisation."""
    model: TimbreTransferConfig = TimbreTransferConfig()
    codec: CodecRecipe = CODEC_PRESETS["cpu"]
    melodies: int = 400
    seed: int = 1                     # of the training melodies (the lesson's come from another stream)
    train: TrainSettings = TrainSettings(steps=600, batch_size=32, lr=2e-3, warmup=20, decay="cosine")

    def __post_init__(self):
        check_positive_int(self.melodies, "melodies")

    def key(self) -> str:
        return settings_key(self)


TIMBRE_TRANSFER_PRESETS = {
    "cpu": TimbreTransferRecipe(),
    "gpu": TimbreTransferRecipe(model=TimbreTransferConfig(hidden=256), codec=CODEC_PRESETS["gpu"], melodies=2000,
                                train=TrainSettings(steps=4000, batch_size=64, lr=1e-3, warmup=100, decay="cosine")),
}


@dataclass
class TrainedTimbreTransfer:
    """The trained converter (eval mode), the codec it works on (CPU), its run and recipe."""
    model: TimbreTransfer
    codec: Codec
    run: TrainingRun
    recipe: TimbreTransferRecipe = field(repr=False)


def train_timbre_transfer(recipe: TimbreTransferRecipe | None = None, device: torch.device | None = None,
                          progress: bool = True) -> TrainedTimbreTransfer:
    """Train (or load) the converter of `recipe` on its codec's latents of random melodies."""
    recipe = recipe or TIMBRE_TRANSFER_PRESETS["cpu"]
    codec = train_codec(recipe.codec, device=device, progress=progress).model.to("cpu")
    if codec.config.latent_dim != recipe.model.latent_dim:
        raise ValueError(f"the codec's latents have {codec.config.latent_dim} channels; "
                         f"the converter expects {recipe.model.latent_dim}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        model = TimbreTransfer(recipe.model)
    latents = melody_latents(codec, random_melodies(recipe.melodies, seed=recipe.seed))
    data = _pair_batches(latents, recipe.model.pairing, recipe.train.batch_size, recipe.train.seed)
    run = load_or_train("timbre_transfer", recipe, model, transfer_loss, data, device=device,
                        desc="timbre transfer", progress=progress)
    return TrainedTimbreTransfer(model.eval(), codec, run, recipe)


@torch.no_grad()
def score_transfers(convert, codec: Codec, judge, melodies: list[list[int]], note_seconds: float = 0.25) -> dict:
    """Every melody in every timbre a, moved to every other timbre b by
    `convert(content latents, style latents) -> latents` with the style taken from the
    *next* melody played in b (a clip that shares no notes' order with the content); and
    each melody played in b itself through the codec (what the judge can hear at best).
    Returns the shares: "style" (the judge names b), "content" (it still names a),
    "notes" (YIN hears each note within a semitone of the melody's), "ceiling" (it
    names b on the melodies really played in b), and "transfers" (their number)."""
    from course_lib.data.sound_judge import note_pitch

    seg = int(note_seconds * SAMPLE_RATE)
    rows = []
    for a in TIMBRES:
        for b in TIMBRES:
            if a == b:
                continue
            for i, melody in enumerate(melodies):
                content = codec.latents(make_melody(a, melody, note_seconds)[None])
                style = codec.latents(make_melody(b, melodies[(i + 1) % len(melodies)], note_seconds)[None])
                wave = codec.decode_latents(convert(content, style))[0]
                heard = CLASSES[int(judge.predict(wave[None]))]
                pitches = [note_pitch(wave[k * seg + 800:(k + 1) * seg - 800]) for k in range(len(melody))]
                notes_kept = sum(abs(p - q) <= 1 for p, q in zip(pitches, melody)) / len(melody)
                rows.append((heard == b, heard == a, notes_kept))
    real = [CLASSES[int(judge.predict(codec.decode_latents(codec.latents(make_melody(b, m, note_seconds)[None]))))] == b
            for b in TIMBRES for m in melodies]
    share = lambda k: sum(r[k] for r in rows) / len(rows)   # noqa: E731
    return {"style": share(0), "content": share(1), "notes": share(2), "ceiling": sum(real) / len(real),
            "transfers": len(rows)}
