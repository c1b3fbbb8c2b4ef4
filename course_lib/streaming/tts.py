"""Streaming speech synthesis (day 19): day 11's FastSpeech + Vocos-style vocoder, audio
out chunk by chunk.

FastSpeech is not autoregressive: its whole mel (n_mels, M) comes out of one forward
pass, in milliseconds. The vocoder turns frames into samples, and a chunk of frames
[a, b) can be vocoded alone **exactly** if it brings enough neighbours:

- its convolutions see R = (kernel // 2) * (depth + 1) frames to each side (the input
  convolution and `depth` ConvNeXt blocks, all "same"-padded);
- the inverse STFT's sample n sums the windows of the frames within n_fft / 2 samples,
  ⌈n_fft / (2 hop)⌉ frames each side, and each of those needs its own R.

So with `context_frames` = ⌈n_fft / (2 hop)⌉ + R on both sides, the samples [a·hop, b·hop)
of the chunk equal those of the whole utterance (to float rounding). Fewer frames of
context is cheaper and wrong at the seams; `stream_vocode` lets you try.

    for chunk in stream_speech(tts, "three one four", "en-us", chunk_frames=25):
        play(chunk)                                        # (n,) at 16 kHz, 25 frames = 0.25 s

One global step of `speech.vocoder.vocode` cannot stream: it scales the finished wave
to a peak of 0.9 when louder, which needs the whole wave. Streamed chunks are instead
clipped to ±1 (the voices here peak below 0.9, so both give the same samples).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from course_lib.checks import check_positive_int

__all__ = ["context_frames", "stream_vocode", "phrases", "stream_speech"]


def context_frames(model) -> int:
    """Frames of context each side that make a chunk's samples exact, for a
    `speech.vocoder.NeuralVocoder`."""
    c = model.config
    receptive = (c.kernel // 2) * (c.depth + 1)
    return math.ceil(c.n_fft / (2 * c.hop_length)) + receptive


@torch.no_grad()
def stream_vocode(model, log_mel: Tensor, chunk_frames: int = 25,
                  context: int | None = None) -> Iterator[Tensor]:
    """The wave of log_mel (n_mels, M) in chunks of `chunk_frames` frames (chunk_frames *
    hop samples each, the last one shorter; T = (M - 1) * hop in all), each vocoded with
    `context` frames each side (default `context_frames(model)`: exact)."""
    from course_lib.checks import check_shape

    check_shape(log_mel, "log_mel", "n_mels M")
    check_positive_int(chunk_frames, "chunk_frames")
    context = context_frames(model) if context is None else context
    if context < 0:
        raise ValueError(f"context must be >= 0 frames; got {context}")
    hop, n_frames = model.config.hop_length, log_mel.shape[1]
    total = (n_frames - 1) * hop
    was = model.training
    model.eval()
    device = model.mel_norm.mean.device
    try:
        for a in range(0, n_frames, chunk_frames):
            b = min(n_frames, a + chunk_frames)
            lo, hi = max(0, a - context), min(n_frames, b + context)
            piece = model(log_mel[None, :, lo:hi].to(device).float())[0].cpu()       # ((hi - lo - 1) * hop,)
            piece = torch.nn.functional.pad(piece, (0, hop))                          # room for the last frame
            samples = piece[(a - lo) * hop:(b - lo) * hop][:max(0, total - a * hop)]
            if len(samples):
                yield samples.clamp(-1.0, 1.0)
    finally:
        model.train(was)


def phrases(text: str, words_per_phrase: int) -> list[str]:
    """`text` cut into pieces of `words_per_phrase` words (the last may be shorter)."""
    check_positive_int(words_per_phrase, "words_per_phrase")
    words = text.split()
    return [" ".join(words[i:i + words_per_phrase]) for i in range(0, len(words), words_per_phrase)]


def stream_speech(tts, text: str, voice: str = "en-us", chunk_frames: int = 25, speed: float = 1.0,
                  pitch: float = 0.0, words_per_phrase: int | None = None) -> Iterator[Tensor]:
    """Speech for `text` from day 11's `TrainedFastSpeech` (with its neural vocoder), as
    chunks (n,) at 16 kHz: the mel at once, then `stream_vocode`.

    words_per_phrase: cut the text into phrases of that many words first and make each
    phrase's mel only when the previous phrase has been sent — the first audio of a long
    text then waits for one short phrase, not the whole text (ElevenLabs' websocket API
    buffers text into chunks the same way). Each phrase is spoken on its own, so its
    prosody (and the pause at its end) differs from the whole text's."""
    if not text.split():
        raise ValueError("text is empty")
    vocoder = tts.vocoder_model()
    for phrase in ([text] if words_per_phrase is None else phrases(text, words_per_phrase)):
        mel = tts.mel(phrase, voice, speed, pitch)
        if mel.shape[1] < 2:
            raise ValueError(f"the model produced {mel.shape[1]} frames for {phrase!r}")
        yield from stream_vocode(vocoder, mel, chunk_frames)
