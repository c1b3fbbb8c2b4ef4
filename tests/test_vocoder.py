"""course_lib.speech.vocoder (+ vocoder_train): the neural vocoder's pieces, the
multi-resolution STFT loss, load-or-train."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from course_lib.audio import dsp
from course_lib.speech.vocoder import (RESOLUTIONS, ConvNeXtBlock, NeuralVocoder, VocoderConfig,
                                       griffin_lim_vocoder, multi_resolution_stft_loss,
                                       stft_magnitude, vocode)


pytestmark = pytest.mark.usefixtures("one_thread")


TINY = dict(n_mels=16, dim=16, depth=2, kernel=3, n_fft=64, hop_length=16)


def _waves(seed=0, B=2, T=2048):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T) / 16_000
    tone = torch.sin(2 * torch.pi * 220 * t) + 0.3 * torch.sin(2 * torch.pi * 660 * t)
    return (tone + 0.05 * torch.randn(B, T, generator=g)).double()


def test_stft_magnitude_matches_librosa():
    x = _waves()[0]
    ref = np.abs(librosa.stft(x.numpy(), n_fft=512, hop_length=128, center=True, pad_mode="reflect"))
    got = stft_magnitude(x[None], 512, 128)[0].numpy()
    assert np.allclose(got, np.maximum(ref, 1e-7), atol=1e-8)


def test_mr_stft_loss_matches_a_direct_numpy_computation():
    ref, est = _waves(0), _waves(1) * 0.7
    loss, parts = multi_resolution_stft_loss(est, ref)
    sc = mag = 0.0
    for n_fft, hop in RESOLUTIONS:
        S = np.maximum(np.abs(librosa.stft(ref.numpy(), n_fft=n_fft, hop_length=hop, pad_mode="reflect")), 1e-7)
        S_hat = np.maximum(np.abs(librosa.stft(est.numpy(), n_fft=n_fft, hop_length=hop, pad_mode="reflect")), 1e-7)
        sc += np.mean([np.linalg.norm(S[b] - S_hat[b]) / np.linalg.norm(S[b]) for b in range(len(S))])
        mag += np.mean(np.abs(np.log(S) - np.log(S_hat)))
    sc, mag = sc / len(RESOLUTIONS), mag / len(RESOLUTIONS)
    assert parts["sc"] == pytest.approx(sc, rel=1e-6) and parts["mag"] == pytest.approx(mag, rel=1e-6)
    assert float(loss) == pytest.approx(sc + mag, rel=1e-6)


def test_mr_stft_loss_zero_on_equal_and_grows_with_error():
    ref = _waves(0)
    assert float(multi_resolution_stft_loss(ref, ref)[0]) == pytest.approx(0.0, abs=1e-9)
    small = float(multi_resolution_stft_loss(ref + 0.01 * _waves(3), ref)[0])
    large = float(multi_resolution_stft_loss(ref + 0.3 * _waves(3), ref)[0])
    assert 0 < small < large
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        multi_resolution_stft_loss(ref[0], ref[0])


def test_convnext_block_shape_and_residual():
    blk = ConvNeXtBlock(8, 3)
    x = torch.randn(2, 8, 11)
    assert blk(x).shape == x.shape
    for p in blk.mlp[-1].parameters():
        torch.nn.init.zeros_(p)
    assert torch.equal(blk(x), x)      # zero last layer: the block is the identity


def test_vocoder_is_spectrum_then_one_istft():
    torch.manual_seed(0)
    model = NeuralVocoder(VocoderConfig(**TINY))
    mel = torch.randn(3, 16, 9)
    spec = model.spectrum(mel)
    assert spec.shape == (3, 33, 9) and spec.is_complex()
    wave = model(mel)
    assert wave.shape == (3, 8 * 16)
    assert torch.allclose(wave, dsp.istft(spec, 64, 16), atol=1e-6)
    with pytest.raises(ValueError, match=r"mel must be \(B, n_mels=16, frames\)"):
        model(torch.randn(3, 8, 9))


def test_vocoder_learns_a_tone_in_a_few_steps():
    torch.manual_seed(0)
    model = NeuralVocoder(VocoderConfig(**TINY))
    target = _waves(0, B=1, T=16 * 31).float()
    mel = torch.log(dsp.mel_spectrogram(target, 16_000, 64, 16, 16, power=1.0).clamp_min(1e-5))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(150):
        loss = multi_resolution_stft_loss(model(mel), target, ((64, 16), (128, 32)))[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    # Measured (last 5 steps / first): 0.69 on one thread, 0.58 on two at this seed, 0.44-0.52
    # at seeds 1-3. After 80 steps this seed was at 0.72-0.75 and failed a 0.75 bound on
    # some machines, depending on the thread count.
    assert np.mean(losses[-5:]) < 0.8 * losses[0], losses[::10]


def test_vocode_input_checks_and_peak():
    model = NeuralVocoder(VocoderConfig(**TINY))
    wave = vocode(model, torch.randn(16, 12))
    assert wave.shape == (11 * 16,) and wave.abs().max() <= 0.9 + 1e-6
    with pytest.raises(ValueError, match="log_mel must be a"):
        vocode(model, torch.randn(1, 16, 12))


def test_griffin_lim_vocoder_still_there():
    mel = torch.full((80, 20), -5.0)
    assert griffin_lim_vocoder(mel, n_iter=2).shape == (19 * 200,)


def test_convnext_mlp_ratio_sets_the_hidden_width():
    assert ConvNeXtBlock(8, 3, mlp_ratio=1.5).mlp[0].out_features == 12
    assert NeuralVocoder(VocoderConfig(**{**TINY, "mlp_ratio": 3.0})).blocks[0].mlp[0].out_features == 48


def test_train_vocoder_trains_then_loads_from_artifacts(tmp_path, monkeypatch):
    from course_lib.data import speech
    from course_lib.speech.vocoder_train import PRESETS, VocoderRecipe, train_vocoder
    from course_lib.train import TrainSettings

    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    monkeypatch.setitem(speech.DOMAIN_SIZES, "digits", 30)
    recipe = VocoderRecipe(model=VocoderConfig(dim=16, depth=1), voices=("en-us",), per_voice=3,
                           train=TrainSettings(steps=3, batch_size=2, lr=2e-3))
    first = train_vocoder(recipe, progress=False)
    assert not first.run.cached and len(first.run.history) == 3 and set(first.run.metrics) == {"sc", "mag"}
    assert (tmp_path / "checkpoints" / f"neural_vocoder_{recipe.key()}.pt").exists()
    again = train_vocoder(recipe, progress=False)
    assert again.run.cached and again.run.history == first.run.history
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(),
                                                 again.model.state_dict().values()))
    assert vocode(again.model, torch.randn(80, 5)).shape == (4 * 200,)
    assert PRESETS["gpu"].train.steps == 1500 and PRESETS["gpu"].train.batch_size == 16
