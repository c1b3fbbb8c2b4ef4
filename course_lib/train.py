"""`fit`: the one training loop every lesson uses.

    history = fit(model, loss_fn, data, steps=2000, lr=1e-3, checkpoint="day03_ddpm")

- `data` is either an iterable of batches (a DataLoader, a list; cycled when exhausted)
  or a function `step -> batch` (deterministic data, exact resumption).
- `loss_fn(model, batch)` returns a scalar loss tensor.
- progress with tqdm.auto; gradient clipping; mixed precision (AMP) only on CUDA.
- with `checkpoint`, the model, optimiser and loss history are saved under
  `artifacts/checkpoints/` every `checkpoint_every` steps and at the end; calling `fit`
  again resumes from the saved step (and returns at once when it is already done).
- under `torchrun --nproc_per_node=N` it runs unchanged as data-parallel training (DDP):
  it joins the process group (gloo on CPU, NCCL on CUDA), each rank keeps its 1/N slice
  of every global batch `data` yields, DistributedDataParallel averages the gradients,
  the recorded loss is the mean over ranks (= the global batch's loss), and only rank 0
  writes checkpoints and shows progress. See `course_lib.distributed`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import distributed
from course_lib.runtime import artifacts_dir, get_device


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


def linear_warmup(steps: int) -> Callable[[int], float]:
    """A `scheduler` for `fit`: the learning rate ramps up linearly over `steps` steps."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    return lambda step: min(1.0, (step + 1) / steps)


def _is_main_process() -> bool:
    return distributed.is_main_process()


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


def _save(path: Path, model, optimizer, scaler, step: int, history: list[float]) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "step": step, "history": history,
             "scaler": scaler.state_dict() if scaler is not None else None}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: an interrupted save never leaves a broken checkpoint


def fit(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
        data: Iterable | Callable[[int], Any], *, steps: int, lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None, weight_decay: float = 0.0,
        grad_clip: float | None = 1.0, device: torch.device | None = None,
        checkpoint: str | Path | None = None, checkpoint_every: int = 500,
        amp: bool | None = None, scheduler: Callable[[int], float] | None = None,
        desc: str = "training", progress: bool = True) -> list[float]:
    """Train `model` for `steps` optimiser steps; return the loss of every step.

    scheduler: optional function step -> learning-rate multiplier (warm-up, cosine, ...).
    amp: mixed precision; defaults to True on CUDA and is never used on CPU.

    Under torchrun, `data` yields the *global* batch on every rank (seed it by the step)
    and each rank trains on its shard; `model` ends with the same weights on every rank,
    equal (up to float rounding) to one process training on the global batches.
    Randomness inside `loss_fn` (diffusion noise, dropout) is drawn per rank.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}")
    if lr <= 0:
        raise ValueError(f"lr must be positive; got {lr}")
    if grad_clip is not None and grad_clip <= 0:
        raise ValueError(f"grad_clip must be positive or None; got {grad_clip}")
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

    start, history = 0, []
    path = checkpoint_path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        state = torch.load(path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start, history = state["step"], list(state["history"])
    if start >= steps:
        return history[:steps]

    model.train()
    net = model
    if world > 1:   # broadcasts rank 0's weights; all-reduces gradients in backward()
        net = _DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not (progress and _is_main_process()))
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
            loss = loss_fn(net, batch)
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
        history.append(global_loss.item())
        bar.update(1)
        if step % 20 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{sum(history[-20:]) / len(history[-20:]):.4f}")
        if path is not None and _is_main_process() and (step + 1) % checkpoint_every == 0:
            _save(path, model, optimizer, scaler, step + 1, history)
    bar.close()
    if path is not None and _is_main_process():
        _save(path, model, optimizer, scaler, steps, history)
    if world > 1:
        torch.distributed.barrier()   # every rank sees the final checkpoint before going on
    model.eval()
    return history


def timed_fit(checkpoint: str, model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
              data, steps: int, lr: float, device: torch.device | None = None, progress: bool = True,
              desc: str = "training", params=None, weight_decay: float = 0.0,
              warmup: int = 100) -> tuple[list[float], float]:
    """`fit` with a checkpoint and a linear warm-up, plus the wall-clock seconds training
    took, stored beside the checkpoint (`<checkpoint>.json`) so a model loaded from
    artifacts/ still reports what it cost. Returns (loss history, training seconds).

    params: the parameters to train (e.g. only the temporal blocks); default all.
    """
    import json
    import time

    path = checkpoint_path(checkpoint)
    info = path.with_suffix(".json")
    cached = info.exists() and path.exists()
    start = time.perf_counter()
    optimizer = torch.optim.AdamW(params if params is not None else model.parameters(), lr=lr,
                                  weight_decay=weight_decay)
    history = fit(model, loss_fn, data, steps=steps, lr=lr, optimizer=optimizer, device=device,
                  checkpoint=checkpoint, checkpoint_every=max(steps, 1), desc=desc, progress=progress,
                  scheduler=linear_warmup(min(warmup, max(steps, 1))))
    seconds = time.perf_counter() - start
    if cached:
        seconds = json.loads(info.read_text())["seconds"]
    elif _is_main_process():
        info.write_text(json.dumps({"seconds": seconds}))
    return history, seconds
