"""course_lib.sync.avsync: the shared offset contract of days 16-17 and the hand-made
audio-visual features (onset envelope per frame, motion energy)."""

import numpy as np
import pytest
import torch

from course_lib.data import sounds
from course_lib.sync import avsync as av

SR = 16000


def embeddings(length=60, dim=8, seed=0):
    return torch.randn(length, dim, generator=torch.Generator().manual_seed(seed))


def delayed_embeddings(video_emb, k, seed=1):
    """audio_emb[t + k] = video_emb[t]: the audio is delayed by k frames (fill: noise)."""
    audio = embeddings(len(video_emb) + abs(k), video_emb.shape[1], seed)
    if k >= 0:
        audio[k:k + len(video_emb)] = video_emb
        return audio[:len(video_emb)]
    audio[:len(video_emb)] = video_emb
    return audio[-k:-k + len(video_emb)]


@pytest.mark.parametrize("k", [-7, -3, 0, 2, 11])
@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_offset_search_sign_convention(k, distance):
    video = embeddings()
    result = av.offset_search(video, delayed_embeddings(video, k), max_offset=12, distance=distance)
    assert result.offset == k
    assert result.offsets.tolist() == list(range(-12, 13))
    assert result.distances.shape == (25,)
    assert result.min_distance == pytest.approx(0.0, abs=1e-5)
    assert result.min_distance == pytest.approx(float(result.distances.min()))
    assert result.confidence == pytest.approx(float(result.distances.median() - result.distances.min()))
    assert result.confidence > 0.5


def test_offset_search_distances_by_hand():
    video, audio = embeddings(20, 4, 0), embeddings(20, 4, 1)
    result = av.offset_search(video, audio, max_offset=3)
    for i, k in enumerate(range(-3, 4)):
        pairs = [(t, t + k) for t in range(20) if 0 <= t + k < 20]
        cos = [float(torch.nn.functional.cosine_similarity(video[t], audio[s], dim=0)) for t, s in pairs]
        assert result.distances[i] == pytest.approx(1 - np.mean(cos), abs=1e-5)


def test_delay_audio_shifts_by_frames_over_fps():
    wave = torch.arange(1, 4001, dtype=torch.float32)
    late = av.delay_audio(wave, 3, SR)                  # 3 frames at 25 fps = 1920 samples
    assert late.shape == wave.shape and late[:1920].eq(0).all()
    assert torch.equal(late[1920:], wave[:-1920])
    early = av.delay_audio(wave, -2, SR)                # 1280 samples earlier
    assert torch.equal(early[:-1280], wave[1280:]) and early[-1280:].eq(0).all()
    assert torch.equal(av.delay_audio(wave, 0, SR), wave)
    batch = av.delay_audio(torch.stack([wave, -wave]), 1, SR)
    assert torch.equal(batch[1], -av.delay_audio(wave, 1, SR))
    assert av.delay_audio(wave, 100, SR).eq(0).all()


@pytest.mark.parametrize("k", [-6, -1, 0, 3, 9])
def test_av_offset_recovers_a_delay_made_by_delay_audio(k):
    clip = av.event_clip(100, seed=3)
    result = av.av_offset(av.delay_audio(clip.wave, k, SR), SR, clip.frames)
    assert result.offset == k, (k, result.offset, result.distances)


def test_cross_correlation_is_pearson_on_the_overlap():
    g = torch.Generator().manual_seed(0)
    a, v = torch.rand(40, generator=g), torch.rand(40, generator=g)
    result = av.cross_correlation_offset(a, v, max_offset=5)
    for i, k in enumerate(range(-5, 6)):
        t = np.arange(40)
        t = t[(t + k >= 0) & (t + k < 40)]
        rho = np.corrcoef(v.numpy()[t], a.numpy()[t + k])[0, 1]
        assert result.distances[i] == pytest.approx(-rho, abs=1e-6)
    # a constant overlap has no correlation, not a NaN
    flat = av.cross_correlation_offset(torch.ones(20), torch.rand(20, generator=g), 3)
    assert torch.isfinite(flat.distances).all()


def test_mel_windows_start_at_round_t_times_3_2():
    mel = torch.arange(50, dtype=torch.float32).expand(3, 50)   # (n_mels=3, F=50): value = frame
    windows = av.mel_windows(mel, n_video_frames=15)
    assert windows.shape == (15, 3, 16)
    for t in range(15):
        start = int(np.floor(t * 3.2 + 0.5))
        expected = [f if f < 50 else 0 for f in range(start, start + 16)]
        assert windows[t, 0].tolist() == expected
    batch = av.mel_windows(torch.stack([mel, 2 * mel]), 15)
    assert batch.shape == (2, 15, 3, 16) and torch.equal(batch[1], 2 * windows)


def test_video_windows_stack_the_next_frames():
    frames = torch.arange(6, dtype=torch.float32)[:, None, None, None].expand(6, 2, 3, 3)
    windows = av.video_windows(frames, window=5)
    assert windows.shape == (6, 10, 3, 3)
    assert windows[0, :, 0, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert windows[4, :, 0, 0].tolist() == [4, 4, 5, 5, 5, 5, 5, 5, 5, 5]
    assert av.video_windows(frames[None]).shape == (1, 6, 10, 3, 3)


def test_motion_energy_and_onset_envelope_peak_at_the_event():
    frames = torch.zeros(20, 1, 8, 8)
    frames[12:] = 1.0                                  # a cut at frame 12
    energy = av.motion_energy(frames)
    assert energy.tolist() == [0.0] * 12 + [1.0] + [0.0] * 7
    wave = sounds.mix([(12 / 25, sounds.click(SR), 1.0)], SR, SR)
    env = av.audio_onset_envelope(wave.float(), SR, 20)
    assert env.shape == (20,) and int(env.argmax()) == 12


def test_event_clip_is_deterministic_and_synced():
    a, b = av.event_clip(50, seed=1), av.event_clip(50, seed=1)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.wave, b.wave)
    assert a.frames.shape == (50, 1, 48, 48) and a.wave.shape == (2 * SR,)
    energy = av.motion_energy(a.frames)
    onsets = av.audio_onset_envelope(a.wave, SR, 50)
    for e in a.event_frames.tolist():
        assert energy[e] > 1.15 * energy.median() and onsets[e] > 3 * onsets.median()


def test_bad_inputs_raise():
    video = embeddings(10, 4)
    with pytest.raises(ValueError, match="same"):
        av.offset_search(video, embeddings(9, 4))
    with pytest.raises(ValueError, match="max_offset"):
        av.offset_search(video, video, max_offset=10)
    with pytest.raises(ValueError, match="distance"):
        av.offset_search(video, video, max_offset=2, distance="l1")
    with pytest.raises(ValueError, match=r"video_emb must be a \(T, D\)"):
        av.offset_search(video[0], video[0])
    with pytest.raises(TypeError, match="audio_env must be a torch.Tensor"):
        av.cross_correlation_offset([1.0, 2.0], torch.ones(2), 0)
    with pytest.raises(ValueError, match=r"frames must be a \(T, C, H, W\)"):
        av.video_windows(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="mel must be"):
        av.mel_windows(torch.zeros(50), 10)
    with pytest.raises(ValueError, match="sample_rate"):
        av.delay_audio(torch.zeros(100), 1, 0)


def test_show_video_muxes_an_aac_soundtrack():
    import base64
    import subprocess

    import imageio_ffmpeg

    from course_lib import viz

    clip = av.event_clip(25, seed=0)                          # 1 s at 25 fps, 16 kHz audio
    data = viz.encode_video(clip.frames, fps=25, audio=clip.wave, sample_rate=SR)
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", "-", "-f", "null", "-"],
                           input=data, capture_output=True)
    info = probe.stderr.decode()
    assert "Video: h264" in info and "Audio: aac" in info and "16000 Hz" in info, info[-800:]
    assert "frame=   25" in info, info[-500:]
    html = viz.show_video(clip.frames, fps=25, audio=clip.wave.numpy(), sample_rate=SR).data
    assert "muted" not in html and "autoplay" not in html
    assert base64.b64decode(html.split("base64,")[1].split('"')[0])[:12].endswith(b"ftypisom")
    silent = viz.show_video(clip.frames, fps=25).data
    assert "autoplay muted" in silent
    with pytest.raises(ValueError, match="sample_rate must be a positive int when audio"):
        viz.encode_video(clip.frames, fps=25, audio=clip.wave)
    with pytest.raises(ValueError, match=r"audio must be \(N,\) or \(C, N\)"):
        viz.encode_video(clip.frames, fps=25, audio=torch.zeros(1, 2, 3), sample_rate=SR)
