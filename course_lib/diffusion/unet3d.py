"""A factorized space-time 3D U-Net for video diffusion (Ho et al. 2022, *Video Diffusion
Models*; day 08), conditioned on captions — the architecture video models used before
DiTs, built at the size of day 05's video DiT.

    x (B, C, T, H, W)
      └ conv (1×3×3) ─ ResBlock ─────────────────────────────┐ skip    12×12
          └ down (1×2×2) ─ ResBlock ────────────────────┐ skip │        6×6
              └ down ─ ResBlock ─ SpaceTimeAttention ─ ResBlock       3×3 (the middle)
              ┌──────────────────────────────────────────┘      │
          up (1×2×2) ─ concat ─ ResBlock ◄─────────────────────┘
      up ─ concat ─ ResBlock ─ GroupNorm ─ SiLU ─ conv ─> prediction (B, C, T, H, W)

Every convolution is (1, 3, 3) and every GroupNorm is per frame: spatial only, frame by
frame (an image U-Net applied to each frame); the frames meet only in the temporal
attention of the middle block (spatial attention, then cross-attention to
the caption, then temporal attention over T at each position) — Ho et al.'s factorized
design, with down- and up-sampling in space only. The timestep and the pooled caption
enter every ResBlock as a per-channel bias (as in DDPM's U-Net).

    model = UNet3D(UNet3DConfig(text=TextEncoderConfig()))
    eps = model(x, t, caption_ids)         # the same call as the caption VideoDiT
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from course_lib.checks import check_shape
from course_lib.diffusion.dit import TimestepEmbedder
from course_lib.diffusion.text_cond import NULL_ID, CaptionEmbedder, CrossAttentionBlock
from course_lib.nn.attention import MultiHeadAttention
from course_lib.nn.embeddings import sincos_1d
from course_lib.nn.text_encoder import TextEncoderConfig

__all__ = ["UNet3DConfig", "UNet3D"]


@dataclass(frozen=True)
class UNet3DConfig:
    """Sizes of the 3D U-Net: `channels` per resolution (one halving of H and W between
    two entries), `heads` of the middle attention, the caption encoder `text`."""
    in_channels: int = 1
    frames: int = 8
    height: int = 12
    width: int = 12
    channels: tuple[int, ...] = (32, 48, 64)      # 0.56 M parameters, the caption video DiT 0.60 M
    heads: int = 4
    text: TextEncoderConfig = TextEncoderConfig()
    class_dropout: float = 0.1              # the caption dropout, as in VideoDiTConfig
    cond_channels: int = 0

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        factor = 2 ** (len(self.channels) - 1)
        if self.height % factor or self.width % factor:
            raise ValueError(f"height and width ({self.height}, {self.width}) must be divisible by {factor} "
                             f"({len(self.channels)} resolutions)")
        if any(c % 8 for c in self.channels) or self.channels[-1] % self.heads:
            raise ValueError(f"channels must be multiples of 8 (GroupNorm) and the last divisible by heads; "
                             f"got {self.channels}, heads={self.heads}")


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm(8 groups) over each frame on its own: (B, C, T, H, W) statistics per
    (clip, frame, group), so normalisation does not mix frames either."""

    def __init__(self, channels: int):
        super().__init__(8, channels)

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        return rearrange(super().forward(rearrange(x, "b c t h w -> (b t) c h w")), "(b t) c h w -> b c t h w", b=b)


def _conv(c_in: int, c_out: int) -> nn.Conv3d:
    """A spatial convolution: kernel (1, 3, 3), frames never mix."""
    return nn.Conv3d(c_in, c_out, kernel_size=(1, 3, 3), padding=(0, 1, 1))


class ResBlock(nn.Module):
    """x (B, C_in, T, H, W), c (B, D) -> (B, C_out, T, H, W):
    h = conv(SiLU(GN(x))) + W c;  out = skip(x) + conv(SiLU(GN(h)))   (the last conv starts at 0;
    GN = `FrameGroupNorm`)."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int):
        super().__init__()
        self.norm1, self.conv1 = FrameGroupNorm(c_in), _conv(c_in, c_out)
        self.cond = nn.Linear(cond_dim, c_out)
        self.norm2, self.conv2 = FrameGroupNorm(c_out), _conv(c_out, c_out)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.cond(c)[:, :, None, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class SpaceTimeAttention(nn.Module):
    """The middle block's attention, residual each: spatial self-attention over the H·W
    positions of each frame, cross-attention to the caption, temporal self-attention
    over the T frames of each position (with sin-cos frame positions)."""

    def __init__(self, channels: int, heads: int, text_dim: int, frames: int):
        super().__init__()
        self.norm_s, self.spatial = nn.LayerNorm(channels), MultiHeadAttention(channels, heads)
        self.cross = CrossAttentionBlock(channels, heads, text_dim)
        self.norm_t, self.temporal = nn.LayerNorm(channels), MultiHeadAttention(channels, heads)
        self.register_buffer("pos", sincos_1d(torch.arange(frames), channels), persistent=False)

    def forward(self, x: Tensor, text: Tensor, pad: Tensor) -> Tensor:
        b, _, t, h, w = x.shape
        s = rearrange(x, "b c t h w -> (b t) (h w) c")                   # (B*T, HW, C)
        s = s + self.spatial(self.norm_s(s))
        s = self.cross(s, text.repeat_interleave(t, 0), pad.repeat_interleave(t, 0))
        z = rearrange(s, "(b t) (h w) c -> (b h w) t c", b=b, h=h) + self.pos   # (B*HW, T, C)
        z = z + self.temporal(self.norm_t(z))
        return rearrange(z - self.pos, "(b h w) t c -> b c t h w", b=b, h=h)


class UNet3D(nn.Module):
    """Caption-conditional 3D U-Net. forward(x (B, C, T, H, W), t (B,), ids (B, L)[, cond]) ->
    (B, C, T, H, W), the same interface as the caption `VideoDiT` (samplers, losses and
    guidance work unchanged)."""

    def __init__(self, config: UNet3DConfig):
        super().__init__()
        self.config = cfg = config
        chans, d = cfg.channels, cfg.channels[0] * 4
        self.t_embedder = TimestepEmbedder(d)
        self.y_embedder = CaptionEmbedder(cfg.text, d, cfg.class_dropout)
        self.stem = _conv(cfg.in_channels + cfg.cond_channels, chans[0])
        self.down = nn.ModuleList(ResBlock(a, b, d) for a, b in zip((chans[0],) + chans[:-1], chans))
        self.pool = nn.ModuleList(nn.Conv3d(c, c, (1, 2, 2), stride=(1, 2, 2)) for c in chans[:-1])
        self.mid_attn = SpaceTimeAttention(chans[-1], cfg.heads, cfg.text.dim, cfg.frames)
        self.mid = ResBlock(chans[-1], chans[-1], d)
        self.up = nn.ModuleList(ResBlock(2 * c, c, d) for c in reversed(chans[:-1]))
        self.unpool = nn.ModuleList(_conv(a, b) for a, b in zip(reversed(chans[1:]), reversed(chans[:-1])))
        self.out_norm, self.out = FrameGroupNorm(chans[0]), _conv(chans[0], cfg.in_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def null_label(self) -> int:
        return NULL_ID

    def forward(self, x: Tensor, t: Tensor, labels: Tensor, cond: Tensor | None = None) -> Tensor:
        cfg = self.config
        check_shape(x, "x", "B C T H W", C=cfg.in_channels, T=cfg.frames, H=cfg.height, W=cfg.width)
        check_shape(labels, "labels (caption ids)", "B L", B=len(x), L=cfg.text.max_len)
        if cfg.cond_channels:
            if cond is None:
                raise ValueError(f"this model takes a condition of {cfg.cond_channels} channel(s): pass cond")
            x = torch.cat([x, cond.to(x)], dim=1)
        pooled, text, pad = self.y_embedder(labels)
        c = self.t_embedder(t) + pooled                                    # (B, D)
        h, skips = self.stem(x), []
        for i, block in enumerate(self.down):
            h = block(h, c)
            if i < len(self.pool):
                skips.append(h)
                h = self.pool[i](h)                                        # H, W halve; T stays
        h = self.mid(self.mid_attn(h, text, pad), c)
        for unpool, block in zip(self.unpool, self.up):
            h = unpool(F.interpolate(h, scale_factor=(1, 2, 2), mode="nearest"))
            h = block(torch.cat([h, skips.pop()], dim=1), c)
        return self.out(F.silu(self.out_norm(h)))
