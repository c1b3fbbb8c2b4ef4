"""`course doctor`: is everything the course needs installed and working?"""

from __future__ import annotations

import importlib
import platform
import subprocess
from collections.abc import Callable


def _version(module: str) -> str:
    mod = importlib.import_module(module)
    return getattr(mod, "__version__", "installed")


def _torch() -> str:
    import torch
    from course_lib.runtime import get_device
    device = get_device()
    extra = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
    return f"{torch.__version__}, device {device}{extra}, {torch.get_num_threads()} CPU threads"


def _espeak() -> str:
    import ctypes
    import os
    import espeakng_loader
    lib, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    ctypes.CDLL(lib)
    if not os.path.isdir(data):
        raise RuntimeError(f"eSpeak NG data folder missing: {data}")
    return f"library {os.path.basename(lib)} loads; data at {data}"


def _ffmpeg() -> str:
    import imageio_ffmpeg
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    encoders = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True,
                              text=True, timeout=30).stdout
    missing = [c for c in ("libx264", "aac") if c not in encoders]
    if missing:
        raise RuntimeError(f"ffmpeg at {exe} lacks encoder(s) {', '.join(missing)}")
    return f"{exe} (libx264, aac)"


def _c2pa() -> str:
    from importlib.metadata import version
    importlib.import_module("c2pa")
    return version("c2pa-python")


CHECKS: list[tuple[str, Callable[[], str], str]] = [
    ("python", lambda: platform.python_version(), "install Python 3.10 or newer"),
    ("torch", _torch, "pip install 'torch>=2.4' (CPU wheel: --index-url https://download.pytorch.org/whl/cpu)"),
    ("numpy", lambda: _version("numpy"), "pip install numpy"),
    ("librosa", lambda: _version("librosa"), "pip install librosa"),
    ("soundfile", lambda: _version("soundfile"), "pip install soundfile"),
    ("music21", lambda: _version("music21"), "pip install music21"),
    ("jupytext", lambda: _version("jupytext"), "pip install jupytext"),
    ("nbclient", lambda: _version("nbclient"), "pip install nbclient"),
    ("eSpeak NG", _espeak, "pip install espeakng-loader"),
    ("ffmpeg", _ffmpeg, "pip install imageio-ffmpeg"),
    ("c2pa", _c2pa, "pip install c2pa-python"),
]


def run_doctor(print_fn=print) -> int:
    """Print one line per component; return 0 when all work, 1 otherwise."""
    failures = 0
    for name, probe, fix in CHECKS:
        try:
            print_fn(f"  ok    {name:10s} {probe()}")
        except Exception as exc:  # noqa: BLE001 - a doctor reports, it does not crash
            failures += 1
            print_fn(f"  FAIL  {name:10s} {type(exc).__name__}: {exc}\n        fix: {fix}")
    print_fn("everything the course needs is here" if not failures
             else f"{failures} problem(s) found: apply the fixes above and run `course doctor` again")
    return 1 if failures else 0
