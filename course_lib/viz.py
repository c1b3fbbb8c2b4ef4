"""Looking and listening inside a notebook: images, videos, audio, spectrograms,
alignments and training curves.

Every function takes tensors or arrays as they come out of a model and returns the
object Jupyter displays (a matplotlib Figure/Axes, an `IPython.display.Audio`, or an
`IPython.display.HTML` holding an inline H.264 video).
"""

from __future__ import annotations

import base64
import math
import os
import tempfile

import numpy as np
import torch


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32).numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float32, copy=False)
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray; got {type(x).__name__}")


def _to_unit_range(x: np.ndarray) -> np.ndarray:
    """Map images in [-1, 1] (diffusion convention) or [0, 1] to [0, 1]."""
    if x.min() < 0:
        x = (x + 1) / 2
    return np.clip(x, 0, 1)


def _frames_to_thwc(frames, name: str = "frames") -> np.ndarray:
    """(T, H, W), (T, C, H, W) or (T, H, W, C) with C in {1, 3} -> (T, H, W, C) in [0, 1]."""
    x = _to_numpy(frames, name)
    if x.ndim == 3:
        x = x[..., None]
    elif x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must be (T, H, W), (T, C, H, W) or (T, H, W, C) with C in (1, 3); "
                         f"got {tuple(x.shape)}")
    return _to_unit_range(x)


def show_images(images, nrow: int = 8, titles=None, scale: float = 1.0, cmap: str = "gray"):
    """Show a grid of images; returns the matplotlib Figure.

    images: (N, H, W), (N, C, H, W) or (N, H, W, C), values in [-1, 1] or [0, 1].
    titles: optional list of N strings shown above each image.
    """
    import matplotlib.pyplot as plt

    x = _frames_to_thwc(images, "images")
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1; got {nrow}")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"titles must have one entry per image ({len(x)}); got {len(titles)}")
    n = len(x)
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(scale * 1.2 * cols, scale * 1.3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = x[i, ..., 0] if x.shape[-1] == 1 else x[i]
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def encode_video(frames, fps: int = 8, scale: int = 1, audio=None,
                 sample_rate: int | None = None) -> bytes:
    """Encode frames to MP4 (H.264, yuv420p) bytes through imageio-ffmpeg.

    frames: (T, H, W), (T, C, H, W) or (T, H, W, C), values in [-1, 1] or [0, 1].
    scale: integer nearest-neighbour upscaling (tiny 16x16 frames are hard to see).
    audio: optional (N,) mono or (C, N) wave at `sample_rate`, muxed in as AAC; it is cut
    or zero-padded to the video's length T / fps seconds (sample n plays at n / sample_rate).
    """
    import imageio_ffmpeg

    if fps <= 0:
        raise ValueError(f"fps must be positive; got {fps}")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an int >= 1; got {scale!r}")
    wave = None if audio is None else _audio_track(audio, sample_rate, len(frames) / fps)
    x = _frames_to_thwc(frames)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    x = np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)
    # H.264 with yuv420p needs even sides: pad by one pixel where odd.
    t, h, w, _ = x.shape
    x = np.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    x = (x * 255).round().astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "video.mp4")
        writer = imageio_ffmpeg.write_frames(
            path, (x.shape[2], x.shape[1]), fps=fps, codec="libx264",
            pix_fmt_out="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in x:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        if wave is not None:
            path = _mux_audio(path, wave, sample_rate, tmp)
        with open(path, "rb") as f:
            return f.read()


def _audio_track(audio, sample_rate, seconds: float) -> np.ndarray:
    """Check the audio for encode_video; return it as (N, C) float32 of exactly the video's length."""
    x = _to_numpy(audio, "audio")
    if x.ndim not in (1, 2):
        raise ValueError(f"audio must be (N,) or (C, N); got {tuple(x.shape)}")
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int when audio is given; got {sample_rate!r}")
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or inf")
    x = x.reshape(1, -1) if x.ndim == 1 else x                     # (C, N)
    length = int(round(seconds * sample_rate))
    x = np.pad(x[:, :length], ((0, 0), (0, max(0, length - x.shape[1]))))
    peak = np.abs(x).max()
    if peak > 1:
        x = x / peak                                               # avoid clipping
    return np.ascontiguousarray(x.T)                               # (N, C)


def _mux_audio(video_path: str, wave: np.ndarray, sample_rate: int, tmp: str) -> str:
    """ffmpeg: copy the H.264 stream, add the wave as an AAC track; returns the new path."""
    import subprocess

    import imageio_ffmpeg
    import soundfile

    wav_path, out_path = os.path.join(tmp, "audio.wav"), os.path.join(tmp, "muxed.mp4")
    soundfile.write(wav_path, wave, sample_rate, subtype="PCM_16")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-i", video_path, "-i", wav_path, "-map", "0:v", "-map", "1:a",
               "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart",
               out_path]
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg could not add the audio track: {done.stderr.decode()[-500:]}")
    return out_path


def show_video(frames, fps: int = 8, scale: int = 4, loop: bool = True, audio=None,
               sample_rate: int | None = None):
    """An inline HTML5 <video> of the frames (H.264 MP4, base64 in the page).

    frames: (T, H, W), (T, C, H, W) or (T, H, W, C), values in [-1, 1] or [0, 1].
    audio: optional (N,) or (C, N) soundtrack at `sample_rate` (AAC in the MP4). With
    audio the video does not autoplay (browsers block autoplay with sound): press play.
    """
    return show_mp4(encode_video(frames, fps=fps, scale=scale, audio=audio, sample_rate=sample_rate),
                    loop=loop, autoplay=audio is None)


def show_mp4(mp4: bytes, loop: bool = True, autoplay: bool = False):
    """An inline HTML5 <video> of MP4 bytes (base64 in the page); autoplay is muted."""
    from IPython.display import HTML

    if not isinstance(mp4, (bytes, bytearray)) or not mp4:
        raise ValueError("mp4 must be the non-empty bytes of an MP4 file")
    data = base64.b64encode(mp4).decode("ascii")
    loop_attr = " loop" if loop else ""
    play_attr = " autoplay muted" if autoplay else ""
    return HTML(f'<video controls{play_attr}{loop_attr} playsinline>'
                f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>')


def play_audio(wave, sample_rate: int, normalize: bool = True):
    """An inline audio player. wave: (T,) mono or (C, T) multi-channel samples."""
    from IPython.display import Audio

    x = _to_numpy(wave, "wave")
    if x.ndim not in (1, 2):
        raise ValueError(f"wave must be (T,) or (C, T); got {tuple(x.shape)}")
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int; got {sample_rate!r}")
    if not np.isfinite(x).all():
        raise ValueError("wave contains NaN or inf")
    return Audio(x, rate=sample_rate, normalize=normalize)


def plot_spectrogram(spec, sample_rate: int | None = None, hop_length: int | None = None,
                     title: str | None = None, ax=None, ylabel: str = "frequency bin"):
    """Draw a (F, frames) spectrogram (already in dB or log scale) as an image.

    With sample_rate and hop_length the x axis is in seconds. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    s = _to_numpy(spec, "spec")
    if s.ndim != 2:
        raise ValueError(f"spec must be (F, frames); got {tuple(s.shape)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 2.6))
        plt.close(fig)
    extent = None
    if sample_rate is not None and hop_length is not None:
        extent = [0, s.shape[1] * hop_length / sample_rate, 0, s.shape[0]]
        ax.set_xlabel("time (s)")
    else:
        ax.set_xlabel("frame")
    im = ax.imshow(s, origin="lower", aspect="auto", interpolation="nearest", extent=extent, cmap="magma")
    ax.figure.colorbar(im, ax=ax, pad=0.01)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_alignment(alignment, title: str | None = None, ax=None,
                   xlabel: str = "decoder step", ylabel: str = "encoder position"):
    """Draw an attention alignment (decoder steps, encoder positions) with encoder on y.

    alignment: (T_dec, T_enc) attention weights, each row summing to 1. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    a = _to_numpy(alignment, "alignment")
    if a.ndim != 2:
        raise ValueError(f"alignment must be (T_dec, T_enc); got {tuple(a.shape)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        plt.close(fig)
    im = ax.imshow(a.T, origin="lower", aspect="auto", interpolation="nearest", cmap="viridis")
    ax.figure.colorbar(im, ax=ax, pad=0.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def smooth(values, window: int = 20) -> np.ndarray:
    """Moving average over `window` points ('valid' part only: len - window + 1 values);
    fewer points than `window` are returned as they are."""
    v = np.asarray(torch.as_tensor(values, dtype=torch.float64).cpu()).ravel()
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int; got {window!r}")
    if len(v) < window:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def plot_loss(curves, window: int = 20, ax=None, title: str | None = None, ylabel: str = "loss",
              logy: bool = False):
    """Training curves: the raw per-step values (faint) and their `window`-step moving
    average, x in optimiser steps.

    curves: one sequence of per-step values (a `TrainingRun.history`), or a dict
    {label: sequence} to draw several on one Axes. Returns the Axes. Like any pyplot
    figure, a new one shows with `plt.show()` (or at the end of the cell).
    """
    import matplotlib.pyplot as plt

    if not isinstance(curves, dict):
        curves = {None: curves}
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 2.5))
    for i, (label, values) in enumerate(curves.items()):
        raw = np.asarray(torch.as_tensor(values, dtype=torch.float64).cpu()).ravel()
        if raw.size == 0:
            raise ValueError(f"curves[{label!r}] is empty")
        color = f"C{i}"
        ax.plot(np.arange(1, len(raw) + 1), raw, color=color, alpha=0.25, linewidth=0.8)
        smoothed = smooth(raw, window)
        start = len(raw) - len(smoothed) + 1
        ax.plot(np.arange(start, len(raw) + 1), smoothed, color=color, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if any(label is not None for label in curves):
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
