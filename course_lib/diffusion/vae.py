"""A small variational autoencoder for frames and videos: the "latent" of latent diffusion.

    frame (N, 1, H, W) --encoder--> mean, logvar (N, zc, H/f, W/f)
    z = mean + exp(logvar / 2) * eps,  eps ~ N(0, I)          (reparameterisation)
    z --decoder--> reconstruction (N, 1, H, W)

A video (B, C, T, H, W) is encoded frame by frame (the frames are folded into the batch)
into latents (B, zc, T, H/f, W/f), as Stable Video Diffusion's image VAE does.

Training maximises the evidence lower bound; per pixel,

    loss = ||x - x_hat||^2 / (C H W)  +  beta * sum KL(q(z|x) || N(0, I)) / (C H W),

and the KL of a diagonal Gaussian to the standard normal has a closed form per latent
element (mu, sigma^2 = exp(logvar)):

    KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2)

(zero only at mu = 0, sigma = 1; tested against torch.distributions and Monte Carlo).
A small beta (Stable Diffusion uses about 1e-6 on sums) keeps reconstructions sharp; the
price is latents whose scale is not 1. Diffusion schedules assume data of unit scale, so
latent diffusion multiplies latents by a *scale factor* s = 1 / std(latents) measured on
training data (`scale_factor`; SD 1.x's famous 0.18215), and divides by it to decode.

Training on moving-digit frames (the recipe, load-or-train, the measured scale) is in
`vae_train.py`: `trained = train_vae(VAERecipe())`, `trained.model`, `trained.scale`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOGVAR_RANGE = (-30.0, 20.0)   # clamp, as Stable Diffusion's DiagonalGaussianDistribution


# ---------------------------------------------------------------- the three equations

def reparameterize(mean: Tensor, logvar: Tensor, noise: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """z = mean + exp(logvar / 2) * eps: a sample of N(mean, exp(logvar)) that is a
    differentiable function of (mean, logvar). mean, logvar, noise: one shape."""
    if mean.shape != logvar.shape:
        raise ValueError(f"mean and logvar must have one shape; got {tuple(mean.shape)} and {tuple(logvar.shape)}")
    if noise is None:
        noise = torch.randn(mean.shape, generator=generator).to(mean)
    elif noise.shape != mean.shape:
        raise ValueError(f"noise must have mean's shape {tuple(mean.shape)}; got {tuple(noise.shape)}")
    return mean + torch.exp(0.5 * logvar) * noise


def kl_to_standard_normal(mean: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise KL(N(mean, exp(logvar)) || N(0, 1)) = 1/2 (mean^2 + exp(logvar) - 1 - logvar).

    Same shape as the inputs; sum it over the latent dimensions for the KL of the whole
    diagonal Gaussian."""
    if mean.shape != logvar.shape:
        raise ValueError(f"mean and logvar must have one shape; got {tuple(mean.shape)} and {tuple(logvar.shape)}")
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def scale_factor(latents: Tensor) -> float:
    """1 / std of all latent values: multiply latents by it to give them unit variance
    before diffusion (and divide a sampled latent by it before decoding)."""
    if not isinstance(latents, Tensor) or latents.numel() < 2:
        raise ValueError("latents must be a tensor with at least 2 values")
    std = latents.detach().float().std().item()
    if not std > 0:
        raise ValueError(f"latents have std {std}; cannot scale them to unit variance")
    return 1.0 / std


# ---------------------------------------------------------------- the model

@dataclass(frozen=True)
class VAEConfig:
    """Sizes of the VAE. Training recipes (data, beta, steps) are in `vae_train.py`."""
    in_channels: int = 1
    latent_channels: int = 4
    channels: tuple[int, ...] = (16, 32)   # one stride-2 stage each: downsampling f = 2^len

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        if not self.channels:
            raise ValueError("channels must name at least one stage")

    @property
    def factor(self) -> int:
        return 2 ** len(self.channels)


@dataclass
class VAEOutput:
    recon: Tensor     # (N, C, H, W) or (B, C, T, H, W), like the input
    mean: Tensor      # latent mean (N, zc, h, w) or (B, zc, T, h, w)
    logvar: Tensor
    z: Tensor         # the reparameterised sample


class VAE(nn.Module):
    """Convolutional VAE. Frames (N, C, H, W) or videos (B, C, T, H, W) with H, W
    multiples of `config.factor`; latents have `latent_channels` and H/f x W/f."""

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        ch = config.channels
        enc: list[nn.Module] = [nn.Conv2d(config.in_channels, ch[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in zip(ch, ch[1:] + ch[-1:]):
            enc += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]     # H -> H/2
        enc += [nn.Conv2d(ch[-1], 2 * config.latent_channels, 3, padding=1)]       # mean and logvar
        self.encoder = nn.Sequential(*enc)
        rev = ch[::-1]
        dec: list[nn.Module] = [nn.Conv2d(config.latent_channels, rev[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in zip(rev, rev[1:] + rev[-1:]):
            dec += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]   # h -> 2h
        dec += [nn.Conv2d(rev[-1], config.in_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    # -- frames <-> videos
    def _frames(self, x: Tensor, name: str) -> tuple[Tensor, int | None]:
        """(B, C, T, H, W) -> (B*T, C, H, W) and T; frames pass through with T = None."""
        if x.ndim == 5:
            B, C, T, H, W = x.shape
            return x.transpose(1, 2).reshape(B * T, C, H, W), T
        if x.ndim == 4:
            return x, None
        raise ValueError(f"{name} must be (N, C, H, W) frames or (B, C, T, H, W) videos; got {tuple(x.shape)}")

    @staticmethod
    def _video(x: Tensor, T: int | None) -> Tensor:
        """(B*T, C, H, W) -> (B, C, T, H, W) (identity when T is None)."""
        if T is None:
            return x
        return x.reshape(-1, T, *x.shape[1:]).transpose(1, 2)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, C, H, W) or (B, C, T, H, W) -> mean, logvar (N, zc, h, w) or (B, zc, T, h, w)."""
        frames, T = self._frames(x, "x")
        cfg = self.config
        if frames.shape[1] != cfg.in_channels or frames.shape[-1] % cfg.factor or frames.shape[-2] % cfg.factor:
            raise ValueError(f"x must have {cfg.in_channels} channels and H, W multiples of {cfg.factor}; "
                             f"got {tuple(x.shape)}")
        mean, logvar = self.encoder(frames).chunk(2, dim=1)                      # (N, zc, h, w) each
        return self._video(mean, T), self._video(logvar.clamp(*LOGVAR_RANGE), T)

    def decode(self, z: Tensor) -> Tensor:
        """z (N, zc, h, w) or (B, zc, T, h, w) -> frames (N, C, H, W) or video (B, C, T, H, W)."""
        frames, T = self._frames(z, "z")
        if frames.shape[1] != self.config.latent_channels:
            raise ValueError(f"z must have {self.config.latent_channels} channels; got {tuple(z.shape)}")
        return self._video(self.decoder(frames), T)                              # (N, C, H, W)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mean, logvar = self.encode(x)                     # (N, zc, h, w)
        z = reparameterize(mean, logvar, generator=generator)
        return VAEOutput(self.decode(z), mean, logvar, z)


def vae_loss(model: VAE, x: Tensor, beta: float) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, reconstruction, kl) per input value: MSE(x, x_hat) + beta * sum(KL) / x.numel().

    x: (N, C, H, W) or (B, C, T, H, W) in [-1, 1]. Ready for `train.fit` as
    `lambda m, x: vae_loss(m, x, beta)[0]`."""
    out = model(x)
    recon = F.mse_loss(out.recon, x)
    kl = kl_to_standard_normal(out.mean, out.logvar).sum() / x.numel()
    return recon + beta * kl, recon, kl


@torch.no_grad()
def encode_latents(vae: VAE, x: Tensor, scale: float = 1.0, sample: bool = False, batch: int = 256,
                   generator: torch.Generator | None = None) -> Tensor:
    """Scaled latents of frames or videos: scale * mean (or scale * a sample of q(z|x)),
    computed in chunks of `batch` items on the VAE's device; returned on CPU."""
    device = next(vae.parameters()).device
    vae.eval()
    out = []
    for i in range(0, len(x), batch):
        mean, logvar = vae.encode(x[i:i + batch].to(device))
        z = reparameterize(mean, logvar, generator=generator) if sample else mean
        out.append((scale * z).cpu())
    return torch.cat(out)


@torch.no_grad()
def decode_latents(vae: VAE, z: Tensor, scale: float = 1.0, batch: int = 256) -> Tensor:
    """Frames or videos from scaled latents: decode(z / scale), clamped to [-1, 1], on CPU."""
    device = next(vae.parameters()).device
    vae.eval()
    return torch.cat([vae.decode(z[i:i + batch].to(device) / scale).clamp(-1, 1).cpu()
                      for i in range(0, len(z), batch)])
