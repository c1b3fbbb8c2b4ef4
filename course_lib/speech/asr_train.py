"""Day 12's recognisers trained on multilingual eSpeak clips: recipes, size presets,
load-or-train, and the product API (`transcribe`, `detect_language`).

    recipe = preset(PRESETS, DEVICE)          # the Whisper-style model (joint CTC-attention)
    trained = train_asr(recipe)               # trains once; later calls load
    trained.transcribe(waves, language="de", task="translate")
    tuned = finetune_asr(preset(FINETUNE_PRESETS, DEVICE))   # the same model, then a new voice
    ctc = train_ctc(preset(CTC_PRESETS, DEVICE))             # the CTC baseline

Checkpoints: artifacts/checkpoints/asr_<key>.pt, asr_finetune_<key>.pt, asr_ctc_<key>.pt.
A recipe's `data` is a tuple of clip sets (language, eSpeak voice, kind, n, tasks), as
`data.multilingual.load_clips` makes them; translation targets are English. With
`concat` > 1, half the training pool is clips of one set joined 2..concat at a time
(`long_examples`), so the model hears more words at once than any clip holds. The models,
loss and decoders are in `asr.py` and `ctc.py`; the tokenizer in `asr_tokenizer.py`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import Tensor

from course_lib.checks import check_choice, check_positive_int
from course_lib.runtime import get_device, settings_key, step_random
from course_lib.speech.asr import (AsrConfig, ConvStem, WhisperASR, asr_loss, beam_search, collate_features,
                                   detect_language, features, greedy_decode)
from course_lib.speech.asr_tokenizer import TASKS, Tokenizer
from course_lib.speech.ctc import CTCModel, ctc_greedy, ctc_loss
from course_lib.train import TrainingRun, TrainSettings, load_or_train

__all__ = ["DEFAULT_DATA", "UNSEEN_VOICE", "AsrRecipe", "AsrFinetuneRecipe", "CTCRecipe", "PRESETS",
           "FINETUNE_PRESETS", "CTC_PRESETS", "load_data", "tokenizer_for", "examples", "long_examples",
           "example_batches",
           "TrainedASR", "TrainedCTC", "new_asr", "new_ctc", "train_asr", "finetune_asr", "train_ctc"]

# Training data: (language, voice, kind, n, tasks); translation targets are English.
DEFAULT_DATA = (
    ("en", "en-us", "digits", 400, ("transcribe",)),
    ("en", "en-us+f3", "digits", 400, ("transcribe",)),
    ("de", "de", "digits", 120, ("transcribe", "translate")),
    ("es", "es", "digits", 120, ("transcribe", "translate")),
    ("fr", "fr", "digits", 120, ("transcribe", "translate")),
    ("en", "en-us", "phrases", 0, ("transcribe",)),
    ("de", "de", "phrases", 0, ("transcribe", "translate")),
    ("es", "es", "phrases", 0, ("transcribe", "translate")),
    ("fr", "fr", "phrases", 0, ("transcribe", "translate")),
)
# A voice the recipes never train on (British RP English): tested, then fine-tuned on.
UNSEEN_VOICE = ("en", "en-gb-x-rp", "digits", 400, ("transcribe",))


def _check_data(data: Sequence[tuple]) -> None:
    for entry in data:
        if (not isinstance(entry, (tuple, list)) or len(entry) != 5 or isinstance(entry[4], str)
                or not set(entry[4]) <= set(TASKS)):
            raise ValueError(f"each data entry must be (language, voice, kind, n, tasks) with tasks "
                             f"a tuple from {TASKS}, e.g. ('de', 'de', 'digits', 120, ('transcribe',)); "
                             f"got {entry!r}")


# ---------------------------------------------------------------- recipes

@dataclass(frozen=True)
class AsrRecipe:
    """Everything that decides the trained Whisper-style model: sizes (vocab_size is filled
    from the tokenizer of `data`), optimisation (AdamW, linear warm-up, constant rate), the
    clip sets, the weight of the joint CTC loss (0: pure attention training, as Whisper;
    then `model.ctc_head` must be False), and `concat`: the most clips joined into one
    long training example (1: none; see `long_examples`), so that the model hears
    utterances longer than any single clip."""
    model: AsrConfig = AsrConfig()
    train: TrainSettings = TrainSettings(steps=800, batch_size=32, lr=2e-3, warmup=50)
    data: tuple = DEFAULT_DATA
    ctc_weight: float = 0.3
    concat: int = 3

    def __post_init__(self):
        _check_data(self.data)
        check_positive_int(self.concat, "concat")
        if not 0 <= self.ctc_weight < 1:
            raise ValueError(f"ctc_weight must be in [0, 1); got {self.ctc_weight!r}")
        if self.model.ctc_head != (self.ctc_weight > 0):
            raise ValueError(f"model.ctc_head must be True exactly when ctc_weight > 0; got ctc_head="
                             f"{self.model.ctc_head}, ctc_weight={self.ctc_weight}")

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


@dataclass(frozen=True)
class AsrFinetuneRecipe:
    """The model of `base`, trained further on the train split of `data` (new clip sets,
    e.g. a new voice; their words must be in the base tokenizer), with the base's loss
    (same CTC weight) at a small constant learning rate."""
    base: AsrRecipe = AsrRecipe()
    data: tuple = (UNSEEN_VOICE,)
    train: TrainSettings = TrainSettings(steps=40, batch_size=16, lr=5e-4, seed=1)

    def __post_init__(self):
        _check_data(self.data)

    def key(self) -> str:
        return settings_key(self)


@dataclass(frozen=True)
class CTCRecipe:
    """The CTC baseline: the same encoder sizes, English transcription only (CTC has no
    task prompt); the tokenizer is that of `data`. `model.ctc_head` is unused (the CTC
    model's head is its output layer)."""
    model: AsrConfig = AsrConfig(ctc_head=False)
    train: TrainSettings = TrainSettings(steps=150, batch_size=32, lr=2e-3, warmup=50)
    data: tuple = DEFAULT_DATA[:2]

    def __post_init__(self):
        _check_data(self.data)

    def key(self) -> str:
        return settings_key(self)


PRESETS = {
    # 0.46 M parameters, 800 steps of 32 examples (half of them 2-3 clips joined): about
    # 3 minutes on a 2-core CPU.
    "cpu": AsrRecipe(),
    # the same model, 5x the steps on twice the batch.
    "gpu": AsrRecipe(train=TrainSettings(steps=2000, batch_size=64, lr=2e-3, warmup=50)),
}

FINETUNE_PRESETS = {
    "cpu": AsrFinetuneRecipe(base=PRESETS["cpu"]),
    "gpu": AsrFinetuneRecipe(base=PRESETS["gpu"],
                             train=TrainSettings(steps=200, batch_size=16, lr=5e-4, seed=1)),
}

CTC_PRESETS = {
    "cpu": CTCRecipe(),
    "gpu": CTCRecipe(train=TrainSettings(steps=1000, batch_size=64, lr=2e-3, warmup=50)),
}


# ---------------------------------------------------------------- data

def load_data(data: Sequence[tuple], progress: bool = True) -> list:
    """The clips of a recipe's clip sets (`data.multilingual.load_clips`)."""
    from course_lib.data.multilingual import load_clips
    _check_data(data)
    clips = []
    for language, voice, kind, n, _ in data:
        clips += load_clips(language, voice, kind, n or 1, progress=progress)
    return clips


def tokenizer_for(data: Sequence[tuple]) -> Tokenizer:
    """Every word of every transcript and translation the clip sets can hold (all splits)."""
    from course_lib.data.multilingual import digit_sentences, phrase_sentences
    _check_data(data)
    texts = []
    for language, _, kind, n, _ in data:
        pairs = digit_sentences(language, n) if kind == "digits" else phrase_sentences(language)
        texts += [t for pair in pairs for t in pair]
    return Tokenizer.from_texts(texts)


def examples(clips, data: Sequence[tuple], tokenizer: Tokenizer,
             split: str = "train") -> list[tuple[Tensor, list[int], list[int]]]:
    """(features, token sequence, CTC labels) triples: one per clip of `split` and task of
    its clip set. CTC labels are the transcript's ids + 1 (0 is the blank)."""
    tasks = {(lang, voice, kind): t for lang, voice, kind, _, t in data}
    out = []
    for c in clips:
        if c.split != split:
            continue
        mel = features(c.wave)
        labels = [i + 1 for i in tokenizer.encode(c.text)]
        for task in tasks[(c.language, c.voice, c.kind)]:
            target = c.english if task == "translate" else c.text
            out.append((mel, tokenizer.sequence(target, c.language, task), labels))
    return out


def long_examples(clips, data: Sequence[tuple], tokenizer: Tokenizer, concat: int, seed: int,
                  split: str = "train") -> list[tuple[Tensor, list[int], list[int]]]:
    """Examples made of 2..`concat` clips of one clip set (same language and voice) joined
    with 0-0.1 s of silence between them, transcripts (and translations) joined too: as
    many as there are single clips of `split`. Whisper trains on 30 s windows holding many
    sentences; a model trained on short clips only stops listening after the lengths it
    has seen (day 19 streams audio longer than any clip)."""
    from course_lib.data.multilingual import SAMPLE_RATE

    if concat < 2:
        return []
    tasks = {(lang, voice, kind): t for lang, voice, kind, _, t in data}
    groups: dict[tuple, list] = {}
    for c in clips:
        if c.split == split:
            groups.setdefault((c.language, c.voice, c.kind), []).append(c)
    rng = step_random(seed, 0, stream=1)              # not the batches' stream (0)
    out = []
    for key, members in groups.items():
        for _ in range(len(members) if len(members) > 1 else 0):
            chosen = rng.sample(members, min(rng.randint(2, concat), len(members)))
            pieces = []
            for i, c in enumerate(chosen):
                if i:
                    pieces.append(torch.zeros(int(SAMPLE_RATE * rng.uniform(0.0, 0.1))))
                pieces.append(c.wave)
            mel = features(torch.cat(pieces))
            text = " ".join(c.text for c in chosen)
            labels = [i + 1 for i in tokenizer.encode(text)]
            for task in tasks[key]:
                target = " ".join(c.english for c in chosen) if task == "translate" else text
                out.append((mel, tokenizer.sequence(target, c.language, task), labels))
    return out


def example_batches(make_examples: Callable[[], list], batch_size: int, seed: int) -> Callable[[int], dict]:
    """data(step) for `train.fit`: `batch_size` examples drawn without replacement by
    `runtime.step_random(seed, step)`, collated (mels, tokens, CTC labels). The examples
    are made on the first call, so a model loaded from its checkpoint never makes them."""
    make = functools.cache(make_examples)

    def data(step: int) -> dict[str, Tensor]:
        pool = make()
        chosen = step_random(seed, step).sample(pool, min(batch_size, len(pool)))
        batch = collate_features([m for m, _, _ in chosen], [s for _, s, _ in chosen])
        labels = collate_features([m for m, _, _ in chosen], [y for _, _, y in chosen])
        batch["labels"], batch["label_lengths"] = labels["tokens"], labels["token_lengths"]
        return batch
    return data


def _train_batches(data: Sequence[tuple], tokenizer: Tokenizer, settings: TrainSettings, progress: bool,
                   concat: int = 1):
    def make():
        clips = load_data(data, progress)
        return (examples(clips, data, tokenizer, "train")
                + long_examples(clips, data, tokenizer, concat, settings.seed))
    return example_batches(make, settings.batch_size, settings.seed)


# ---------------------------------------------------------------- trained models

@dataclass
class TrainedASR:
    """The model (eval mode), its tokenizer, the training run and the recipe (an
    `AsrRecipe`, or an `AsrFinetuneRecipe` for a fine-tuned copy)."""
    model: WhisperASR
    tokenizer: Tokenizer
    run: TrainingRun
    recipe: AsrRecipe | AsrFinetuneRecipe = field(repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def transcribe(self, waves: Sequence[Tensor], language: str | None = "en",
                   task: str = "transcribe", beam_size: int = 1, batch_size: int = 64,
                   decode: str = "attention") -> list[str]:
        """Texts for (T,) waves at 16 kHz. language None: detect it first (per clip).

        decode "attention": the decoder, greedy (or beam search with beam_size > 1);
        "ctc": best path of the encoder's CTC head (transcription only: the head was
        trained on transcripts; no language prompt, no decoder)."""
        check_choice(decode, "decode", ("attention", "ctc"))
        if decode == "ctc":
            if task != "transcribe":
                raise ValueError(f"decode='ctc' can only transcribe (the CTC head never learned to translate); "
                                 f"got task={task!r}")
            return self.transcribe_ctc(waves, batch_size)
        mels = [features(w) for w in waves]
        languages = ([language] * len(mels) if language is not None else
                     self.detect_language(waves))
        out = []
        for start in range(0, len(mels), batch_size):
            chunk = mels[start:start + batch_size]
            prompts = torch.tensor([self.tokenizer.prompt(lang, task) for lang in
                                    languages[start:start + batch_size]])
            if beam_size > 1:
                ids = [beam_search(self.model, m.to(self.device), p.tolist(), beam_size,
                                   eot=self.tokenizer.eot) for m, p in zip(chunk, prompts)]
            else:
                batch = collate_features(chunk)
                ids = greedy_decode(self.model, batch["mels"].to(self.device),
                                    batch["mel_lengths"].to(self.device), prompts.to(self.device),
                                    eot=self.tokenizer.eot)
            out += [self.tokenizer.decode(i) for i in ids]
        return out

    @torch.no_grad()
    def transcribe_ctc(self, waves: Sequence[Tensor], batch_size: int = 64) -> list[str]:
        """Best-path transcripts from the CTC head on the encoder (class c = token id c - 1)."""
        if self.model.ctc is None:
            raise ValueError("this model has no CTC head (AsrConfig.ctc_head=False)")
        self.model.eval()
        out = []
        for start in range(0, len(waves), batch_size):
            batch = collate_features([features(w) for w in waves[start:start + batch_size]])
            mels, lengths = batch["mels"].to(self.device), batch["mel_lengths"].to(self.device)
            audio, _ = self.model.encoder(mels, lengths)
            log_probs = self.model.ctc(audio).log_softmax(-1)
            best = ctc_greedy(log_probs, ConvStem.output_lengths(lengths))
            out += [self.tokenizer.decode([c - 1 for c in labels]) for labels in best]
        return out

    def detect_language(self, waves: Sequence[Tensor], batch_size: int = 64) -> list[str]:
        """The most likely language code of each (T,) wave."""
        out = []
        for start in range(0, len(waves), batch_size):
            batch = collate_features([features(w) for w in waves[start:start + batch_size]])
            codes, _ = detect_language(self.model, batch["mels"].to(self.device),
                                       batch["mel_lengths"].to(self.device), self.tokenizer)
            out += codes
        return out


@dataclass
class TrainedCTC:
    """The CTC baseline (eval mode), its tokenizer, the training run and the recipe."""
    model: CTCModel
    tokenizer: Tokenizer
    run: TrainingRun
    recipe: CTCRecipe = field(repr=False)

    def transcribe(self, waves: Sequence[Tensor]) -> list[str]:
        """Best-path transcripts of (T,) waves (CTC class c = token id c - 1)."""
        device = next(self.model.parameters()).device
        batch = collate_features([features(w) for w in waves])
        self.model.eval()
        with torch.no_grad():
            log_probs, lengths = self.model(batch["mels"].to(device), batch["mel_lengths"].to(device))
        return [self.tokenizer.decode([c - 1 for c in labels])
                for labels in ctc_greedy(log_probs, lengths)]


# ---------------------------------------------------------------- load-or-train

def new_asr(recipe: AsrRecipe, tokenizer: Tokenizer) -> WhisperASR:
    """The untrained model of `recipe` for `tokenizer`'s vocabulary, initialised from
    `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return WhisperASR(replace(recipe.model, vocab_size=len(tokenizer)))


def new_ctc(recipe: CTCRecipe, tokenizer: Tokenizer) -> CTCModel:
    """The untrained CTC model of `recipe` for `tokenizer` (blank + its ids), seeded."""
    torch.manual_seed(recipe.train.seed)
    return CTCModel(replace(recipe.model, vocab_size=len(tokenizer)))


def train_asr(recipe: AsrRecipe | None = None, device: torch.device | None = None,
              progress: bool = True) -> TrainedASR:
    """Train the Whisper-style model of `recipe` on its clips, or load it when already trained.

    Batches: `batch_size` random (clip, task) examples of the train split per step
    (`example_batches`); loss: `asr.asr_loss` with the recipe's CTC weight.
    Checkpoint: artifacts/checkpoints/asr_<recipe key>.pt."""
    recipe = recipe or PRESETS["cpu"]
    tokenizer = tokenizer_for(recipe.data)
    model = new_asr(recipe, tokenizer)
    data = _train_batches(recipe.data, tokenizer, recipe.train, progress, recipe.concat)
    run = load_or_train("asr", recipe, model, partial(asr_loss, ctc_weight=recipe.ctc_weight), data,
                        device=device or get_device(), desc="asr", progress=progress)
    return TrainedASR(model, tokenizer, run, recipe)


def finetune_asr(recipe: AsrFinetuneRecipe | None = None, device: torch.device | None = None,
                 progress: bool = True) -> TrainedASR:
    """A copy of the model of `recipe.base` (`train_asr`: trained or loaded) trained further
    on the train split of `recipe.data`, or loaded when already fine-tuned.
    Checkpoint: artifacts/checkpoints/asr_finetune_<recipe key>.pt."""
    recipe = recipe or FINETUNE_PRESETS["cpu"]
    base = train_asr(recipe.base, device=device, progress=progress)
    model = copy.deepcopy(base.model)
    data = _train_batches(recipe.data, base.tokenizer, recipe.train, progress)
    run = load_or_train("asr_finetune", recipe, model, partial(asr_loss, ctc_weight=recipe.base.ctc_weight),
                        data, device=device or get_device(), desc="fine-tune", progress=progress)
    return TrainedASR(model, base.tokenizer, run, recipe)


def train_ctc(recipe: CTCRecipe | None = None, device: torch.device | None = None,
              progress: bool = True) -> TrainedCTC:
    """Train the CTC baseline of `recipe` (labels = tokenizer ids + 1; 0 is the blank), or
    load it. Checkpoint: artifacts/checkpoints/asr_ctc_<recipe key>.pt."""
    recipe = recipe or CTC_PRESETS["cpu"]
    tokenizer = tokenizer_for(recipe.data)
    model = new_ctc(recipe, tokenizer)
    data = _train_batches(recipe.data, tokenizer, recipe.train, progress)
    run = load_or_train("asr_ctc", recipe, model, ctc_loss, data, device=device or get_device(),
                        desc="ctc", progress=progress)
    return TrainedCTC(model, tokenizer, run, recipe)
