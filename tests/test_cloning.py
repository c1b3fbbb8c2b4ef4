"""Day 11's cloning tools: the speaker FiLM of FastSpeech, speaker adaptation, and the
judges (nearest voice, verification EER against scikit-learn's ROC)."""

import numpy as np
import pytest
import torch

from course_lib.data import speech
from course_lib.speech.cloning import (adapt_speaker, clone_wer, equal_error_rate, nearest_voice,
                                       verification_trials, voice_means)
from course_lib.speech.fastspeech import FastSpeech, FastSpeechConfig
from course_lib.speech.speaker import SpeakerEncoder, SpeakerEncoderConfig


def _eer_from_sklearn(scores, same):
    """The EER from scikit-learn's ROC: where the false-positive rate meets 1 - TPR."""
    from sklearn.metrics import roc_curve
    fpr, tpr, _ = roc_curve(same, scores)
    fnr = 1 - tpr
    k = np.argmin(np.abs(fpr - fnr))
    return (fpr[k] + fnr[k]) / 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_error_rate_matches_sklearns_roc(seed):
    rng = np.random.default_rng(seed)
    same = rng.random(400) < 0.3
    scores = rng.normal(size=400) + 1.2 * same
    ours = equal_error_rate(scores, same)
    assert 0.1 < ours < 0.45
    assert ours == pytest.approx(_eer_from_sklearn(scores, same), abs=0.01)


def test_equal_error_rate_closed_cases_and_errors():
    assert equal_error_rate(np.array([0.9, 0.8, 0.1, 0.2]), np.array([True, True, False, False])) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2, 0.9, 0.8]), np.array([True, True, False, False])) == 1.0
    with pytest.raises(ValueError, match="both same-speaker"):
        equal_error_rate(np.array([0.1, 0.2]), np.array([True, True]))
    with pytest.raises(ValueError, match="one length"):
        equal_error_rate(np.array([0.1, 0.2]), np.array([True]))


def test_verification_trials_nearest_voice_and_means():
    torch.manual_seed(0)
    encoder = SpeakerEncoder(SpeakerEncoderConfig(channels=8, dim=8, n_voices=2))
    mels = [torch.randn(speech.N_MELS, 20 + i) for i in range(4)]
    clips = [("a", mels[0]), ("a", mels[1]), ("b", mels[2]), ("b", mels[3])]
    scores, same = verification_trials(encoder, clips)
    assert scores.shape == same.shape == (6,)
    assert same.tolist() == [True, False, False, False, False, True]
    vecs = [encoder.embed(m) for m in mels]
    assert scores[0] == pytest.approx(float(vecs[0] @ vecs[1]), abs=1e-5)
    means = voice_means(encoder, {"a": mels[:2], "b": mels[2:]})
    assert all(abs(float(v.norm()) - 1) < 1e-5 for v in means.values())
    assert nearest_voice(means["b"] + 0.01 * means["a"], means) == "b"
    with pytest.raises(ValueError, match="at least 2"):
        verification_trials(encoder, clips[:1])
    with pytest.raises(ValueError, match="no mels"):
        voice_means(encoder, {"a": []})


def _tiny(speaker_film: bool) -> FastSpeech:
    torch.manual_seed(0)
    return FastSpeech(FastSpeechConfig(vocab_size=10, dim=16, predictor_dim=8, encoder_depth=1, decoder_depth=2,
                                       speaker_dim=8, speaker_film=speaker_film, dropout=0.0))


def test_speaker_film_starts_as_the_plain_model_and_then_steers_the_decoder():
    model = _tiny(True).eval()
    assert len(model.speaker_film) == 2
    tokens, durations = torch.tensor([[3, 4, 5, 1]]), torch.tensor([[2, 3, 1, 2]])
    speaker, pitch = torch.nn.functional.normalize(torch.randn(1, 8), dim=-1), torch.zeros(1, 4)
    with torch.no_grad():
        film_out = model(tokens, durations, speaker, pitch, pitch).mel
        films, model.speaker_film = model.speaker_film, None                 # the same weights without FiLM
        plain_out = model(tokens, durations, speaker, pitch, pitch).mel
        assert torch.equal(film_out, plain_out), "zero-initialised FiLM must start as the identity"
        model.speaker_film = films
        films[1].bias[:16] = 0.5                                             # gamma of the last block
        assert not torch.allclose(model(tokens, durations, speaker, pitch, pitch).mel, plain_out)
    with pytest.raises(ValueError, match="speaker_film needs a speaker"):
        FastSpeechConfig(speaker_dim=0, speaker_film=True)


class _TinyTTS:
    """What adapt_speaker reads of a TrainedFastSpeech: model, device, table, stats."""

    def __init__(self, utterance):
        from course_lib.speech.text import SymbolTable
        self.table = SymbolTable.from_tokens(utterance.phonemes)
        torch.manual_seed(0)
        self.model = FastSpeech(FastSpeechConfig(vocab_size=len(self.table), dim=16, predictor_dim=8,
                                                 encoder_depth=1, decoder_depth=1, speaker_dim=8, speaker_film=True))
        self.model.mel_norm.fit([utterance.mel])
        with torch.no_grad():                                               # let the speaker matter
            for film in self.model.speaker_film:
                film.weight.normal_(0, 0.3)
        self.device = torch.device("cpu")
        self.stats = {"pitch_mean": 5.0, "pitch_std": 0.3, "energy_mean": 0.0, "energy_std": 1.0}


def test_adapt_speaker_lowers_the_loss_and_leaves_the_model_alone():
    from course_lib.speech.fastspeech import fastspeech_loss
    from course_lib.speech.fastspeech_train import collate_items, prepare_items

    utterance = speech.make_utterance("four two", "en-us+f3", "digits")
    tts = _TinyTTS(utterance)
    start = torch.nn.functional.normalize(torch.randn(8), dim=0)
    before = {k: v.clone() for k, v in tts.model.state_dict().items()}
    adapted = adapt_speaker(tts, utterance, start, steps=40, lr=0.05)
    assert adapted.shape == (8,) and not torch.equal(adapted, start)
    assert all(torch.equal(before[k], v) for k, v in tts.model.state_dict().items()), "the TTS must stay frozen"
    assert all(p.requires_grad for p in tts.model.parameters())
    batch = collate_items(prepare_items([utterance], tts.table, [start], tts.stats, None))

    def loss(z):
        tts.model.eval()
        with torch.no_grad():
            out = tts.model(batch["tokens"], batch["durations"], z[None], batch["pitch"], batch["energy"])
            return float(fastspeech_loss(out, batch, tts.model)[0])
    assert loss(adapted) < loss(start) - 0.01
    with pytest.raises(ValueError, match="Utterance"):
        adapt_speaker(tts, utterance.mel, start)
    with pytest.raises(ValueError, match="steps"):
        adapt_speaker(tts, utterance, start, steps=0)


def test_clone_wer_counts_the_recognisers_errors():
    class Speaker:
        def synthesize(self, text, voice):
            return text

    class Echo:                                   # hears every word but the last
        def transcribe(self, wave):
            return " ".join(wave.split()[:-1])
    assert clone_wer(Speaker(), "v", ["one two", "three four"], Echo()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="texts is empty"):
        clone_wer(Speaker(), "v", [], Echo())
