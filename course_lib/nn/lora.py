"""LoRA: low-rank adapters on frozen linear layers (Hu et al. 2021; day 07).

A frozen weight W (out, in) gets a trainable low-rank update:

    y = x Wᵀ + b + (α / r) · x Aᵀ Bᵀ,    A (r, in) ~ small random,  B (out, r) = 0

B starts at zero, so an untrained adapter changes nothing; only A and B train
(r · (in + out) numbers instead of in · out). `merge()` folds the update into the weight,
W ← W + (α/r) B A, so inference costs nothing extra; `unmerge()` takes it out again
(equal to the original weight up to float rounding). Switching adapters (a pan-left
LoRA, a zoom LoRA) is swapping A and B.

    add_lora(video_dit, rank=4, alpha=4)     # wraps every attention projection (q, k, v, out)
    lora_parameters(model)                                      # what the optimiser trains
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["LoRALinear", "add_lora", "lora_parameters", "merge_lora", "unmerge_lora"]


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a rank-`rank` update scaled by alpha / rank.

    x (..., in) -> (..., out)."""

    def __init__(self, base: nn.Linear, rank: int = 4, alpha: float = 4.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear; got {type(base).__name__}")
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= min(base.in_features,
                                                                                        base.out_features):
            raise ValueError(f"rank must be an int in [1, {min(base.in_features, base.out_features)}]; "
                             f"got {rank!r}")
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a positive number; got {alpha!r}")
        self.base, self.rank, self.alpha = base, rank, float(alpha)
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))      # as nn.Linear initialises
        self.merged = False

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    def delta_weight(self) -> Tensor:
        """(α / r) · B A: the (out, in) update the adapter adds to the weight."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: Tensor) -> Tensor:
        y = self.base(x)
        if self.merged:
            return y
        return y + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)

    @torch.no_grad()
    def merge(self) -> None:
        """W ← W + (α/r) B A; forward then uses the base layer alone."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W ← W − (α/r) B A: the original weight back (up to float rounding)."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}, merged={self.merged}"


def add_lora(model: nn.Module, rank: int = 4, alpha: float = 4.0,
             targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")) -> list[str]:
    """Wrap (in place) every `nn.Linear` of `model` whose attribute name is in `targets`
    as a `LoRALinear`; freeze every other parameter of the model. Returns the wrapped
    layers' dotted names (an empty list is an error: the targets matched nothing)."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = []
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and name in targets:
                setattr(parent, name, LoRALinear(child, rank=rank, alpha=alpha))
                wrapped.append(f"{parent_name}.{name}" if parent_name else name)
    if not wrapped:
        raise ValueError(f"targets {targets!r} matched no nn.Linear attribute of the model")
    return wrapped


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The adapters' A and B matrices: the only parameters a LoRA fine-tune trains."""
    return [p for m in model.modules() if isinstance(m, LoRALinear) for p in (m.lora_A, m.lora_B)]


def merge_lora(model: nn.Module) -> None:
    """Fold every adapter of `model` into its weight."""
    for m in model.modules():
        if isinstance(m, LoRALinear):
            m.merge()


def unmerge_lora(model: nn.Module) -> None:
    """Take every merged adapter of `model` out of its weight again."""
    for m in model.modules():
        if isinstance(m, LoRALinear):
            m.unmerge()
