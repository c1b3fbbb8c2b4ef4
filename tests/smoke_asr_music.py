"""Smoke functions (tests/smoke.py) for the ASR presets (day 12) and the Music Transformer
presets (day 14): the model as train_* builds it, one step of its real loss on a tiny
random batch, then two decoded (or generated) tokens."""

from functools import partial

import torch

from course_lib.music.tokenizer import BOS, REMITokenizer
from course_lib.music.transformer import generate, lm_loss
from course_lib.music.transformer_train import new_music_transformer
from course_lib.speech.asr import asr_loss, collate_features, greedy_decode
from course_lib.speech.asr_train import new_asr, new_ctc, tokenizer_for
from course_lib.speech.ctc import ctc_greedy, ctc_loss
from tests.smoke import smoke, train_one_step


def _asr_batch(tokenizer, n_mels: int) -> dict:
    """Two random 'clips' (40 and 31 frames) with a transcribe and a translate target."""
    g = torch.Generator().manual_seed(0)
    mels = [torch.randn(n_mels, t, generator=g) for t in (40, 31)]
    words = tokenizer.vocabulary
    sequences = [tokenizer.sequence(f"{words[0]} {words[1]}", "en"),
                 tokenizer.sequence(words[2], "de", "translate")]
    batch = collate_features(mels, sequences)
    labels = collate_features(mels, [[i + 1 for i in tokenizer.encode(f"{words[0]} {words[1]}")],
                                     [tokenizer.encode(words[2])[0] + 1]])
    batch["labels"], batch["label_lengths"] = labels["tokens"], labels["token_lengths"]
    return batch


def _greedy_two_tokens(model, batch, tokenizer):
    ids = greedy_decode(model.eval(), batch["mels"], batch["mel_lengths"], tokenizer.prompt("en"), 2,
                        eot=tokenizer.eot)
    assert len(ids) == 2 and all(len(row) <= 2 for row in ids)


@smoke("course_lib.speech.asr_train.PRESETS")
def asr(recipe):
    tokenizer = tokenizer_for(recipe.data)
    model = new_asr(recipe, tokenizer)
    batch = _asr_batch(tokenizer, recipe.model.n_mels)
    train_one_step(model, partial(asr_loss, ctc_weight=recipe.ctc_weight), batch)
    _greedy_two_tokens(model, batch, tokenizer)


@smoke("course_lib.speech.asr_train.FINETUNE_PRESETS")
def asr_finetune(recipe):
    # the fine-tuned model is the base recipe's model trained further with the base's loss;
    # the base's words must hold the new clip sets' words.
    base_words = set(tokenizer_for(recipe.base.data).vocabulary)
    new_words = set(tokenizer_for(recipe.data).vocabulary)
    assert new_words <= base_words, f"words missing from the base tokenizer: {new_words - base_words}"
    asr(recipe.base)


@smoke("course_lib.speech.asr_train.CTC_PRESETS")
def ctc(recipe):
    tokenizer = tokenizer_for(recipe.data)
    model = new_ctc(recipe, tokenizer)
    batch = _asr_batch(tokenizer, recipe.model.n_mels)
    train_one_step(model, ctc_loss, batch)
    with torch.no_grad():
        log_probs, frames = model.eval()(batch["mels"][:, :, :4], torch.tensor([4, 3]))   # 2 frames each
    assert log_probs.shape == (2, 2, len(tokenizer) + 1) and torch.isfinite(log_probs).all()
    assert all(len(labels) <= 2 for labels in ctc_greedy(log_probs, frames))


@smoke("course_lib.music.transformer_train.PRESETS")
def music_transformer(recipe):
    tokenizer = REMITokenizer(recipe.tokenizer)
    model = new_music_transformer(recipe, tokenizer)
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(3, len(tokenizer), (2, 17), generator=g)           # (B, T + 1) token windows
    train_one_step(model, lm_loss, batch)
    out = generate(model, torch.tensor([[BOS, tokenizer.token_to_id["TimeSig_4"]]] * 2), 2,
                   generator=torch.Generator().manual_seed(1))
    assert out.shape == (2, 4) and int(out.max()) < len(tokenizer)
