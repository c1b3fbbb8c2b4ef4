"""Smoke functions (tests/smoke.py) for the text-to-speech presets: Tacotron, FastSpeech 2,
the speaker encoder and the neural vocoder. Each builds the model as its train_* does,
takes one step of the real loss on 2 short random utterances, then decodes a little."""

from functools import partial

import torch

from course_lib.data.speech import HOP_LENGTH, collate
from course_lib.speech.fastspeech import fastspeech_training_loss
from course_lib.speech.fastspeech_train import collate_items, new_fastspeech
from course_lib.speech.speaker import speaker_loss
from course_lib.speech.speaker_train import new_speaker_encoder
from course_lib.speech.tacotron import teacher_forced_loss
from course_lib.speech.tacotron_train import new_tacotron
from course_lib.speech.vocoder import vocoder_loss, vocode
from course_lib.speech.vocoder_train import new_vocoder
from tests.smoke import smoke, train_one_step

VOCAB = 26          # the digit corpus' phoneme table


def _utterances(n_mels: int, lengths=((6, 11), (4, 7))):
    """Two (phoneme ids ending in EOS, log-mel (n_mels, frames)) pairs."""
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(2, VOCAB, (n - 1,), generator=g).tolist() + [1], torch.randn(n_mels, t, generator=g) - 4)
            for n, t in lengths]


@smoke("course_lib.speech.tacotron_train.PRESETS")
def tacotron(recipe):
    model = new_tacotron(recipe, VOCAB)
    items = _utterances(recipe.model.n_mels)
    model.mel_norm.fit([m for _, m in items])
    loss = partial(teacher_forced_loss, guided_weight=recipe.guided_weight, g=recipe.g)
    train_one_step(model, loss, collate(items))
    batch = collate(items)
    mel, alignment, lengths = model.infer(batch["tokens"], batch["token_lengths"], max_steps=3)
    steps, r = alignment.shape[1], recipe.model.reduction      # at most 3: it may stop early
    assert 1 <= steps <= 3 and alignment.shape == (2, steps, 6)
    assert mel.shape == (2, recipe.model.n_mels, steps * r) and torch.isfinite(mel).all()
    assert (lengths <= steps * r).all()


@smoke("course_lib.speech.fastspeech_train.PRESETS")
def fastspeech(recipe):
    model = new_fastspeech(recipe, VOCAB)
    g = torch.Generator().manual_seed(1)
    items = []
    for tokens, mel in _utterances(recipe.model.n_mels):
        durations = torch.full((len(tokens),), mel.shape[1] // len(tokens))
        durations[-1] += mel.shape[1] - int(durations.sum())
        items.append({"tokens": torch.tensor(tokens), "durations": durations, "mel": mel,
                      "pitch": torch.randn(len(tokens), generator=g), "energy": torch.randn(len(tokens), generator=g),
                      "speaker": torch.nn.functional.normalize(torch.randn(recipe.model.speaker_dim, generator=g), dim=0)})
    model.mel_norm.fit([it["mel"] for it in items])
    batch = collate_items(items)
    train_one_step(model, fastspeech_training_loss, batch)
    mel, lengths, durations = model.infer(batch["tokens"], batch["speakers"], speed=1.5, pitch_shift=0.5)
    assert mel.shape[:2] == (2, recipe.model.n_mels) and durations.shape == batch["tokens"].shape
    assert torch.isfinite(mel).all() and (lengths == durations.sum(1)).all()


@smoke("course_lib.speech.speaker_train.PRESETS")
def speaker_encoder(recipe):
    model = new_speaker_encoder(recipe)
    assert model.classes.shape == (len(recipe.voices), recipe.model.dim)
    mels = torch.randn(2, recipe.model.n_mels, recipe.crop) - 4
    model.mel_norm.fit(list(mels))
    train_one_step(model, speaker_loss, (mels, torch.tensor([0, 1])))
    e = model.embed(mels[0, :, :20])
    assert e.shape == (recipe.model.dim,) and torch.isclose(e.norm(), torch.tensor(1.0))


@smoke("course_lib.speech.vocoder_train.PRESETS")
def neural_vocoder(recipe):
    model = new_vocoder(recipe)
    M = 8                                          # short segments (the recipe trains on recipe.segment)
    mels = torch.randn(2, recipe.model.n_mels, M) - 4
    model.mel_norm.fit(list(mels))
    waves = 0.1 * torch.randn(2, (M - 1) * HOP_LENGTH)
    train_one_step(model, vocoder_loss, (mels, waves))
    wave = vocode(model, mels[0])
    assert wave.shape == ((M - 1) * recipe.model.hop_length,) and torch.isfinite(wave).all()


smoke("course_lib.speech.fastspeech_train.CLONING_PRESETS")(fastspeech)
