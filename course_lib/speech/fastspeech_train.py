"""FastSpeech 2 trained on 27 eSpeak voices, and the one-call TTS built on it.
(`CLONING_PRESETS`: day 11's cloning model on 75 voices, see `cloning.py`.)

    tts = train_fastspeech(preset(PRESETS, DEVICE))     # trains once (speaker encoder first); later loads
    wave = tts.synthesize("four two seven", voice="en-us+f3", speed=1.2, pitch=2.0)
    tts.clone("my voice", reference_wave)               # a new voice from one clip
    tts.run.history, tts.speaker.run.history

The checkpoint is artifacts/checkpoints/fastspeech_<recipe key>.pt; the recipe holds the
speaker encoder's recipe, which `train_fastspeech` trains (or loads) first. Training
targets per utterance (token durations from eSpeak's events, YIN pitch) are cached under
artifacts/speech/tts_features_v{FEATURE_VERSION}/.

The default recipe (the day 11 lesson's CPU settings) trains on the "digits" domain, so
its phoneme table knows the digit words only: other text raises a ValueError naming
the unknown phonemes. Voices: `data.speech.TTS_VOICES` (the corpus' 3 + 24 eSpeak
variants) and any added with `clone`. The model and its loss are in `fastspeech.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.audio.prosody import frame_energy, frame_pitch, token_average
from course_lib.data import speech
from course_lib.runtime import artifacts_dir, cpu_threads, get_device, settings_key, step_random, torch_threads
from course_lib.speech.fastspeech import FastSpeech, FastSpeechConfig, fastspeech_training_loss, token_durations
from course_lib.speech.speaker import embed_batch
from course_lib.speech.speaker_train import SpeakerRecipe, TrainedSpeakerEncoder, train_speaker_encoder
from course_lib.speech.text import SymbolTable, phoneme_tokens
from course_lib.speech.vocoder import NeuralVocoder, griffin_lim_vocoder, vocode
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["FEATURE_VERSION", "prepare_items", "feature_stats", "collate_items", "FastSpeechRecipe",
           "PRESETS", "CLONING_PRESETS", "TrainedFastSpeech", "new_fastspeech", "train_fastspeech"]

FEATURE_VERSION = 2


# ---------------------------------------------------------------- training items

def _features(utterances: Sequence[speech.Utterance], cache_name: str | None) -> list[dict]:
    """Per utterance: token durations, frame F0 and voicing (from eSpeak's wave), cached
    under `cache_name` (None: not cached)."""
    path = artifacts_dir("speech", f"tts_features_v{FEATURE_VERSION}") / f"{cache_name}.pt" if cache_name else None
    if path is not None and path.exists():
        return torch.load(path, weights_only=False)
    out = []
    with torch_threads(1):
        for u in utterances:
            f0, voiced = frame_pitch(u.wave())
            if len(f0) != u.n_frames:
                raise RuntimeError(f"{u.id}: {len(f0)} pitch frames for {u.n_frames} mel frames")
            out.append({"id": u.id, "durations": token_durations(u.phonemes, u.events, u.durations),
                        "f0": f0, "voiced": voiced})
    if path is None:
        return out
    tmp = path.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


def prepare_items(utterances: Sequence[speech.Utterance], table: SymbolTable,
                  speaker_vectors: Sequence[Tensor], stats: dict, cache_name: str | None) -> list[dict]:
    """Training items: tokens (N+1,) with EOS, durations, normalised pitch and energy per
    token (N+1,), mel (n_mels, M), speaker d-vector. stats: log-F0 and energy mean/std;
    cache_name: where the targets are cached (None: computed, not cached)."""
    feats = _features(utterances, cache_name)
    items = []
    for u, f, s in zip(utterances, feats, speaker_vectors):
        logf0 = torch.where(f["voiced"], f["f0"].clamp_min(1).log(), torch.zeros_like(f["f0"]))
        pitch = token_average((logf0 - stats["pitch_mean"]) / stats["pitch_std"], f["durations"], f["voiced"])
        energy = token_average((frame_energy(u.mel) - stats["energy_mean"]) / stats["energy_std"],
                               f["durations"])
        items.append({"tokens": torch.tensor(table.encode(u.phonemes)), "durations": torch.tensor(f["durations"]),
                      "pitch": pitch, "energy": energy, "mel": u.mel, "speaker": s, "voice": u.voice})
    return items


def feature_stats(utterances: Sequence[speech.Utterance], cache_name: str) -> dict:
    """Mean and std of log-F0 (voiced frames) and of frame energy over `utterances`."""
    feats = _features(utterances, cache_name)
    logf0 = torch.cat([f["f0"][f["voiced"]].log() for f in feats])
    energy = torch.cat([frame_energy(u.mel) for u in utterances])
    return {"pitch_mean": float(logf0.mean()), "pitch_std": float(logf0.std()),
            "energy_mean": float(energy.mean()), "energy_std": float(energy.std())}


def collate_items(items: Sequence[dict]) -> dict[str, Tensor]:
    """A padded batch: tokens, durations, pitch, energy, token_mask (B, N); mels (B, n_mels, T),
    mel_lengths, mel_mask; speakers (B, speaker_dim)."""
    batch = speech.collate([(it["tokens"], it["mel"]) for it in items])
    N = batch["tokens"].shape[1]
    pad = lambda key, dtype: torch.stack([F.pad(it[key].to(dtype), (0, N - len(it[key]))) for it in items])  # noqa: E731
    batch.update(durations=pad("durations", torch.long), pitch=pad("pitch", torch.float32),
                 energy=pad("energy", torch.float32), speakers=torch.stack([it["speaker"] for it in items]))
    return batch


# ---------------------------------------------------------------- the recipe

@dataclass(frozen=True)
class FastSpeechRecipe:
    """Everything that decides the trained FastSpeech 2: sizes (`model.vocab_size` is
    filled from the phoneme table; `model.speaker_dim` must be the speaker encoder's
    `dim`), optimisation, the speaker encoder (trained first), and the data: each voice's
    training utterances of the domains (the corpus' for its voices, the first
    `n_per_voice` sentences for the others), at most `max_per_voice` per voice and domain.

    condition: which d-vector an utterance is trained with: "own" (its own clip's) or
    "other" (a training clip of the same voice drawn at random each step: another clip
    but for 1 time in the voice's number of clips). "other" is what cloning sees, one
    clip's d-vector standing for the whole voice, and it keeps the model from reading the
    sentence out of the d-vector (SV2TTS, Jia et al. 2018)."""
    model: FastSpeechConfig = FastSpeechConfig()
    train: TrainSettings = TrainSettings(steps=250, batch_size=16, lr=2e-3)
    speaker: SpeakerRecipe = SpeakerRecipe()
    domains: tuple[str, ...] = ("digits",)
    voices: tuple[str, ...] = speech.TTS_VOICES
    n_per_voice: int = 40
    max_per_voice: int = 100
    condition: str = "own"

    def __post_init__(self):
        if self.condition not in ("own", "other"):
            raise ValueError(f"condition must be 'own' or 'other'; got {self.condition!r}")
        if self.model.speaker_dim != self.speaker.model.dim:
            raise ValueError(f"model.speaker_dim ({self.model.speaker_dim}) must be the speaker encoder's "
                             f"d-vector width speaker.model.dim ({self.speaker.model.dim})")
        unknown = [v for v in self.voices if v not in self.speaker.voices]
        if unknown:
            raise ValueError(f"voices {unknown} are not among the speaker encoder's voices (speaker.voices): "
                             "the speaker table has no d-vector for them")

    def key(self) -> str:
        """8 hex digits naming every field, the speaker encoder's included."""
        return settings_key(self)


PRESETS = {
    # 0.35 M parameters, 250 steps of 16 utterances: about 25 s on one CPU thread.
    "cpu": FastSpeechRecipe(),
    # the same model, longer on bigger batches
    "gpu": FastSpeechRecipe(train=TrainSettings(steps=1500, batch_size=32, lr=2e-3)),
}

_CLONING_SPEAKER = SpeakerRecipe(voices=speech.CLONING_VOICES, train=TrainSettings(steps=600, batch_size=32, lr=3e-3))
# Day 11's cloning model: 75 voices, decoder FiLM, trained on other clips' d-vectors,
# 1,000 steps (about 95 s on one CPU thread, after the 40 new voices are synthesised once).
CLONING_PRESETS = {
    "cpu": FastSpeechRecipe(model=FastSpeechConfig(speaker_film=True), train=TrainSettings(steps=1000, batch_size=16, lr=2e-3),
                            speaker=_CLONING_SPEAKER, voices=speech.CLONING_VOICES, condition="other"),
    "gpu": FastSpeechRecipe(model=FastSpeechConfig(speaker_film=True), train=TrainSettings(steps=3000, batch_size=32, lr=2e-3),
                            speaker=_CLONING_SPEAKER, voices=speech.CLONING_VOICES, condition="other"),
}


# ---------------------------------------------------------------- the trained TTS

@dataclass
class TrainedFastSpeech:
    """A trained FastSpeech 2 with everything needed to speak.

    model (eval), run, recipe; table (phonemes); speaker (the `TrainedSpeakerEncoder`);
    voices: name -> (d-vector (speaker_dim,), phonemizer language); stats (pitch and
    energy normalisation); neural_vocoder: the `vocoder.NeuralVocoder` `vocode` uses
    (None: `vocoder_train.train_vocoder()` is loaded, or trained, on first use).
    `synthesize` is the one-call TTS.
    """
    model: FastSpeech
    run: TrainingRun
    recipe: FastSpeechRecipe = field(repr=False)
    table: SymbolTable = field(repr=False)
    speaker: TrainedSpeakerEncoder = field(repr=False)
    voices: dict[str, tuple[Tensor, str]] = field(repr=False)
    stats: dict = field(repr=False)
    neural_vocoder: NeuralVocoder | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return self.model.mel_norm.mean.device

    def tokens(self, text: str, voice: str = "en-us") -> Tensor:
        """Phoneme ids (1, N+1) of `text` (normalised, phonemized in the voice's language)."""
        if voice not in self.voices:
            raise ValueError(f"unknown voice {voice!r}; known: {sorted(self.voices)} (clone() adds one)")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty str; got {text!r}")
        return torch.tensor([self.table.encode(phoneme_tokens(text, self.voices[voice][1]))])

    def semitones_to_shift(self, semitones: float) -> float:
        """A pitch change in semitones -> shift of the normalised log-F0: s ln2 / 12 / std."""
        return float(semitones) * math.log(2) / 12 / self.stats["pitch_std"]

    def mel(self, text: str, voice: str = "en-us", speed: float = 1.0, pitch: float = 0.0) -> Tensor:
        """Log-mel (n_mels, T) of `text`; speed > 1 is faster; pitch in semitones."""
        tokens = self.tokens(text, voice).to(self.device)
        speaker = self.voices[voice][0][None].to(self.device)
        mel, lengths, _ = self.model.infer(tokens, speaker, speed=speed,
                                           pitch_shift=self.semitones_to_shift(pitch))
        return mel[0, :, :int(lengths[0])].cpu()

    @torch.no_grad()
    def predicted_f0(self, text: str, voice: str = "en-us", pitch: float = 0.0) -> Tensor:
        """The F0 in Hz (N + 1,) the decoder is given for each token: exp(mean + std * p_i)
        of the predicted normalised log-F0 p_i, shifted by `pitch` semitones."""
        self.model.eval()
        tokens = self.tokens(text, voice).to(self.device)
        h, mask = self.model.encode(tokens, self.voices[voice][0][None].to(self.device))
        p = self.model.pitch_predictor(h, mask)[0] + self.semitones_to_shift(pitch)
        return torch.exp(self.stats["pitch_mean"] + self.stats["pitch_std"] * p).cpu()

    def vocode(self, mel: Tensor, vocoder: str = "neural") -> Tensor:
        """Wave (T,) at 16 kHz from a log-mel: "neural" (`neural_vocoder`, by default
        `vocoder_train.train_vocoder()` loaded or trained once) or "griffin_lim"."""
        if vocoder == "griffin_lim":
            return griffin_lim_vocoder(mel)
        if vocoder != "neural":
            raise ValueError(f"vocoder must be 'neural' or 'griffin_lim'; got {vocoder!r}")
        return vocode(self.vocoder_model(), mel)

    def vocoder_model(self):
        """The neural vocoder: `neural_vocoder`, by default `vocoder_train.train_vocoder()`
        loaded (or trained) once."""
        if self.neural_vocoder is None:
            from course_lib.speech.vocoder_train import train_vocoder
            self.neural_vocoder = train_vocoder(progress=False).model
        return self.neural_vocoder

    def synthesize(self, text: str, voice: str = "en-us", speed: float = 1.0, pitch: float = 0.0,
                   vocoder: str = "neural") -> Tensor:
        """Speech for `text`: (T,) float32 wave at 16 kHz (speech.SAMPLE_RATE) on the CPU.

        voice: a name of `voices` (training voices and clones); speed: 1.0 normal, 2.0
        twice as fast; pitch: semitones up (+) or down (-).
        """
        mel = self.mel(text, voice, speed, pitch)
        if mel.shape[1] < 2:
            raise ValueError(f"the model produced {mel.shape[1]} frames for {text!r}")
        return self.vocode(mel, vocoder)

    def clone(self, name: str, reference, language: str = "en-us", adapt_steps: int = 0,
              adapt_lr: float = 0.03) -> Tensor:
        """Add voice `name` from a reference clip: a wave (T,) at 16 kHz, a log-mel
        (n_mels, M), or a `data.speech.Utterance`. Its d-vector conditions the model like a
        trained voice. adapt_steps > 0 (needs an Utterance: its text and alignment) then
        refines the vector by speaker adaptation (`cloning.adapt_speaker`). Returns the
        voice's conditioning vector (speaker_dim,)."""
        utterance = reference if isinstance(reference, speech.Utterance) else None
        if utterance is not None:
            reference = utterance.mel
        if not isinstance(reference, Tensor) or reference.ndim not in (1, 2):
            raise ValueError("reference must be a (T,) wave at 16 kHz, a (n_mels, frames) log-mel or a "
                             "data.speech.Utterance")
        if adapt_steps and utterance is None:
            raise ValueError("adapt_steps > 0 needs reference as a data.speech.Utterance (its text and "
                             "alignment); a wave or mel can only be cloned with adapt_steps=0")
        mel = speech.log_mel(reference.float()) if reference.ndim == 1 else reference
        vector = self.speaker.model.embed(mel).cpu()
        if adapt_steps:
            from course_lib.speech.cloning import adapt_speaker
            vector = adapt_speaker(self, utterance, vector, adapt_steps, adapt_lr)
        self.voices[name] = (vector, language)
        return vector


def new_fastspeech(recipe: FastSpeechRecipe, vocab_size: int) -> FastSpeech:
    """The untrained FastSpeech 2 of `recipe` for a phoneme table of `vocab_size` ids,
    initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return FastSpeech(replace(recipe.model, vocab_size=vocab_size))


def train_fastspeech(recipe: FastSpeechRecipe | None = None, device: torch.device | None = None,
                     progress: bool = True) -> TrainedFastSpeech:
    """Train FastSpeech 2 of `recipe` (and first its speaker encoder), or load them.

    1. the speaker encoder: `speaker_train.train_speaker_encoder(recipe.speaker)`;
    2. data: each voice's training utterances of the domains (`data.speech.voice_utterances`),
       token durations from eSpeak's events, pitch (YIN) and energy per token
       (`prepare_items`), the d-vector of every utterance;
    3. batch `step`: `batch_size` utterances, each of a voice drawn uniformly
       (`runtime.step_random`), so every voice counts the same however many utterances it
       has; loss `fastspeech.fastspeech_training_loss`; one CPU thread.
    """
    recipe = recipe or PRESETS["cpu"]
    device = device or get_device()
    encoder = train_speaker_encoder(recipe.speaker, device=device, progress=progress)
    per_voice = {(v, d): [u for u in speech.voice_utterances(v, d, None if v in speech.VOICES else recipe.n_per_voice)
                          if u.split == "train"][:recipe.max_per_voice]
                 for v in recipe.voices for d in recipe.domains}
    train = [u for us in per_voice.values() for u in us]
    table = SymbolTable.from_tokens(t for u in train for t in u.phonemes)
    names = {k: f"{k[0]}_{k[1]}_{len(us)}" for k, us in per_voice.items()}
    stats_parts = [feature_stats(us, names[k]) for k, us in per_voice.items()]
    stats = {k: float(np.mean([s[k] for s in stats_parts])) for k in stats_parts[0]}
    with cpu_threads(device, 1):
        encoder.model.to(device)
        items = [it for k, us in per_voice.items() for it in prepare_items(
            us, table, embed_batch(encoder.model, [u.mel for u in us]), stats, names[k])]
        model = new_fastspeech(recipe, len(table))
        model.mel_norm.fit([u.mel for u in train])
    by_voice = [[it for it in items if it["voice"] == v] for v in recipe.voices]

    def data(step: int) -> dict[str, Tensor]:
        rng = step_random(recipe.train.seed, step)
        chosen = []
        for _ in range(recipe.train.batch_size):
            pool = rng.choice(by_voice)
            item = rng.choice(pool)
            if recipe.condition == "other":                 # another clip's d-vector of the voice
                item = {**item, "speaker": rng.choice(pool)["speaker"]}
            chosen.append(item)
        return collate_items(chosen)

    run = load_or_train("fastspeech", recipe, model, fastspeech_training_loss, data, device=device,
                        threads=1, desc="fastspeech", progress=progress)
    voices = {v: (encoder.table[v], speech.voice_language(v)) for v in recipe.voices}
    return TrainedFastSpeech(model, run, recipe, table, encoder, voices, stats)
