"""course_lib.music.tokenizer and course_lib.data.chorales: exact round trip over the whole
corpus (the oracle is quantise), the grammar, and the dataset splits."""

import pytest

from course_lib.data.chorales import chorale_names, chorale_notes, load_chorales, split_pieces, transpose
from course_lib.music.midi import Note
from course_lib.music.tokenizer import (
    BOS,
    EOS,
    REMITokenizer,
    TokenizerConfig,
    TSDTokenizer,
    bin_velocity,
    quantise,
    velocity_bin,
)

TOKENIZERS = [REMITokenizer(), TSDTokenizer(), REMITokenizer(TokenizerConfig(parts=True)),
              TSDTokenizer(TokenizerConfig(beat_resolution=2, velocity_bins=4, parts=True)),
              REMITokenizer(TokenizerConfig(beat_resolution=12, velocity_bins=32, max_duration_beats=4))]


@pytest.fixture(scope="module")
def corpus():
    return load_chorales(progress=False)     # parses once (~30-60 s), then loads from artifacts/


def test_corpus_parses_and_failures_have_reasons(corpus):
    assert len(corpus) >= 340, f"only {len(corpus)} chorales parsed"
    assert len(corpus) + len(corpus.failures) == len(chorale_names()) == 350   # 371 listed, 21 twice
    assert all(reason for _, reason in corpus.failures)
    names = [c.name for c in corpus.pieces]
    assert len(set(names)) == len(names)
    for c in corpus.pieces:
        assert {n.part for n in c.notes} == {0, 1, 2, 3}, f"{c.name} must have four voices"
        assert c.beats_per_bar in (3.0, 4.0, 6.0)
        assert c.notes == sorted(c.notes)


def test_chorale_notes_agrees_with_the_corpus(corpus):
    title, notes = chorale_notes(0)
    assert title == corpus.pieces[0].title and notes == corpus.pieces[0].notes
    bar = corpus.pieces[0].beats_per_bar
    soprano = [n for n in notes if n.part == 0]
    # the first chorale (bwv269) starts with a pickup: its first note ends exactly on a bar line
    assert soprano[0].start % bar != 0 and soprano[0].end % bar == 0


@pytest.mark.parametrize("tokenizer", TOKENIZERS, ids=lambda t: f"{t.name}-{t.config.beat_resolution}-{t.config.parts}")
def test_round_trip_is_exact_on_every_chorale(corpus, tokenizer):
    for c in corpus.pieces:
        tokens = tokenizer.encode(c.notes, c.beats_per_bar)
        assert tokens[0] == BOS and tokens[-1] == EOS and max(tokens) < len(tokenizer)
        assert tokenizer.check_grammar(tokens) is None, (c.name, tokenizer.check_grammar(tokens))
        assert tokenizer.decode(tokens) == quantise(c.notes, tokenizer.config), c.name
        assert tokenizer.meter(tokens) == c.beats_per_bar


def test_quantise_rules_and_idempotence():
    cfg = TokenizerConfig(beat_resolution=4, velocity_bins=8, max_duration_beats=2)
    notes = [Note(0.13, 60, 0.01, 127, 2), Note(0.125, 62, 3.0, 1), Note(1.0, 64, 0.3, 64)]
    q = quantise(notes, cfg)
    assert q == sorted([Note(0.25, 60, 0.25, 120, 0),      # start .52 steps -> 1 (0.25); tiny duration -> 1 step
                        Note(0.25, 62, 2.0, 8, 0),         # 0.5 steps rounds half up; clipped to 2 beats
                        Note(1.0, 64, 0.25, 72, 0)])       # 1.2 steps -> 1
    assert quantise(q, cfg) == q
    for bins in (1, 3, 8, 32, 64):
        for i in range(bins):
            assert velocity_bin(bin_velocity(i, bins), bins) == i
        assert {velocity_bin(v, bins) for v in range(128)} == set(range(bins))


def test_remi_tokens_of_a_small_bar():
    tok = REMITokenizer()
    notes = [Note(1.0, 67, 1.0, 80), Note(1.0, 60, 0.5, 80), Note(4.5, 62, 2.0, 80)]
    s = tok.to_strings(tok.encode(notes, beats_per_bar=4))
    assert s == ["BOS", "TimeSig_4", "Bar", "Position_4", "Pitch_60", "Velocity_5", "Duration_2",
                 "Pitch_67", "Velocity_5", "Duration_4", "Bar", "Position_2", "Pitch_62", "Velocity_5",
                 "Duration_8", "EOS"]
    t = TSDTokenizer()
    assert t.to_strings(t.encode(notes))[2:6] == ["TimeShift_4", "Pitch_60", "Velocity_5", "Duration_2"]
    assert "TimeShift_14" in t.to_strings(t.encode(notes))


def test_empty_bars_and_long_shifts():
    notes = [Note(0.0, 60, 1.0), Note(20.0, 62, 1.0)]       # 4 empty bars, a 20-beat gap
    for tok in (REMITokenizer(), TSDTokenizer()):
        tokens = tok.encode(notes, 4)
        assert tok.decode(tokens) == quantise(notes)
    assert REMITokenizer().to_strings(REMITokenizer().encode(notes, 4)).count("Bar") == 6


def test_grammar_catches_broken_sequences():
    tok = REMITokenizer()
    t = tok.token_to_id
    good = tok.encode([Note(0.0, 60, 1.0), Note(1.0, 62, 1.0)], 4)
    assert tok.check_grammar(good) is None
    bar, p0, p4, p20 = t["Bar"], t["Position_0"], t["Position_4"], t["Position_20"]
    pitch, vel, dur = t["Pitch_60"], t["Velocity_5"], t["Duration_4"]
    head = [BOS, t["TimeSig_4"]]
    cases = {
        "no BOS": [t["TimeSig_4"], bar, EOS],
        "position before bar": head + [p0, pitch, vel, dur, EOS],
        "position past the bar": head + [bar, p20, pitch, vel, dur, EOS],   # 4/4 has 16 positions
        "position goes back": head + [bar, p4, pitch, vel, dur, p0, pitch, vel, dur, EOS],
        "position repeated": head + [bar, p4, pitch, vel, dur, p4, pitch, vel, dur, EOS],
        "note out of order": head + [bar, p0, vel, pitch, dur, EOS],
        "position without note": head + [bar, p0, bar, EOS],
        "unfinished note": head + [bar, p0, pitch, vel, EOS],
        "no EOS": head + [bar, p0, pitch, vel, dur],
        "after EOS": good + [bar],
        "bad id": head + [len(tok)],
    }
    for name, seq in cases.items():
        assert tok.check_grammar(seq) is not None, name
        with pytest.raises(ValueError):
            tok.decode(seq)
    assert tok.check_grammar(head + [bar, p0, pitch, vel], complete=False) is None   # a cut-off sample
    assert tok.decode_prefix(head + [bar, p0, pitch, vel, dur, p4, pitch]) == [Note(0.0, 60, 1.0, 88)]
    assert "Position_20" in tok.check_grammar(cases["position past the bar"])


def test_bad_meter_and_transposition():
    tok = REMITokenizer()
    with pytest.raises(ValueError, match="beats_per_bar"):
        tok.encode([Note(0, 60, 1)], beats_per_bar=4.5)
    with pytest.raises(ValueError, match="beats_per_bar"):
        tok.encode([Note(0, 60, 1)], beats_per_bar=9)
    notes = [Note(0.0, 60, 1.0), Note(1.0, 64, 1.0)]
    assert tok.transpose_tokens(tok.encode(notes), 3) == tok.encode(transpose(notes, 3))
    with pytest.raises(ValueError, match="0..127"):
        tok.transpose_tokens(tok.encode(notes), 70)
    with pytest.raises(ValueError, match="0..127"):
        transpose(notes, -61)


def test_split_is_by_piece_and_fixed(corpus):
    train, valid, test = split_pieces(corpus.pieces)
    names = [{c.name for c in s} for s in (train, valid, test)]
    assert sum(map(len, names)) == len(corpus) and not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert abs(len(train) / len(corpus) - 0.8) < 0.01
    assert [c.name for c in split_pieces(corpus.pieces)[2]] == [c.name for c in test]


def test_tokens_per_note_is_near_the_reference(corpus):
    for tok, lo, hi in [(REMITokenizer(), 3.2, 3.7), (REMITokenizer(TokenizerConfig(parts=True)), 4.2, 4.7),
                        (TSDTokenizer(), 3.2, 3.6)]:
        n_tokens = sum(len(tok.encode(c.notes, c.beats_per_bar)) for c in corpus.pieces)
        n_notes = sum(len(c.notes) for c in corpus.pieces)
        assert lo < n_tokens / n_notes < hi, (tok, n_tokens / n_notes)
