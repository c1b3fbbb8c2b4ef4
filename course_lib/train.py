"""Training: `fit`, the one loop every model uses, and `load_or_train`, which trains a
recipe once and loads it afterwards.

    run = fit(model, loss_fn, data, steps=2000, lr=1e-3, checkpoint="ddpm_digits")
    run.history, run.metrics, run.seconds

- `data` is either an iterable of batches (a DataLoader, a list; cycled when exhausted)
  or a function `step -> batch` (deterministic data, exact resumption).
- `loss_fn(model, batch)` returns a scalar loss tensor, or `(loss, logs)` where `logs`
  holds other numbers worth recording per step (`{"l1": l1, "sync": sync}`): they land
  in `run.metrics` and in the checkpoint.
- `on_step(step, model, logs)` runs after every optimiser step (`step` = steps done):
  evaluation snapshots, switching a loss term on, anything with a side effect, so that
  `data` and `loss_fn` stay pure. `state` (a dict) is saved with every checkpoint and
  restored in place on resumption: what `on_step` keeps goes there.
- progress with tqdm.auto; gradient clipping; mixed precision (AMP) only on CUDA.
- with `checkpoint`, the model, optimiser, loss history, metrics, `state` and training
  seconds are saved under `artifacts/checkpoints/` every `checkpoint_every` steps and at
  the end; calling `fit` again resumes from the saved step (and returns at once when it
  is already done).
- under `torchrun --nproc_per_node=N` it runs unchanged as data-parallel training (DDP):
  it joins the process group (gloo on CPU, NCCL on CUDA), each rank keeps its 1/N slice
  of every global batch `data` yields, DistributedDataParallel averages the gradients,
  the recorded loss is the mean over ranks (= the global batch's loss), and only rank 0
  writes checkpoints and shows progress. See `course_lib.distributed`.

Recipes (see ARCHITECTURE.md): everything that decides a trained model's weights is one
frozen dataclass with a typed `model` config, `train: TrainSettings` and `key()`;
`load_or_train(name, recipe, ...)` trains it under `artifacts/checkpoints/<name>_<key>.pt`
or loads that file. Each model family keeps named size presets (`PRESETS["cpu"]`,
`PRESETS["gpu"]`); `preset(PRESETS, device)` picks one.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import distributed
from course_lib.runtime import artifacts_dir, cpu_threads, get_device, settings_key, step_generator

OnStep = Callable[[int, nn.Module, dict[str, float]], None]


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors (also inside tuples, lists and dicts) to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def checkpoint_path(checkpoint: str | Path) -> Path:
    """A bare name means `artifacts/checkpoints/<name>.pt`; a path is used as given."""
    path = Path(checkpoint)
    if path.suffix != ".pt" and len(path.parts) == 1:
        path = artifacts_dir("checkpoints") / f"{path}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class TrainingRun:
    """What `fit` returns: the loss of every step, the other per-step numbers the loss
    function reported (`metrics`), the wall-clock seconds training took (summed over
    resumed runs; for a loaded model, what it took when it was trained), the checkpoint
    file, and whether this call only loaded it (`cached`)."""
    history: list[float]
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    checkpoint: Path | None = None
    cached: bool = False


class _DDP(nn.parallel.DistributedDataParallel):
    """DistributedDataParallel that also exposes the wrapped model's attributes, so a
    `loss_fn` written for the bare model (`model.config`, `model.null_label`) still works.
    (`loss_fn` must call `model(...)`: DDP synchronises gradients through forward.)"""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def _batches(data, start: int):
    """Yield (step, batch) from `start` on, cycling an iterable or calling a function."""
    if callable(data) and not isinstance(data, Iterable):
        for step in itertools.count(start):
            yield step, data(step)
        return
    step, skipped = start, 0
    while True:
        empty = True
        for batch in data:
            empty = False
            if skipped < start:  # resuming an iterable: skip what was already seen
                skipped += 1
                continue
            yield step, batch
            step += 1
        if empty:
            raise ValueError("data yielded no batches")


def _split_loss(out) -> tuple[torch.Tensor, dict[str, Any]]:
    """A loss function's result -> (scalar loss, other per-step numbers)."""
    if isinstance(out, tuple):
        if len(out) != 2 or not isinstance(out[1], Mapping):
            raise TypeError("loss_fn must return a scalar tensor or (loss, {name: number})")
        return out[0], dict(out[1])
    return out, {}


def _save(path: Path, model, optimizer, scaler, step: int, run: TrainingRun, state: dict | None) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "step": step, "history": run.history, "metrics": run.metrics, "seconds": run.seconds,
               "state": state, "scaler": scaler.state_dict() if scaler is not None else None}
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: an interrupted save never leaves a broken checkpoint


def fit(model: nn.Module, loss_fn: Callable[[nn.Module, Any], Any],
        data: Iterable | Callable[[int], Any], *, steps: int, lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None, weight_decay: float = 0.0,
        grad_clip: float | None = 1.0, device: torch.device | None = None,
        checkpoint: str | Path | None = None, checkpoint_every: int = 500,
        amp: bool | None = None, scheduler: Callable[[int], float] | None = None,
        on_step: OnStep | None = None, state: dict | None = None,
        desc: str = "training", progress: bool = True) -> TrainingRun:
    """Train `model` for `steps` optimiser steps; return a `TrainingRun`.

    scheduler: optional function step -> learning-rate multiplier (warm-up, cosine, ...).
    amp: mixed precision; defaults to True on CUDA and is never used on CPU.
    on_step, state: see the module docstring.

    Under torchrun, `data` yields the *global* batch on every rank (seed it by the step)
    and each rank trains on its shard; `model` ends with the same weights on every rank,
    equal (up to float rounding) to one process training on the global batches.
    Randomness inside `loss_fn` (diffusion noise, dropout) is drawn per rank; `on_step`
    runs on every rank with the global means of the logged numbers.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}")
    if lr <= 0:
        raise ValueError(f"lr must be positive; got {lr}")
    if grad_clip is not None and grad_clip <= 0:
        raise ValueError(f"grad_clip must be positive or None; got {grad_clip}")
    if state is not None and not isinstance(state, dict):
        raise TypeError(f"state must be a dict or None; got {type(state).__name__}")
    if device is None:
        params = list(model.parameters())
        device = params[0].device if params else get_device()
    device = distributed.init(device)     # joins the process group under torchrun; else no-op
    world, rank = distributed.world_size(), distributed.rank()
    model.to(device)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    use_amp = device.type == "cuda" if amp is None else (amp and device.type == "cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None

    start, run = 0, TrainingRun(history=[])
    path = checkpoint_path(checkpoint) if checkpoint is not None else None
    run.checkpoint = path
    if path is not None and path.exists():
        saved = torch.load(path, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        start = saved["step"]
        run.history, run.metrics = list(saved["history"]), dict(saved.get("metrics") or {})
        run.seconds = saved.get("seconds", 0.0)
        if state is not None and saved.get("state"):
            state.update(saved["state"])
    if start >= steps:
        model.eval()
        run.history = run.history[:steps]
        run.metrics = {k: v[:steps] for k, v in run.metrics.items()}
        run.cached = True
        return run

    model.train()
    net = model
    if world > 1:   # broadcasts rank 0's weights; all-reduces gradients in backward()
        net = _DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    bar = tqdm(total=steps, initial=start, desc=desc,
               disable=not (progress and distributed.is_main_process()))
    clock = time.perf_counter()
    for step, batch in _batches(data, start):
        if step >= steps:
            break
        if scheduler is not None:
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * scheduler(step)
        if world > 1:
            batch = distributed.shard(batch, rank, world)     # this rank's rows of the global batch
        batch = to_device(batch, device)
        with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
            loss, extras = _split_loss(loss_fn(net, batch))
        global_loss = distributed.all_reduce_mean(loss.detach().float())   # = loss when world == 1
        if not torch.isfinite(global_loss):   # the same decision on every rank
            raise FloatingPointError(f"loss became {global_loss.item()} at step {step}; lower lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        logs = {"loss": global_loss.item()}
        for name, value in extras.items():
            value = torch.as_tensor(value, dtype=torch.float32, device=device).detach()
            logs[name] = distributed.all_reduce_mean(value).item()
            run.metrics.setdefault(name, []).append(logs[name])
        run.history.append(logs["loss"])
        if on_step is not None:
            on_step(step + 1, model, logs)
        bar.update(1)
        if step % 20 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{sum(run.history[-20:]) / len(run.history[-20:]):.4f}")
        if path is not None and distributed.is_main_process() and (step + 1) % checkpoint_every == 0:
            now = time.perf_counter()
            run.seconds, clock = run.seconds + now - clock, now
            _save(path, model, optimizer, scaler, step + 1, run, state)
    bar.close()
    run.seconds += time.perf_counter() - clock
    if path is not None and distributed.is_main_process():
        _save(path, model, optimizer, scaler, steps, run, state)
    if world > 1:
        torch.distributed.barrier()   # every rank sees the final checkpoint before going on
    model.eval()
    return run


def random_batches(*tensors: torch.Tensor, batch_size: int, seed: int, stream: int = 0) -> Callable[[int], Any]:
    """`data` for `fit`: step -> `batch_size` random rows (drawn with replacement, the same
    rows of every tensor) from a generator seeded by (seed, step, stream)
    (`runtime.step_generator`), so a resumed run sees exactly the batches it would have.
    One tensor gives a tensor; several give a tuple."""
    if not tensors or any(not isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("random_batches needs one or more tensors")
    n = len(tensors[0])
    if n == 0 or any(len(t) != n for t in tensors):
        raise ValueError(f"tensors must have the same, non-zero length; got {[len(t) for t in tensors]}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")

    def data(step: int):
        rows = torch.randint(0, n, (batch_size,), generator=step_generator(seed, step, stream))
        picked = tuple(t[rows] for t in tensors)
        return picked[0] if len(picked) == 1 else picked

    return data


# ---------------------------------------------------------------- recipes

@dataclass(frozen=True)
class TrainSettings:
    """How a recipe is optimised: AdamW for `steps` steps on batches of `batch_size`,
    peak learning rate `lr` reached by a linear warm-up over `warmup` steps, then held
    (`decay="none"`) or lowered along a half cosine to `min_lr` x lr at the last step
    (`decay="cosine"`); gradient norms clipped at `grad_clip`; `seed` seeds the model's
    initialisation and the order of the batches.

        multiplier(s) = min(1, (s + 1) / warmup) * (m + (1 - m) (1 + cos(pi s / steps)) / 2)
    """
    steps: int
    batch_size: int
    lr: float
    warmup: int = 0
    decay: str = "none"
    min_lr: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "warmup", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name == "batch_size" else 0):
                raise ValueError(f"{name} must be a {'positive' if name == 'batch_size' else 'non-negative'} "
                                 f"int; got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive; got {self.lr!r}")
        if self.decay not in ("none", "cosine"):
            raise ValueError(f"decay must be 'none' or 'cosine'; got {self.decay!r}")
        if not 0 <= self.min_lr <= 1:
            raise ValueError(f"min_lr must be a fraction in [0, 1]; got {self.min_lr!r}")

    def lr_multiplier(self, step: int) -> float:
        """The factor on `lr` at optimiser step `step` (0-based)."""
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.decay == "none":
            return warm
        cosine = math.cos(math.pi * min(step, self.steps) / self.steps)
        return warm * (self.min_lr + (1 - self.min_lr) * 0.5 * (1 + cosine))

    @property
    def scheduler(self) -> Callable[[int], float] | None:
        """`lr_multiplier` for `fit`, or None when the rate is constant."""
        return None if self.warmup == 0 and self.decay == "none" else self.lr_multiplier


def recipe_key(recipe) -> str:
    """8 hex digits naming every field of a recipe (`runtime.settings_key`)."""
    return settings_key(recipe)


def checkpoint_name(name: str, recipe) -> str:
    """`<name>_<key>`: what is trained, and with which settings. Changing any field of the
    recipe changes the key, so a stale checkpoint is never loaded for new settings."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"name must be letters, digits and '_' (e.g. 'video_dit'); got {name!r}")
    return f"{name}_{recipe_key(recipe)}"


def load_or_train(name: str, recipe, model: nn.Module, loss_fn: Callable[[nn.Module, Any], Any],
                  data: Iterable | Callable[[int], Any], *, device: torch.device | None = None,
                  params: Iterable[nn.Parameter] | None = None, on_step: OnStep | None = None,
                  state: dict | None = None, threads: int | None = None,
                  checkpoint_every: int | None = None, desc: str | None = None,
                  progress: bool = True) -> TrainingRun:
    """Train `model` as `recipe.train` says, or load it when it is already trained.

    The checkpoint is `artifacts/checkpoints/<name>_<recipe key>.pt` (`checkpoint_name`);
    an interrupted run resumes from its last save (every `checkpoint_every` steps, default
    only at the end). params: the parameters to train (default all). threads: on a CPU,
    train on this many threads (models of many tiny ops run faster on one).
    Returns the `TrainingRun`; `run.cached` tells whether anything was trained.

    The global random state is the same after this call whether the model was trained or
    loaded: training draws (noise, dropout) from a fork of it (`torch.random.fork_rng`),
    so what a lesson samples next does not depend on what artifacts/ held.
    """
    settings = getattr(recipe, "train", None)
    if not isinstance(settings, TrainSettings):
        raise TypeError(f"recipe must have a `train: TrainSettings` field; got {type(recipe).__name__}")
    device = device or get_device()
    optimizer = torch.optim.AdamW(list(params) if params is not None else model.parameters(),
                                  lr=settings.lr, weight_decay=settings.weight_decay)
    with cpu_threads(device, threads), torch.random.fork_rng(devices=_cuda_devices(device)):
        return fit(model, loss_fn, data, steps=settings.steps, lr=settings.lr, optimizer=optimizer,
                   grad_clip=settings.grad_clip, device=device, scheduler=settings.scheduler,
                   checkpoint=checkpoint_name(name, recipe),
                   checkpoint_every=checkpoint_every or max(settings.steps, 1),
                   on_step=on_step, state=state, desc=desc or name, progress=progress)


SEED_ENV = "COURSE_SEED"


def with_seed(recipe, seed: int):
    """`recipe` with the seed of every `TrainSettings` in it (nested recipes too) set to
    `seed`: the same model trained from another initialisation and batch order."""
    if isinstance(recipe, TrainSettings):
        return dataclasses.replace(recipe, seed=seed)
    if not dataclasses.is_dataclass(recipe) or isinstance(recipe, type):
        return recipe
    changes = {f.name: with_seed(getattr(recipe, f.name), seed) for f in dataclasses.fields(recipe)
               if dataclasses.is_dataclass(getattr(recipe, f.name))}
    return dataclasses.replace(recipe, **changes)


def _cuda_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose random state `fork_rng` must save (none on a CPU run)."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def preset(presets: Mapping[str, Any], device: torch.device | str | None = None):
    """The recipe a lesson uses on `device`: `presets["gpu"]` on CUDA, else `presets["cpu"]`.

    With the environment variable COURSE_SEED set (e.g. `COURSE_SEED=3 course run day05`),
    every training seed in the recipe is replaced by it (`with_seed`): how much a lesson's
    numbers move with the seed is how its asserts' margins are chosen."""
    for required in ("cpu", "gpu"):
        if required not in presets:
            raise ValueError(f"presets must name a 'cpu' and a 'gpu' recipe; missing {required!r}")
    device = torch.device(device) if device is not None else get_device()
    recipe = presets["gpu" if device.type == "cuda" else "cpu"]
    seed = os.environ.get(SEED_ENV)
    if seed is not None:
        if not seed.isdigit():
            raise ValueError(f"{SEED_ENV} must be a non-negative integer; got {seed!r}")
        recipe = with_seed(recipe, int(seed))
    return recipe


def describe(recipe, width: int = 100) -> str:
    """A recipe as one `field: value` line per field (long values wrapped), headed by its
    type and key, for the config cell of a lesson: `print(describe(RECIPE))`."""
    import textwrap

    if not dataclasses.is_dataclass(recipe) or isinstance(recipe, type):
        raise TypeError(f"recipe must be a dataclass instance; got {type(recipe).__name__}")
    lines = [f"{type(recipe).__name__} (key {recipe_key(recipe)})"]
    for f in dataclasses.fields(recipe):
        text = f"  {f.name}: {getattr(recipe, f.name)!r}"
        lines += textwrap.wrap(text, width, subsequent_indent=" " * (len(f.name) + 4), break_long_words=False,
                               break_on_hyphens=False)
    return "\n".join(lines)
