"""Captions of moving-digit clips as words (day 08): a word tokenizer, the null caption
of classifier-free guidance, and the (digit, direction) pairs held out of training.

Every clip of `data.digits.make_moving_digits` has a caption, "a 3 moving up-left"
(`digits.caption`: the digit and the compass direction it starts in). The tokenizer
splits on spaces and hyphens, so compass words compose — "up-left" is "up" then
"left" — and a word-order probe can ask for "left-up":

    ids, pad = tokenize(["a 3 moving up-left", "a 7 moving down"])
    # ids (2, 5) int64: [[2, 6, 13, 14, 16], [2, 10, 13, 15, 0]]; pad (2, 5) bool, True = padding

Id 0 pads; id 1 is the word "<null>": the null caption that classifier-free guidance
trains with is <null> at every position (`NULL_CAPTION`, no padding, so attention
always has keys to attend to, and a row of the null id is all a sampler needs).

Composition test: the ten (digit, direction) pairs of `HELD_OUT_PAIRS` — one per digit,
every direction at least once — never appear in training (`is_held_out`); a model that
draws "a 4 moving up-right" has then combined a digit and a direction it only ever saw
apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from course_lib.data.digits import DIRECTIONS, MovingDigits, MovingDigitsSpec, load_moving_digits

__all__ = ["PAD", "NULL", "WORDS", "MAX_WORDS", "NULL_CAPTION", "HELD_OUT_PAIRS", "split_words", "tokenize",
           "direction_name", "is_held_out", "decode", "CaptionedClipsSpec", "held_out_mask"]

PAD, NULL = "<pad>", "<null>"
WORDS = (PAD, NULL, "a", *[str(d) for d in range(10)], "moving", "up", "down", "left", "right")
MAX_WORDS = 5                           # "a 3 moving up left"
NULL_CAPTION = " ".join([NULL] * MAX_WORDS)
_IDS = {w: i for i, w in enumerate(WORDS)}
_DIRECTION_NAMES = list(DIRECTIONS.values())         # up, down, left, right, up-left, up-right, down-left, down-right
# One held-out direction per digit, 3 apart in the list above: every direction is held out
# for at least one digit, and no digit loses more than one.
HELD_OUT_PAIRS = frozenset((d, _DIRECTION_NAMES[(3 * d) % len(_DIRECTION_NAMES)]) for d in range(10))


def split_words(text: str) -> list[str]:
    """"a 3 moving up-left" -> ["a", "3", "moving", "up", "left"] (lower case; spaces and hyphens split)."""
    if not isinstance(text, str):
        raise TypeError(f"a caption must be a str; got {type(text).__name__}")
    return [w for w in re.split(r"[\s\-]+", text.strip().lower()) if w]


def tokenize(captions: list[str], max_words: int = MAX_WORDS) -> tuple[torch.Tensor, torch.Tensor]:
    """captions (B strings) -> (ids (B, max_words) int64, pad (B, max_words) bool, True =
    padding). An unknown word or a caption longer than `max_words` is an error naming it."""
    if isinstance(captions, str) or not isinstance(captions, (list, tuple)) or not captions:
        raise ValueError(f"captions must be a non-empty list of strings; got {captions!r}")
    ids = torch.zeros(len(captions), max_words, dtype=torch.int64)
    for i, text in enumerate(captions):
        words = split_words(text)
        if not 1 <= len(words) <= max_words:
            raise ValueError(f"caption {text!r} has {len(words)} words; 1 to {max_words} fit")
        unknown = [w for w in words if w not in _IDS]
        if unknown:
            raise ValueError(f"caption {text!r}: unknown words {unknown}; the vocabulary is {WORDS[2:]}")
        ids[i, :len(words)] = torch.tensor([_IDS[w] for w in words])
    return ids, ids == _IDS[PAD]


def decode(ids: torch.Tensor) -> list[str]:
    """(B, L) ids -> captions (padding dropped; compass words joined back with '-')."""
    out = []
    for row in ids.tolist():
        words = [WORDS[i] for i in row if i != _IDS[PAD]]
        if len(words) == 5 and words[2] == "moving":
            words = words[:3] + [f"{words[3]}-{words[4]}"]
        out.append(" ".join(words))
    return out


def direction_name(velocity: tuple[int, int]) -> str:
    """(row, col) velocity -> its compass name ("up-left", ...)."""
    sign = tuple(int(v > 0) - int(v < 0) for v in velocity)
    if sign not in DIRECTIONS:
        raise ValueError(f"velocity must be non-zero; got {tuple(velocity)}")
    return DIRECTIONS[sign]


def is_held_out(label: int, velocity: tuple[int, int]) -> bool:
    """Whether the clip's (digit, direction) pair is one of `HELD_OUT_PAIRS`."""
    return (int(label), direction_name(velocity)) in HELD_OUT_PAIRS


def held_out_mask(data: MovingDigits) -> torch.Tensor:
    """(N,) bool: which clips show one of the `HELD_OUT_PAIRS`."""
    return torch.tensor([is_held_out(y, tuple(v)) for y, v in zip(data.labels.tolist(), data.velocities.tolist())])


@dataclass(frozen=True)
class CaptionedClipsSpec(MovingDigitsSpec):
    """Day 08's captioned clips: `clips` moving digits of `frames` frames on a `canvas`
    canvas at `speeds`, each starting at the wall behind its motion (`make_moving_digits`
    with start="behind"), so the caption's direction is what the first frames show. The
    training split drops every clip of a held-out (digit, direction) pair.

        spec = CaptionedClipsSpec()
        train = spec.load("train")       # MovingDigits: no held-out pair in it
        ids, pad = tokenize(train.captions)

    The fields (and their checks) are `MovingDigitsSpec`'s; only the clips it loads differ.
    """

    def load(self, split: str = "train") -> MovingDigits:
        """The clips of `split` (digits of the training or the test split of `digits_split`);
        for "train", without the held-out pairs."""
        data = load_moving_digits(split, n=self.clips, frames=self.frames, canvas=self.canvas, speeds=self.speeds,
                                  seed=self.seed, start="behind")
        if split != "train":
            return data
        keep = ~held_out_mask(data)
        return MovingDigits(data.videos[keep], data.labels[keep], data.digit_index[keep], data.positions[keep],
                            data.velocities[keep], [c for c, k in zip(data.captions, keep.tolist()) if k])
