"""course_lib.speech.text: normalisation, symbol tables, phoneme tokens."""

from __future__ import annotations

import pytest

from course_lib.speech.text import (CHARACTERS, EOS, PAD, WORD_BOUNDARY, SymbolTable,
                                    digits_to_words, normalize, number_to_words,
                                    ordinal_to_words, phoneme_tokens, time_to_words)


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (42, "forty two"),
    (100, "one hundred"), (101, "one hundred one"), (999, "nine hundred ninety nine"),
    (1000, "one thousand"), (2048, "two thousand forty eight"),
    (1_000_001, "one million one"), (-15, "minus fifteen"),
    (123_456_789, "one hundred twenty three million four hundred fifty six thousand "
                   "seven hundred eighty nine")])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize("n, words", [(1, "first"), (2, "second"), (3, "third"), (4, "fourth"),
                                      (5, "fifth"), (8, "eighth"), (9, "ninth"), (11, "eleventh"),
                                      (12, "twelfth"), (20, "twentieth"), (22, "twenty second"),
                                      (40, "fortieth"), (101, "one hundred first")])
def test_ordinal_to_words(n, words):
    assert ordinal_to_words(n) == words


def test_times_and_digits():
    assert time_to_words(7, 0) == "seven o'clock"
    assert time_to_words(7, 5) == "seven oh five"
    assert time_to_words(19, 45) == "nineteen forty five"
    assert digits_to_words("4071") == "four zero seven one"


@pytest.mark.parametrize("bad", [1.5, True, "3", 10**12])
def test_number_errors(bad):
    with pytest.raises(ValueError, match="n must be an int"):
        number_to_words(bad)


def test_time_errors():
    with pytest.raises(ValueError, match="minute"):
        time_to_words(3, 60)
    with pytest.raises(ValueError, match="digits"):
        digits_to_words("12a")


@pytest.mark.parametrize("written, spoken", [
    ("Wake me at 7:45 on the 3rd.", "wake me at seven forty five on the third."),
    ("My flight lands at 11:30 pm, gate 14.",
     "my flight lands at eleven thirty p m, gate fourteen."),
    ("About 40% of the 1,200 tickets.", "about forty percent of the one thousand two hundred tickets."),
    ("Pi is 3.14", "pi is three point one four"),
    ("Call 5551234567 or 0815!", "call five five five one two three four five six seven or zero eight one five!"),
    ("Rock  &   Roll ; (live)", "rock and roll live"),
    ("the 11th, 12th and 13th", "the eleventh, twelfth and thirteenth"),
    ("room 2nd3", "room two nd three"),    # not an ordinal: no word boundary
])
def test_normalize(written, spoken):
    assert normalize(written) == spoken


def test_normalize_output_fits_the_character_table():
    for text in ["It's 9:05 AM on Jan 2nd -- 50% off (#1)!", "Ça va? Ünïcode 42"]:
        ids = CHARACTERS.encode(normalize(text))
        assert CHARACTERS.decode(ids) == normalize(text)


def test_symbol_table_round_trip_and_ids():
    text = "hello, world."
    ids = CHARACTERS.encode(text)
    assert ids[-1] == CHARACTERS.eos_id == 1 and 0 not in ids
    assert len(ids) == len(text) + 1
    assert CHARACTERS.decode(ids) == text
    assert CHARACTERS.decode(ids + [0, 0]) == text                # padding is ignored
    assert CHARACTERS.decode(CHARACTERS.encode("ab") + CHARACTERS.encode("cd")) == "ab"  # stops at EOS
    assert CHARACTERS.encode(text, add_eos=False) == ids[:-1]
    assert CHARACTERS.all_symbols[:2] == (PAD, EOS) and len(CHARACTERS) == len(CHARACTERS.all_symbols)


def test_symbol_table_errors():
    with pytest.raises(ValueError, match="not in the table"):
        CHARACTERS.encode("Hello")                                 # upper case: normalize first
    with pytest.raises(ValueError, match="out of range"):
        CHARACTERS.decode([len(CHARACTERS)])
    with pytest.raises(ValueError, match="unique"):
        SymbolTable(("a", "a"))
    with pytest.raises(ValueError, match="added by the table"):
        SymbolTable((PAD, "a"))


def test_phoneme_tokens_and_table():
    tokens = phoneme_tokens("hello world")
    assert tokens == ["h", "ə", "l", "ˈoʊ", WORD_BOUNDARY, "w", "ˈɜː", "l", "d"]
    table = SymbolTable.from_tokens(tokens, joiner="|")
    assert table.symbols == tuple(sorted(set(tokens)))
    assert table.decode(table.encode(tokens)) == "|".join(tokens)
    assert phoneme_tokens("42") == phoneme_tokens("forty two")  # normalised first
