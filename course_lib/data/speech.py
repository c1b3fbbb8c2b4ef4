"""A small TTS corpus made offline with eSpeak NG: text, phonemes, log-mels, durations.

    corpus = load_corpus(domains=("digits",), voices=("en-us",))   # built once, then cached
    utt = corpus.split("train")[0]
    utt.text, utt.phonemes, utt.mel.shape, utt.durations            # 'four zero seven', [...], (80, frames), [...]

How it is made (`make_utterance`), for each sentence of each domain and each voice:
1. the generator writes the text as people write it ("7:45", "set a timer for 5 minutes");
2. `speech.text.normalize` turns it into words ("seven forty five");
3. eSpeak NG speaks the words at 22,050 Hz and reports when each phoneme starts;
4. the wave is resampled to 16 kHz and turned into an 80-band log-mel spectrogram
   (Tacotron 2 style: natural log of the mel magnitude, 50 ms windows, 12.5 ms hop);
5. the phoneme starts become *durations in frames* (`durations_to_frames`), so the
   frames of every phoneme are known: the alignment a TTS model must learn.

Domains: "digits" (strings of 2-5 digits), "times" (clock times), "commands" (short
smart-speaker commands) and "general" (a fixed set of everyday sentences). The split
into train / valid / test (80 / 10 / 10) goes by the normalised text, so a sentence
never appears in two splits, whatever the voice. Shards are cached per (voice, domain)
under `artifacts/speech/corpus_v{VERSION}/`; regeneration is deterministic.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.audio import dsp
from course_lib.audio.io import resample
from course_lib.runtime import artifacts_dir, torch_threads
from course_lib.speech import espeak
from course_lib.speech.text import SymbolTable, digits_to_words, normalize, phoneme_tokens

__all__ = ["VERSION", "SAMPLE_RATE", "N_FFT", "HOP_LENGTH", "N_MELS", "F_MAX", "DOMAINS",
           "VOICES", "SPLITS", "Utterance", "SpeechCorpus", "sentences", "split_of",
           "log_mel", "durations_to_frames", "speak", "speak_timed", "speak_stream", "make_utterance", "load_corpus", "collate",
           "EXTRA_VOICES", "MORE_VOICES", "CLONING_VOICES", "UNSEEN_VOICES", "TTS_VOICES", "voice_language", "voice_utterances"]

VERSION = 2
SAMPLE_RATE = 16_000        # Hz, after resampling eSpeak's 22,050 Hz
N_FFT = 800                 # 50 ms windows
HOP_LENGTH = 200            # 12.5 ms hop: 80 frames per second
N_MELS = 80
F_MAX = 8000.0
LOG_FLOOR = 1e-5            # mel magnitude floor before the log: log(1e-5) = -11.5
DOMAINS = ("digits", "times", "commands", "general")
DOMAIN_SIZES = {"digits": 400, "times": 200, "commands": 150, "general": None}  # None: all
from course_lib.data.voice_names import (CLONING_VOICES, EXTRA_VOICES, MORE_VOICES, TTS_VOICES,  # noqa: E402, F401
                                         UNSEEN_VOICES, VOICES)
SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


# ---------------------------------------------------------------- sentence generators

GENERAL = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Our train leaves at 6:15 from platform 2.",
    "The meeting moved to the 3rd floor on May 21st.",
    "About 40% of the 1,200 tickets are sold.",
    "My flight lands at 11:30 pm, gate 14.",
    "Is it true that the museum opens on the 1st of June?",
    "We walked 12 miles and climbed 3 hills.",
    "How many apples are left in the basket?",
    "Turn left at the second light, then go straight.",
    "Thank you for waiting, your order is ready.",
    "Where did you put the keys to the garden shed?",
    "The weather will be cold and windy tomorrow.",
    "Music filled the hall long after the band had gone.",
    "Never trust a map that was drawn in a hurry.",
    "The library closes early on Sundays.",
    "Bring a warm coat, the nights are getting longer.",
    "Every answer raises two new questions.",
]

_ROOMS = ["kitchen", "bedroom", "living room", "hallway", "garage", "office", "bathroom"]
_DEVICES = ["lights", "fan", "heater", "radio", "lamp", "television"]
_NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry"]
_GENRES = ["jazz", "classical", "rock", "folk", "piano", "relaxing"]
_COMMANDS = [
    lambda r: f"Turn {r.choice(['on', 'off'])} the {r.choice(_ROOMS)} {r.choice(_DEVICES)}.",
    lambda r: f"Set a timer for {r.randint(2, 59)} minutes.",
    lambda r: f"Wake me up at {r.randint(5, 9)}:{r.choice(['00', '15', '30', '45'])}.",
    lambda r: f"Call {r.choice(_NAMES)}.",
    lambda r: f"Play some {r.choice(_GENRES)} music.",
    lambda r: f"Set the volume to {r.randint(1, 10)}.",
    lambda r: f"What is the weather in {r.choice(['Paris', 'Boston', 'Tokyo', 'Berlin'])}?",
    lambda r: f"Remind me to call {r.choice(_NAMES)} on the {r.randint(1, 28)}{{}}.",
    lambda r: f"Stop the {r.choice(['music', 'timer', 'alarm'])}.",
    lambda r: f"Set the {r.choice(_ROOMS)} to {r.randint(16, 25)} degrees.",
]


def _ordinal_suffix(day: int) -> str:
    if day % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _seed(*parts: object) -> int:
    """A stable seed from strings (Python's hash() changes between runs)."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


def sentences(domain: str, n: int | None = None) -> list[tuple[str, str]]:
    """(written, normalised) pairs of a domain, distinct by normalised text, deterministic.

    n: how many (default DOMAIN_SIZES[domain]; "general" has len(GENERAL) at most).
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}; got {domain!r}")
    n = DOMAIN_SIZES[domain] if n is None else n
    rng = random.Random(_seed("sentences", domain))
    out: dict[str, str] = {}
    if domain == "general":
        for written in GENERAL[:n]:
            out.setdefault(normalize(written), written)
        return [(w, t) for t, w in out.items()]
    for _ in range(100 * n):
        if len(out) == n:
            break
        if domain == "digits":
            written = " ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(2, 5)))
            text = digits_to_words(written.replace(" ", ""))
        elif domain == "times":
            written = f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}"
            text = normalize(written)
        else:
            written = rng.choice(_COMMANDS)(rng)
            if "{}" in written:  # the ordinal day of "Remind me ... on the 21{}."
                day = int(written.split("the ")[-1].split("{")[0])
                written = written.replace("{}", _ordinal_suffix(day))
            text = normalize(written)
        out.setdefault(text, written)
    return [(w, t) for t, w in out.items()]


def split_of(text: str) -> str:
    """'train', 'valid' or 'test' for a normalised text: a hash, so stable and voice-free."""
    u = _seed("split", text) / 2**64
    return "train" if u < SPLIT_FRACTIONS[0] else "valid" if u < 1 - SPLIT_FRACTIONS[2] else "test"


# ---------------------------------------------------------------- features

def log_mel(wave16k: torch.Tensor) -> torch.Tensor:
    """Tacotron 2 style features: log(max(W |STFT|, 1e-5)), (n_mels, frames).

    wave16k: (T,) or (B, T) float at 16 kHz. frames = 1 + T // HOP_LENGTH (centred frames:
    frame m is centred on sample m * HOP_LENGTH). Values lie in [log(1e-5), ~3].
    """
    mel = dsp.mel_spectrogram(wave16k, SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS, power=1.0,
                              f_max=F_MAX)
    return mel.clamp_min(LOG_FLOOR).log()


def durations_to_frames(durations: Sequence[int], sample_rate: int, n_frames: int,
                        hop_length: int = HOP_LENGTH, target_rate: int = SAMPLE_RATE) -> list[int]:
    """Phoneme durations in samples (at sample_rate) -> frames per phoneme, summing to n_frames.

    A frame belongs to the phoneme that is sounding at its centre: frame m is centred on
    m * hop_length at target_rate, i.e. at time m * hop_length / target_rate. Rounding is
    done on the *boundaries* (cumulative sums), never on single durations, so errors do
    not add up: boundary b (samples) -> ceil(b * target_rate / sample_rate / hop_length)
    frames before it, the last boundary -> n_frames.
    """
    if any(int(d) < 0 for d in durations):
        raise ValueError("durations must be >= 0 samples")
    if not durations:
        raise ValueError("durations is empty")
    ends = np.cumsum(np.asarray(durations, dtype=np.int64))
    scale = target_rate / (sample_rate * hop_length)
    bounds = [min(n_frames, math.ceil(int(b) * scale - 1e-9)) for b in ends[:-1]] + [n_frames]
    counts = np.diff([0, *bounds])
    return [int(c) for c in counts]


# ---------------------------------------------------------------- utterances

@dataclass
class Utterance:
    """One corpus item.

    written: the text as generated; text: normalised (what was spoken);
    phonemes: `phoneme_tokens(text)`, the TTS model's input (" " between words);
    events: eSpeak's phoneme events' symbols (pauses "_" included), aligned to durations;
    durations: frames per event, summing to mel.shape[1];
    mel: (N_MELS, frames) float32 log-mel (stored as float16).
    The wave is not stored: `wave()` speaks the text again (eSpeak is deterministic).
    """
    id: str
    domain: str
    voice: str
    split: str
    written: str
    text: str
    phonemes: list[str]
    events: list[str]
    durations: list[int]
    mel: torch.Tensor = field(repr=False)

    @property
    def n_frames(self) -> int:
        return self.mel.shape[1]

    def wave(self) -> torch.Tensor:
        """The utterance at 16 kHz, (T,) float32 with 1 + T // HOP_LENGTH == n_frames."""
        return speak(self.text, self.voice)


def speak(text: str, voice: str = "en-us") -> torch.Tensor:
    """eSpeak NG speaking `text` (as given: normalise first), resampled to 16 kHz: (T,)."""
    syn = espeak.synthesize(text, voice=voice)
    return resample(torch.from_numpy(syn.wave), syn.sample_rate, SAMPLE_RATE)


def speak_timed(text: str, voice: str = "en-us") -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """`speak`, with each word's (start, end) in seconds from eSpeak NG's own events (the
    ground truth of day 18's word timestamps): a word starts at its first phoneme (word
    events come up to ~12 ms earlier) and ends where the next word or a pause starts, the
    last word at the pause that closes the utterance (or the end)."""
    syn = espeak.synthesize(text, voice=voice)
    sr, n = syn.sample_rate, len(syn.wave)
    word_starts = [w.start for w in syn.words] + [n]
    phonemes = [e.start for e in syn.events if e.symbol != espeak.PAUSE]
    pauses = [e.start for e in syn.events if e.symbol == espeak.PAUSE]
    times = []
    for a, b in zip(word_starts, word_starts[1:]):
        start = min((p for p in phonemes if a <= p < b), default=a)
        end = min([q for q in pauses if start < q <= b] + [b])
        times.append((start / sr, end / sr))
    for k in range(len(times) - 1):                              # the next word's first phoneme ends this one
        times[k] = (times[k][0], min(times[k][1], times[k + 1][0]))
    return resample(torch.from_numpy(syn.wave), sr, SAMPLE_RATE), times


def speak_stream(texts: list[str], voice: str = "en-us", pause: tuple[float, float] = (0.3, 0.8),
                 seed: int = 0) -> tuple[torch.Tensor, list[tuple[str, float, float]]]:
    """Several utterances spoken one after another with pauses drawn from `pause` (seconds,
    uniform, seeded): the wave (T,) at 16 kHz and every word as (word, start, end) in
    seconds from the start (`speak_timed`'s times, shifted). Day 19's live audio."""
    import random

    if not texts:
        raise ValueError("texts must hold at least one utterance")
    if not 0 <= pause[0] <= pause[1]:
        raise ValueError(f"pause must be (low, high) seconds with 0 <= low <= high; got {pause}")
    rng = random.Random(seed)
    pieces, words, at = [], [], 0.0
    for i, text in enumerate(texts):
        if i:
            gap = torch.zeros(round(rng.uniform(*pause) * SAMPLE_RATE))
            pieces.append(gap)
            at += len(gap) / SAMPLE_RATE
        wave, times = speak_timed(text, voice)
        words += [(w, at + s, at + e) for w, (s, e) in zip(text.split(), times)]
        pieces.append(wave)
        at += len(wave) / SAMPLE_RATE
    return torch.cat(pieces), words


def make_utterance(written: str, voice: str = "en-us", domain: str = "general",
                   text: str | None = None) -> Utterance:
    """Synthesise one utterance and compute its features (see the module docstring)."""
    text = normalize(written) if text is None else text
    syn = espeak.synthesize(text, voice=voice)
    with torch_threads(1):     # small tensor ops: fastest on one thread, far faster on a busy machine
        wave = resample(torch.from_numpy(syn.wave), syn.sample_rate, SAMPLE_RATE)   # (T,)
        mel = log_mel(wave)                                                          # (80, frames)
    frames = durations_to_frames(syn.durations, syn.sample_rate, mel.shape[1])
    uid = f"{voice}/{domain}/{_seed('id', text) % 10**8:08d}"
    return Utterance(uid, domain, voice, split_of(text), written, text,
                     phoneme_tokens(text, voice), [e.symbol for e in syn.events], frames,
                     mel)


def _to_record(u: Utterance) -> dict:
    record = {k: getattr(u, k) for k in Utterance.__dataclass_fields__}
    record["mel"] = u.mel.to(torch.float16)
    return record


def _from_record(record: dict) -> Utterance:
    record = dict(record)
    record["mel"] = record["mel"].float()
    return Utterance(**record)


def _shard(voice: str, domain: str, progress: bool) -> list[Utterance]:
    path = artifacts_dir("speech", f"corpus_v{VERSION}") / f"{voice}_{domain}.pt"
    if path.exists():
        return [_from_record(r) for r in torch.load(path, weights_only=False)]
    pairs = sentences(domain)
    utterances = [make_utterance(w, voice, domain, t) for w, t in
                  tqdm(pairs, desc=f"corpus {voice} {domain}", disable=not progress)]
    records = [_to_record(u) for u in utterances]
    tmp = path.with_suffix(".tmp")
    torch.save(records, tmp)
    tmp.replace(path)
    return [_from_record(r) for r in records]      # as stored: the same on every call


@dataclass
class SpeechCorpus:
    """Utterances of some voices and domains, with the phoneme table of the whole corpus."""
    utterances: list[Utterance]
    phoneme_table: SymbolTable

    def split(self, name: str) -> list[Utterance]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {name!r}")
        return [u for u in self.utterances if u.split == name]

    def __len__(self) -> int:
        return len(self.utterances)

    def hours(self) -> float:
        return sum(u.n_frames for u in self.utterances) * HOP_LENGTH / SAMPLE_RATE / 3600


def load_corpus(domains: Sequence[str] = DOMAINS, voices: Sequence[str] = VOICES,
                progress: bool = True) -> SpeechCorpus:
    """The corpus for these domains and voices, from artifacts/ or built (and cached).

    The phoneme table holds every phoneme of the shards loaded plus the word boundary.
    """
    if isinstance(domains, str) or isinstance(voices, str):
        raise TypeError("domains and voices must be sequences of names, e.g. ('digits',)")
    for d in domains:
        if d not in DOMAINS:
            raise ValueError(f"unknown domain {d!r}; choose from {DOMAINS}")
    for v in voices:
        if v not in VOICES:
            raise ValueError(f"unknown voice {v!r}; choose from {VOICES}")
    utterances = [u for v in voices for d in domains for u in _shard(v, d, progress)]
    table = SymbolTable.from_tokens(t for u in utterances for t in u.phonemes)
    return SpeechCorpus(utterances, table)


# ---------------------------------------------------------------- more voices

VOICE_VERSION = 2
# The voice names (EXTRA_VOICES, MORE_VOICES, CLONING_VOICES, UNSEEN_VOICES, TTS_VOICES)
# live in data/voice_names.py and are re-exported here.


def voice_language(voice: str) -> str:
    """The phonemizer voice of a voice name: 'en-us+f4' -> 'en-us' (the variant dropped)."""
    if not isinstance(voice, str) or not voice:
        raise ValueError(f"voice must be a non-empty str like 'en-us+f3'; got {voice!r}")
    return voice.split("+")[0]


def voice_utterances(voice: str, domain: str = "digits", n: int | None = None,
                     progress: bool = False) -> list[Utterance]:
    """Corpus-style utterances of any eSpeak voice.

    For the corpus voices (`VOICES`) this is the cached corpus shard (its first `n`);
    other voices (e.g. EXTRA_VOICES) are synthesised with `make_utterance` from the first
    `n` sentences of the domain and cached under artifacts/speech/voices_v{VOICE_VERSION}/.
    Splits are the corpus' (by text).
    """
    if voice in VOICES:
        utts = load_corpus((domain,), (voice,), progress=progress).utterances
        return utts if n is None else utts[:n]
    pairs = sentences(domain, None)[:n] if n is not None else sentences(domain)
    path = artifacts_dir("speech", f"voices_v{VOICE_VERSION}") / f"{voice}_{domain}_{len(pairs)}.pt"
    if path.exists():
        return [_from_record(r) for r in torch.load(path, weights_only=False)]
    with torch_threads(1):
        records = [_to_record(make_utterance(w, voice, domain, t)) for w, t in pairs]
    tmp = path.with_suffix(".tmp")
    torch.save(records, tmp)
    tmp.replace(path)
    return [_from_record(r) for r in records]


# ---------------------------------------------------------------- batches

def collate(items: Sequence[tuple[Sequence[int], torch.Tensor]]) -> dict[str, torch.Tensor]:
    """A padded batch from (token ids, mel (n_mels, frames)) pairs.

    Returns dict with tokens (B, N) long zero-padded (0 = PAD), token_lengths (B,),
    token_mask (B, N) bool True on real tokens, mels (B, n_mels, T) zero-padded,
    mel_lengths (B,), mel_mask (B, T) bool True on real frames.
    """
    if not items:
        raise ValueError("items is empty")
    token_lengths = torch.tensor([len(t) for t, _ in items])
    mel_lengths = torch.tensor([m.shape[-1] for _, m in items])
    n_mels = items[0][1].shape[0]
    tokens = torch.zeros(len(items), int(token_lengths.max()), dtype=torch.long)
    mels = torch.zeros(len(items), n_mels, int(mel_lengths.max()))
    for i, (t, m) in enumerate(items):
        if m.ndim != 2 or m.shape[0] != n_mels:
            raise ValueError(f"item {i}: mel must be ({n_mels}, frames); got {tuple(m.shape)}")
        tokens[i, :len(t)] = torch.as_tensor(t, dtype=torch.long)
        mels[i, :, :m.shape[1]] = m
    return {"tokens": tokens, "token_lengths": token_lengths,
            "token_mask": torch.arange(tokens.shape[1]) < token_lengths[:, None],
            "mels": mels, "mel_lengths": mel_lengths,
            "mel_mask": torch.arange(mels.shape[2]) < mel_lengths[:, None]}
