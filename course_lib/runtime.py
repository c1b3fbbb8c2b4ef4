"""Where code runs and how it stays reproducible: device, seeds, step-seeded random
numbers, thread limits, timing, the artifacts folder, and the key that names settings."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

ARTIFACTS_ENV = "COURSE_ARTIFACTS"


def get_device(prefer: str | None = None) -> torch.device:
    """The device lessons train on: CUDA when present, else CPU.

    `prefer` ("cpu" or "cuda") overrides the choice; the environment variable
    COURSE_DEVICE does the same without editing a notebook.
    """
    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice is not None:
        if choice not in ("cpu", "cuda"):
            raise ValueError(f"prefer must be 'cpu' or 'cuda'; got {choice!r}")
        if choice == "cuda" and not torch.cuda.is_available():
            raise ValueError("prefer='cuda' but no CUDA device is available")
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a seeded torch Generator.

    A notebook run twice with the same seed prints the same numbers on CPU.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


# A large prime: the seeds of (seed, step) pairs never collide for steps < 1_000_003.
_SEED_STRIDE = 1_000_003


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """The seed of batch `step` of a run seeded `seed`: seed * 1_000_003 + stream + step.

    Data functions `step -> batch` draw each batch from a generator seeded this way, so
    batch 700 is the same whether training ran straight through or resumed at step 500.
    `stream` separates two data streams of one run (e.g. 500_000 for a second stage)."""
    for name, value in (("seed", seed), ("step", step), ("stream", stream)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int; got {value!r}")
    return seed * _SEED_STRIDE + stream + step


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A torch.Generator seeded with `step_seed(seed, step, stream)`."""
    return torch.Generator().manual_seed(step_seed(seed, step, stream))


def step_random(seed: int, step: int, stream: int = 0) -> random.Random:
    """A random.Random seeded with `step_seed(seed, step, stream)`."""
    return random.Random(step_seed(seed, step, stream))


def project_root() -> Path:
    """The course checkout: the folder holding `course_lib/` (its parent)."""
    return Path(__file__).resolve().parent.parent


def artifacts_dir(*parts: str) -> Path:
    """`artifacts/` (git-ignored) or a sub-folder of it, created on first use.

    It sits in the course checkout (or the working directory when course_lib is
    installed from a wheel).

    Trained weights, generated data and caches live here. Set COURSE_ARTIFACTS to put
    them elsewhere.
    """
    default = project_root() if (project_root() / "pyproject.toml").exists() else Path.cwd()
    base = Path(os.environ.get(ARTIFACTS_ENV, default / "artifacts"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def torch_threads(n: int):
    """Run the block with torch limited to `n` CPU threads, then restore the setting.

    Models made of hundreds of tiny sequential ops (an RNN step, a small MLP) run
    faster on one thread than split over two, and far faster on a busy machine."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def cpu_threads(device: torch.device | str | None, n: int | None = 1):
    """`torch_threads(n)` when `device` is a CPU; on a GPU (or with n None) nothing
    changes. Training loops of many tiny ops (an RNN step, a small MLP) use this."""
    if n is None or torch.device(device or "cpu").type != "cpu":
        yield
        return
    with torch_threads(n):
        yield


def best_time(fn, repeats: int = 2):
    """Run `fn()` `repeats` times; return (fastest wall-clock seconds, last result).

    The minimum is the usual benchmark statistic: slower runs measure interference."""
    import time

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def settings_key(settings) -> str:
    """8 hex digits naming `settings` (a dict or a dataclass): the SHA-256 of their JSON
    with sorted keys. Load-or-train functions put it in checkpoint names, so changing any
    setting trains (and caches) a new model instead of loading a stale one."""
    import dataclasses
    import hashlib
    import json

    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        settings = dataclasses.asdict(settings)
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict or a dataclass instance; got {type(settings).__name__}")
    text = json.dumps(settings, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
