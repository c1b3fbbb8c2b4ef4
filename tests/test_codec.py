"""Day 15's neural audio codec: frame rate and bitrate, the bin-centre phases (a tone at a
bin's centre comes back exactly from its true magnitudes), exact lengths, codes that decode
to what the forward pass reconstructs, the unquantized warm-up, a few training steps that
lower the loss, the log-mel term's floor, and the lesson's trained codec: better with
every codebook and far better than µ-law at the same bitrate."""

import math

import pytest
import torch

from course_lib.audio import dsp
from course_lib.audio.codec import Codec, CodecConfig, bin_centre_phase, codec_loss, log_mel_of_magnitudes
from course_lib.audio.quality import si_snr


def small(**kw):
    return CodecConfig(**{"hidden": 16, "latent_dim": 4, "num_quantizers": 4, "codebook_size": 16,
                          "warmup_steps": 0, **kw})


def tone(freq, seconds=1.0, sr=16000):
    return 0.5 * torch.sin(2 * math.pi * freq * torch.arange(int(seconds * sr)) / sr)


def test_encodec_arithmetic_and_bad_configs():
    c = CodecConfig()
    assert c.frame_rate == 50.0
    assert c.bitrate() == 3200.0 and c.bitrate(2) == 800.0   # 50 frames/s x n x 8 bits
    with pytest.raises(ValueError, match="kernel"):
        CodecConfig(kernel=4)
    with pytest.raises(ValueError, match="hop"):
        CodecConfig(n_fft_out=256)


def test_bin_centre_phases_rebuild_a_steady_tone_from_its_magnitudes():
    """The synthesis half alone: the true |STFT| of a tone at a bin centre (1000 Hz = bin 80
    of a 1280-point STFT at 16 kHz) with bin-centre phases is the tone again, up to its sign."""
    codec = Codec(CodecConfig())
    wave = tone(1000.0)[None]
    target = codec.target(wave)[0]                                # log(|X| + floor), (1, 641, 51)
    codec.out_norm.mean.zero_()                                   # identity normalisation
    back = codec.spectrum_to_wave(target)
    middle = slice(2000, 14000)                                   # away from the edges' half windows
    assert abs(si_snr(back[0, middle], wave[0, middle])) > 25     # same waveform (a phase of 0 or pi)
    phase = bin_centre_phase(3, 4, hop=320, n_fft=1280)
    assert phase.shape == (3, 4) and torch.allclose(phase[1], torch.tensor([0, 0.5, 1.0, 1.5]) * math.pi)
    # random phases instead: frames cancel and most of the tone's energy is gone
    random = torch.rand(target.shape, generator=torch.Generator().manual_seed(0)) * 2 * math.pi
    mag = (target.exp() - codec.config.log_floor).clamp_min(0)
    scrambled = dsp.istft(torch.polar(mag, random), 1280, 320)[:, :16000]
    assert scrambled[0, middle].pow(2).mean() < 0.7 * back[0, middle].pow(2).mean()


def test_lengths_codes_and_decoding_agree():
    torch.manual_seed(0)
    wave = torch.stack([tone(220.0, 0.1), tone(440.0, 0.1)])     # (2, 1600) = 5 frames
    codec = Codec(small()).fit_normalizers(wave)
    codec.train()(wave)                                           # k-means initialises the codebooks
    codec.eval()
    recon, out = codec(wave)
    assert recon.shape == wave.shape and out.codes.shape == (2, 4, 5)
    _, log_mag, deviation = codec.spectra(wave)
    assert log_mag.shape == deviation.shape == (2, 641, 6)
    codes = codec.encode(wave)
    assert torch.equal(codes, out.codes)
    torch.testing.assert_close(codec.decode(codes), recon)
    assert codec.decode(codes[:, :1]).shape == wave.shape          # one codebook decodes too
    with pytest.raises(ValueError, match="multiple of the hop"):
        codec(torch.zeros(1, 500))


def test_the_warm_up_passes_latents_unquantized_then_quantizes():
    wave = torch.stack([tone(220.0, 0.1), tone(330.0, 0.1)])
    codec = Codec(small(warmup_steps=2, quantizer_dropout=0.0)).fit_normalizers(wave).train()
    for step in range(3):
        _, out = codec(wave)
        assert out.codes.shape[1] == (0 if step < 2 else 4)      # no codes during the warm-up
    assert bool(codec.rvq.layers[0].initialized)


def test_a_few_steps_lower_the_loss_and_quantizer_dropout_varies_codebooks():
    torch.manual_seed(0)
    wave = torch.stack([tone(f, 0.2) for f in (220.0, 440.0, 330.0, 550.0)])
    codec = Codec(small(quantizer_dropout=1.0)).fit_normalizers(wave)
    optimizer = torch.optim.Adam(codec.parameters(), lr=3e-3)
    losses, used = [], set()
    for _ in range(30):
        loss, parts = codec_loss(codec.train(), wave)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        used.add(parts["codebooks"])
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
    assert len(used) >= 3


def test_the_log_mel_term_is_zero_for_a_perfect_prediction_and_floored():
    fb = dsp.mel_filterbank(16000, 1280, 80)
    mag = torch.rand(2, 641, 5)
    same = log_mel_of_magnitudes(mag, fb)
    assert same.shape == (2, 80, 5)
    silent = torch.zeros(1, 641, 5)
    silent[0, 100, 2] = 1.0                                      # one loud bin: the rest sits on the floor
    floored = log_mel_of_magnitudes(silent, fb)
    assert torch.isclose(floored.max() - floored.min(), torch.tensor(3.0))    # 60 dB = 3 decades
    with pytest.raises(ValueError, match="mel_weight"):
        CodecConfig(mel_weight=-1.0)


def test_the_lessons_codec_gets_better_with_codebooks_and_beats_mulaw():
    """Trains (or loads) the cpu preset, about a minute on 2 cores: `make test` runs the unit
    tests first, so day 15's lesson then loads it from artifacts/."""
    from course_lib.audio.codec_train import CODEC_PRESETS, train_codec
    from course_lib.audio.quality import mel_distance
    from course_lib.audio.reference_codecs import mulaw_downsample
    from course_lib.data.sound_clips import load_sound_clips

    codec = train_codec(CODEC_PRESETS["cpu"], progress=False).model
    test = load_sound_clips("test", n=440)
    with torch.no_grad():
        codes = codec.encode(test.waves[::4])                     # 110 clips, 10 per class
        mel = [mel_distance(codec.decode(codes[:, :n]), test.waves[::4]).mean().item() for n in (1, 2, 4, 8)]
    mulaw = mel_distance(torch.stack([mulaw_downsample(w, bitrate=3200) for w in test.waves[::4]]),
                         test.waves[::4]).mean().item()
    assert mel[0] > mel[1] > mel[2], mel                          # measured 0.092, 0.077, 0.072
    assert mel[3] <= mel[2] + 0.002, mel                          # 8 codebooks: 0.071, no worse than 4
    assert mel[3] < 0.5 * mulaw, (mel, mulaw)                     # µ-law at the same 3.2 kbit/s: 0.24


def test_dead_code_restarts_keep_the_deep_codebooks_in_use():
    """Trains (or loads) the cpu preset a second time without restarts (~55 s), so day 15's
    lesson can compare the two. Measured: levels 3-8 used 97-100 % of their entries on
    held-out clips with restarts, 55-61 % without."""
    from dataclasses import replace

    from course_lib.audio.codec_train import CODEC_PRESETS, train_codec
    from course_lib.data.sound_clips import load_sound_clips

    recipe = CODEC_PRESETS["cpu"]
    test = load_sound_clips("test", n=220)
    used = {}
    for threshold in (recipe.model.dead_threshold, 0.0):
        codec = train_codec(replace(recipe, model=replace(recipe.model, dead_threshold=threshold)), progress=False).model
        codes = codec.encode(test.waves)
        used[threshold] = [layer.usage(codes[:, k])[0] for k, layer in enumerate(codec.rvq.layers)]
        assert (sum(layer.restarts for layer in codec.rvq.layers) > 0) == (threshold > 0)
    deep_with, deep_without = (sum(u[2:]) / len(u[2:]) for u in used.values())
    assert deep_with >= 0.9 and deep_without <= deep_with - 0.2, used
    with pytest.raises(ValueError, match="dead_threshold"):
        CodecConfig(dead_threshold=-1.0)
