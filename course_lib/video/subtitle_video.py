"""Subtitles into an MP4 with ffmpeg (day 18): a soft track a player can switch on and
off, or text burned into the pixels.

    mp4 = encode_video(frames, fps=8, scale=8, audio=wave, sample_rate=16000)   # viz, bytes
    soft = mux_subtitles(mp4, cues)        # + a mov_text subtitle stream, video and audio copied
    extract_subtitles(soft)                # the WebVTT text back out of the file
    hard = burn_subtitles(mp4, cues)       # re-encoded (H.264) with the text drawn by libass

Soft subtitles (MP4's `mov_text`, what phone players show) keep the picture untouched
and can be translated or switched off; burned ones survive any player and any
re-upload, which is why social video burns them. libass needs a font: we point it at
the DejaVu fonts matplotlib ships, so nothing depends on the system's fonts.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from course_lib.video.subtitles import Cue, write_srt

__all__ = ["mux_subtitles", "burn_subtitles", "extract_subtitles", "font_dir"]


def font_dir() -> Path:
    """matplotlib's bundled TrueType fonts (DejaVu Sans among them)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args],
                          capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {done.stderr.decode(errors='replace').strip()[-500:]}")


def _check(mp4: bytes, cues: list[Cue]) -> None:
    if not isinstance(mp4, (bytes, bytearray)) or len(mp4) == 0:
        raise ValueError("mp4 must be the non-empty bytes of an MP4 file (e.g. viz.encode_video's)")
    if not cues or not all(isinstance(c, Cue) for c in cues):
        raise ValueError("cues must be a non-empty list of subtitles.Cue (subtitles.words_to_cues)")


def _run_on_files(mp4: bytes, cues: list[Cue], args) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        src, subs, out = Path(tmp) / "in.mp4", Path(tmp) / "subs.srt", Path(tmp) / "out.mp4"
        src.write_bytes(mp4)
        subs.write_text(write_srt(cues), encoding="utf-8")
        _ffmpeg(*args(src, subs, out))
        return out.read_bytes()


def mux_subtitles(mp4: bytes, cues: list[Cue], language: str = "eng") -> bytes:
    """The MP4 with the cues as a soft `mov_text` subtitle stream (ISO 639-2 `language`);
    video and audio streams are copied, not re-encoded."""
    _check(mp4, cues)
    return _run_on_files(mp4, cues, lambda src, subs, out: [
        "-i", str(src), "-i", str(subs), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text",
        "-metadata:s:s:0", f"language={language}", str(out)])


def burn_subtitles(mp4: bytes, cues: list[Cue], font_size: int = 14) -> bytes:
    """The MP4 re-encoded (H.264, yuv420p; audio copied) with the cues drawn into the frames
    by libass, in DejaVu Sans of `font_size` (libass' units: pixels at a 288-line script)."""
    _check(mp4, cues)
    if not isinstance(font_size, int) or font_size < 1:
        raise ValueError(f"font_size must be a positive int; got {font_size!r}")

    def args(src: Path, subs: Path, out: Path) -> list[str]:
        style = f"FontName=DejaVu Sans,FontSize={font_size},Outline=1"
        # the filter's own syntax: ':' separates options and '\' escapes; the paths are ours (no quotes)
        filtergraph = f"subtitles=filename={subs}:fontsdir={font_dir()}:force_style='{style}'"
        return ["-i", str(src), "-vf", filtergraph, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "copy",
                str(out)]
    return _run_on_files(mp4, cues, args)


def extract_subtitles(mp4: bytes) -> str:
    """The first subtitle stream of an MP4 as WebVTT text (RuntimeError if there is none)."""
    if not isinstance(mp4, (bytes, bytearray)) or len(mp4) == 0:
        raise ValueError("mp4 must be the non-empty bytes of an MP4 file")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.mp4", Path(tmp) / "subs.vtt"
        src.write_bytes(mp4)
        _ffmpeg("-i", str(src), "-map", "0:s:0", "-f", "webvtt", str(out))
        return out.read_text(encoding="utf-8")
