"""The registry behind tests/test_presets.py: one smoke function per preset table.

A file `tests/smoke_<area>.py` registers, for each `PRESETS` table of course_lib (any
module-level dict whose name ends in PRESETS), a function that takes one recipe of the
table and, on the CPU with a tiny batch, runs one training step (`train_one_step`) and
one sampling or decoding step of the model that recipe builds:

    @smoke("course_lib.diffusion.dit_train.PRESETS")
    def dit(recipe):
        model = new_dit(recipe)
        batch = (torch.randn(2, 1, 16, 16), torch.tensor([3, 7]))
        train_one_step(model, partial(ddpm.conditional_loss, schedule=...), batch)
        ...one DDIM step...

Use the same model constructor and loss as the recipe's train_* function, so the GPU
presets are at least shape-correct wherever CI runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_lib.train import fit

SMOKE: dict[str, Callable] = {}


def smoke(table: str):
    """Register the decorated function as the smoke test of preset table `table`
    ("course_lib.<module>.<NAME>PRESETS")."""
    def register(fn):
        if table in SMOKE:
            raise ValueError(f"two smoke functions for {table}")
        SMOKE[table] = fn
        return fn
    return register


def train_one_step(model: torch.nn.Module, loss_fn, batch, lr: float = 1e-4) -> float:
    """One `fit` step on `batch` on the CPU; asserts the loss is finite and that the step
    changed the weights. Returns the loss."""
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    run = fit(model, loss_fn, [batch], steps=1, lr=lr, device=torch.device("cpu"), progress=False)
    assert math.isfinite(run.history[0]), f"loss is {run.history[0]}"
    after = [p.detach() for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after)), "one training step changed no weight"
    return run.history[0]


def as_if_trained(model: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """Perturb every weight (in place) and return the model in eval mode. An untrained
    adaLN-Zero block or zero-initialised layer passes no gradient and ignores its inputs,
    so tests of conditioning, adapters and control branches need weights like a trained
    model's."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn_like(p))
    return model.eval()
