"""eSpeak NG from Python: speech waveforms with phoneme timings, IPA phonemes, voices.

A small ctypes binding to the eSpeak NG library shipped in the `espeakng-loader` wheel
(C API: `speak_lib.h`, eSpeak NG 1.52). It gives the course its speech data:

    syn = synthesize("hello world")          # 22,050 Hz, float32 wave of shape (T,)
    syn.events                               # [PhonemeEvent('h', 264), PhonemeEvent('ə', 1384), ...]
    phoneme_durations(syn.events, len(syn.wave))   # samples per phoneme, sums to T
    phonemize("hello world")                 # 'həlˈoʊ wˈɜːld'
    voices("de")                             # [VoiceInfo(name='German', languages=('de',), ...)]

Phonemes are IPA everywhere (events and `phonemize`), so the event symbols, joined,
spell `phonemize`'s output without the spaces (`phonemize(..., separator="|")` splits
it into the same tokens). eSpeak's pauses have no IPA symbol; events name them `"_"`.

Determinism. eSpeak keeps state between utterances in C statics that its API cannot
reset (e.g. the phase of its pitch "flutter"), so the same text spoken twice by one
loaded library gives a slightly different waveform (a few samples longer or shorter).
Every call here therefore loads a private copy of the library, initialises it, works,
and unloads it again (a few ms): the output depends only on the arguments. The copy
is private so that another user of libespeak-ng in the process (say `phonemizer`)
neither shares nor disturbs this state. The library is not thread-safe, so all calls
are serialised behind one lock.
"""

from __future__ import annotations

import _ctypes  # dlclose / FreeLibrary: ctypes itself never unloads a library
import atexit
import ctypes
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PhonemeEvent", "WordEvent", "Synthesis", "VoiceInfo", "synthesize", "phonemize",
           "phoneme_durations", "voices", "PAUSE", "RATE_RANGE", "PITCH_RANGE"]

# Values from speak_lib.h.
AUDIO_OUTPUT_SYNCHRONOUS = 2        # espeak_Synth returns when all audio went to the callback
BUFFER_MS = 60                      # audio is handed to the callback in chunks of this length
POS_CHARACTER = 1
CHARS_UTF8 = 1                      # espeakCHARS_UTF8
INITIALIZE_PHONEME_EVENTS = 0x0001  # espeakINITIALIZE_PHONEME_EVENTS
INITIALIZE_PHONEME_IPA = 0x0002     # phoneme events carry IPA names, not eSpeak mnemonics
INITIALIZE_DONT_EXIT = 0x8000       # without it a missing data folder calls exit(1)
PHONEMES_IPA = 0x02                 # espeak_TextToPhonemes phonememode: IPA output
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7
EE_OK = 0
PARAM_RATE, PARAM_PITCH = 1, 3      # espeakRATE (words per minute), espeakPITCH (0-100)

# eSpeak allows 80-450 wpm, but at 450 it switches to Sonic time-stretching, whose audio
# no longer matches the phoneme events (they point past its end), so we stop at 449.
RATE_RANGE = (80, 449)
PITCH_RANGE = (0, 100)              # base pitch; 50 is the voice's normal
PAUSE = "_"                         # event symbol for eSpeak's pauses
_LANGUAGE_FLAG = re.compile(r"\([a-z-]+\)")  # "(en)": eSpeak switched language mid-text
_INSTALL_HINT = "pip install espeakng-loader"


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme: its IPA symbol (stress marks included) and first sample."""
    symbol: str
    start: int


@dataclass(frozen=True)
class WordEvent:
    """One word: first sample, and where it is in the text: text[char_start:char_start + n_chars]."""
    start: int
    char_start: int
    n_chars: int


@dataclass
class Synthesis:
    """What `synthesize` returns.

    wave: float32 array of shape (T,) in [-1, 1); sample_rate: Hz (22,050);
    events: phonemes in order, starts non-decreasing and in [0, T];
    words: word starts (a number may be spoken as several words of one source word).
    """
    wave: np.ndarray
    sample_rate: int
    events: list[PhonemeEvent]
    words: list[WordEvent]

    @property
    def durations(self) -> list[int]:
        """Samples per phoneme event, summing to len(wave); see `phoneme_durations`."""
        return phoneme_durations(self.events, len(self.wave))


@dataclass(frozen=True)
class VoiceInfo:
    """A voice: any of its `languages` (best first) or its `identifier` works as `voice=`."""
    name: str
    languages: tuple[str, ...]
    identifier: str


# ---------------------------------------------------------------- C declarations

class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]  # phoneme name, NUL-terminated unless 8 bytes


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int),  # 1-based, in characters
                ("length", ctypes.c_int),         # word length in characters
                ("audio_position", ctypes.c_int),  # ms, rounded down from `sample`
                ("sample", ctypes.c_int),         # sample index in the output: exact
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p),
                ("languages", ctypes.c_void_p),   # packed: (priority byte, name, NUL)*, NUL
                ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte),
                ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                          ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))


# ---------------------------------------------------------------- engine life cycle

_LOCK = threading.Lock()            # eSpeak is one global engine: one call at a time
_files: tuple[str, str] | None = None   # (private library copy, data folder), made lazily
_unload = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")


def _locate() -> tuple[str, str]:
    """(library, data folder) from the espeakng-loader wheel, or a RuntimeError with a fix."""
    try:
        import espeakng_loader
    except ImportError as exc:
        raise RuntimeError(f"eSpeak NG is not installed: {_INSTALL_HINT}") from exc
    try:
        library = Path(espeakng_loader.get_library_path())
        data = Path(espeakng_loader.get_data_path())
    except RuntimeError as exc:  # get_data_path() raises when its folder is gone
        raise RuntimeError(f"eSpeak NG data folder missing ({exc}): reinstall it with "
                           f"`{_INSTALL_HINT} --force-reinstall`") from exc
    for what, path, ok in (("library", library, library.is_file()),
                           ("data folder", data, (data / "phontab").is_file())):
        if not ok:
            raise RuntimeError(f"eSpeak NG {what} missing at {path}: reinstall it with "
                               f"`{_INSTALL_HINT} --force-reinstall`")
    return str(library), str(data)


def _private_files() -> tuple[str, str]:
    global _files
    if _files is None:
        library, data = _locate()
        folder = tempfile.mkdtemp(prefix="course_espeak_")
        atexit.register(shutil.rmtree, folder, True)
        _files = (shutil.copy(library, folder), data)
    return _files


@contextmanager
def _engine(voice: str | None, options: int = 0) -> Iterator[tuple[ctypes.CDLL, int]]:
    """Under the lock: a freshly loaded, initialised eSpeak with `voice` selected.

    Yields (library, sample rate); terminates and unloads the library afterwards.
    """
    with _LOCK:
        library, data = _private_files()
        lib = ctypes.CDLL(library)
        try:
            _declare(lib)
            sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, data.encode(),
                                                options | INITIALIZE_DONT_EXIT)
            if sample_rate <= 0:
                raise RuntimeError(f"eSpeak NG could not load its data from {data}: "
                                   f"reinstall it with `{_INSTALL_HINT} --force-reinstall`")
            # Breath noise (variants such as "+f3") draws from eSpeak's own generator, which
            # espeak_Initialize seeds with the clock: fix the seed so audio is reproducible.
            lib.espeak_ng_SetRandSeed(0)
            try:
                if voice is not None and lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                    raise ValueError(f"unknown voice {voice!r}: course_lib.speech.espeak.voices() "
                                     "lists the available ones (use a language such as 'en-us')")
                yield lib, sample_rate
            finally:
                lib.espeak_Terminate()
        finally:
            _unload(lib._handle)


# ---------------------------------------------------------------- argument checks

def _text_bytes(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty: give at least one word to speak")
    if "\0" in text:
        raise ValueError("text must not contain NUL characters")
    return text.encode("utf-8")


def _check_voice(voice: object) -> str:
    if not isinstance(voice, str) or not voice:
        raise ValueError(f"unknown voice {voice!r}: course_lib.speech.espeak.voices() lists them")
    return voice


def _check_range(name: str, value: object, bounds: tuple[int, int], unit: str) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high} {unit}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- public API

def synthesize(text: str, voice: str = "en-us", rate: int | None = None,
               pitch: int | None = None) -> Synthesis:
    """Speak `text` with eSpeak NG; the same arguments always give the same result.

    text: plain UTF-8 text (no SSML). voice: a language such as "en-us", "de", "fr", or a
    VoiceInfo.identifier, optionally with a variant ("en-us+f3"). rate: words per minute
    in RATE_RANGE (default 175). pitch: base pitch in PITCH_RANGE (default 50).
    Returns Synthesis(wave (T,) float32, sample_rate, events, words).
    """
    data = _text_bytes(text)
    voice = _check_voice(voice)
    parameters = {}
    if rate is not None:
        parameters[PARAM_RATE] = _check_range("rate", rate, RATE_RANGE, "words per minute")
    if pitch is not None:
        parameters[PARAM_PITCH] = _check_range("pitch", pitch, PITCH_RANGE, "(50 is normal)")
    chunks: list[np.ndarray] = []
    events: list[PhonemeEvent] = []
    words: list[WordEvent] = []

    def on_audio(wav, n_samples: int, event) -> int:
        if wav and n_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        i = 0
        while event and event[i].type != EVENT_LIST_TERMINATED:
            e = event[i]
            if e.type == EVENT_PHONEME:
                symbol = e.id.string.decode("utf-8", "replace") or PAUSE
                if not _LANGUAGE_FLAG.fullmatch(symbol):
                    events.append(PhonemeEvent(symbol, e.sample))
            elif e.type == EVENT_WORD:
                words.append(WordEvent(e.sample, e.text_position - 1, e.length))
            i += 1
        return 0  # 0 = go on synthesising

    callback = _SynthCallback(on_audio)  # must stay referenced while eSpeak may call it
    options = INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA
    with _engine(voice, options) as (lib, sample_rate):
        lib.espeak_SetSynthCallback(callback)
        for parameter, value in parameters.items():
            lib.espeak_SetParameter(parameter, value, 0)
        status = lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if status != EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        lib.espeak_Synchronize()
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return Synthesis(pcm.astype(np.float32) / 32768.0, sample_rate, events, words)


def phonemize(text: str, voice: str = "en-us", separator: str = "") -> str:
    """IPA transcription of `text`, words separated by spaces: "həlˈoʊ wˈɜːld".

    Stress marks (ˈ ˌ) and length marks (ː) are kept; punctuation and pauses are dropped.
    separator: "" or one character put between the phonemes of a word ("h|ə|l|ˈoʊ"),
    giving the same tokens as the non-pause `synthesize(...).events`.
    """
    data = _text_bytes(text)
    voice = _check_voice(voice)
    if not isinstance(separator, str) or len(separator) > 1 or (separator and ord(separator) > 0xFFFF):
        raise ValueError(f"separator must be '' or one character, got {separator!r}")
    mode = PHONEMES_IPA | (ord(separator) << 8 if separator else 0)
    clauses = []
    with _engine(voice) as (lib, _):
        buffer = ctypes.create_string_buffer(data)
        pointer = ctypes.c_void_p(ctypes.addressof(buffer))
        while pointer.value:  # each call translates one clause, advances the pointer, NULL at the end
            clauses.append(lib.espeak_TextToPhonemes(ctypes.byref(pointer), CHARS_UTF8, mode)
                           .decode("utf-8", "replace"))
    words = []
    for word in " ".join(clauses).split():
        parts = [_LANGUAGE_FLAG.sub("", p) for p in (word.split(separator) if separator else [word])]
        word = separator.join(p for p in parts if p)
        if word:
            words.append(word)
    return " ".join(words)


def phoneme_durations(events: Sequence[PhonemeEvent], n_samples: int) -> list[int]:
    """Samples per phoneme: list of len(events) ints summing to n_samples.

    Each phoneme lasts from its start to the next event's start, the last one to
    n_samples. The samples before the first event (eSpeak's lead-in of digital silence,
    about 12 ms before an initial consonant) are given to the first phoneme, so the
    durations line up one-to-one with the events. Pauses are events too (symbol "_"),
    and a phoneme can last 0 samples (eSpeak emits e.g. two pauses at the same sample).
    """
    starts = [e.start for e in events]
    if not starts:
        if n_samples:
            raise ValueError(f"no events to share {n_samples} samples between")
        return []
    if starts[0] < 0 or starts[-1] > n_samples or any(b < a for a, b in zip(starts, starts[1:])):
        raise ValueError(f"event starts must be non-decreasing and within [0, {n_samples}]")
    bounds = [0, *starts[1:], n_samples]
    return [end - begin for begin, end in zip(bounds, bounds[1:])]


def voices(language: str | None = None) -> list[VoiceInfo]:
    """The installed voices, all of them or those for `language`.

    language: e.g. "en" (every English voice) or "en-us"; matches a voice language equal
    to it or starting with it plus "-", case-insensitive.
    """
    found = []
    with _engine(None) as (lib, _):
        table = lib.espeak_ListVoices(None)
        i = 0
        while table[i]:
            v = table[i].contents
            languages, at = [], v.languages
            while ctypes.string_at(at, 1) != b"\0":  # skip the priority byte, read one name
                name = ctypes.string_at(at + 1)
                languages.append(name.decode())
                at += len(name) + 2
            found.append(VoiceInfo(v.name.decode(), tuple(languages), v.identifier.decode()))
            i += 1
    if language is None:
        return found
    wanted = language.lower()
    return [v for v in found if any(lang == wanted or lang.startswith(wanted + "-")
                                    for lang in v.languages)]
