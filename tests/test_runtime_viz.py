import base64
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
import torch

from course_lib import viz
from course_lib.runtime import artifacts_dir, get_device, seed_everything


def test_seed_everything_repeats_random_streams():
    g = seed_everything(7)
    a = (torch.randn(3), np.random.rand(2), torch.randn(2, generator=g))
    g = seed_everything(7)
    b = (torch.randn(3), np.random.rand(2), torch.randn(2, generator=g))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_device_and_artifacts(tmp_path, monkeypatch):
    assert get_device().type in ("cpu", "cuda")
    assert get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer"):
        get_device("tpu")
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    assert artifacts_dir("a", "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()


def test_encode_video_is_a_decodable_h264_mp4():
    frames = torch.linspace(-1, 1, 5 * 9 * 7).reshape(5, 1, 9, 7)   # odd sides get padded
    data = viz.encode_video(frames, fps=5, scale=2)
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", "-", "-f", "null", "-"],
                           input=data, capture_output=True)
    info = probe.stderr.decode()
    assert "h264" in info and "14x18" in info and "frame=    5" in info, info[-500:]  # W x H
    html = viz.show_video(frames, fps=5).data
    assert base64.b64decode(html.split("base64,")[1].split('"')[0]) [:12].endswith(b"ftypisom")


def test_viz_shape_errors():
    with pytest.raises(ValueError, match=r"frames must be \(T, H, W\)"):
        viz.encode_video(torch.zeros(2, 5, 4, 4, 4))
    with pytest.raises(ValueError, match=r"wave must be \(T,\) or \(C, T\)"):
        viz.play_audio(np.zeros((1, 2, 3)), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        viz.play_audio(np.zeros(10), 0)
    with pytest.raises(ValueError, match=r"spec must be \(F, frames\)"):
        viz.plot_spectrogram(np.zeros(5))
    with pytest.raises(TypeError, match="images must be a torch.Tensor or numpy.ndarray"):
        viz.show_images([[0.0]])


def test_figures_render():
    fig = viz.show_images(torch.rand(3, 8, 8), nrow=2, titles=["a", "b", "c"])
    assert len(fig.axes) == 4
    ax = viz.plot_spectrogram(np.random.rand(20, 30), sample_rate=16000, hop_length=160, title="t")
    assert ax.get_xlabel() == "time (s)"
    ax = viz.plot_alignment(torch.softmax(torch.randn(6, 4), -1))
    assert ax.images[0].get_array().shape == (4, 6)
    assert viz.play_audio(np.sin(np.arange(1600) / 5), 16000).data[:4] == b"RIFF"


def test_torch_threads_restores_the_setting():
    from course_lib.runtime import torch_threads
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n must be a positive int"):
        with torch_threads(0):
            pass


def test_best_time_returns_the_minimum_and_the_result():
    from course_lib.runtime import best_time
    calls = []
    seconds, result = best_time(lambda: calls.append(1) or len(calls), repeats=3)
    assert result == 3 and len(calls) == 3 and 0 <= seconds < 1
    with pytest.raises(ValueError, match="repeats"):
        best_time(lambda: None, repeats=0)


def test_settings_key_names_settings_not_their_order_or_container():
    from dataclasses import dataclass

    from course_lib.runtime import settings_key

    @dataclass
    class Recipe:
        steps: int = 100
        voices: tuple = ("en-us", "de")

    key = settings_key(Recipe())
    assert len(key) == 8 and int(key, 16) >= 0
    assert key == settings_key({"voices": ["en-us", "de"], "steps": 100}), "a dataclass and its dict agree"
    assert key != settings_key(Recipe(steps=101)), "any changed setting changes the key"
    with pytest.raises(TypeError, match="settings"):
        settings_key(Recipe)


def test_step_seeded_generators_follow_one_formula():
    import random

    from course_lib.runtime import step_generator, step_random, step_seed
    assert step_seed(2, 7) == 2 * 1_000_003 + 7 and step_seed(2, 7, stream=500_000) == 2 * 1_000_003 + 500_007
    assert torch.equal(torch.randn(3, generator=step_generator(1, 5)),
                       torch.randn(3, generator=torch.Generator().manual_seed(1_000_008)))
    assert step_random(1, 5).random() == random.Random(1_000_008).random()
    assert step_seed(0, 1) != step_seed(1, 0)
    with pytest.raises(ValueError, match="step"):
        step_seed(0, -1)


def test_cpu_threads_limits_only_cpu_runs():
    from course_lib.runtime import cpu_threads
    before = torch.get_num_threads()
    with cpu_threads(torch.device("cpu"), 1):
        assert torch.get_num_threads() == 1
    with cpu_threads(torch.device("cuda"), 1):          # a CUDA run keeps every CPU thread
        assert torch.get_num_threads() == before
    with cpu_threads("cpu", None):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_plot_loss_draws_raw_and_smoothed_curves():
    ax = viz.plot_loss({"a": list(range(50)), "b": torch.ones(10)}, window=5)
    assert len(ax.lines) == 4 and ax.get_legend() is not None
    raw, smoothed = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    assert len(raw) == 50 and len(smoothed) == 46 and smoothed[0] == pytest.approx(2.0)
    np.testing.assert_allclose(viz.smooth(np.arange(10.0), 3), np.arange(1.0, 9.0))
    assert len(viz.plot_loss([3.0, 2.0]).lines) == 2, "fewer points than the window: drawn as they are"
    with pytest.raises(ValueError, match="empty"):
        viz.plot_loss([])
