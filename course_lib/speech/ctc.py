"""The CTC baseline of day 12 (Graves et al., 2006): the Whisper-style audio encoder and a
linear layer to V + 1 classes, trained with CTC, decoded by best path.

    model = CTCModel(AsrConfig(vocab_size=len(tokenizer), ctc_head=False))
    log_probs, frames = model(mels, mel_lengths)        # (B, S, V + 1), (B,)
    labels = ctc_greedy(log_probs, frames)              # per clip: collapse repeats, drop blanks

Class 0 is the blank; class c >= 1 is token id c - 1 of the tokenizer. CTC sums
p(path | audio) over every frame-level path that collapses to the transcript; no decoder,
no alignment to learn, but each frame's label is predicted independently of the others
(no language model inside). Training: `asr_train.train_ctc`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.speech.asr import AsrConfig, AudioEncoder, ConvStem, _need_vocab

__all__ = ["CTCModel", "ctc_loss", "ctc_greedy"]


class CTCModel(nn.Module):
    """The same audio encoder + a linear layer to V + 1 classes (class 0 = blank)."""

    def __init__(self, config: AsrConfig):
        super().__init__()
        _need_vocab(config)
        self.config = config
        self.encoder = AudioEncoder(config)
        self.head = nn.Linear(config.dim, config.vocab_size + 1)

    def forward(self, mels: Tensor, mel_lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """Returns log-probabilities (B, S, V + 1) and frame counts (B,)."""
        audio, _ = self.encoder(mels, mel_lengths)                      # (B, S, D)
        lengths = ConvStem.output_lengths(mel_lengths if mel_lengths is not None else
                                          torch.full((mels.shape[0],), mels.shape[-1]))
        return self.head(audio).log_softmax(-1), lengths


def ctc_loss(model: CTCModel, batch: dict[str, Tensor]) -> Tensor:
    """F.ctc_loss with blank 0; batch['labels'] (B, N) holds ids >= 1 (vocab id + 1)."""
    log_probs, lengths = model(batch["mels"], batch["mel_lengths"])
    return F.ctc_loss(log_probs.transpose(0, 1), batch["labels"], lengths.cpu(),
                      batch["label_lengths"].cpu(), blank=0, zero_infinity=True)


def ctc_greedy(log_probs: Tensor, lengths: Tensor | None = None, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: per frame argmax, then collapse repeats, then drop blanks.

    log_probs: (B, S, C) (or (S, C)); lengths: (B,) frames to read (default all).
    "a a _ a b b" -> "a _ a b" -> "a a b": a blank between repeats keeps them apart.
    """
    if log_probs.ndim == 2:
        log_probs = log_probs[None]
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (B, S, C) or (S, C); got {tuple(log_probs.shape)}")
    best = log_probs.argmax(-1)                                         # (B, S)
    out = []
    for i, row in enumerate(best.tolist()):
        n = len(row) if lengths is None else int(lengths[i])
        labels, previous = [], None
        for label in row[:n]:
            if label != previous and label != blank:
                labels.append(label)
            previous = label
        out.append(labels)
    return out
