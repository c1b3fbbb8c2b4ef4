"""The judges of generated sounds (day 15): which sound is this, and which note?

- `SoundJudge`: a small CNN on the log-mel spectrogram of a one-second 16 kHz clip that
  names its class (`sound_clips.CLASSES`: four synthesiser timbres, three drums, three
  effects, speech). It ends in a max-pool over time, so a sound is recognised wherever it
  starts. It is trained on *real* training clips only and its accuracy is measured on
  held-out test clips, reported beside every number it produces. It judges *decoded*
  audio, so it must not care about what a codec changes without changing the sound's
  class: trained on clean clips alone it named only 74 % of the test clips right after
  Opus at 24 kbps (beeps and chirps called hats). Each training clip is therefore
  degraded at random (`degrade`: a gain of ±6 dB, a low-pass at 3-8 kHz half the time,
  a noise floor 30-60 dB under the peak), and the accuracy is also reported on clips
  through Opus (`tests/test_sound_judge.py`).
- `hit_onsets` and `clip_tempo`: every hit of a clip (a 6 dB rise in 10 ms energy) and
  the tempo of repeated hits, 60 / the median gap (no learning; on the real test clips it
  reads every repeated drum's tempo within 10 %).
- `note_pitch`: the pitch of a note in (fractional) MIDI numbers, the median of YIN's
  voiced frames (`audio.prosody.frame_pitch`, no learning); the tests check it against
  librosa's pYIN.

    judge, accuracy = load_sound_judge()
    judge.predict(waves (N, 16000)) -> (N,) class indices
    note_pitch(wave (16000,)) -> 60.02 (MIDI; nan when nothing is voiced)

A measuring instrument has ONE recipe (`SOUND_JUDGE_RECIPE`), trained on the CPU whatever
the lesson runs on, cached in artifacts/checkpoints/sound_judge_<recipe key>.pt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.audio import dsp
from course_lib.data.sound_clips import CLASSES, SAMPLE_RATE, load_sound_clips
from course_lib.data.sound_clips import VERSION as CLIPS_VERSION
from course_lib.runtime import settings_key, step_generator
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

__all__ = ["SoundJudge", "SoundJudgeRecipe", "SOUND_JUDGE_RECIPE", "TrainedSoundJudge", "TEST_CLIPS",
           "log_mel_of", "degrade", "train_sound_judge", "load_sound_judge", "note_pitch", "sound_onsets",
           "hit_onsets", "clip_tempo"]

TEST_CLIPS = 440           # held-out clips (40 per class) the accuracy is measured on
N_MELS, N_FFT, HOP = 64, 1024, 256


def log_mel_of(waves: Tensor) -> Tensor:
    """(N, T) 16 kHz waves -> (N, 64, frames) log10 magnitude mels (floored at 1e-4)."""
    if not isinstance(waves, Tensor) or waves.ndim != 2:
        raise ValueError(f"waves must be (N, T); got {getattr(waves, 'shape', type(waves).__name__)}")
    mel = dsp.mel_spectrogram(waves.float().cpu(), SAMPLE_RATE, N_FFT, HOP, N_MELS, power=1.0)
    return mel.clamp_min(1e-4).log10()


class SoundJudge(nn.Module):
    """waves (N, T) -> logits (N, len(CLASSES)).

    log-mel (N, 1, 64, M) -> [conv3x3 -> ReLU -> maxpool 2] x 3 (16, 32, 64 channels)
    -> max over time, mean over frequency -> Linear(64, classes)."""

    def __init__(self):
        super().__init__()
        block = lambda i, o: [nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]  # noqa: E731
        self.conv = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64))
        self.head = nn.Linear(64, len(CLASSES))

    def forward(self, waves: Tensor) -> Tensor:
        h = self.conv(log_mel_of(waves)[:, None] + 2.0)                  # (N, 64, 8, M / 8)
        return self.head(h.amax(dim=-1).mean(dim=-1))

    @torch.no_grad()
    def predict(self, waves: Tensor, batch: int = 256) -> Tensor:
        """(N, T) -> (N,) predicted class indices (computed on the CPU)."""
        self.eval()
        return torch.cat([self(waves[i:i + batch]).argmax(-1) for i in range(0, len(waves), batch)])


@dataclass(frozen=True)
class SoundJudgeRecipe:
    """The real training clips (`clips` of the training split, degraded at random) and the
    optimisation."""
    clips: int = 1100
    degraded: bool = True
    clips_version: int = CLIPS_VERSION      # retrain when the clips change
    train: TrainSettings = TrainSettings(steps=600, batch_size=32, lr=3e-3, warmup=30, decay="cosine")

    def key(self) -> str:
        return settings_key(self)


SOUND_JUDGE_RECIPE = SoundJudgeRecipe()


@dataclass
class TrainedSoundJudge:
    """The judge (CPU, eval mode), its accuracy on `TEST_CLIPS` held-out clips, run, recipe."""
    model: SoundJudge
    accuracy: float
    run: TrainingRun
    recipe: SoundJudgeRecipe = field(repr=False)


def degrade(waves: Tensor, generator: torch.Generator) -> Tensor:
    """waves (N, T) with what a codec may do to them, drawn per clip from `generator`:
    a gain of 10^(g/20), g ~ U(-6, 6) dB; half the time a brick-wall low-pass at U(3, 8) kHz;
    white noise with a standard deviation 10^(-U(30, 60)/20) times the clip's peak."""
    n, t = waves.shape
    gain = 10 ** ((torch.rand(n, 1, generator=generator) * 12 - 6) / 20)
    spectrum = torch.fft.rfft(waves * gain)
    freqs = torch.fft.rfftfreq(t, 1 / SAMPLE_RATE)                        # (T / 2 + 1,)
    cutoff = 3000 + 5000 * torch.rand(n, 1, generator=generator)
    keep = (freqs[None] <= cutoff) | (torch.rand(n, 1, generator=generator) < 0.5)
    out = torch.fft.irfft(spectrum * keep, n=t)
    floor = 10 ** (-(30 + 30 * torch.rand(n, 1, generator=generator)) / 20) * out.abs().amax(1, keepdim=True)
    return out + floor * torch.randn(n, t, generator=generator)


def train_sound_judge(recipe: SoundJudgeRecipe | None = None, progress: bool = True) -> TrainedSoundJudge:
    """Train the judge of `recipe` on the CPU (or load it) and measure its accuracy on
    `TEST_CLIPS` held-out clips. Loss: cross-entropy. The caller's random state is kept."""
    recipe = recipe or SOUND_JUDGE_RECIPE
    clips = load_sound_clips("train", n=recipe.clips)
    batches = random_batches(clips.waves, clips.labels, batch_size=recipe.train.batch_size, seed=recipe.train.seed)

    def data(step: int) -> tuple[Tensor, Tensor]:
        waves, labels = batches(step)
        if recipe.degraded:
            waves = degrade(waves, step_generator(recipe.train.seed, step, stream=1))
        return waves, labels

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.train.seed)
        judge = SoundJudge()
        run = load_or_train("sound_judge", recipe, judge, lambda m, b: F.cross_entropy(m(b[0]), b[1]), data,
                            device=torch.device("cpu"), desc="training the sound judge", progress=progress)
    judge.eval()
    test = load_sound_clips("test", n=TEST_CLIPS)
    accuracy = (judge.predict(test.waves) == test.labels).float().mean().item()
    return TrainedSoundJudge(judge, accuracy, run, recipe)


def load_sound_judge(progress: bool = False) -> tuple[SoundJudge, float]:
    """The trained sound judge (CPU, eval mode) and its held-out accuracy; trained the
    first time (seconds) and cached."""
    trained = train_sound_judge(progress=progress)
    return trained.model, trained.accuracy


def note_pitch(wave: Tensor, fmin: float = 100.0, fmax: float = 600.0) -> float:
    """The pitch of a note (T,) at 16 kHz in MIDI numbers, 69 + 12 log2(f0 / 440), f0 the
    median of YIN's voiced frames; nan when no frame is voiced."""
    from course_lib.audio.prosody import frame_pitch

    if not isinstance(wave, Tensor) or wave.ndim != 1:
        raise ValueError(f"wave must be (T,); got {getattr(wave, 'shape', type(wave).__name__)}")
    f0, voiced = frame_pitch(wave.float().cpu(), fmin=fmin, fmax=fmax)
    if not voiced.any():
        return math.nan
    return 69 + 12 * math.log2(f0[voiced].median().item() / 440.0)



def sound_onsets(clips: Tensor, hop: int = 160, sample_rate: int = 16_000) -> Tensor:
    """The onset of each clip (N, T) in seconds: the start of its first `hop`-sample frame
    (10 ms) whose energy reaches a tenth (−10 dB) of the clip's loudest frame (N,)."""
    if not isinstance(clips, Tensor) or clips.ndim != 2 or clips.shape[1] < hop:
        raise ValueError(f"clips must be a tensor (N, T) with T >= {hop}; got {getattr(clips, 'shape', type(clips))}")
    energy = clips[:, :clips.shape[1] // hop * hop].reshape(len(clips), -1, hop).pow(2).mean(-1)
    first = (energy >= 0.1 * energy.amax(1, keepdim=True)).float().argmax(1)
    return first * hop / sample_rate


def hit_onsets(wave: Tensor, hop: int = 160, sample_rate: int = 16_000, rise_db: float = 6.0, span: int = 3,
               floor_db: float = -15.0, min_gap: float = 0.1) -> list[float]:
    """Every hit in a clip (T,), in seconds: the 10 ms frames whose energy is at least
    `rise_db` above the quietest of the `span` frames before (a codec's long windows
    spread an attack over a few frames) and within `floor_db` of the loudest frame; hits
    closer than `min_gap` s to the previous one are the same hit."""
    if not isinstance(wave, Tensor) or wave.ndim != 1 or len(wave) < (span + 1) * hop:
        raise ValueError(f"wave must be a tensor (T,) with T >= {(span + 1) * hop}; "
                         f"got {getattr(wave, 'shape', type(wave))}")
    energy = wave[:len(wave) // hop * hop].reshape(-1, hop).double().pow(2).mean(-1) + 1e-12
    level = 10 * torch.log10(energy)
    before = torch.stack([level[span - k:len(level) - k] for k in range(1, span + 1)]).amin(0)   # frames span..
    rising = (level[span:] - before >= rise_db) & (level[span:] >= level.max() + floor_db)
    hits: list[float] = []
    for frame in (torch.nonzero(rising).flatten() + span).tolist():
        t = frame * hop / sample_rate
        if not hits or t - hits[-1] >= min_gap:
            hits.append(t)
    loud_start = torch.nonzero(level[:span] >= level.max() + floor_db).flatten()
    if len(loud_start) and (not hits or hits[0] - loud_start[0].item() * hop / sample_rate >= min_gap):
        hits.insert(0, loud_start[0].item() * hop / sample_rate)      # a clip that starts with its sound
    return hits


def clip_tempo(wave: Tensor) -> float:
    """Beats per minute of the hits in a clip (T,): 60 / the median gap between
    `hit_onsets`; 0 when there are fewer than two hits."""
    hits = hit_onsets(wave)
    if len(hits) < 2:
        return 0.0
    return 60.0 / float(torch.tensor(hits).diff().median())
