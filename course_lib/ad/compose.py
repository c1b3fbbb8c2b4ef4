"""The ad's last stages, in ffmpeg (day 22): the product video full frame, the talking
avatar picture-in-picture, burned subtitles, and the music ducked under the voice.

    graph = composite_filtergraph(Layout(), subtitles=srt_path)        # -filter_complex text
    mp4 = composite(product_mp4, avatar_mp4, voice, music, 16000, cues, Layout())

Inputs, in this order (the graph names them by index): 0 product video, 1 avatar video,
2 voice (mono wave), 3 music (mono wave). Ducking is a sidechain compressor: the music is
compressed whenever the *voice* is loud,

    gain(t) = (level_voice(t) / threshold) ** (1 / ratio - 1)   while level_voice(t) > threshold,

so the music dips under speech and comes back in the pauses (`release` ms), which is what
broadcast mixers and ad tools do.

`beat_snapped_cuts` places the product video's cuts on the music's beats (day 16).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib.video.subtitle_video import font_dir
from course_lib.video.subtitles import Cue, write_srt

__all__ = ["Layout", "Ducking", "composite_filtergraph", "composite", "probe_mp4", "decode_mp4", "beat_snapped_cuts"]


@dataclass(frozen=True)
class Layout:
    """The frame: `width` x `height` (even, for H.264's 4:2:0), the avatar inset at
    `pip_fraction` of the width in the `corner` ("br", "bl", "tr", "tl"), `margin` pixels
    from the edges."""
    width: int = 256
    height: int = 256
    pip_fraction: float = 0.375
    margin: int = 8
    corner: str = "br"

    def __post_init__(self):
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 16 or value % 2:
                raise ValueError(f"Layout.{name} must be an even int >= 16; got {value!r}")
        if not 0.05 <= self.pip_fraction <= 0.6:
            raise ValueError(f"Layout.pip_fraction must be in [0.05, 0.6]; got {self.pip_fraction}")
        if self.corner not in ("br", "bl", "tr", "tl"):
            raise ValueError(f"Layout.corner must be 'br', 'bl', 'tr' or 'tl'; got {self.corner!r}")

    @property
    def pip_size(self) -> int:
        """The inset's side in pixels (square, even)."""
        return max(2, int(self.width * self.pip_fraction) // 2 * 2)

    def pip_xy(self) -> tuple[int, int]:
        """Top-left corner of the inset."""
        s = self.pip_size
        x = self.width - s - self.margin if self.corner[1] == "r" else self.margin
        y = self.height - s - self.margin if self.corner[0] == "b" else self.margin
        return x, y


@dataclass(frozen=True)
class Ducking:
    """The sidechain compressor: music above `threshold` (linear, of the voice's level)
    is reduced by `ratio`; `attack`/`release` in ms; `music_gain` before mixing."""
    threshold: float = 0.02
    ratio: float = 10.0
    attack: float = 20.0
    release: float = 250.0
    music_gain: float = 0.5


def composite_filtergraph(layout: Layout, subtitles: Path | None = None, ducking: Ducking | None = Ducking(),
                          sample_rate: int = 16000, font_size: int = 14) -> str:
    """The -filter_complex graph: outputs [v] (video) and [a] (audio). Without `ducking`
    the music is only mixed under the voice at `music_gain` (what the lesson compares)."""
    s, (x, y) = layout.pip_size, layout.pip_xy()
    fmt = f"aformat=sample_fmts=fltp:sample_rates={sample_rate}:channel_layouts=mono"
    video = [f"[0:v]scale={layout.width}:{layout.height}:flags=neighbor,setsar=1[bg]",
             f"[1:v]scale={s}:{s}:flags=bicubic,setsar=1[pip]",
             f"[bg][pip]overlay=x={x}:y={y}:eof_action=pass" + ("[framed]" if subtitles else "[v]")]
    if subtitles is not None:
        style = f"FontName=DejaVu Sans,FontSize={font_size},Outline=1,MarginV=4"
        video.append(f"[framed]subtitles=filename={subtitles}:fontsdir={font_dir()}:force_style='{style}'[v]")
    d = ducking or Ducking()
    audio = [f"[2:a]{fmt},asplit=2[voice][key]",
             f"[3:a]{fmt},volume={d.music_gain}[music]"]
    if ducking is not None:
        audio.append(f"[music][key]sidechaincompress=threshold={d.threshold}:ratio={d.ratio}:attack={d.attack}"
                     f":release={d.release}[bed]")
    else:
        audio.append("[key]anullsink")
        audio.append("[music]anull[bed]")
    audio.append("[voice][bed]amix=inputs=2:duration=longest:normalize=0[a]")
    return ";".join(video + audio)


def _write_wave(path: Path, wave: np.ndarray, sample_rate: int, name: str) -> None:
    import soundfile

    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0 or not np.isfinite(wave).all():
        raise ValueError(f"{name} must be a non-empty finite mono wave (samples,); got shape {wave.shape}")
    soundfile.write(path, wave, sample_rate, subtype="FLOAT")


def composite(product_mp4: bytes, avatar_mp4: bytes, voice: np.ndarray, music: np.ndarray, sample_rate: int,
              cues: list[Cue] | None, layout: Layout = Layout(), ducking: Ducking | None = Ducking(),
              duration: float | None = None) -> bytes:
    """The ad as MP4 bytes (H.264 yuv420p + AAC): `product_mp4` full frame (looped to
    fill the ad), `avatar_mp4` inset (its last frame held), `cues` burned in, the voice
    over the (ducked) music. `duration` in seconds (default: the voice's length). Raises
    RuntimeError with ffmpeg's message on failure."""
    import imageio_ffmpeg

    for name, data in (("product_mp4", product_mp4), ("avatar_mp4", avatar_mp4)):
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise ValueError(f"{name} must be the non-empty bytes of an MP4 file (e.g. viz.encode_video's)")
    if not isinstance(sample_rate, int) or sample_rate < 8000:
        raise ValueError(f"sample_rate must be an int >= 8000; got {sample_rate!r}")
    duration = float(duration if duration is not None else len(voice) / sample_rate)
    if not duration > 0:
        raise ValueError(f"duration must be > 0 seconds; got {duration}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "product.mp4").write_bytes(product_mp4)
        (tmp / "avatar.mp4").write_bytes(avatar_mp4)
        _write_wave(tmp / "voice.wav", voice, sample_rate, "voice")
        _write_wave(tmp / "music.wav", music, sample_rate, "music")
        subs = None
        if cues:
            subs = tmp / "subs.srt"
            subs.write_text(write_srt(cues), encoding="utf-8")
        graph = composite_filtergraph(layout, subs, ducking, sample_rate)
        out = tmp / "ad.mp4"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                   "-stream_loop", "-1", "-i", str(tmp / "product.mp4"), "-i", str(tmp / "avatar.mp4"),
                   "-i", str(tmp / "voice.wav"), "-i", str(tmp / "music.wav"),
                   "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-t", f"{duration:.3f}",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
                   "-ar", str(sample_rate), "-movflags", "+faststart", str(out)]
        done = subprocess.run(command, capture_output=True)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"ffmpeg could not composite the ad: {done.stderr.decode(errors='replace')[-800:]}")
        return out.read_bytes()


def probe_mp4(mp4: bytes) -> dict:
    """What a player sees in an MP4 (ffmpeg's own reading of it; imageio-ffmpeg ships no
    ffprobe): {"duration": s, "video": codec, "width", "height", "fps", "audio": codec,
    "sample_rate"}; a missing stream's codec is None."""
    import re

    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.mp4"
        path.write_bytes(mp4)
        text = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                              capture_output=True).stderr.decode(errors="replace")
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    if duration is None:
        raise RuntimeError(f"ffmpeg cannot read this MP4: {text.strip()[-300:]}")
    h, m, sec = duration.groups()
    info = {"duration": int(h) * 3600 + int(m) * 60 + float(sec), "video": None, "audio": None}
    if video := re.search(r"Stream #\S+.*?Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps", text):
        info.update(video=video.group(1), width=int(video.group(2)), height=int(video.group(3)),
                    fps=float(video.group(4)))
    if audio := re.search(r"Stream #\S+.*?Audio: (\w+).*?, (\d+) Hz", text):
        info.update(audio=audio.group(1), sample_rate=int(audio.group(2)))
    return info


def decode_mp4(mp4: bytes, sample_rate: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """The frames (T, H, W, 3) uint8 and the mono audio (N,) float32 at `sample_rate` of
    an MP4 (an empty wave when it has no audio stream)."""
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.mp4"
        path.write_bytes(mp4)
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        w, h = meta["size"]
        frames = np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])
        done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path),
                               "-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"], capture_output=True)
    wave = np.frombuffer(done.stdout, np.float32).copy() if done.returncode == 0 else np.zeros(0, np.float32)
    return frames, wave


def beat_snapped_cuts(beats: np.ndarray, n_cuts: int, duration: float, min_gap: float = 0.5) -> np.ndarray:
    """`n_cuts` cut times (seconds, sorted) on beats of the music: the beats nearest the
    evenly spaced times duration * k / (n_cuts + 1), no two cuts closer than `min_gap`,
    none at 0 or at/after `duration`. Fewer cuts when the beats do not allow them.

    beats: (B,) beat times in seconds (day 16's tracker), any order."""
    beats = np.sort(np.asarray(beats, dtype=float).ravel())
    if not isinstance(n_cuts, int) or n_cuts < 0:
        raise ValueError(f"n_cuts must be an int >= 0; got {n_cuts!r}")
    if not duration > 0:
        raise ValueError(f"duration must be > 0 seconds; got {duration}")
    usable = beats[(beats >= min_gap) & (beats <= duration - min_gap)]
    cuts: list[float] = []
    for k in range(1, n_cuts + 1):
        ideal = duration * k / (n_cuts + 1)
        free = [b for b in usable if all(abs(b - c) >= min_gap for c in cuts)]
        if free:
            cuts.append(min(free, key=lambda b: abs(b - ideal)))
    return np.array(sorted(cuts))
