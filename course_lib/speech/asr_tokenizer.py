"""Whisper's special tokens and a word-level tokenizer after them (day 12).

    tok = Tokenizer.from_texts(["three seven one", "drei sieben eins"])
    tok.sequence("drei sieben eins", "de", "translate")
    # [<|startoftranscript|>, <|de|>, <|translate|>, drei, sieben, eins, <|endoftext|>] as ids

The task is told by a prompt of special tokens, as in Whisper:

    <|startoftranscript|> <|de|> <|translate|>  three seven one <|endoftext|>

The language token is also what the model *predicts* after <|startoftranscript|>:
language identification for free (`asr.detect_language`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from course_lib.checks import check_choice

__all__ = ["SOT", "EOT", "TRANSCRIBE", "TRANSLATE", "LANGUAGES", "LANGUAGE_TOKENS", "SPECIAL_TOKENS",
           "TASKS", "Tokenizer"]

SOT = "<|startoftranscript|>"
EOT = "<|endoftext|>"
TRANSCRIBE = "<|transcribe|>"
TRANSLATE = "<|translate|>"
LANGUAGES = ("en", "de", "es", "fr")
LANGUAGE_TOKENS = tuple(f"<|{lang}|>" for lang in LANGUAGES)
SPECIAL_TOKENS = (EOT, SOT, *LANGUAGE_TOKENS, TRANSCRIBE, TRANSLATE)
TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class Tokenizer:
    """Text <-> ids over words (or characters), after Whisper's special tokens.

    Ids 0 .. 7 are SPECIAL_TOKENS (0 = <|endoftext|>, 1 = <|startoftranscript|>, then
    <|en|> <|de|> <|es|> <|fr|> <|transcribe|> <|translate|>); the vocabulary follows.
    level "word": a token is a space-separated word; "char": a character (spaces too).
    """
    vocabulary: tuple[str, ...]
    level: str = "word"

    def __post_init__(self):
        check_choice(self.level, "level", ("word", "char"))
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("vocabulary must hold distinct tokens")
        clash = set(self.vocabulary) & set(SPECIAL_TOKENS)
        if clash:
            raise ValueError(f"vocabulary must not contain special tokens; got {sorted(clash)}")

    @classmethod
    def from_texts(cls, texts: Sequence[str], level: str = "word") -> "Tokenizer":
        """The sorted set of words (or characters) of `texts`: deterministic."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        pieces = (t for text in texts for t in (text.split() if level == "word" else text))
        return cls(tuple(sorted(set(pieces))), level)

    def __len__(self) -> int:
        return len(SPECIAL_TOKENS) + len(self.vocabulary)

    @property
    def _index(self) -> dict[str, int]:
        index = self.__dict__.get("_cached")
        if index is None:
            index = {t: i for i, t in enumerate((*SPECIAL_TOKENS, *self.vocabulary))}
            object.__setattr__(self, "_cached", index)
        return index

    def token_id(self, token: str) -> int:
        if token not in self._index:
            raise ValueError(f"unknown token {token!r}")
        return self._index[token]

    @property
    def sot(self) -> int:
        return self._index[SOT]

    @property
    def eot(self) -> int:
        return self._index[EOT]

    @property
    def language_ids(self) -> list[int]:
        return [self._index[t] for t in LANGUAGE_TOKENS]

    def symbols(self) -> tuple[str, ...]:
        """Every token, by id: the special tokens, then the vocabulary."""
        return (*SPECIAL_TOKENS, *self.vocabulary)

    def encode(self, text: str) -> list[int]:
        """Text (no special tokens) -> ids."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str; got {type(text).__name__}")
        pieces = text.split() if self.level == "word" else list(text)
        unknown = sorted({p for p in pieces if p not in self._index or p in SPECIAL_TOKENS})
        if unknown:
            raise ValueError(f"tokens not in the vocabulary: {unknown}")
        return [self._index[p] for p in pieces]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text: special tokens are skipped, decoding stops at <|endoftext|>."""
        symbols = self.symbols()
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(symbols):
                raise ValueError(f"id {i} out of range for a vocabulary of {len(symbols)}")
            if i == self.eot:
                break
            if i >= len(SPECIAL_TOKENS):
                out.append(symbols[i])
        return (" " if self.level == "word" else "").join(out)

    def prompt(self, language: str | None = None, task: str = "transcribe") -> list[int]:
        """[<|startoftranscript|>, <|lang|>, <|task|>], or just [SOT] when language is None."""
        check_choice(task, "task", TASKS)
        if language is None:
            return [self.sot]
        check_choice(language, "language", (*LANGUAGES, None))
        return [self.sot, self._index[f"<|{language}|>"], self._index[f"<|{task}|>"]]

    def sequence(self, text: str, language: str, task: str = "transcribe") -> list[int]:
        """The full training sequence: prompt + text + <|endoftext|>."""
        return [*self.prompt(language, task), *self.encode(text), self.eot]
