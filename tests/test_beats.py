"""course_lib.sync.beats: onset strength, tempo and DP beat tracking against librosa;
the beat F-measure against mir_eval."""

import librosa
import mir_eval
import numpy as np
import pytest
import torch

from course_lib.data import sounds
from course_lib.sync import beats

SR = sounds.SAMPLE_RATE


def noisy_clicks(bpm: float, seconds: float = 8.0, seed: int = 0) -> torch.Tensor:
    """Noise-burst clicks every 60 / bpm s over a faint noise floor, float64 (T,)."""
    generator = torch.Generator().manual_seed(seed)
    period = 60.0 / bpm
    events = [(0.4 + i * period, sounds.noise_burst(0.02, SR, generator=generator), 1.0)
              for i in range(int((seconds - 0.5) / period))]
    wave = sounds.mix(events, int(seconds * SR), SR)
    return wave + 0.005 * torch.randn(len(wave), generator=generator, dtype=torch.float64)


TRACKS = {
    "clicks_100": lambda: noisy_clicks(100),
    "click_track_132": lambda: sounds.click_track(132, 8.0).wave.double(),
    "rock_110": lambda: sounds.drum_loop(110, bars=3, pattern="rock").wave.double(),
    "song_90": lambda: sounds.song(90, bars=3, seed=1).wave.double(),
    "breakbeat_150": lambda: sounds.drum_loop(150, bars=3, pattern="breakbeat").wave.double(),
}


@pytest.mark.parametrize("name", TRACKS)
def test_onset_strength_matches_librosa(name):
    wave = TRACKS[name]()
    ours = beats.onset_strength(wave, SR).numpy()
    ref = librosa.onset.onset_strength(y=wave.numpy(), sr=SR)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-6 * ref.max(), rtol=0)


def test_log_mel_db_matches_librosa_power_to_db():
    wave = TRACKS["song_90"]()
    ours = beats.log_mel_db(wave, SR)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=wave.numpy(), sr=SR))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6)


@pytest.mark.parametrize("n_fft, hop, lag", [(1024, 256, 1), (2048, 512, 2), (512, 160, 1)])
def test_onset_strength_settings_match_librosa(n_fft, hop, lag):
    wave = noisy_clicks(120, seconds=3.0, seed=2)
    ours = beats.onset_strength(wave, SR, n_fft=n_fft, hop_length=hop, n_mels=64, lag=lag)
    ref = librosa.onset.onset_strength(y=wave.numpy(), sr=SR, n_fft=n_fft, hop_length=hop,
                                       n_mels=64, lag=lag)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6 * ref.max(), rtol=0)


def test_onset_strength_is_half_wave_rectified():
    # A note that starts at 0.5 s and then decays smoothly: only the start is an onset;
    # while the energy falls, the rectified flux is zero (the raw flux is negative).
    t = torch.arange(2 * SR, dtype=torch.float64) / SR
    note = torch.sin(2 * torch.pi * 440 * t) * torch.exp(-(t - 0.5).clamp_min(0) / 0.3)
    wave = torch.where(t >= 0.5, note, torch.zeros_like(t))
    env = beats.onset_strength(wave, SR)
    onset_frame = round(0.5 * SR / beats.HOP_LENGTH)
    assert (env >= 0).all()
    assert abs(int(env.argmax()) - onset_frame) <= 2
    decay = env[onset_frame + 6:]
    assert decay.max() < 0.02 * env.max(), float(decay.max() / env.max())


@pytest.mark.parametrize("name", TRACKS)
def test_tempogram_and_tempo_match_librosa(name):
    env = beats.onset_strength(TRACKS[name](), SR)
    ref_env = env.numpy()
    win = int(beats.AC_SIZE * SR) // beats.HOP_LENGTH
    ours_tg = beats.tempogram(env, win).numpy()
    ref_tg = librosa.feature.tempogram(onset_envelope=ref_env, sr=SR, win_length=win)
    np.testing.assert_allclose(ours_tg, ref_tg, atol=1e-9)
    assert beats.tempo(env, SR) == pytest.approx(
        float(librosa.feature.tempo(onset_envelope=ref_env, sr=SR)[0]), rel=1e-12)


def test_tempo_prior_picks_the_metrical_level():
    # A rock beat at 110 BPM has autocorrelation peaks at 55, 110 and 220 BPM (bars,
    # beats, eighth-note hats): the prior decides which one is "the tempo".
    env = beats.onset_strength(TRACKS["rock_110"](), SR)
    found = {}
    for start_bpm in (50.0, 120.0, 240.0):
        ref = librosa.feature.tempo(onset_envelope=env.numpy(), sr=SR, start_bpm=start_bpm)
        found[start_bpm] = beats.tempo(env, SR, start_bpm=start_bpm)
        assert found[start_bpm] == pytest.approx(float(ref[0]))
    assert found[50.0] == pytest.approx(55, rel=0.05)
    assert found[120.0] == pytest.approx(110, rel=0.05)
    assert found[240.0] == pytest.approx(220, rel=0.05)


@pytest.mark.parametrize("name", TRACKS)
def test_beat_track_matches_librosa(name):
    env = beats.onset_strength(TRACKS[name](), SR)
    bpm, frames = beats.beat_track(env, SR)
    ref_bpm, ref_frames = librosa.beat.beat_track(onset_envelope=env.numpy(), sr=SR)
    assert bpm == pytest.approx(float(np.atleast_1d(ref_bpm)[0]))
    np.testing.assert_array_equal(frames.numpy(), ref_frames)


@pytest.mark.parametrize("bpm_given, tightness, trim", [(100.0, 100.0, True), (150.0, 400.0, False),
                                                        (80.0, 20.0, True)])
def test_beat_track_options_match_librosa(bpm_given, tightness, trim):
    env = beats.onset_strength(TRACKS["rock_110"](), SR)
    _, frames = beats.beat_track(env, SR, bpm=bpm_given, tightness=tightness, trim=trim)
    _, ref = librosa.beat.beat_track(onset_envelope=env.numpy(), sr=SR, bpm=bpm_given,
                                     tightness=tightness, trim=trim)
    np.testing.assert_array_equal(frames.numpy(), ref)


def test_beat_track_finds_the_beats_of_a_click_track():
    track = sounds.click_track(120, 10.0)
    env = beats.onset_strength(track.wave, SR)
    bpm, frames = beats.beat_track(env, SR)
    assert bpm == pytest.approx(120, rel=0.03)
    times = beats.frames_to_time(frames, SR)
    assert beats.f_measure(track.beat_times, times) > 0.95


def test_beat_track_of_silence_is_empty():
    bpm, frames = beats.beat_track(torch.zeros(200, dtype=torch.float64), SR)
    assert bpm == 0.0 and frames.numel() == 0


def test_dp_backlinks_point_about_one_period_back():
    env = beats.onset_strength(noisy_clicks(100), SR)
    period = round(SR / beats.HOP_LENGTH * 60 / 100)
    local = beats.beat_local_score(env.double(), period)
    backlink, cumulative = beats.beat_dp(local, period)
    linked = backlink >= 0
    gaps = torch.arange(len(backlink))[linked] - backlink[linked]
    assert gaps.min() >= round(period / 2) and gaps.max() <= 2 * period
    # the recurrence: C[i] = score[i] + C[p] - tightness (log((i - p) / P))^2 at p = backlink[i]
    i = torch.arange(len(backlink))[linked]
    penalty = beats.TIGHTNESS * torch.log(gaps.double() / period) ** 2
    torch.testing.assert_close(cumulative[i], local[i] + cumulative[backlink[linked]] - penalty)


@pytest.mark.parametrize("seed", range(6))
def test_f_measure_matches_mir_eval(seed):
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.uniform(0, 20, 30))
    kept = ref[rng.random(30) < 0.7]                        # some beats found ...
    jittered = kept + rng.uniform(-0.1, 0.1, len(kept))     # ... some within 70 ms
    extra = rng.uniform(0, 20, rng.integers(0, 10))         # false alarms
    est = np.sort(np.concatenate([jittered, extra]))
    ours = beats.f_measure(torch.from_numpy(ref), torch.from_numpy(est))
    assert ours == pytest.approx(mir_eval.beat.f_measure(ref, est), abs=1e-12)


def test_f_measure_dense_estimates_match_mir_eval():
    # Estimates closer together than the window: the matching must stay one-to-one.
    ref = np.arange(0.5, 10, 0.5)
    est = np.sort(np.concatenate([ref + 0.06, ref - 0.05, np.arange(0.3, 10, 0.11)]))
    assert beats.f_measure(ref, est) == pytest.approx(mir_eval.beat.f_measure(ref, est))
    assert beats.f_measure(ref, ref) == 1.0
    assert beats.f_measure(ref, ref + 0.071) == 0.0
    assert beats.f_measure(ref, np.array([])) == 0.0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="wave must be a"):
        beats.onset_strength(torch.zeros(2, 100), SR)
    with pytest.raises(TypeError, match="wave must be a torch.Tensor"):
        beats.onset_strength(np.zeros(100), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        beats.onset_strength(torch.zeros(4096), 0)
    with pytest.raises(ValueError, match="lag"):
        beats.onset_strength(torch.zeros(4096), SR, lag=0)
    with pytest.raises(ValueError, match="bpm"):
        beats.beat_track(torch.rand(300, dtype=torch.float64), SR, bpm=-5.0)
    with pytest.raises(ValueError, match="onset_env"):
        beats.tempo(torch.rand(3, 300), SR)
    with pytest.raises(ValueError, match="last must be a frame index"):
        beats.backtrack(torch.tensor([-1, 0]), 2)
