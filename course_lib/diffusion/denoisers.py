"""Small denoisers for the first diffusion days: an MLP over flattened data.

It works for 2-D toy points and for 8x8 digits (64 numbers) alike, which keeps day 03
about diffusion, not architecture. Day 04 replaces it with a DiT.
"""

from __future__ import annotations

from torch import Tensor, nn

from course_lib.nn.embeddings import timestep_embedding


class ResidualMLPBlock(nn.Module):
    """h + MLP(LayerNorm(h) * (1 + scale) + shift), with (shift, scale) from the condition."""

    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Linear(hidden, 2 * hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.film(c).chunk(2, dim=-1)
        return h + self.mlp(self.norm(h) * (1 + scale) + shift)


class MLPDenoiser(nn.Module):
    """Predicts eps for data of any shape (B, ...) flattened to `data_dim` numbers.

    forward(x (B, ...), t (B,), labels (B,) or None) -> (B, ...). With num_classes > 0,
    label index num_classes is the "null" label used for classifier-free guidance."""

    def __init__(self, data_dim: int, hidden: int = 256, depth: int = 3, num_classes: int = 0,
                 time_dim: int = 64):
        super().__init__()
        self.data_dim, self.num_classes, self.time_dim = data_dim, num_classes, time_dim
        self.inp = nn.Linear(data_dim, hidden)
        self.time = nn.Sequential(nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.label = nn.Embedding(num_classes + 1, hidden) if num_classes else None
        self.blocks = nn.ModuleList(ResidualMLPBlock(hidden) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, data_dim))

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        flat = x.reshape(len(x), -1)
        if flat.shape[1] != self.data_dim:
            raise ValueError(f"x must hold {self.data_dim} numbers per sample; got {tuple(x.shape)}")
        c = self.time(timestep_embedding(t, self.time_dim))            # (B, hidden)
        if self.label is not None:
            if labels is None:
                raise ValueError("labels are required for a class-conditional denoiser")
            c = c + self.label(labels)
        h = self.inp(flat)
        for block in self.blocks:
            h = block(h, c)
        return self.out(h).reshape(x.shape)
