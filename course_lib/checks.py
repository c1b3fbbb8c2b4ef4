"""Input checks in one line each, so a model's `forward` reads as math, not as guards.

    check_shape(mels, "mels", "B n_mels T", n_mels=80)      # ValueError naming the argument
    check_choice(attention, "attention", ("spatial", "factorized", "full"))
    check_positive_int(steps, "steps")

Every check raises a ValueError (a TypeError for a non-tensor) whose message names the
argument, the expected form and what it got: "mels must be (B, n_mels=80, T); got (2, 3, 9)".
The checks only read shapes and Python values, never tensor contents, so they cost
nothing on a GPU (no device synchronisation).
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return str(tuple(value.shape))
    return type(value).__name__


def check_shape(x, name: str, spec: str, **sizes: int) -> Tensor:
    """Return `x` if it is a tensor shaped like `spec`, else raise.

    spec: space-separated dimension names or numbers, e.g. "B C T H W" or "B 80 T". A
    number must match exactly; a name must match `sizes[name]` when given (free
    otherwise); a name used twice must have the same size both times.
    """
    dims = spec.split()
    expected = ", ".join(f"{d}={sizes[d]}" if d in sizes else d for d in dims)
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a tensor ({expected}); got {_describe(x)}")
    ok = x.ndim == len(dims)
    seen: dict[str, int] = {}
    for d, size in zip(dims, x.shape) if ok else ():
        want = int(d) if d.isdigit() else sizes.get(d, seen.get(d))
        if want is not None and size != want:
            ok = False
        seen.setdefault(d, size)
    if not ok:
        raise ValueError(f"{name} must be ({expected}); got {_describe(x)}")
    return x


def check_choice(value, name: str, options: Iterable) -> None:
    """Raise unless `value` is one of `options`."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}; got {value!r}")


def check_positive_int(value, name: str, allow_zero: bool = False) -> None:
    """Raise unless `value` is an int > 0 (>= 0 with allow_zero); bools are refused."""
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} int; got {value!r}")


def check_positive(value, name: str) -> None:
    """Raise unless `value` is a number > 0 (int or float; bools are refused)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")


def check_range(value, name: str, low: float | None = None, high: float | None = None) -> None:
    """Raise unless low <= value <= high (a missing bound is not checked)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or \
            (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"{name} must be a number in {bounds}; got {value!r}")


__all__ = ["check_shape", "check_choice", "check_positive_int", "check_positive", "check_range"]
