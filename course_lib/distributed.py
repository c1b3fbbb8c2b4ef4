"""Data-parallel training with `torchrun`: process group set-up, batch shards, launching.

    torchrun --nproc_per_node=2 -m course_lib.diffusion.ddp_demo ...

`torchrun` starts N copies of the same program and tells each, through environment
variables, who it is: RANK (0 .. WORLD_SIZE-1), LOCAL_RANK (index on this machine) and
where rank 0 listens (MASTER_ADDR, MASTER_PORT). Each copy then

1. joins the *process group* (`init`): the "gloo" backend on CPU, "nccl" on CUDA GPUs;
2. computes the same global batch and keeps its own slice of it (`shard`): rank r of W
   takes rows r*B/W .. (r+1)*B/W - 1;
3. wraps the model in `DistributedDataParallel`, which broadcasts rank 0's weights at
   the start and all-reduces (averages) the gradients during `backward()`.

With equal shards the average of the W local mean-gradients *is* the gradient of the
global batch's mean loss, so every rank takes exactly the optimiser step that one
process would take on the whole batch: the weights stay identical on every rank.
`train.fit` does all of this by itself when it finds it was launched by `torchrun`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


def launched_by_torchrun() -> bool:
    """True when this process was started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main_process() -> bool:
    """Rank 0: the one process that prints, shows progress and writes files."""
    return rank() == 0


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA tensors (GPU-to-GPU over NVLink / InfiniBand), gloo for CPU."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init(device: torch.device | None = None) -> torch.device:
    """Join the process group torchrun described in the environment (once); return the
    device this rank trains on (cuda:LOCAL_RANK on GPUs, cpu otherwise).

    Without torchrun it does nothing and returns `device` (or the default device)."""
    from course_lib.runtime import get_device

    device = torch.device(device) if device is not None else get_device()
    if not launched_by_torchrun():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not is_initialized():
        dist.init_process_group(backend=backend_for(device))
    return device


def teardown() -> None:
    """Leave the process group (call once at the end of a torchrun program)."""
    if is_initialized():
        dist.destroy_process_group()


def shard(batch: Any, rank: int, world_size: int) -> Any:
    """Rank `rank`'s slice of a global batch: rows [r*B/W, (r+1)*B/W) of every tensor
    (also inside tuples, lists and dicts); other values are passed through.

    The global batch size B must be divisible by `world_size` (equal shards are what
    make averaged gradients equal the global-batch gradient)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must lie in [0, {world_size - 1}]; got {rank}")
    if isinstance(batch, torch.Tensor):
        if batch.ndim == 0:
            return batch
        if len(batch) % world_size:
            raise ValueError(f"the global batch size ({len(batch)}) must be divisible by the "
                             f"world size ({world_size})")
        per = len(batch) // world_size
        return batch[rank * per:(rank + 1) * per]
    if isinstance(batch, (list, tuple)):
        return type(batch)(shard(b, rank, world_size) for b in batch)
    if isinstance(batch, dict):
        return {k: shard(v, rank, world_size) for k, v in batch.items()}
    return batch


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of `value` over all ranks (a no-op in a single process)."""
    if not is_initialized() or world_size() == 1:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world_size()


# ---------------------------------------------------------------- launching from Python

def free_port() -> int:
    """A free TCP port on the loopback interface, for MASTER_PORT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(module: str, args: list[str], nproc: int = 2, port: int | None = None) -> list[str]:
    """The command line `torchrun --nproc_per_node=nproc -m module args...`, on loopback.

    (`python -m torch.distributed.run` is what the `torchrun` script runs.)"""
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive int; got {nproc!r}")
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1",
            "--master_addr=127.0.0.1", f"--master_port={port or free_port()}", "-m", module, *args]


def launch(module: str, args: list[str], nproc: int = 2, threads_per_process: int = 1,
           timeout: float = 300.0) -> subprocess.CompletedProcess:
    """Run `module` under torchrun with `nproc` CPU processes on this machine (loopback
    only, no network needed) and return the finished process (stdout, stderr captured).

    Raises RuntimeError with the processes' output when the run fails."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads_per_process))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                      env.get("PYTHONPATH")]))
    if "GLOO_SOCKET_IFNAME" not in env and Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"      # keep gloo on loopback (Linux)
    result = subprocess.run(torchrun_command(module, args, nproc), env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    return result
