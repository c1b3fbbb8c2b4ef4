"""Embeddings that tell a network *when* (diffusion timestep) and *where* (patch position).

    timestep_embedding   t -> [cos(t w_i), sin(t w_i)],  w_i = max_period^(-i / half)
    sincos_1d / sincos_2d  fixed position tables (Transformer, MAE/DiT)
    PatchEmbed2D         (B, C, H, W) -> (B, N, D) tokens, N = (H / p) (W / p)
    patchify / unpatchify  (B, C, H, W) <-> (B, N, p*p*C), exact inverses
    SpacetimePatchEmbed  (B, C, T, H, W) -> (B, N, D), N = (T / pt)(H / ph)(W / pw)
    patchify3d / unpatchify3d  (B, C, T, H, W) <-> (B, N, pt*ph*pw*C), exact inverses
    spacetime_token_count  the token arithmetic of video models
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding (B,) -> (B, dim): first half cos, second half sin (as DiT/ADM).

    Frequencies w_i = max_period^(-i / (dim/2)), i = 0 .. dim/2 - 1; t may be fractional.
    """
    if t.ndim != 1:
        raise ValueError(f"t must be (B,); got {tuple(t.shape)}")
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be a positive even int; got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]                          # (B, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def sincos_1d(positions: Tensor, dim: int) -> Tensor:
    """(N,) positions -> (N, dim) table: [sin(p w_i), cos(p w_i)], w_i = 10000^(-i / (dim/2))."""
    if dim % 2:
        raise ValueError(f"dim must be even; got {dim}")
    half = dim // 2
    freqs = 1.0 / 10000 ** (torch.arange(half, dtype=torch.float64) / half)
    angles = positions.double()[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).float()


def sincos_2d(grid_h: int, grid_w: int, dim: int) -> Tensor:
    """(grid_h * grid_w, dim) table for a row-major patch grid: the first dim/2 channels
    encode the row, the last dim/2 the column."""
    if dim % 4:
        raise ValueError(f"dim must be divisible by 4; got {dim}")
    rows = torch.arange(grid_h).repeat_interleave(grid_w)             # 0,0,..,1,1,..
    cols = torch.arange(grid_w).repeat(grid_h)                        # 0,1,..,0,1,..
    return torch.cat([sincos_1d(rows, dim // 2), sincos_1d(cols, dim // 2)], dim=-1)


def _check_image(x: Tensor, patch: int) -> None:
    if x.ndim != 4:
        raise ValueError(f"x must be (B, C, H, W); got {tuple(x.shape)}")
    if x.shape[-2] % patch or x.shape[-1] % patch:
        raise ValueError(f"H and W must be multiples of patch={patch}; got {tuple(x.shape[-2:])}")


def patchify(x: Tensor, patch: int) -> Tensor:
    """(B, C, H, W) -> (B, N, p*p*C): row-major patches, each flattened as (p, p, C)."""
    _check_image(x, patch)
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)       # (B, C, gh, p, gw, q)
    x = x.permute(0, 2, 4, 3, 5, 1)                                  # (B, gh, gw, p, q, C)
    return x.reshape(b, (h // patch) * (w // patch), patch * patch * c)


def unpatchify(tokens: Tensor, patch: int, channels: int, grid: tuple[int, int]) -> Tensor:
    """(B, N, p*p*C) -> (B, C, H, W), the exact inverse of `patchify` (N = gh * gw)."""
    gh, gw = grid
    if tokens.ndim != 3 or tokens.shape[1] != gh * gw or tokens.shape[2] != patch * patch * channels:
        raise ValueError(f"tokens must be (B, {gh * gw}, {patch * patch * channels}) for grid {grid}, "
                         f"patch {patch}, {channels} channels; got {tuple(tokens.shape)}")
    b = tokens.shape[0]
    x = tokens.reshape(b, gh, gw, patch, patch, channels)            # (B, gh, gw, p, q, C)
    x = x.permute(0, 5, 1, 3, 2, 4)                                  # (B, C, gh, p, gw, q)
    return x.reshape(b, channels, gh * patch, gw * patch)


class PatchEmbed2D(nn.Module):
    """Split an image into p x p patches and project each to a D-dim token.

    A Conv2d with kernel = stride = p is exactly a linear map applied to every patch.
    (B, C, H, W) -> (B, N, D), N = (H / p)(W / p), tokens in row-major order.
    """

    def __init__(self, in_channels: int, dim: int, patch: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x, self.patch)
        return self.proj(x).flatten(2).transpose(1, 2)                # (B, N, D)


# ---------------------------------------------------------------- video: spacetime patches

def _check_patch3d(patch) -> tuple[int, int, int]:
    if (not isinstance(patch, (tuple, list)) or len(patch) != 3
            or not all(isinstance(p, int) and p >= 1 for p in patch)):
        raise ValueError(f"patch must be a tuple of three positive ints (pt, ph, pw); got {patch!r}")
    return tuple(patch)


def spacetime_token_count(frames: int, height: int, width: int, patch: tuple[int, int, int]) -> int:
    """N = (T / pt)(H / ph)(W / pw): tokens of a (T, H, W) video cut into pt x ph x pw patches.

    Example: 60 frames of 256 x 256 with 2 x 16 x 16 patches -> 30 * 16 * 16 = 7,680 tokens.
    """
    pt, ph, pw = _check_patch3d(patch)
    for name, size, p in (("frames", frames, pt), ("height", height, ph), ("width", width, pw)):
        if not isinstance(size, int) or size < 1 or size % p:
            raise ValueError(f"{name} must be a positive multiple of its patch size {p}; got {size!r}")
    return (frames // pt) * (height // ph) * (width // pw)


def _check_video(x: Tensor, patch: tuple[int, int, int]) -> None:
    if x.ndim != 5:
        raise ValueError(f"x must be (B, C, T, H, W); got {tuple(x.shape)}")
    if any(size % p for size, p in zip(x.shape[2:], patch)):
        raise ValueError(f"T, H, W must be multiples of patch={patch}; got {tuple(x.shape[2:])}")


def patchify3d(x: Tensor, patch: tuple[int, int, int]) -> Tensor:
    """(B, C, T, H, W) -> (B, N, pt*ph*pw*C): tokens ordered time-major (all patches of the
    first frame group, row-major, then the next), each flattened as (pt, ph, pw, C)."""
    pt, ph, pw = _check_patch3d(patch)
    _check_video(x, (pt, ph, pw))
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)    # (B, C, gt, pt, gh, ph, gw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)                           # (B, gt, gh, gw, pt, ph, pw, C)
    return x.reshape(b, (t // pt) * (h // ph) * (w // pw), pt * ph * pw * c)


def unpatchify3d(tokens: Tensor, patch: tuple[int, int, int], channels: int,
                 grid: tuple[int, int, int]) -> Tensor:
    """(B, N, pt*ph*pw*C) -> (B, C, T, H, W), the exact inverse of `patchify3d`
    (grid = (gt, gh, gw) = (T / pt, H / ph, W / pw), N = gt * gh * gw)."""
    pt, ph, pw = _check_patch3d(patch)
    gt, gh, gw = grid
    if tokens.ndim != 3 or tokens.shape[1] != gt * gh * gw or tokens.shape[2] != pt * ph * pw * channels:
        raise ValueError(f"tokens must be (B, {gt * gh * gw}, {pt * ph * pw * channels}) for grid {grid}, "
                         f"patch {patch}, {channels} channels; got {tuple(tokens.shape)}")
    b = tokens.shape[0]
    x = tokens.reshape(b, gt, gh, gw, pt, ph, pw, channels)          # (B, gt, gh, gw, pt, ph, pw, C)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)                            # (B, C, gt, pt, gh, ph, gw, pw)
    return x.reshape(b, channels, gt * pt, gh * ph, gw * pw)


class SpacetimePatchEmbed(nn.Module):
    """Cut a video into pt x ph x pw spacetime patches and project each to a D-dim token.

    A Conv3d with kernel = stride = (pt, ph, pw) is a linear map applied to every patch
    (the same map as Linear(pt*ph*pw*C, D) on `patchify3d`'s tokens).
    (B, C, T, H, W) -> (B, N, D), N = (T / pt)(H / ph)(W / pw), tokens time-major then row-major.
    """

    def __init__(self, in_channels: int, dim: int, patch: tuple[int, int, int]):
        super().__init__()
        self.patch = _check_patch3d(patch)
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=self.patch, stride=self.patch)

    def forward(self, x: Tensor) -> Tensor:
        _check_video(x, self.patch)
        return self.proj(x).flatten(2).transpose(1, 2)                # (B, N, D)
