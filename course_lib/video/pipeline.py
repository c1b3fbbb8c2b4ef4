"""A multimodal pipeline (day 18): hear a clip, look at it, and hand back a subtitled MP4
with a short written summary — every step a model of the course.

    pipeline = MultimodalPipeline(asr, heads, qa)          # day 12's ASR, its alignment heads, day 18's Q-Former
    result = pipeline.run(digit_frames, wave, fps=8)       # frames (T, 1, 16, 16) in [-1, 1], wave (N,) at 16 kHz
    result.summary, result.webvtt, result.mp4              # text, subtitles, MP4 bytes (soft subtitle track)

Steps (each timed in `result.seconds`):

1. **listen**: spoken language (`detect_language`), transcript, and an English
   translation when the speech is not English (day 12's tasks);
2. **time the words**: cross-attention + DTW (`speech.word_timestamps`), then subtitle
   cues and WebVTT (`video.subtitles`);
3. **look**: 8 frames sampled uniformly, the Q-Former's caption and answers (`qformer`);
4. **summarise**: one paragraph from the caption, the answers and the transcript
   (a template: our models are too small to write prose, a video LLM would write it);
5. **render**: the picture (the digit clip, or any frames passed as `picture`) with the
   speech as AAC and the cues as a soft subtitle track (`subtitle_video`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from course_lib.checks import check_shape
from course_lib.video.frame_sampling import uniform_indices
from course_lib.video.qformer import QUESTIONS, answer
from course_lib.video.subtitle_video import mux_subtitles
from course_lib.video.subtitles import Cue, words_to_cues, write_webvtt

__all__ = ["PipelineResult", "MultimodalPipeline", "LANGUAGE_NAMES", "side_by_side"]

LANGUAGE_NAMES = {"en": "English", "de": "German", "es": "Spanish", "fr": "French"}


def side_by_side(left: Tensor, left_fps: int, right: Tensor, right_fps: int, fps: int = 25) -> Tensor:
    """Two clips shown next to each other at `fps`: (T, 3, H, W_l + W_r) in [0, 1].

    left, right: (T_i, C, H_i, W_i) in [-1, 1] (if any value is negative) or [0, 1], one or
    three channels; each is upscaled (nearest, integer factor) to the taller one's height
    and resampled in time by nearest frame; the result lasts as long as the longer clip
    (the shorter one holds its last frame), T = ceil(max(T_i / fps_i) * fps).
    """
    clips = []
    for name, clip, clip_fps in (("left", left, left_fps), ("right", right, right_fps)):
        check_shape(clip, name, "T C H W")
        if clip.shape[1] not in (1, 3):
            raise ValueError(f"{name} must have 1 or 3 channels; got {clip.shape[1]}")
        if not isinstance(clip_fps, int) or clip_fps <= 0:
            raise ValueError(f"{name}_fps must be a positive int; got {clip_fps!r}")
        clip = clip.float()
        clips.append(((clip + 1) / 2 if clip.min() < 0 else clip).expand(-1, 3, -1, -1))
    height = max(c.shape[2] for c in clips)
    if any(height % c.shape[2] for c in clips):
        raise ValueError(f"the clips' heights must divide {height}; got {[c.shape[2] for c in clips]}")
    seconds = max(len(c) / f for c, f in zip(clips, (left_fps, right_fps)))
    n = math.ceil(seconds * fps - 1e-9)
    out = []
    for clip, clip_fps in zip(clips, (left_fps, right_fps)):
        index = ((torch.arange(n) + 0.5) * clip_fps / fps).long().clamp_max(len(clip) - 1)
        k = height // clip.shape[2]
        out.append(clip[index].repeat_interleave(k, 2).repeat_interleave(k, 3))
    return torch.cat(out, dim=-1)


@dataclass
class PipelineResult:
    """What `MultimodalPipeline.run` returns."""
    language: str
    transcript: str
    english: str
    words: list[tuple[str, float, float]]
    cues: list[Cue]
    webvtt: str
    answers: dict[str, str]
    summary: str
    mp4: bytes = field(repr=False)
    seconds: dict[str, float] = field(default_factory=dict)


class MultimodalPipeline:
    """Day 12's trained ASR (`asr_train.TrainedASR`) with the cross-attention `heads` that
    time its words, and day 18's trained Q-Former (`qa_train.TrainedVideoQA`)."""

    def __init__(self, asr, heads: list[tuple[int, int]], qa, frames_seen: int = 8):
        if not heads:
            raise ValueError("heads must name at least one (block, head) pair (word_timestamps.choose_alignment_heads)")
        self.asr, self.heads, self.qa, self.frames_seen = asr, list(heads), qa, frames_seen

    def listen(self, wave: Tensor) -> tuple[str, str, str]:
        """(language, transcript, English translation) of wave (N,) at 16 kHz."""
        language = self.asr.detect_language([wave])[0]
        transcript = self.asr.transcribe([wave], language=language)[0]
        english = transcript if language == "en" else self.asr.transcribe([wave], language=language,
                                                                         task="translate")[0]
        return language, transcript, english

    def time_words(self, wave: Tensor, transcript: str, language: str) -> list[tuple[str, float, float]]:
        """(word, start, end) of every word of the transcript."""
        from course_lib.speech.word_timestamps import align_words

        if not transcript.split():
            return []
        times = align_words(self.asr.model, self.asr.tokenizer, wave, transcript, self.heads, language)
        return [(w, s, e) for w, (s, e) in zip(transcript.split(), times)]

    def look(self, frames: Tensor) -> dict[str, str]:
        """The Q-Former's answer to each of QUESTIONS about frames (T, 1, H, W)."""
        index = uniform_indices(len(frames), min(self.frames_seen, len(frames)))
        features = self.qa.frame_features(frames[index][None])                 # (1, k, F)
        slots = torch.arange(len(index))
        return {task: answer(self.qa.model, features, slots, [q])[0] for task, q in QUESTIONS.items()}

    @staticmethod
    def summarise(answers: dict[str, str], language: str, transcript: str, english: str) -> str:
        """One paragraph from what was seen and heard."""
        caption = answers["caption"]
        if caption.startswith("a 8"):                                   # "an 8", as it is read
            caption = "an" + caption[1:]
        seen = f"The video shows {caption}"
        seen += "; it bounces off a wall." if answers["wall"] == "yes" else "; it does not reach a wall."
        heard = f" The speaker says, in {LANGUAGE_NAMES.get(language, language)}, “{transcript}”"
        heard += f" (in English: “{english}”)." if language != "en" else "."
        return seen[0].upper() + seen[1:] + heard

    def run(self, frames: Tensor, wave: Tensor, fps: int = 8, picture: Tensor | None = None,
            scale: int = 8) -> PipelineResult:
        """frames (T, 1, H, W) in [-1, 1] (what the Q-Former looks at), wave (N,) at 16 kHz;
        picture: the frames to show in the MP4 (default `frames`), upscaled by `scale`."""
        from course_lib.viz import encode_video

        check_shape(frames, "frames", "T C H W", C=1)
        check_shape(wave, "wave", "N")
        seconds = {}
        t0 = time.perf_counter()
        language, transcript, english = self.listen(wave)
        seconds["listen"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        words = self.time_words(wave, transcript, language)
        cues = words_to_cues(words)
        seconds["time words"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        answers = self.look(frames)
        seconds["look"] = time.perf_counter() - t0
        summary = self.summarise(answers, language, transcript, english)
        t0 = time.perf_counter()
        mp4 = encode_video(frames if picture is None else picture, fps=fps, scale=scale, audio=wave,
                           sample_rate=16_000)
        if cues:
            mp4 = mux_subtitles(mp4, cues)
        seconds["render"] = time.perf_counter() - t0
        return PipelineResult(language, transcript, english, words, cues, write_webvtt(cues), answers, summary,
                              mp4, seconds)
