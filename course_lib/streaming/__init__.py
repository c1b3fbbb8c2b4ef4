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
- `video_model`: the streaming video model — day 05's video DiT told the last frames
  (the buffer) and the player's actions through extra input channels; recipe, presets,
  load-or-train.
- `video`: streaming generation with it — chunk after chunk from the buffer (`rollout`),
  live commands, an interactive `StreamSession`, per-frame scores and change latency.
- `player`: a live ipywidgets player for a `StreamSession` (steer, change the digit,
  frames shown as they are generated).
"""
