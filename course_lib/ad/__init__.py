"""Day 22's capstone, an AI video-ad generator: orchestration only, every model comes
from its day.

- `compose`: the ffmpeg stages: product video full frame, avatar picture-in-picture,
  burned subtitles, music ducked under the voice by a sidechain compressor; cuts placed
  on the music's beats.
- `cache`: stage keys (a hash of everything that decides a stage) and an atomic on-disk
  cache, so a re-run with the same inputs reuses its stages.
- `request`: `AdRequest` (refuses malformed input, naming the argument) and the safety
  gate that runs first: day 20's prompt filter on the script, the banned-face check on
  the avatar; a refusal lists every reason and nothing is generated.
- `provenance`: the last stage: the watermark in frames and audio (day 20's marks, a
  stronger video mark for small H.264 frames), then a signed C2PA manifest naming the
  stages, declaring the watermark (soft binding) and the product still (ingredient).
- `face_id`: the banned-face check: an identity embedding of the procedural faces
  trained with InfoNCE (PRESETS, cached), and the gate that refuses a banned face.

Still to come (issue 20): the product-video, voiceover, avatar and soundtrack stages,
`make_ad`, and `course ad`.
"""
