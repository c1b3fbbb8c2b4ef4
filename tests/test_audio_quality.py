"""Day 15's referees: mel distance, SI-SNR (closed form), PESQ and STOI (their packages),
Opus through ffmpeg, µ-law downsampling, and AdaIN."""

import math

import pytest
import torch

from course_lib.audio.quality import mel_distance, pesq_wb, si_snr, stoi
from course_lib.audio.reference_codecs import (mulaw_decode, mulaw_downsample, mulaw_encode, opus_roundtrip,
                                               opus_roundtrip_clips)
from course_lib.audio.style import adain, channel_stats
from course_lib.data.sound_clips import make_clip


@pytest.fixture(scope="module")
def speech():
    return make_clip("speech", loud=True, onset=0.05, seed=3)


def test_mel_distance_is_zero_for_a_copy_and_grows_with_damage(speech):
    assert mel_distance(speech, speech) == 0.0
    g = torch.Generator().manual_seed(0)
    small = mel_distance(speech + 0.003 * torch.randn(speech.shape, generator=g), speech)
    large = mel_distance(speech + 0.03 * torch.randn(speech.shape, generator=g), speech)
    assert 0 < small < large
    # a factor of 10 in amplitude is one decade in every band (white noise fills them all)
    hiss = 0.01 * torch.randn(16000, generator=g)
    assert mel_distance(10 * hiss, hiss, range_db=120) == pytest.approx(1.0, abs=1e-4)
    # ... and a hiss 70 dB below the clip costs nothing, one 30 dB below it does
    assert mel_distance(speech + 3e-4 * hiss, speech) < 0.01 < mel_distance(speech + 3 * hiss, speech)
    batch = mel_distance(torch.stack([speech, speech]), torch.stack([speech, 0.5 * speech]))
    assert batch.shape == (2,) and batch[0] == 0
    with pytest.raises(ValueError, match="one shape"):
        mel_distance(speech, speech[:100])


def test_si_snr_closed_form_and_scale_invariance(speech):
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(speech.shape, generator=g)
    ref = speech - speech.mean()
    noise = noise - noise.mean()
    noise = noise - (noise @ ref) / (ref @ ref) * ref              # orthogonal to the reference
    noise = noise * (ref.norm() / noise.norm()) * 10 ** (-20 / 20)  # 20 dB below it
    assert si_snr(speech + noise, speech) == pytest.approx(20.0, abs=1e-3)
    assert si_snr(3.0 * (speech + noise), speech) == pytest.approx(20.0, abs=1e-3)
    assert si_snr(speech, speech) > 60


def test_pesq_and_stoi_rank_clean_above_noisy_speech(speech):
    g = torch.Generator().manual_seed(2)
    noisy = speech + 0.05 * torch.randn(speech.shape, generator=g)
    assert pesq_wb(speech, speech) > 4.4 > 2.5 > pesq_wb(noisy, speech) >= 1.0
    assert stoi(speech, speech) > 0.99 > stoi(noisy, speech)
    both = stoi(torch.stack([speech, noisy]), torch.stack([speech, speech]))
    assert both.shape == (2,) and both[0] > both[1]
    with pytest.raises(ValueError, match="16 kHz"):
        pesq_wb(speech, speech, sample_rate=8000)


def test_mulaw_roundtrip_and_downsampling():
    x = torch.linspace(-1, 1, 1001)
    for bits, tol in ((8, 0.025), (12, 0.002)):   # the largest steps are near full scale
        codes = mulaw_encode(x, bits)
        assert codes.min() >= 0 and codes.max() <= 2 ** bits - 1
        assert (mulaw_decode(codes, bits) - x).abs().max() < tol
    tone = 0.5 * torch.sin(2 * math.pi * 100 * torch.arange(16000) / 16000)   # below 200 Hz Nyquist
    back = mulaw_downsample(tone, bitrate=3200, bits=8)                        # 400 samples/s
    assert back.shape == tone.shape and si_snr(back[1000:-1000], tone[1000:-1000]) > 20
    high = 0.5 * torch.sin(2 * math.pi * 1000 * torch.arange(16000) / 16000)  # above it: gone
    assert mulaw_downsample(high, bitrate=3200, bits=8).abs().max() < 0.05
    with pytest.raises(ValueError, match="bits"):
        mulaw_downsample(tone, bits=0)


def test_opus_roundtrip_is_aligned_and_near_its_bitrate(speech):
    decoded, bps = opus_roundtrip(speech, kbps=12)
    assert decoded.shape == speech.shape
    assert 8_000 < bps < 16_000                                # 12 kbps plus the Ogg pages
    lags = range(-200, 201, 1)
    corr = [torch.dot(decoded[1000 + k:15000 + k], speech[1000:15000]).item() for k in lags]
    assert list(lags)[max(range(len(corr)), key=corr.__getitem__)] == 0   # no delay left
    assert si_snr(decoded, speech) > 3
    assert mel_distance(opus_roundtrip(speech, kbps=32)[0], speech) < mel_distance(decoded, speech)
    with pytest.raises(ValueError, match="kbps"):
        opus_roundtrip(speech, kbps=2)


def test_opus_of_clips_played_in_a_row_is_each_clip_coded_alone(speech):
    clips = torch.stack([speech, make_clip("beep", onset=0.1, seed=0), make_clip("bright", 60, onset=0.0, seed=1)])
    together, bps = opus_roundtrip_clips(clips, kbps=12)
    assert together.shape == clips.shape and 8_000 < bps < 16_000
    for clip, back in zip(clips, together):
        alone = opus_roundtrip(clip, kbps=12)[0]
        assert abs(mel_distance(back, clip) - mel_distance(alone, clip)) < 0.02   # coded as if alone
    with pytest.raises(ValueError, match="waves"):
        opus_roundtrip_clips(speech)


def test_adain_gives_the_style_statistics_and_keeps_the_content_shape():
    g = torch.Generator().manual_seed(4)
    content = torch.randn(2, 30, 8, generator=g) * 3 + 1
    style = torch.randn(2, 50, 8, generator=g) * 0.5 - 2
    out = adain(content, style)
    mean_o, std_o = channel_stats(out)
    mean_s, std_s = channel_stats(style)
    torch.testing.assert_close(mean_o, mean_s, atol=1e-5, rtol=0)
    torch.testing.assert_close(std_o, std_s, atol=1e-4, rtol=1e-4)
    # the normalised content is untouched
    mean_c, std_c = channel_stats(content)
    torch.testing.assert_close((out - mean_o) / std_o, (content - mean_c) / std_c, atol=1e-4, rtol=1e-4)
    assert adain(content, style[:1]).shape == content.shape        # one style for the batch
    with pytest.raises(ValueError):
        adain(content, torch.randn(2, 50, 5))
