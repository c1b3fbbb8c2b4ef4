"""An independent judge of intelligibility: CMU PocketSphinx, scored by word error rate.

A TTS model is only as good as what a listener understands. We use a recogniser that
has nothing to do with our models, PocketSphinx (the `pocketsphinx` wheel with its
bundled US-English acoustic model, offline), restricted by a JSGF grammar to the
domain's words in any order (a "word loop"), and score its transcript with the word
error rate (`course_lib.metrics.word_error_rate`):

    judge = Recognizer(["zero", "one", ..., "nine"])
    judge.transcribe(wave16k)                   # 'four zero seven'
    word_error_rate(["four zero seven"], ["four seven"])   # 1 deletion / 3 words = 0.33

The same judge hears eSpeak (the teacher) and our model, so the two numbers compare.
It is a weak listener (an HMM acoustic model from the 2000s, trained on human voices),
so even the teacher's WER is well above 0: compare, do not read absolute values.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

__all__ = ["Recognizer"]

SAMPLE_RATE = 16_000
TARGET_RMS = 0.05            # every wave is scaled to this loudness before recognition
LEAD_SILENCE = 0.1           # seconds of silence added before and after


class Recognizer:
    """PocketSphinx with a word-loop grammar over `vocabulary` (lower-case words).

    aliases: words the recogniser may say that mean a vocabulary word ({"oh": "zero"}).
    """

    def __init__(self, vocabulary: Iterable[str], aliases: dict[str, str] | None = None):
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise RuntimeError("the judge needs PocketSphinx: pip install pocketsphinx") from exc
        self.aliases = dict(aliases or {})
        words = sorted(set(vocabulary) | set(self.aliases))
        if not words:
            raise ValueError("vocabulary is empty")
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        missing = [w for w in words if self.decoder.lookup_word(w) is None]
        if missing:
            raise ValueError(f"words missing from PocketSphinx's dictionary: {missing}")
        grammar = ("#JSGF V1.0;\ngrammar domain;\npublic <utterance> = <word>+;\n"
                   f"<word> = {' | '.join(words)};\n")
        self.decoder.add_jsgf_string("domain", grammar)
        self.decoder.activate_search("domain")

    def transcribe(self, wave: torch.Tensor | np.ndarray) -> str:
        """Words heard in a (T,) float wave at 16 kHz (scaled to a fixed loudness first)."""
        x = torch.as_tensor(wave, dtype=torch.float32).detach().cpu().numpy()
        if x.ndim != 1 or len(x) == 0:
            raise ValueError(f"wave must be a non-empty (T,) array at 16 kHz; got shape {x.shape}")
        rms = float(np.sqrt(np.mean(x ** 2)))
        x = x * (TARGET_RMS / rms) if rms > 0 else x
        pad = np.zeros(int(LEAD_SILENCE * SAMPLE_RATE), np.float32)
        pcm = (np.clip(np.concatenate([pad, x, pad]), -1, 1) * 32767).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        words = hyp.hypstr.split() if hyp is not None else []
        return " ".join(self.aliases.get(w, w) for w in words)
