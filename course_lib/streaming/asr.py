"""Streaming speech recognition with LocalAgreement-2 (day 19), after whisper_streaming
(Macháček, Dabre & Bojar, 2023).

An offline recogniser hears a whole utterance; a live one hears audio as it arrives, in
chunks. The policy that turns one into the other:

1. append each chunk to a **buffer** (the audio since the last trim point);
2. re-decode the whole buffer, and time its words (`speech.ctc_align`);
3. **LocalAgreement-2**: commit the words two consecutive hypotheses agree on (their
   longest common prefix, beyond what is already committed) — a word is emitted once a
   second look did not change it;
4. **trim**: once the buffer holds more than `max_buffer` seconds, cut it in the middle
   of the last pause (an energy pause finder, `silent_runs`) that ends before the first
   uncommitted word, so the model hears utterances from their start and seldom more
   audio than it was trained on.

    stream = StreamingRecognizer(asr, spike_lag)        # day 12's TrainedASR, ctc_align's lag
    for chunk in chunks:                                # (n,) waves at 16 kHz
        for word in stream.feed(chunk):
            print(word.text, word.start, word.emitted)  # committed, with its stream times
    stream.finish()                                     # commits what the last hypothesis holds

Times are stream seconds. `emitted` is when the word was committed, on a simulated clock:
a chunk arrives when its last sample has been spoken, and is processed once the previous
one is done (`busy_until`), taking the measured compute time — so a recogniser slower
than real time falls behind, as it would live.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.checks import check_shape

__all__ = ["Word", "common_prefix", "silent_runs", "StreamingRecognizer", "run_stream"]

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Word:
    """A committed word: its text, its (start, end) in the stream and when it was emitted
    (all in seconds from the start of the stream)."""
    text: str
    start: float
    end: float
    emitted: float


def common_prefix(previous: list[str], current: list[str]) -> int:
    """How many leading words two hypotheses share (LocalAgreement-2's agreement)."""
    n = 0
    for a, b in zip(previous, current):
        if a != b:
            break
        n += 1
    return n


def silent_runs(wave: Tensor, min_seconds: float = 0.2, frame_seconds: float = 0.02,
                threshold_db: float = -40.0) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches of wave (T,) at 16 kHz that stay `threshold_db`
    below its loudest 20 ms frame for at least `min_seconds`: pauses, where a cut can fall
    without splitting a word (an energy voice-activity detector)."""
    check_shape(wave, "wave", "T")
    hop = round(frame_seconds * SAMPLE_RATE)
    if len(wave) < hop:
        return []
    rms = wave[: len(wave) // hop * hop].reshape(-1, hop).pow(2).mean(1).sqrt()
    level = 20 * torch.log10(rms.clamp_min(1e-8) / rms.max().clamp_min(1e-8))
    quiet = (level < threshold_db).tolist() + [False]
    runs, begin = [], None
    for i, q in enumerate(quiet):
        if q and begin is None:
            begin = i
        elif not q and begin is not None:
            if (i - begin) * frame_seconds >= min_seconds:
                runs.append((begin * frame_seconds, i * frame_seconds))
            begin = None
    return runs


@dataclass
class StreamingRecognizer:
    """Day 12's recogniser (`asr_train.TrainedASR`, with its CTC head) made live.

    spike_lag: `ctc_align.calibrate_spike_lag` of the model (seconds). max_buffer: once
    the buffer is longer (seconds), it is cut in the middle of the last pause that ends
    before the first uncommitted word (committed words after the cut stay, counted in
    `in_buffer`). language: what the speaker speaks.
    decode: "ctc" (the encoder's CTC head, best path: one pass, no decoder — what WeNet
    streams with) or "attention" (day 12's decoder, greedy).
    """

    asr: object
    spike_lag: float
    max_buffer: float = 3.0
    language: str = "en"
    decode: str = "ctc"
    buffer: Tensor = field(default_factory=lambda: torch.zeros(0))
    offset: float = 0.0                 # stream time of buffer[0]
    heard: float = 0.0                  # stream time of the last sample received
    busy_until: float = 0.0             # simulated clock: when the last update finished
    committed: list[Word] = field(default_factory=list)
    previous: list[tuple[str, float, float]] = field(default_factory=list)   # last hypothesis of the buffer
    in_buffer: int = 0                  # how many of its words are committed
    compute_seconds: list[float] = field(default_factory=list)

    def __post_init__(self):
        from course_lib.checks import check_choice

        check_choice(self.decode, "decode", ("ctc", "attention"))

    def _hypothesis(self) -> list[tuple[str, float, float]]:
        """Every word the model hears in the buffer, with its stream times."""
        from course_lib.speech.ctc import ctc_greedy
        from course_lib.speech.ctc_align import ctc_align_words, ctc_log_probs

        log_probs = ctc_log_probs(self.asr.model, self.buffer)                     # (S, V + 1)
        if self.decode == "ctc":
            text = self.asr.tokenizer.decode([c - 1 for c in ctc_greedy(log_probs)[0]])
        else:
            text = self.asr.transcribe([self.buffer], language=self.language)[0]
        if not text.split():
            return []
        times = ctc_align_words(self.asr.model, self.asr.tokenizer, self.buffer, text, self.spike_lag,
                                log_probs=log_probs)
        return [(w, self.offset + s, self.offset + e) for w, (s, e) in zip(text.split(), times)]

    def _commit(self, words: list[tuple[str, float, float]], now: float) -> list[Word]:
        out = [Word(w, s, e, now) for w, s, e in words]
        self.committed += out
        return out

    def feed(self, chunk: Tensor) -> list[Word]:
        """Take the next chunk (n,) at 16 kHz; return the words it lets us commit."""
        check_shape(chunk, "chunk", "n")
        if len(chunk) == 0:
            raise ValueError("chunk is empty: feed at least one sample")
        self.buffer = torch.cat([self.buffer, chunk.float()])
        self.heard += len(chunk) / SAMPLE_RATE
        t0 = time.perf_counter()
        hypothesis = self._hypothesis()
        agreed = common_prefix([w for w, _, _ in self.previous], [w for w, _, _ in hypothesis])
        fresh = hypothesis[self.in_buffer:agreed]
        self.in_buffer = max(self.in_buffer, agreed)
        self.previous = hypothesis
        if len(self.buffer) / SAMPLE_RATE > self.max_buffer and self.in_buffer:
            self._trim()
        compute = time.perf_counter() - t0
        self.compute_seconds.append(compute)
        self.busy_until = max(self.heard, self.busy_until) + compute
        return self._commit(fresh, self.busy_until)

    def _trim(self) -> None:
        """Cut the buffer in the middle of the last pause that ends before the first
        uncommitted word starts: the committed words before the cut go, those after it
        stay (and are skipped by count in the next hypotheses)."""
        words = self.previous
        limit = words[self.in_buffer][1] if len(words) > self.in_buffer else self.heard
        pauses = [(self.offset + a, self.offset + b) for a, b in silent_runs(self.buffer)]
        cuts = [(a + b) / 2 for a, b in pauses if b <= limit + 0.1]
        if not cuts:
            return
        cut = cuts[-1]
        dropped = sum(1 for _, start, _ in words[:self.in_buffer] if start < cut)
        samples = round((cut - self.offset) * SAMPLE_RATE)
        self.buffer = self.buffer[samples:]
        self.offset += samples / SAMPLE_RATE
        self.previous = words[dropped:]
        self.in_buffer -= dropped

    def finish(self) -> list[Word]:
        """The stream has ended: commit the last hypothesis as it stands."""
        new = self._commit(self.previous[self.in_buffer:], max(self.heard, self.busy_until))
        self.previous, self.in_buffer = [], 0
        return new

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.committed)


def run_stream(asr, spike_lag: float, wave: Tensor, chunk_seconds: float, **options) -> StreamingRecognizer:
    """wave (T,) at 16 kHz fed to a new `StreamingRecognizer(asr, spike_lag, **options)` in
    chunks of `chunk_seconds` (the last one shorter), then finished; the recogniser, with
    its committed words, times and compute, is returned."""
    check_shape(wave, "wave", "T")
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be positive; got {chunk_seconds!r}")
    stream = StreamingRecognizer(asr, spike_lag, **options)
    n = max(1, round(chunk_seconds * SAMPLE_RATE))
    for start in range(0, len(wave), n):
        stream.feed(wave[start:start + n])
    stream.finish()
    return stream
