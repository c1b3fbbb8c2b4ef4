"""Low-precision weights: int8 per output channel and FP8 (e4m3) storage (day 07).

Weight-only quantization stores each `nn.Linear` weight W (out, in) in fewer bits and
dequantizes it just before the matmul:

    int8, symmetric, one scale per output row:
        s_o = max_i |W_oi| / 127,   q_oi = clamp(round(W_oi / s_o), -127, 127),   W ≈ s_o · q
    FP8 e4m3 (`torch.float8_e4m3fn`: 1 sign, 4 exponent, 3 mantissa bits, largest 448):
        s = max |W| / 448 (per tensor, or per row),  f = fp8(W / s),  W ≈ s · f

The rounding error of int8 is at most s_o / 2 per weight (absolute); e4m3 keeps about
two significant decimal digits (relative error ≤ 2⁻⁴ for normal numbers) but needs the
scale so that the weights use its range (no scale: small weights fall into subnormals
or flush to 0). A CPU has no FP8 (and torch no int8 weight-only) matmul, so both
*upcast* here: the saving is memory and bandwidth, not arithmetic. On an H100, FP8
matmuls run on the tensor cores.

    model = quantize_linears(dit, "int8")     # every nn.Linear -> QuantizedLinear
    weight_bytes(model)                       # bytes of parameters and quantized weights
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["INT8_MAX", "FP8_MAX", "FORMATS", "quantize_int8", "dequantize_int8", "quantize_fp8",
           "dequantize_fp8", "QuantizedLinear", "quantize_linears", "weight_bytes"]

INT8_MAX = 127                                         # symmetric: -127..127 (-128 unused)
FP8_MAX = 448.0                                        # torch.finfo(torch.float8_e4m3fn).max
FORMATS = ("int8", "fp8", "fp8-tensor")                # fp8: one scale per row; fp8-tensor: one scale


def _check_matrix(weight, name: str = "weight") -> None:
    if not isinstance(weight, Tensor) or weight.ndim != 2 or not weight.is_floating_point():
        got = f"{tuple(weight.shape)} {weight.dtype}" if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"{name} must be a 2-D floating-point tensor (out, in); got {got}")


def _row_absmax(weight: Tensor) -> Tensor:
    """(out, in) -> (out, 1) largest |w| of each row; an all-zero row gets 1 (any scale
    reproduces zeros exactly)."""
    amax = weight.detach().abs().amax(dim=1, keepdim=True).float()
    return torch.where(amax > 0, amax, torch.ones_like(amax))


def quantize_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-output-channel int8: W (out, in) -> (q int8 (out, in), scale float32 (out, 1))."""
    _check_matrix(weight)
    scale = _row_absmax(weight) / INT8_MAX
    q = torch.clamp(torch.round(weight.detach().float() / scale), -INT8_MAX, INT8_MAX).to(torch.int8)
    return q, scale


def dequantize_int8(q: Tensor, scale: Tensor) -> Tensor:
    """(q int8 (out, in), scale (out, 1)) -> float32 W ≈ scale · q."""
    return q.float() * scale


def quantize_fp8(weight: Tensor, per_channel: bool = True) -> tuple[Tensor, Tensor]:
    """FP8 e4m3 storage with a scale that maps the largest |w| (per row, or of the whole
    tensor) to 448: W (out, in) -> (f float8_e4m3fn (out, in), scale float32 (out, 1) or (1, 1))."""
    _check_matrix(weight)
    amax = _row_absmax(weight) if per_channel else _row_absmax(weight.detach().abs().max().reshape(1, 1))
    scale = amax / FP8_MAX
    return (weight.detach().float() / scale).to(torch.float8_e4m3fn), scale


def dequantize_fp8(f: Tensor, scale: Tensor) -> Tensor:
    """(f float8_e4m3fn, scale) -> float32 W ≈ scale · f (the upcast a CPU needs before a matmul)."""
    return f.float() * scale


class QuantizedLinear(nn.Module):
    """An `nn.Linear` whose weight is stored in int8 or FP8 (buffers, not trained) and
    dequantized to float32 in every forward; the bias stays float32.

    x (..., in) -> (..., out), as the original Linear up to the rounding of its weight."""

    def __init__(self, linear: nn.Linear, fmt: str = "int8"):
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear; got {type(linear).__name__}")
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}; got {fmt!r}")
        self.fmt, self.in_features, self.out_features = fmt, linear.in_features, linear.out_features
        if fmt == "int8":
            stored, scale = quantize_int8(linear.weight)
        else:
            stored, scale = quantize_fp8(linear.weight, per_channel=(fmt == "fp8"))
        self.register_buffer("stored", stored)
        self.register_buffer("scale", scale)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(),
                                                                 requires_grad=False)

    def dequantized_weight(self) -> Tensor:
        """The float32 weight (out, in) the matmul uses."""
        return dequantize_int8(self.stored, self.scale) if self.fmt == "int8" else \
            dequantize_fp8(self.stored, self.scale)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.dequantized_weight().to(x.dtype),
                                    None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fmt={self.fmt}"


def quantize_linears(model: nn.Module, fmt: str = "int8") -> nn.Module:
    """Replace every `nn.Linear` inside `model` (in place) by a `QuantizedLinear`; returns
    `model`. Other layers (convolutions, norms, embeddings) keep float32."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}; got {fmt!r}")
    if isinstance(model, nn.Linear):
        raise TypeError("model is itself an nn.Linear: wrap it as QuantizedLinear(model, fmt)")
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, QuantizedLinear(child, fmt))
        else:
            quantize_linears(child, fmt)
    return model


def weight_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer of `model` (quantized weights count at their
    stored width: 1 byte per int8 or FP8 number, plus their float32 scales)."""
    seen, total = set(), 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
    return total
