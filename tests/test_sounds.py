"""course_lib.data.sounds: synthetic drums, clicks, tones and chirps with known timing."""

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from course_lib.data import sounds

SR = sounds.SAMPLE_RATE


def test_tone_frequency_and_fades():
    wave = sounds.tone(440.0, 1.0, SR)
    spectrum = torch.fft.rfft(wave).abs()
    assert int(spectrum.argmax()) == 440                     # 1 s long: bin k = k Hz
    assert wave[0] == 0 and abs(float(wave[-1])) < 1e-12
    assert len(wave) == SR


@pytest.mark.parametrize("method, scipy_method", [("linear", "linear"),
                                                  ("exponential", "logarithmic")])
def test_chirp_matches_scipy(method, scipy_method):
    t = np.arange(SR // 2) / SR
    ref = scipy.signal.chirp(t, f0=200.0, t1=0.5, f1=4000.0, method=scipy_method, phi=-90)
    ours = sounds.chirp(200.0, 4000.0, 0.5, SR, method=method)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-8)


def test_click_matches_librosa_clicks():
    ref = librosa.clicks(times=[0.0], sr=SR, click_freq=1000.0, click_duration=0.1, length=SR // 10)
    np.testing.assert_allclose(sounds.click(SR).numpy(), ref, atol=1e-6)


def test_drums_have_their_own_spectra():
    gen = torch.Generator().manual_seed(0)
    def centroid(x):
        power = torch.fft.rfft(x).abs() ** 2
        return float((torch.fft.rfftfreq(len(x), 1 / SR) * power).sum() / power.sum())
    k, s, h = sounds.kick(SR), sounds.snare(SR, generator=gen), sounds.hat(SR, generator=gen)
    assert centroid(k) < centroid(s) < centroid(h)
    assert float(k[:1000].abs().max()) > 20 * float(k[-1000:].abs().max())   # it decays


def test_drum_loop_is_deterministic_and_has_the_beats():
    a = sounds.drum_loop(120, bars=2, pattern="rock", seed=3)
    b = sounds.drum_loop(120, bars=2, pattern="rock", seed=3)
    c = sounds.drum_loop(120, bars=2, pattern="rock", seed=4)
    assert torch.equal(a.wave, b.wave) and not torch.equal(a.wave, c.wave)
    torch.testing.assert_close(a.beat_times, 0.5 + 0.5 * torch.arange(8, dtype=torch.float64))
    assert a.wave.abs().max() == pytest.approx(sounds.PEAK)
    # silence before the first hit, and every listed onset is a hit
    first = round(float(a.onset_times[0]) * SR)
    assert a.wave[:first].eq(0).all()
    for onset in a.onset_times.tolist():
        n = round(onset * SR)
        assert a.wave[n:n + 200].abs().max() > 0.05, onset


def test_click_track_and_song_beats():
    track = sounds.click_track(100, 5.0, start=0.2)
    torch.testing.assert_close(track.beat_times, 0.2 + 0.6 * torch.arange(8, dtype=torch.float64))
    song = sounds.song(90, bars=2)
    drums = sounds.drum_loop(90, bars=2)
    assert torch.equal(song.beat_times, drums.beat_times) and len(song.wave) == len(drums.wave)
    assert not torch.equal(song.wave, drums.wave)


def test_mix_places_sounds_at_their_times():
    out = sounds.mix([(0.01, torch.ones(10), 2.0), (0.0, torch.ones(5), 1.0)], 300, sample_rate=10000)
    assert out[100:110].eq(2.0).all() and out[:5].eq(1.0).all() and out.sum() == 25


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="bpm"):
        sounds.drum_loop(0, bars=2)
    with pytest.raises(ValueError, match="pattern"):
        sounds.drum_loop(120, pattern="waltz")
    with pytest.raises(ValueError, match="sample_rate"):
        sounds.kick(sample_rate=-1)
    with pytest.raises(ValueError, match="method"):
        sounds.chirp(100, 200, 0.1, method="cubic")
    with pytest.raises(ValueError, match="duration"):
        sounds.tone(440, 0.0)
