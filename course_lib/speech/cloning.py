"""Voice cloning from one clip, and how to judge it (day 11).

A clone starts from the speaker encoder's d-vector of the reference clip
(`TrainedFastSpeech.clone`). The TTS then tends to speak that vector as the nearest
voice it was trained on. **Speaker adaptation** (Arik et al. 2018, "Neural Voice
Cloning with a Few Samples", their "speaker adaptation" of the embedding only) moves the
vector itself: with the TTS frozen, optimise the conditioning vector s so that the model
reproduces the reference clip,

    s* = argmin_s  L_FastSpeech(model(tokens, durations, s, pitch, energy), reference),

teacher-forced on the clip's own durations, pitch and energy (here from eSpeak NG's
events and YIN, where a product would use a forced aligner on the clip and its
transcript). Only 64 numbers change, so one clip cannot overfit the model.

Judging a clone (the lesson's table):

    means = voice_means(encoder, {voice: [mel, ...]})       # unit mean d-vector per voice
    nearest_voice(clone_vector, means)                      # who the clone sounds like
    scores, same = verification_trials(encoder, [(voice, mel), ...])
    equal_error_rate(scores, same)                          # same/different-speaker EER
    clone_wer(tts, voice, texts, recognizer)                # intelligibility of a voice

A judge must not share the clone's training: `judge_recipe` is the speaker encoder's
recipe with the next seed, an encoder nothing was tuned against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.checks import check_positive_int
from course_lib.data import speech
from course_lib.metrics import word_error_rate
from course_lib.speech.fastspeech import fastspeech_loss
from course_lib.speech.speaker import SpeakerEncoder, embed_batch, similarity
from course_lib.speech.speaker_train import SpeakerRecipe

__all__ = ["adapt_speaker", "judge_recipe", "voice_means", "nearest_voice", "verification_trials", "equal_error_rate",
           "clone_wer"]


def adapt_speaker(tts, reference: speech.Utterance, vector: Tensor, steps: int = 300,
                  lr: float = 0.03) -> Tensor:
    """Speaker adaptation: the conditioning vector (speaker_dim,) that makes the frozen
    `tts` (a `fastspeech_train.TrainedFastSpeech`) reproduce `reference`, found by `steps`
    Adam steps of `fastspeech.fastspeech_loss` from `vector` (the encoder's d-vector).

    reference: a `data.speech.Utterance` (its text, eSpeak events and mel): the
    teacher-forced durations, pitch and energy come from it. Returns the vector on the CPU;
    the model's weights are not changed.
    """
    from course_lib.speech.fastspeech_train import collate_items, prepare_items

    check_positive_int(steps, "steps")
    if not isinstance(reference, speech.Utterance):
        raise ValueError("reference must be a data.speech.Utterance (adaptation needs its text and "
                         f"alignment); got {type(reference).__name__}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0; got {lr}")
    model, device = tts.model, tts.device
    item = prepare_items([reference], tts.table, [vector.cpu()], tts.stats, None)[0]
    batch = {k: v.to(device) for k, v in collate_items([item]).items()}
    z = vector.detach().clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    was = model.training
    model.eval()                                   # no dropout: the model is fixed, only z moves
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            out = model(batch["tokens"], batch["durations"], z[None], batch["pitch"], batch["energy"])
            loss, _ = fastspeech_loss(out, batch, model)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was)
    return z.detach().cpu()


def judge_recipe(recipe: SpeakerRecipe) -> SpeakerRecipe:
    """The independent judge of a clone: `recipe` (the TTS's speaker encoder's) trained
    from the next seed."""
    return replace(recipe, train=replace(recipe.train, seed=recipe.train.seed + 1))


@torch.no_grad()
def voice_means(encoder: SpeakerEncoder, mels_by_voice: Mapping[str, Sequence[Tensor]]) -> dict[str, Tensor]:
    """voice -> the unit-length mean d-vector (dim,) of its log-mels (n_mels, M_i)."""
    out = {}
    for voice, mels in mels_by_voice.items():
        if not mels:
            raise ValueError(f"voice {voice!r} has no mels")
        out[voice] = F.normalize(torch.stack(embed_batch(encoder, list(mels))).mean(0), dim=0)
    return out


def nearest_voice(vector: Tensor, means: Mapping[str, Tensor]) -> str:
    """The voice of `means` (name -> (dim,)) most cosine-similar to `vector` (dim,)."""
    if not means:
        raise ValueError("means is empty")
    return max(means, key=lambda v: float(similarity(vector, means[v])))


@torch.no_grad()
def verification_trials(encoder: SpeakerEncoder, clips: Sequence[tuple[str, Tensor]]) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of clips (voice, log-mel): cosine scores (P,) of their d-vectors and
    whether the two are the same voice (P,) bool, P = n (n - 1) / 2."""
    if len(clips) < 2:
        raise ValueError(f"clips must hold at least 2 (voice, mel) pairs; got {len(clips)}")
    vecs = torch.stack(embed_batch(encoder, [m for _, m in clips]))            # (n, dim), unit length
    i, j = torch.triu_indices(len(clips), len(clips), 1)
    scores = (vecs[i] * vecs[j]).sum(-1).numpy()
    names = [v for v, _ in clips]
    same = np.array([names[a] == names[b] for a, b in zip(i.tolist(), j.tolist())])
    return scores, same


def equal_error_rate(scores: np.ndarray, same: np.ndarray) -> float:
    """The equal-error rate of "same speaker if score >= t": the threshold t where the
    false-acceptance rate FAR(t) = P(score >= t | different) meets the false-rejection rate
    FRR(t) = P(score < t | same); the mean of the two at the t where they are closest,
    over every score as a threshold."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    if scores.shape != same.shape or scores.ndim != 1:
        raise ValueError(f"scores and same must be 1-D of one length; got {scores.shape} and {same.shape}")
    if same.all() or not same.any():
        raise ValueError("same must hold both same-speaker (True) and different-speaker (False) pairs")
    thresholds = np.unique(scores)
    far = (scores[~same][None] >= thresholds[:, None]).mean(1)
    frr = (scores[same][None] < thresholds[:, None]).mean(1)
    k = int(np.argmin(np.abs(far - frr)))
    return float((far[k] + frr[k]) / 2)


def clone_wer(tts, voice: str, texts: Sequence[str], recognizer) -> float:
    """Word error rate of `recognizer` (`recognize.Recognizer`) on `tts` speaking each of
    `texts` in `voice` (neural vocoder)."""
    if not texts:
        raise ValueError("texts is empty")
    return word_error_rate(texts, [recognizer.transcribe(tts.synthesize(t, voice)) for t in texts])
