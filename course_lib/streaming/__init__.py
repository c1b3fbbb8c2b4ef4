"""Real time and streaming (day 19).

- `latency`: the vocabulary, measured — real-time factor, words matched between what
  was emitted and the truth (jiwer's alignment), per-word emission latency.
- `asr`: streaming recognition — a growing buffer re-decoded chunk by chunk,
  LocalAgreement-2 commits, cuts in the pauses before uncommitted words (an energy pause
  finder), emission times on a simulated clock.
- `tts`: streaming synthesis — day 11's mel at once, then the vocoder chunk by chunk with
  exactly the context its receptive field needs (chunks equal the whole wave). The
  service's streaming endpoint is in `speech.service`.
- `analysis`: frames through day 18's CLIP-style model as they arrive — zero-shot digit
  prompts, every k-th frame, a window of scores, per-frame latency.
"""
