"""Text for speech models: normalisation, symbol tables, encode/decode.

A TTS model never sees "Wake me at 7:45 on the 3rd." It sees ids of symbols it was
trained on, so the text is first *normalised* into words a speaker would say:

    normalize("Wake me at 7:45 on the 3rd.")   # 'wake me at seven forty five on the third.'
    number_to_words(2048)                      # 'two thousand forty eight'
    ordinal_to_words(22)                       # 'twenty second'
    time_to_words(7, 5)                        # 'seven oh five'

and then turned into ids with a `SymbolTable` (characters or phonemes):

    CHARACTERS.encode("hi.")                   # [..., ..., ..., EOS id]
    CHARACTERS.decode(CHARACTERS.encode("hi.")) == "hi."
    phoneme_tokens("hello world")              # ['h', 'ə', 'l', 'ˈoʊ', ' ', 'w', 'ˈɜː', 'l', 'd']

Id 0 is always padding (`PAD`) and id 1 the end of the sequence (`EOS`), so a batch can
be zero-padded and the encoder sees where the text stops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["PAD", "EOS", "SymbolTable", "CHARACTERS", "number_to_words", "ordinal_to_words",
           "time_to_words", "digits_to_words", "normalize", "phoneme_tokens", "WORD_BOUNDARY"]

PAD, EOS = "<pad>", "<eos>"
WORD_BOUNDARY = " "                  # the token between the phonemes of two words
PUNCTUATION = ".,?!'-"               # kept by `normalize` (prosody); everything else goes

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
MAX_NUMBER = 10**12 - 1
# Irregular ordinals of the last word; the rest add "th" ("-y" becomes "-ieth").
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
            "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
_SYMBOLS = {"%": " percent", "&": " and ", "+": " plus ", "=": " equals ", "@": " at "}


# ---------------------------------------------------------------- numbers to words

def _check_int(n: object, name: str, low: int, high: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
        raise ValueError(f"{name} must be an int from {low} to {high}; got {n!r}")
    return n


def number_to_words(n: int) -> str:
    """A cardinal in American English words, no "and": 2048 -> 'two thousand forty eight'.

    n: int with |n| <= 999,999,999,999; negatives start with "minus".
    """
    _check_int(n, "n", -MAX_NUMBER, MAX_NUMBER)
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + ("" if ones == 0 else " " + ONES[ones])
    for scale, name in SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            words = number_to_words(high) + " " + name
            return words if rest == 0 else words + " " + number_to_words(rest)
    raise AssertionError("unreachable")


def ordinal_to_words(n: int) -> str:
    """An ordinal in words: 1 -> 'first', 22 -> 'twenty second', 40 -> 'fortieth'. n >= 0."""
    _check_int(n, "n", 0, MAX_NUMBER)
    *head, last = number_to_words(n).split()
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def time_to_words(hour: int, minute: int) -> str:
    """A clock time as spoken: (7, 0) -> "seven o'clock", (7, 5) -> 'seven oh five',
    (19, 45) -> 'nineteen forty five', (0, 30) -> 'zero thirty'. hour 0-23, minute 0-59."""
    _check_int(hour, "hour", 0, 23)
    _check_int(minute, "minute", 0, 59)
    if minute == 0:
        return number_to_words(hour) + " o'clock"
    if minute < 10:
        return number_to_words(hour) + " oh " + ONES[minute]
    return number_to_words(hour) + " " + number_to_words(minute)


def digits_to_words(digits: str) -> str:
    """Read a digit string digit by digit: '4071' -> 'four zero seven one'."""
    if not isinstance(digits, str) or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"digits must be a non-empty str of 0-9; got {digits!r}")
    return " ".join(ONES[int(d)] for d in digits)


# ---------------------------------------------------------------- normalisation

_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\s*([ap])\.?\s?m\b|\b(\d{1,2}):(\d{2})\b", re.I)
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.I)
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_GROUPED = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_NUMBER = re.compile(r"\d+")          # also inside words: "mp3" -> "mp three"
_DIGIT_STRING_LENGTH = 6     # longer numbers (phone numbers, codes) are read digit by digit


def _time(match: re.Match) -> str:
    hour, minute, half = ((match[1], match[2], match[3]) if match[1] is not None
                          else (match[4], match[5], None))
    hour, minute = int(hour), int(minute)
    if hour > 23 or minute > 59:
        return match[0]                  # not a time ("99:99"): left to the number rule
    words = time_to_words(hour, minute)
    return words + (f" {half.lower()} m" if half else "")


def _ordinal(match: re.Match) -> str:
    n, suffix = int(match[1]), match[2].lower()
    expected = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th") if n % 100 not in (11, 12, 13) else "th"
    return ordinal_to_words(n) if suffix == expected else match[0]


def _number(match: re.Match) -> str:
    text = match[0]
    if len(text) > _DIGIT_STRING_LENGTH or (len(text) > 1 and text[0] == "0"):
        return digits_to_words(text)     # '0815', '5551234567': codes are read digit by digit
    return number_to_words(int(text))


def normalize(text: str) -> str:
    """Written text -> what is said, lower case, ready for a character table.

    In order: times ('7:45 pm' -> 'seven forty five p m'), ordinals ('3rd' -> 'third'),
    decimals ('2.5' -> 'two point five'), grouped numbers ('1,024' -> 'one thousand
    twenty four'), other numbers (cardinals; strings of more than 6 digits or with a
    leading zero digit by digit), a few symbols ('%' -> 'percent', '&' -> 'and'); then
    lower case, punctuation other than . , ? ! ' - dropped, spaces collapsed.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    text = _TIME.sub(_time, text)
    text = _ORDINAL_RE.sub(_ordinal, text)
    text = _DECIMAL.sub(lambda m: number_to_words(int(m[1])) + " point " + digits_to_words(m[2]), text)
    text = _GROUPED.sub(lambda m: number_to_words(int(m[0].replace(",", ""))), text)
    text = _NUMBER.sub(lambda m: f" {_number(m)} ", text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = text.lower()
    text = re.sub(rf"[^a-z{re.escape(PUNCTUATION)}\s]", " ", text)
    text = re.sub(r"\s+([.,?!])", r"\1", text)            # no space before punctuation
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------- symbol tables

@dataclass(frozen=True)
class SymbolTable:
    """Symbols <-> ids. Id 0 is PAD, id 1 EOS, the others follow `symbols` in order.

    encode(text or tokens) -> list of ids (EOS appended with add_eos);
    decode(ids) -> str of the symbols joined by `joiner`, PAD and EOS dropped
    (decode stops at the first EOS).
    """
    symbols: tuple[str, ...]
    joiner: str = ""

    def __post_init__(self):
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must be unique")
        if PAD in self.symbols or EOS in self.symbols:
            raise ValueError(f"{PAD} and {EOS} are added by the table; leave them out")

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], joiner: str = "") -> "SymbolTable":
        """A table of every distinct token seen, sorted (deterministic)."""
        return cls(tuple(sorted(set(tokens))), joiner)

    @property
    def all_symbols(self) -> tuple[str, ...]:
        return (PAD, EOS, *self.symbols)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.symbols) + 2

    def _index(self) -> dict[str, int]:
        index = self.__dict__.get("_cached_index")
        if index is None:
            index = {s: i for i, s in enumerate(self.all_symbols)}
            object.__setattr__(self, "_cached_index", index)
        return index

    def encode(self, tokens: str | Sequence[str], add_eos: bool = True) -> list[int]:
        """A str (one symbol per character) or a list of tokens -> ids."""
        index = self._index()
        unknown = sorted({t for t in tokens if t not in index or t in (PAD, EOS)})
        if unknown:
            raise ValueError(f"symbols not in the table: {unknown}; normalize() the text first "
                             f"or build the table from these tokens")
        return [index[t] for t in tokens] + ([self.eos_id] if add_eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; stops at the first EOS, skips PAD."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise ValueError(f"id {i} out of range for a table of {len(self)} symbols")
            if i == self.eos_id:
                break
            if i != self.pad_id:
                out.append(self.all_symbols[i])
        return self.joiner.join(out)


CHARACTERS = SymbolTable(tuple(" abcdefghijklmnopqrstuvwxyz" + PUNCTUATION))


def phoneme_tokens(text: str, voice: str = "en-us") -> list[str]:
    """IPA phoneme tokens of `text` (normalised first) with WORD_BOUNDARY between words.

    The tokens (stress marks kept on their vowel, "ˈoʊ") are those of eSpeak's phoneme
    events, so they line up with `synthesize(...).events` once pauses are dropped.
    """
    from course_lib.speech.espeak import phonemize

    tokens: list[str] = []
    for word in phonemize(normalize(text), voice=voice, separator="|").split():
        if tokens:
            tokens.append(WORD_BOUNDARY)
        tokens.extend(t for t in word.split("|") if t)
    return tokens
