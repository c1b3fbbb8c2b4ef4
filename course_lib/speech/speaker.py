"""Voices: more eSpeak speakers, and a speaker encoder that maps a clip to a voice vector.

A multi-speaker TTS model needs to be told *who* speaks. Two ways, both here:

- a **speaker table**: one vector per known voice (we store each voice's mean d-vector);
- a **speaker encoder** (a "d-vector" network, as in SV2TTS / Jia et al., 2018): a small
  network that maps any reference mel spectrogram to a unit vector such that clips of
  one voice land close together (cosine similarity near 1) and different voices apart.
  Conditioning the TTS model on that vector instead of a table row is what lets it
  speak in a voice it never saw in training ("cloning" from a reference clip).

    utts = voice_utterances("en-us+m3", "digits", n=150)      # cached, deterministic
    enc = train_speaker_encoder(SpeakerRecipe(voices=(...)))
    e = enc.model.embed(utt.mel)                               # (dim,) unit vector

The encoder is trained as a classifier over the training voices with a cosine
("normalised softmax") head: logits_c = s cos(e, w_c). Its embedding layer then measures
voices by angle, which is what we compare with `similarity`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.data import speech
from course_lib.runtime import artifacts_dir, settings_key, torch_threads

__all__ = ["EXTRA_VOICES", "UNSEEN_VOICES", "voice_utterances", "voice_language", "SpeakerEncoderConfig",
           "SpeakerEncoder", "similarity", "embed_batch", "SpeakerRecipe", "TrainedSpeakerEncoder",
           "train_speaker_encoder"]

VOICE_VERSION = 2
# eSpeak NG voice *variants* of American English (other pitch, formants, breathiness,
# speed), all with en-us phonemes. Cloning needs many training voices: with a handful,
# a TTS model only learns to pick the nearest one.
EXTRA_VOICES = ("en-us+m1", "en-us+m2", "en-us+m3", "en-us+m5", "en-us+m7", "en-us+f1",
                "en-us+f2", "en-us+f4", "en-us+Alex", "en-us+Andy", "en-us+Annie", "en-us+Denis",
                "en-us+Gene", "en-us+Jacky", "en-us+Lee", "en-us+Mike", "en-us+Storm",
                "en-us+Tweaky", "en-us+adam", "en-us+aunty", "en-us+belinda", "en-us+boris",
                "en-us+david", "en-us+edward", "en-us+grandpa", "en-us+linda", "en-us+max",
                "en-us+norbert", "en-us+quincy", "en-us+robert", "en-us+steph", "en-us+zac")
# Never used in training: the voices to clone from one reference clip.
UNSEEN_VOICES = ("en-us+f5", "en-us+m4", "en-us+m6", "en-us+Alicia", "en-us+shelby", "en-us+travis")


def voice_language(voice: str) -> str:
    """The phonemizer voice of a voice name: 'en-us+f4' -> 'en-us' (the variant dropped)."""
    if not isinstance(voice, str) or not voice:
        raise ValueError(f"voice must be a non-empty str like 'en-us+f3'; got {voice!r}")
    return voice.split("+")[0]


def voice_utterances(voice: str, domain: str = "digits", n: int | None = None,
                     progress: bool = False) -> list[speech.Utterance]:
    """Corpus-style utterances (`data.speech.Utterance`) of any eSpeak voice.

    For the corpus voices (`data.speech.VOICES`) this is day 09's cached shard; other
    voices (e.g. EXTRA_VOICES) are synthesised with `data.speech.make_utterance` from
    the first `n` sentences of the domain and cached under
    artifacts/speech/day11_voices_v{VOICE_VERSION}/. Splits are the corpus' (by text).
    """
    if voice in speech.VOICES:
        utts = speech.load_corpus((domain,), (voice,), progress=progress).utterances
        return utts if n is None else utts[:n]
    pairs = speech.sentences(domain, None)[:n] if n is not None else speech.sentences(domain)
    path = artifacts_dir("speech", f"day11_voices_v{VOICE_VERSION}") / f"{voice}_{domain}_{len(pairs)}.pt"
    if path.exists():
        records = torch.load(path, weights_only=False)
    else:
        with torch_threads(1):
            utts = [speech.make_utterance(w, voice, domain, t) for w, t in pairs]
        records = [{**{k: getattr(u, k) for k in speech.Utterance.__dataclass_fields__},
                    "mel": u.mel.to(torch.float16)} for u in utts]
        tmp = path.with_suffix(".tmp")
        torch.save(records, tmp)
        tmp.replace(path)
    return [speech.Utterance(**{**r, "mel": r["mel"].float()}) for r in records]


# ---------------------------------------------------------------- the encoder

@dataclass
class SpeakerEncoderConfig:
    """n_mels input bands; channels of the dilated convolutions; dim of the embedding."""
    n_mels: int = speech.N_MELS
    channels: int = 64
    dim: int = 64
    scale: float = 10.0          # s of the cosine classifier
    n_voices: int = 0            # rows of the classifier head (training only)

    def __post_init__(self):
        if not isinstance(self.n_voices, int) or self.n_voices < 0:
            raise ValueError(f"n_voices must be an int >= 0; got {self.n_voices!r}")
        for name in ("n_mels", "channels", "dim"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int; got {getattr(self, name)!r}")


class SpeakerEncoder(nn.Module):
    """Reference log-mel (B, n_mels, T) -> unit d-vector (B, dim).

    Three dilated 1-D convolutions (receptive field 25 frames = 0.3 s) see the local
    timbre; statistics pooling (mean and standard deviation over the real frames) makes
    the result independent of what is said and of the clip's length; a linear layer
    and L2 normalisation give the d-vector.
    """

    def __init__(self, cfg: SpeakerEncoderConfig):
        super().__init__()
        self.cfg = cfg
        C = cfg.channels
        self.convs = nn.ModuleList([nn.Conv1d(cfg.n_mels, C, 5, padding=2),
                                    nn.Conv1d(C, C, 5, padding=4, dilation=2),
                                    nn.Conv1d(C, C, 5, padding=8, dilation=4)])
        self.proj = nn.Linear(2 * C, cfg.dim)
        self.classes = nn.Parameter(torch.randn(cfg.n_voices, cfg.dim) * 0.1)   # w_c
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels, 1))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels, 1))

    def forward(self, mels: Tensor, lengths: Tensor | None = None) -> Tensor:
        if mels.ndim != 3 or mels.shape[1] != self.cfg.n_mels:
            raise ValueError(f"mels must be (B, {self.cfg.n_mels}, T); got {tuple(mels.shape)}")
        B, _, T = mels.shape
        lengths = torch.full((B,), T, device=mels.device) if lengths is None else lengths
        mask = (torch.arange(T, device=mels.device) < lengths[:, None])[:, None].float()  # (B, 1, T)
        h = (mels - self.mel_mean) / self.mel_std                        # (B, n_mels, T)
        for conv in self.convs:
            h = F.relu(conv(h * mask))                                   # (B, C, T)
        n = mask.sum(-1).clamp_min(1)                                    # (B, 1)
        mean = (h * mask).sum(-1) / n                                    # (B, C)
        std = (((h - mean[..., None]) ** 2 * mask).sum(-1) / n + 1e-5).sqrt()
        return F.normalize(self.proj(torch.cat([mean, std], -1)), dim=-1)  # (B, dim)

    @torch.no_grad()
    def embed(self, mel: Tensor) -> Tensor:
        """d-vector (dim,) of one log-mel (n_mels, T) (eval mode, on the model's device)."""
        if not isinstance(mel, Tensor) or mel.ndim != 2:
            raise ValueError(f"mel must be a (n_mels, frames) tensor; got {getattr(mel, 'shape', mel)}")
        was = self.training
        self.eval()
        e = self(mel[None].to(self.mel_mean.device).float())[0]
        self.train(was)
        return e


@torch.no_grad()
def embed_batch(model: SpeakerEncoder, mels: Sequence[Tensor], batch_size: int = 64) -> list[Tensor]:
    """d-vectors (dim,) on the CPU of many log-mels (n_mels, M_i), padded into batches."""
    was = model.training
    model.eval()
    device, out = model.mel_mean.device, []
    for i in range(0, len(mels), batch_size):
        chunk = mels[i:i + batch_size]
        lengths = torch.tensor([m.shape[1] for m in chunk])
        padded = torch.stack([F.pad(m, (0, int(lengths.max()) - m.shape[1])) for m in chunk])
        out.extend(model(padded.to(device), lengths.to(device)).cpu())
    model.train(was)
    return out


def similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of d-vectors along the last axis: (..., dim) x (..., dim) -> (...)."""
    return F.cosine_similarity(a, b, dim=-1)


# ---------------------------------------------------------------- training

@dataclass
class SpeakerRecipe:
    """What `train_speaker_encoder` trains: voices, clips per voice, optimisation."""
    voices: tuple[str, ...] = (*speech.VOICES, *EXTRA_VOICES[:24])
    domain: str = "digits"
    n_per_voice: int = 40            # sentences per extra voice (corpus voices: all)
    steps: int = 120
    batch_size: int = 32
    crop: int = 48                   # frames per training clip (0.6 s)
    lr: float = 3e-3
    seed: int = 0
    config: dict = field(default_factory=dict)

    def key(self) -> str:
        return settings_key(self)


@dataclass
class TrainedSpeakerEncoder:
    """model (eval), the voices it was trained on, loss history, and the speaker table:
    voice -> mean d-vector of its training clips (unit norm)."""
    model: SpeakerEncoder
    voices: tuple[str, ...]
    history: list[float]
    table: dict[str, Tensor]
    recipe: SpeakerRecipe


def _crop(mel: Tensor, crop: int, rng: random.Random) -> Tensor:
    T = mel.shape[1]
    if T <= crop:
        return F.pad(mel, (0, crop - T), value=float(mel.min()))
    start = rng.randrange(T - crop + 1)
    return mel[:, start:start + crop]


def train_speaker_encoder(recipe: SpeakerRecipe | None = None, checkpoint: str | None = "speaker_encoder",
                          device: torch.device | None = None, progress: bool = True) -> TrainedSpeakerEncoder:
    """Train the speaker encoder as a cosine classifier over `recipe.voices`, or load it.

    Batch: `batch_size` random crops of `crop` frames from random training utterances
    (seeded by the step). Loss: cross-entropy of s * cos(e, w_c) over the voices.
    Checkpoint: artifacts/checkpoints/{checkpoint}_{recipe.key()}.pt.
    """
    from course_lib.runtime import get_device
    from course_lib.train import fit

    recipe = recipe or SpeakerRecipe()
    if len(recipe.voices) < 2:
        raise ValueError(f"recipe.voices must name at least 2 voices; got {recipe.voices}")
    device = device or get_device()
    data = {v: [u for u in voice_utterances(v, recipe.domain, recipe.n_per_voice)
                if u.split == "train"] for v in recipe.voices}
    items = [(u.mel, i) for i, v in enumerate(recipe.voices) for u in data[v]]
    torch.manual_seed(recipe.seed)
    model = SpeakerEncoder(SpeakerEncoderConfig(**recipe.config, n_voices=len(recipe.voices)))
    frames = torch.cat([m for m, _ in items], 1)
    model.mel_mean.copy_(frames.mean(1, keepdim=True))
    model.mel_std.copy_(frames.std(1, keepdim=True).clamp_min(1e-3))

    def batch_of(step: int):
        rng = random.Random(recipe.seed * 1_000_003 + step)
        chosen = [items[rng.randrange(len(items))] for _ in range(recipe.batch_size)]
        mels = torch.stack([_crop(m, recipe.crop, rng) for m, _ in chosen])
        return mels, torch.tensor([c for _, c in chosen])

    def loss_fn(model: SpeakerEncoder, batch) -> Tensor:
        mels, labels = batch
        e = model(mels)                                                    # (B, dim)
        logits = model.cfg.scale * e @ F.normalize(model.classes, dim=-1).T   # (B, voices)
        return F.cross_entropy(logits, labels)

    name = None if checkpoint is None else f"{checkpoint}_{recipe.key()}"
    with torch_threads(1) if device.type == "cpu" else nullcontext():
        history = fit(model, loss_fn, batch_of, steps=recipe.steps, lr=recipe.lr, device=device,
                      checkpoint=name, checkpoint_every=10**9, desc="speaker encoder",
                      progress=progress)
        model.eval()
        table = {v: F.normalize(torch.stack(embed_batch(model, [u.mel for u in data[v][:40]])).mean(0), dim=0)
                 for v in recipe.voices}
    return TrainedSpeakerEncoder(model, tuple(recipe.voices), history, table, recipe)


