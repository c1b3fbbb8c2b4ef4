"""Understanding video (day 18, in progress).

- `frame_sampling`: which frames a video model looks at — uniform, random,
  segment-based (TSN) and keyframe (largest change) samplers, and their token cost.
- `subtitles`: timed words into subtitle cues (line length, minimum duration) and
  WebVTT / SRT text.
"""
