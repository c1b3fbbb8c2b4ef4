"""Day 19's streaming recognition: LocalAgreement-2 commits, pause-based trimming, the
energy pause finder, and the latency vocabulary (word matching by the WER alignment)."""

import pytest
import torch

from course_lib.streaming.asr import StreamingRecognizer, Word, common_prefix, silent_runs
from course_lib.streaming.latency import emission_latencies, matched_words, real_time_factor

SR = 16_000


def test_common_prefix():
    assert common_prefix(["a", "b", "c"], ["a", "b", "d", "e"]) == 2
    assert common_prefix([], ["a"]) == 0 and common_prefix(["a"], ["a"]) == 1
    assert common_prefix(["x", "b"], ["a", "b"]) == 0


def test_silent_runs_find_pauses_of_at_least_the_minimum():
    tone = lambda seconds: 0.5 * torch.sin(torch.arange(round(seconds * SR)) * 0.3)
    wave = torch.cat([tone(0.5), torch.zeros(round(0.3 * SR)), tone(0.4), torch.zeros(round(0.1 * SR)), tone(0.2)])
    runs = silent_runs(wave, min_seconds=0.2)
    assert len(runs) == 1 and runs[0][0] == pytest.approx(0.5, abs=0.02) and runs[0][1] == pytest.approx(0.8, abs=0.02)
    assert len(silent_runs(wave, min_seconds=0.08)) == 2
    assert silent_runs(torch.zeros(10)) == []


class Scripted(StreamingRecognizer):
    """A recogniser whose hypotheses are given: one list of (word, start, end) per feed,
    in buffer seconds (shifted by the buffer's offset as the real one does)."""

    def __init__(self, script, **kwargs):
        super().__init__(asr=None, spike_lag=0.0, **kwargs)
        self.script = list(script)

    def _hypothesis(self):
        return [(w, self.offset + s, self.offset + e) for w, s, e in self.script.pop(0)]


def test_local_agreement_commits_what_two_hypotheses_share():
    chunk = torch.full((SR // 2,), 0.1)
    stream = Scripted([[("one", 0.0, 0.3)],
                       [("one", 0.0, 0.3), ("too", 0.3, 0.6)],
                       [("one", 0.0, 0.3), ("two", 0.3, 0.6), ("three", 0.6, 0.9)],
                       [("one", 0.0, 0.3), ("two", 0.3, 0.6), ("three", 0.6, 0.9)]], max_buffer=10)
    assert stream.feed(chunk) == []                                   # nothing to agree with yet
    assert [w.text for w in stream.feed(chunk)] == ["one"]            # "one" seen twice
    assert stream.feed(chunk) == []                                   # "too" became "two": wait
    second = stream.feed(chunk)
    assert [w.text for w in second] == ["two", "three"]
    assert all(w.emitted >= 2.0 for w in second)                      # after the 4th chunk arrived (2 s)
    assert stream.finish() == [] and stream.text == "one two three"


def test_finish_commits_the_last_hypothesis_and_emission_is_never_before_arrival():
    stream = Scripted([[("a", 0.0, 0.2)], [("a", 0.0, 0.2), ("b", 0.3, 0.5)]], max_buffer=10)
    stream.feed(torch.zeros(SR))
    first = stream.feed(torch.zeros(SR))
    assert [w.text for w in first] == ["a"] and first[0].emitted >= 2.0
    last = stream.finish()
    assert [w.text for w in last] == ["b"] and last[0].emitted >= 2.0


def test_trimming_cuts_in_the_last_pause_before_the_first_uncommitted_word():
    speech = lambda seconds: 0.5 * torch.sin(torch.arange(round(seconds * SR)) * 0.3)
    wave = torch.cat([speech(0.6), torch.zeros(SR // 2), speech(0.5)])          # pause 0.6-1.1 s
    words = [("one", 0.0, 0.6), ("two", 1.1, 1.6)]
    stream = Scripted([words[:1], words, words], max_buffer=1.0)
    stream.feed(wave[:8000])
    stream.feed(wave[8000:20000])            # "one" agreed; 1.25 s > max_buffer: cut in the pause
    assert stream.offset == pytest.approx(0.86, abs=0.03) and stream.in_buffer == 0
    assert [w for w, _, _ in stream.previous] == ["two"]
    assert len(stream.buffer) == 20000 - round(stream.offset * SR)
    stream.script = [[("two", 1.1 - stream.offset, 1.6 - stream.offset)]]
    assert [w.text for w in stream.feed(wave[20000:])] == ["two"]   # agreed with the kept hypothesis


def test_bad_chunks_are_named():
    stream = Scripted([])
    with pytest.raises(ValueError, match="chunk is empty"):
        stream.feed(torch.zeros(0))
    with pytest.raises(ValueError, match="chunk"):
        stream.feed(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="decode"):
        StreamingRecognizer(asr=None, spike_lag=0.0, decode="joint")


def test_latency_vocabulary():
    assert real_time_factor(0.5, 2.0) == 0.25
    with pytest.raises(ValueError, match="media_seconds"):
        real_time_factor(1.0, 0.0)
    assert matched_words(["one", "two", "four"], ["one", "two", "three", "four"]) == [(0, 0), (1, 1), (2, 3)]
    assert matched_words([], ["a"]) == []
    emitted = [Word("one", 0.0, 0.3, 1.0), Word("tree", 0.3, 0.6, 1.5), Word("four", 0.6, 0.9, 2.5)]
    truth = [("one", 0.0, 0.3), ("three", 0.3, 0.6), ("four", 0.6, 0.9)]
    assert emission_latencies(emitted, truth) == [pytest.approx(0.7), pytest.approx(1.6)]   # the miss does not count


def test_committed_words_after_the_cut_stay_and_are_not_committed_again():
    speech = lambda seconds: 0.5 * torch.sin(torch.arange(round(seconds * SR)) * 0.3)
    wave = torch.cat([speech(0.6), torch.zeros(SR // 2), speech(0.6)])          # pause 0.6-1.1 s
    words = [("one", 0.0, 0.6), ("two", 1.1, 1.4), ("three", 1.4, 1.7)]
    stream = Scripted([words[:2], words, words], max_buffer=1.0)
    stream.feed(wave[:12000])
    committed = stream.feed(wave[12000:20000])      # "one two" agreed, "three" not yet; cut in the pause
    assert [w.text for w in committed] == ["one", "two"]
    assert stream.offset == pytest.approx(0.86, abs=0.03) and stream.in_buffer == 1      # "two" is still heard
    assert [w for w, _, _ in stream.previous] == ["two", "three"]
    shift = stream.offset
    stream.script = [[(w, s - shift, e - shift) for w, s, e in words[1:]]]
    assert [w.text for w in stream.feed(wave[20000:])] == ["three"]
    assert stream.text == "one two three"


def test_run_stream_feeds_every_sample_in_chunks_and_finishes(monkeypatch):
    from course_lib.streaming import asr as streaming_asr

    seen = []
    monkeypatch.setattr(StreamingRecognizer, "_hypothesis", lambda self: seen.append(len(self.buffer)) or [])
    stream = streaming_asr.run_stream(None, 0.0, torch.zeros(SR + 3000), chunk_seconds=0.5, max_buffer=10)
    assert seen == [8000, 16000, 19000] and stream.heard == pytest.approx(19000 / SR)   # the last chunk shorter
    assert len(stream.compute_seconds) == 3 and stream.committed == []
    with pytest.raises(ValueError, match="chunk_seconds"):
        streaming_asr.run_stream(None, 0.0, torch.zeros(10), chunk_seconds=0)
