"""The vocabulary of latency (day 19), measured rather than assumed.

- **time to first output** (TTFO): from the request (or the first sound) to the first
  byte, word or frame out;
- **per-item latency**: for each word, from when it was *said* (its end, in the audio)
  to when it was emitted;
- **real-time factor** (RTF): compute seconds per second of media; below 1 keeps up;
- **throughput**: media seconds (or items) produced per wall-clock second.

Words are matched between what was emitted and the truth by the edit-distance alignment
behind the word error rate (jiwer's): only words emitted *and* right count for latency.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["real_time_factor", "matched_words", "emission_latencies"]


def real_time_factor(compute_seconds: float, media_seconds: float) -> float:
    """Compute time per second of audio or video: < 1 keeps up with real time."""
    if not media_seconds > 0:
        raise ValueError(f"media_seconds must be positive; got {media_seconds!r}")
    if compute_seconds < 0:
        raise ValueError(f"compute_seconds must be >= 0; got {compute_seconds!r}")
    return compute_seconds / media_seconds


def matched_words(hypothesis: Sequence[str], reference: Sequence[str]) -> list[tuple[int, int]]:
    """(hypothesis index, reference index) of every word the WER alignment calls a hit."""
    import jiwer

    if not hypothesis or not reference:
        return []
    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    pairs = []
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            pairs += [(chunk.hyp_start_idx + k, chunk.ref_start_idx + k)
                      for k in range(chunk.ref_end_idx - chunk.ref_start_idx)]
    return pairs


def emission_latencies(emitted: Sequence, truth: Sequence[tuple[str, float, float]]) -> list[float]:
    """Seconds from each true word's end to its emission, for the words emitted right.

    emitted: objects with `.text` and `.emitted` (e.g. `streaming.asr.Word`), in order;
    truth: (word, start, end) in stream seconds (`data.speech.speak_stream`)."""
    pairs = matched_words([w.text for w in emitted], [w for w, _, _ in truth])
    return [emitted[h].emitted - truth[r][2] for h, r in pairs]
