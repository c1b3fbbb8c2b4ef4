"""Day 06's VAE trained on frames of moving-digit clips: the recipe and load-or-train.

    trained = train_vae(VAERecipe())          # trains once; later calls load
    trained.model, trained.scale, trained.run.history, trained.run.metrics["kl"], trained.run.seconds

The checkpoint is artifacts/checkpoints/vae_<recipe key>.pt. The scale factor (1 / std of
the latents) is measured on training frames after training, the same way whether the VAE
was trained or loaded. The model, its loss and the encode/decode helpers are in `vae.py`;
the latent video model that uses it is in `latent_train.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from einops import rearrange
from torch import Tensor

from course_lib.checks import check_range
from course_lib.data.digits import MovingDigitsSpec
from course_lib.diffusion.vae import VAE, VAEConfig, encode_latents, scale_factor, vae_loss
from course_lib.runtime import settings_key
from course_lib.train import TrainingRun, TrainSettings, load_or_train, random_batches

SCALE_FRAMES = 2048      # training frames the scale factor is measured on


@dataclass(frozen=True)
class VAERecipe:
    """Everything that decides a trained VAE: its sizes, the clips whose frames it is
    trained on (`data`, training split), the KL weight `beta` and the optimisation."""
    model: VAEConfig = VAEConfig(in_channels=1, latent_channels=4, channels=(16, 32))
    data: MovingDigitsSpec = MovingDigitsSpec()       # 2,000 clips of 8 12x12 frames
    beta: float = 1e-3
    train: TrainSettings = TrainSettings(steps=1000, batch_size=64, lr=2e-3)

    def __post_init__(self):
        check_range(self.beta, "beta", 0.0)
        if self.data.canvas % self.model.factor:
            raise ValueError(f"data.canvas ({self.data.canvas}) must be a multiple of the VAE's downsampling "
                             f"factor {self.model.factor}")

    @property
    def latent_size(self) -> int:
        """h = w of a latent frame: canvas / f."""
        return self.data.canvas // self.model.factor

    def key(self) -> str:
        """8 hex digits naming every field (part of the checkpoint's name)."""
        return settings_key(self)


@dataclass
class TrainedVAE:
    """The VAE (eval mode), the scale factor measured on its training frames, the
    training run (loss, and per step "recon" and "kl") and the recipe."""
    model: VAE
    scale: float
    run: TrainingRun
    recipe: VAERecipe = field(repr=False)


def new_vae(recipe: VAERecipe) -> VAE:
    """The untrained VAE of `recipe`, initialised from `recipe.train.seed`."""
    torch.manual_seed(recipe.train.seed)
    return VAE(recipe.model)


def training_frames(recipe: VAERecipe) -> Tensor:
    """Every frame (N*T, 1, H, W) of the recipe's training clips, clip-major."""
    return rearrange(recipe.data.load("train").videos, "n c t h w -> (n t) c h w")


def vae_training_loss(model: VAE, x: Tensor, beta: float) -> tuple[Tensor, dict[str, Tensor]]:
    """`vae_loss` for `fit`: the loss, with its reconstruction and KL terms as per-step metrics."""
    loss, recon, kl = vae_loss(model, x, beta)
    return loss, {"recon": recon, "kl": kl}


def train_vae(recipe: VAERecipe | None = None, device: torch.device | None = None,
              progress: bool = True) -> TrainedVAE:
    """Train the VAE of `recipe` on the frames of its training clips, or load it; then
    measure the scale factor 1 / std of the latent means of `SCALE_FRAMES` training frames
    (picked by `recipe.train.seed`).

    Batches: `batch_size` random frames (`train.random_batches`); loss: `vae_loss`.
    Checkpoint: vae_<recipe key>."""
    recipe = recipe or VAERecipe()
    frames = training_frames(recipe)
    model = new_vae(recipe)
    data = random_batches(frames, batch_size=recipe.train.batch_size, seed=recipe.train.seed)
    run = load_or_train("vae", recipe, model, partial(vae_training_loss, beta=recipe.beta), data,
                        device=device, desc="VAE", progress=progress)
    probe = torch.randperm(len(frames), generator=torch.Generator().manual_seed(recipe.train.seed))[:SCALE_FRAMES]
    scale = scale_factor(encode_latents(model, frames[probe]))
    return TrainedVAE(model.eval(), scale, run, recipe)


__all__ = ["VAERecipe", "TrainedVAE", "new_vae", "training_frames", "vae_training_loss", "train_vae"]
