"""Spoken digit strings and short sentences in English, German, Spanish and French.

    clips = load_clips("de")                       # German digit strings, built once, cached
    clip = clips[0]
    clip.text, clip.english, clip.language         # 'drei sieben eins', 'three seven one', 'de'
    clip.wave.shape                                # (T,) float32 at 16 kHz

Whisper is trained on (audio, transcript) pairs in many languages and also on (audio,
English translation) pairs; this module makes a tiny offline version of that data with
eSpeak NG's voices: every clip carries its native transcript and its English
translation. Digit strings translate word by word ("drei sieben eins" -> "three seven
one"); the short sentences are a fixed phrase book (`PHRASES`).

The English digit strings are day 09's (`data.speech.sentences("digits")`), and a digit
string is spoken as the *same* string in every language, so the split (by the hash of
the English text, `data.speech.split_of`) is shared: a string held out in English is
held out in German too, and is held out from day 11's TTS training as well.

Transcripts are lower case without punctuation (words separated by single spaces).
Waves are cached as 16-bit PCM per (voice, kind, count) under
`artifacts/multilingual_v{VERSION}/`; regeneration is deterministic (eSpeak is).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_positive_int
from course_lib.data.speech import SAMPLE_RATE, SPLITS, sentences, speak, split_of
from course_lib.runtime import artifacts_dir, torch_threads

__all__ = ["VERSION", "SAMPLE_RATE", "LANGUAGES", "VOICES", "KINDS", "DIGIT_WORDS", "PHRASES",
           "Clip", "translate_digits", "digit_sentences", "phrase_sentences", "load_clips",
           "load_multilingual", "split"]

VERSION = 1
LANGUAGES = ("en", "de", "es", "fr")
VOICES = {"en": "en-us", "de": "de", "es": "es", "fr": "fr"}   # eSpeak NG voice per language
KINDS = ("digits", "phrases")

DIGIT_WORDS = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "de": ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"),
    "es": ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"),
    "fr": ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"),
}

# A phrase book: English -> (German, Spanish, French), lower case, no punctuation.
PHRASES = {
    "good morning": ("guten morgen", "buenos días", "bonjour"),
    "thank you": ("danke", "gracias", "merci"),
    "good night": ("gute nacht", "buenas noches", "bonne nuit"),
    "see you tomorrow": ("bis morgen", "hasta mañana", "à demain"),
    "where is the station": ("wo ist der bahnhof", "dónde está la estación", "où est la gare"),
    "i would like a coffee": ("ich möchte einen kaffee", "quiero un café", "je voudrais un café"),
    "the weather is nice": ("das wetter ist schön", "hace buen tiempo", "il fait beau"),
    "how are you": ("wie geht es dir", "cómo estás", "comment allez vous"),
}


def _check_language(language: object) -> str:
    check_choice(language, "language", LANGUAGES)
    return language


def translate_digits(english: str, language: str) -> str:
    """'three seven one' -> 'drei sieben eins' (language='de'): digit words, one by one."""
    _check_language(language)
    index = {w: i for i, w in enumerate(DIGIT_WORDS["en"])}
    words = english.split()
    unknown = [w for w in words if w not in index]
    if unknown or not words:
        raise ValueError(f"english must be English digit words ('three seven one'); got {english!r}")
    return " ".join(DIGIT_WORDS[language][index[w]] for w in words)


def digit_sentences(language: str, n: int = 400) -> list[tuple[str, str]]:
    """(native, english) pairs: day 09's first n digit strings, said in `language`."""
    _check_language(language)
    check_positive_int(n, "n")
    return [(translate_digits(text, language), text) for _, text in sentences("digits", n)]


def phrase_sentences(language: str) -> list[tuple[str, str]]:
    """(native, english) pairs of the phrase book in `language`."""
    column = LANGUAGES.index(_check_language(language)) - 1
    return [(en if column < 0 else row[column], en) for en, row in PHRASES.items()]


@dataclass
class Clip:
    """One spoken sentence.

    text: native transcript; english: its English translation (== text for English);
    kind: "digits" or "phrases"; split: by the English text (`data.speech.split_of`);
    wave: (T,) float32 at 16 kHz (stored as 16-bit PCM).
    """
    id: str
    language: str
    voice: str
    kind: str
    split: str
    text: str
    english: str
    wave: torch.Tensor = field(repr=False)

    @property
    def seconds(self) -> float:
        return self.wave.shape[-1] / SAMPLE_RATE


def _to_record(c: Clip) -> dict:
    record = {k: getattr(c, k) for k in Clip.__dataclass_fields__}
    record["wave"] = (c.wave.clamp(-1, 1) * 32767).round().to(torch.int16)
    return record


def _from_record(record: dict) -> Clip:
    record = dict(record)
    record["wave"] = record["wave"].float() / 32767
    return Clip(**record)


def load_clips(language: str, voice: str | None = None, kind: str = "digits", n: int = 400,
               progress: bool = True) -> list[Clip]:
    """Clips of one language, voice and kind, from artifacts/ or synthesised (and cached).

    voice: any eSpeak NG voice (default VOICES[language]); it must speak `language`.
    n: how many digit strings (ignored for phrases, which are all taken).
    """
    _check_language(language)
    check_choice(kind, "kind", KINDS)
    voice = VOICES[language] if voice is None else voice
    if not isinstance(voice, str) or not voice:
        raise ValueError(f"voice must be an eSpeak NG voice name such as 'de'; got {voice!r}")
    pairs = digit_sentences(language, n) if kind == "digits" else phrase_sentences(language)
    name = f"{voice.replace('/', '_')}_{kind}" + (f"_{n}" if kind == "digits" else "")
    path = artifacts_dir(f"multilingual_v{VERSION}") / f"{name}.pt"
    if path.exists():
        return [_from_record(r) for r in torch.load(path, weights_only=False)]
    clips = []
    with torch_threads(1):
        for i, (text, english) in enumerate(tqdm(pairs, desc=f"clips {voice} {kind}",
                                                 disable=not progress)):
            clips.append(Clip(f"{voice}/{kind}/{i:04d}", language, voice, kind,
                              split_of(english), text, english, speak(text, voice)))
    records = [_to_record(c) for c in clips]
    tmp = path.with_suffix(".tmp")
    torch.save(records, tmp)
    tmp.replace(path)
    return [_from_record(r) for r in records]       # as stored: the same on every call


def load_multilingual(languages=LANGUAGES, n_digits: int = 120, phrases: bool = True,
                      progress: bool = True) -> list[Clip]:
    """Digit strings (n_digits per language) and phrases of each language's default voice."""
    if isinstance(languages, str):
        raise TypeError("languages must be a sequence such as ('de', 'fr')")
    clips = []
    for language in languages:
        clips += load_clips(language, kind="digits", n=n_digits, progress=progress)
        if phrases:
            clips += load_clips(language, kind="phrases", progress=progress)
    return clips


def split(clips: list[Clip], name: str) -> list[Clip]:
    """The clips of one split ('train', 'valid' or 'test')."""
    check_choice(name, "split", SPLITS)
    return [c for c in clips if c.split == name]
