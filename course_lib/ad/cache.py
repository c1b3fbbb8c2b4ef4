"""The ad pipeline's stage cache (day 22): a stage's result is stored under a key made
of everything that decides it, so a re-run with the same inputs reuses it and any
changed input (or upstream result) runs the stage again.

    key = stage_key("voiceover", request.script, request.voice, upstream=[])
    cache = StageCache(artifacts_dir("ad_cache"))
    wave = cache.get("voiceover", key)            # None the first time
    cache.put("voiceover", key, {"wave": wave})   # written atomically

A key is the SHA-256 of a canonical encoding: strings as UTF-8, numbers by repr, arrays
and tensors by dtype, shape and bytes (so a reshape is another input), dataclasses by
their fields, sequences and mappings element by element, each tagged with its type.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["stage_key", "StageCache"]

VERSION = 1                      # bump when a stage's code changes what it returns


def _feed(h, value) -> None:
    """Feed `value`'s canonical encoding into the hash `h`."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if value is None or isinstance(value, (bool, int, float, complex)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, str):
        data = value.encode()
        h.update(f"str:{len(data)}:".encode() + data)
    elif isinstance(value, (bytes, bytearray)):
        h.update(f"bytes:{len(value)}:".encode() + bytes(value))
    elif isinstance(value, np.ndarray):
        h.update(f"array:{value.dtype.str}:{value.shape}:".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, np.generic):
        _feed(h, value.item())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(f"dataclass:{type(value).__qualname__}:".encode())
        for f in dataclasses.fields(value):
            _feed(h, f.name)
            _feed(h, getattr(value, f.name))
    elif isinstance(value, Mapping):
        h.update(f"map:{len(value)}:".encode())
        for k in sorted(value, key=repr):
            _feed(h, k)
            _feed(h, value[k])
    elif isinstance(value, Sequence):
        h.update(f"seq:{len(value)}:".encode())
        for item in value:
            _feed(h, item)
    else:
        raise TypeError(f"stage_key cannot hash a {type(value).__name__}; pass its data (array, str, numbers)")


def stage_key(stage: str, *inputs, upstream: Sequence[str] = ()) -> str:
    """The cache key (64 hex digits) of `stage` run on `inputs`, after the stages whose
    keys are `upstream` (their results are inputs too, by key)."""
    if not isinstance(stage, str) or not stage.isidentifier():
        raise ValueError(f"stage must be a name like 'voiceover'; got {stage!r}")
    h = hashlib.sha256(f"course-ad-v{VERSION}:{stage}:".encode())
    _feed(h, list(inputs))
    _feed(h, list(upstream))
    return h.hexdigest()


class StageCache:
    """Results of stages as .npz files under `root`/<stage>/<key>.npz (arrays, strings
    and numbers). Writes go to a temporary file that is renamed into place, so a run
    that stops half-way never leaves a half-written result."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{key}.npz"

    def get(self, stage: str, key: str) -> dict[str, np.ndarray] | None:
        path = self.path(stage, key)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def put(self, stage: str, key: str, result: Mapping[str, object]) -> Path:
        path = self.path(stage, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        arrays = {k: np.frombuffer(v, dtype=np.uint8) if isinstance(v, (bytes, bytearray)) else np.asarray(v)
                  for k, v in result.items()}
        try:
            np.savez(tmp, **arrays)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path
