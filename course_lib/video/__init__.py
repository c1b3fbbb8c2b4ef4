"""Understanding video (day 18).

- `frame_sampling`: which frames a video model looks at — uniform, random,
  segment-based (TSN) and keyframe (largest change) samplers, and their token cost.
- `subtitles`: timed words into subtitle cues (line length, minimum duration) and
  WebVTT / SRT text.
- `subtitle_video`: cues into an MP4 with ffmpeg — a soft `mov_text` track, or text
  burned in by libass (with matplotlib's DejaVu fonts) — and the track read back.
- `retrieval`: a CLIP4Clip-style video–text model — frame encoder, mean-pooling or
  temporal-transformer head, day 08's caption encoder, symmetric InfoNCE — and
  retrieval metrics (R@k, median rank, both ways).
- `retrieval_train`: its clips (captioned moving digits at two speeds), recipe, presets
  and load-or-train.
- `qformer`: a Q-Former (learned queries cross-attending to frame features) feeding a
  small causal language model that captions clips and answers questions (BLIP-2,
  VideoLLaMA), greedy decoding with a KV cache.
- `pipeline`: the multimodal pipeline — listen (transcribe, translate), time the words,
  subtitle, look (caption and answers), summarise, render an MP4 with a subtitle track.
- `qa_train`: the true answers of each clip, and the captioner's recipe, presets and
  load-or-train on the retrieval model's frozen frame encoder.
"""
