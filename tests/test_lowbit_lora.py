"""Day 07's building blocks: int8 / FP8 weight storage and LoRA adapters.

Oracles: torch's own quantization kernel (`torch.quantize_per_channel`) for int8, the
e4m3 bit layout decoded by hand for FP8, and closed-form error bounds.
"""

import pytest
import torch
from torch import nn

from course_lib.nn import lora, lowbit


def weights(out=48, inp=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out, inp, generator=g) * torch.logspace(-3, 0, out)[:, None]  # rows of very different size
    w[5] = 0.0                                                                    # an all-zero row
    return w


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")   # deprecated in torch, still the oracle
def test_int8_per_row_matches_torchs_quantizer_and_the_error_bound():
    w = weights()
    q, scale = lowbit.quantize_int8(w)
    assert q.dtype == torch.int8 and scale.shape == (48, 1)
    reference = torch.quantize_per_channel(w, scale.flatten().double(), torch.zeros(48, dtype=torch.long),
                                           axis=0, dtype=torch.qint8)
    assert torch.equal(q, reference.int_repr())                # same integers as torch's kernel
    assert q.abs().max() == 127 and q.min() >= -127
    err = (lowbit.dequantize_int8(q, scale) - w).abs()
    assert torch.all(err <= scale / 2 + 1e-12)                 # round to nearest: half a step
    assert torch.all(lowbit.dequantize_int8(q, scale)[5] == 0)
    # one scale for the whole tensor would wipe out the small rows: per row keeps them
    per_tensor = w.abs().max() / 127
    small_rows = (torch.round(w[:5] / per_tensor) == 0).float().mean()
    assert small_rows > 0.9 and (q[:5] != 0).float().mean() > 0.9


def e4m3_table() -> torch.Tensor:
    """Every finite float8_e4m3fn value, decoded from its bits: 1 sign, 4 exponent
    (bias 7), 3 mantissa bits; exponent 0 is subnormal; S.1111.111 is NaN (no infinities)."""
    values = []
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exp, man = (code >> 3) & 0xF, code & 0x7
        if exp == 0xF and man == 0x7:
            continue
        values.append(sign * (man / 8 * 2.0 ** -6 if exp == 0 else (1 + man / 8) * 2.0 ** (exp - 7)))
    return torch.tensor(sorted(set(values)), dtype=torch.float64)


def test_fp8_values_are_the_nearest_e4m3_numbers_after_scaling():
    table = e4m3_table()
    assert table.max() == lowbit.FP8_MAX == torch.finfo(torch.float8_e4m3fn).max
    w = weights()
    for per_channel in (True, False):
        f, scale = lowbit.quantize_fp8(w, per_channel=per_channel)
        assert f.dtype == torch.float8_e4m3fn and scale.shape == ((48, 1) if per_channel else (1, 1))
        scaled = (w / scale).double()
        stored = f.double()
        assert torch.isin(stored, table).all()
        nearest = (scaled[..., None] - table).abs().min(-1).values
        assert torch.all((stored - scaled).abs() <= nearest + 1e-12)
    # relative error of normal numbers is at most 2^-4 (3 mantissa bits, round to nearest)
    f, scale = lowbit.quantize_fp8(w)
    back, normal = lowbit.dequantize_fp8(f, scale), (w / scale).abs() >= 2.0 ** -6
    assert torch.all(((back - w).abs() / w.abs().clamp_min(1e-30))[normal] <= 2.0 ** -4 + 1e-6)
    # without a scale, small weights fall below e4m3's smallest subnormal (2^-9) and vanish
    assert (w[:4].to(torch.float8_e4m3fn).float() == 0).float().mean() > 0.5
    assert (lowbit.dequantize_fp8(*lowbit.quantize_fp8(w[:4])) == 0).float().mean() < 0.05


def test_quantized_model_bytes_and_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64), nn.LayerNorm(64))
    x = torch.randn(32, 64)
    full, full_bytes = model(x), lowbit.weight_bytes(model)
    for fmt, rel_tol in (("int8", 0.02), ("fp8", 0.08), ("fp8-tensor", 0.08)):
        q = lowbit.quantize_linears(nn.Sequential(*[m for m in __import__("copy").deepcopy(model)]), fmt)
        assert sum(isinstance(m, lowbit.QuantizedLinear) for m in q.modules()) == 2
        n_weights, n_scales = 2 * 64 * 256, (256 + 64 if fmt != "fp8-tensor" else 2)
        # each weight 4 bytes -> 1 byte, plus a float32 scale per row (or per tensor)
        assert lowbit.weight_bytes(q) == full_bytes - 3 * n_weights + 4 * n_scales
        diff = (q(x) - full).abs().max() / full.abs().max()
        assert 0 < diff < rel_tol, (fmt, diff)


def test_lowbit_bad_inputs_are_named():
    with pytest.raises(ValueError, match="weight must be a 2-D floating-point tensor"):
        lowbit.quantize_int8(torch.ones(3, 4, 5))
    with pytest.raises(ValueError, match="weight must be a 2-D floating-point"):
        lowbit.quantize_fp8(torch.ones(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="fmt must be one of"):
        lowbit.QuantizedLinear(nn.Linear(2, 2), "int4")
    with pytest.raises(TypeError, match="nn.Linear"):
        lowbit.quantize_linears(nn.Linear(2, 2))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.v_proj, self.mlp = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 8)

    def forward(self, x):
        return self.mlp(self.q_proj(x) + self.v_proj(x))


def test_lora_starts_as_the_identity_update_and_merges_exactly():
    torch.manual_seed(0)
    model, x = Tiny(), torch.randn(5, 16)
    before = model(x)
    original = model.q_proj.weight.detach().clone()
    names = lora.add_lora(model, rank=2, alpha=4)
    assert names == ["q_proj", "v_proj"]
    assert torch.equal(model(x), before)                       # B = 0: nothing changes
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in lora.lora_parameters(model)}
    assert sum(p.numel() for p in trainable) == 2 * 2 * (16 + 16)
    with torch.no_grad():
        for p in lora.lora_parameters(model):
            p.normal_()
    layer = model.q_proj
    y = layer(x)
    # the closed form: W x + b + (alpha / r) B A x
    manual = x @ (original + 2.0 * layer.lora_B @ layer.lora_A).T + layer.base.bias
    torch.testing.assert_close(y, manual, rtol=1e-5, atol=1e-5)
    adapted = model(x)
    lora.merge_lora(model)
    torch.testing.assert_close(model(x), adapted, rtol=1e-5, atol=1e-5)
    lora.unmerge_lora(model)
    torch.testing.assert_close(model.q_proj.base.weight, original, rtol=0, atol=1e-6)
    torch.testing.assert_close(model(x), adapted, rtol=1e-5, atol=1e-5)


def test_lora_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"rank must be an int in \[1, 4\]"):
        lora.LoRALinear(nn.Linear(4, 8), rank=5)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        lora.LoRALinear(nn.Linear(4, 8), rank=2, alpha=0)
    with pytest.raises(TypeError, match="base must be an nn.Linear"):
        lora.LoRALinear(nn.Conv1d(2, 2, 1))
    with pytest.raises(ValueError, match="matched no nn.Linear"):
        lora.add_lora(Tiny(), targets=("qkv",))
