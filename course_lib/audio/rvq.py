"""Residual vector quantization (day 15): how a neural codec turns audio into tokens.

SoundStream and EnCodec encode audio into latent frames z (50 per second at 16 kHz with
a stride of 320) and quantize each frame with a *stack* of codebooks: the first codebook
picks the codeword nearest to z, the second quantizes what is left, and so on,

    r_0 = z,    c_k = argmin_j ||r_k - e^(k)_j||²,    r_{k+1} = r_k - e^(k)_{c_k},
    ẑ = Σ_{k<n} e^(k)_{c_k}                                  (n codebooks used)

so n codebooks of K entries give n · log2 K bits per frame, and every extra codebook
refines the previous ones. Bitrate = frames/s × n × log2 K (`bitrate`).

Codebooks are not trained by gradient descent but by exponential moving averages of the
vectors assigned to them (van den Oord et al. 2017, appendix; SoundStream): per entry j,

    N_j ← γ N_j + (1 − γ) n_j,     m_j ← γ m_j + (1 − γ) Σ_{i: c_i = j} r_i,     e_j = m_j / N_j

(with Laplace smoothing of N). Three practical pieces keep every entry in use: k-means
initialisation on the first batch, **dead-code restarts** (an entry whose average count
N_j falls below a threshold is moved onto a random residual of the batch), and a
**straight-through estimator** so the encoder still gets gradients: the forward pass uses
ẑ, the backward pass treats quantization as the identity, ẑ_st = r + sg(ẑ − r). The
encoder is pulled toward its codewords by the commitment loss β ||r − sg(e)||².
**Quantizer dropout** (SoundStream) trains with a random number of codebooks per batch,
so one model serves every bitrate from 1 to n_q codebooks.

    rvq = ResidualVQ(dim=64, num_quantizers=8, codebook_size=256)
    out = rvq(z)                 # z (B, T, D): out.quantized (B, T, D), out.codes (B, n, T)
    z_hat = rvq.decode(out.codes[:, :2])   # the 2-codebook reconstruction
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_positive_int, check_range, check_shape

__all__ = ["bitrate", "kmeans", "VectorQuantizer", "RVQOutput", "ResidualVQ"]


def bitrate(frame_rate: float, num_quantizers: int, codebook_size: int) -> float:
    """Bits per second of a codec: frame_rate × num_quantizers × log2(codebook_size)."""
    check_positive_int(num_quantizers, "num_quantizers")
    check_positive_int(codebook_size, "codebook_size")
    if frame_rate <= 0:
        raise ValueError(f"frame_rate must be > 0; got {frame_rate!r}")
    return frame_rate * num_quantizers * math.log2(codebook_size)


def kmeans(x: Tensor, k: int, iters: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means on x (N, D) -> centroids (k, D), seeded by k-means++ (each new
    centroid a row of x drawn with probability proportional to its squared distance to the
    nearest centroid so far). An empty cluster keeps its previous centroid."""
    check_shape(x, "x", "N D")
    check_positive_int(k, "k")
    centroids = x[torch.randint(len(x), (1,), generator=generator)]
    for _ in range(k - 1):
        d2 = torch.cdist(x, centroids).min(1).values.pow(2)                  # (N,)
        weights = d2 if d2.sum() > 0 else torch.ones_like(d2)                 # fewer distinct rows than k
        centroids = torch.cat([centroids, x[torch.multinomial(weights, 1, generator=generator)]])
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(1)                           # (N,)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)[:, None]
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids


class VectorQuantizer(nn.Module):
    """One EMA codebook of `codebook_size` entries of size `dim`.

    forward(r (N, D)) -> (quantized (N, D) with the straight-through estimator, codes (N,),
    commitment loss). In training mode it also initialises the codebook by k-means on the
    first batch, updates it by EMA (decay `decay`) and restarts entries whose average
    count falls below `dead_threshold` at random vectors of the batch."""

    def __init__(self, dim: int, codebook_size: int, decay: float = 0.99, eps: float = 1e-5,
                 dead_threshold: float = 0.5, kmeans_iters: int = 10):
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(codebook_size, "codebook_size")
        check_range(decay, "decay", 0.0, 1.0)
        self.dim, self.codebook_size, self.decay, self.eps = dim, codebook_size, decay, eps
        self.dead_threshold, self.kmeans_iters = dead_threshold, kmeans_iters
        self.register_buffer("codebook", torch.randn(codebook_size, dim))
        self.register_buffer("cluster_size", torch.ones(codebook_size))      # N_j, the EMA counts
        self.register_buffer("embed_sum", self.codebook.clone())              # m_j, the EMA sums
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("restarts", torch.tensor(0))                     # dead entries moved so far

    def nearest(self, r: Tensor) -> Tensor:
        """(N, D) -> (N,) index of the nearest codeword (squared Euclidean distance)."""
        d = r.pow(2).sum(1, keepdim=True) - 2 * r @ self.codebook.T + self.codebook.pow(2).sum(1)[None]
        return d.argmin(1)

    def lookup(self, codes: Tensor) -> Tensor:
        """codes (...) -> codewords (..., D)."""
        return F.embedding(codes, self.codebook)

    @torch.no_grad()
    def _init(self, r: Tensor) -> None:
        self.codebook.copy_(kmeans(r, self.codebook_size, self.kmeans_iters))
        self.embed_sum.copy_(self.codebook)
        self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, r: Tensor, codes: Tensor) -> None:
        onehot = F.one_hot(codes, self.codebook_size).to(r.dtype)              # (N, K)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.T @ r, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n   # Laplace
        self.codebook.copy_(self.embed_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart_dead(self, r: Tensor) -> None:
        dead = self.cluster_size < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        pick = torch.randint(len(r), (n_dead,), device=r.device)
        self.codebook[dead] = r[pick]
        self.embed_sum[dead] = r[pick]
        self.cluster_size[dead] = 1.0
        self.restarts.add_(n_dead)

    def forward(self, r: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        check_shape(r, "r", "N D", D=self.dim)
        if self.training and not bool(self.initialized):
            self._init(r.detach())
        codes = self.nearest(r.detach())
        quantized = self.lookup(codes)
        if self.training:
            self._ema_update(r.detach(), codes)
            if self.dead_threshold > 0:
                self._restart_dead(r.detach())
        commitment = F.mse_loss(r, quantized.detach())
        return r + (quantized - r).detach(), codes, commitment                 # straight-through

    def usage(self, codes: Tensor) -> tuple[float, float]:
        """(fraction of entries used, perplexity exp(H) of the code histogram) of codes (...)."""
        counts = torch.bincount(codes.flatten(), minlength=self.codebook_size).float()
        p = counts / counts.sum()
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        return (counts > 0).float().mean().item(), entropy.exp().item()


@dataclass
class RVQOutput:
    """What `ResidualVQ` returns: the quantized latents (B, T, D) (straight-through), the
    codes (B, n, T) of the n codebooks used, and the summed commitment loss."""
    quantized: Tensor
    codes: Tensor
    commitment: Tensor


class ResidualVQ(nn.Module):
    """`num_quantizers` VectorQuantizers, each quantizing the residual of the ones before.

    forward(z (B, T, D), n=None) -> RVQOutput with n codebooks (all by default; in training
    with `quantizer_dropout` > 0, a random n in [1, num_quantizers] for the whole batch with
    that probability). decode(codes (B, n, T)) -> (B, T, D), for any n <= num_quantizers."""

    def __init__(self, dim: int, num_quantizers: int, codebook_size: int, quantizer_dropout: float = 0.0,
                 **quantizer_kwargs):
        super().__init__()
        check_positive_int(num_quantizers, "num_quantizers")
        check_range(quantizer_dropout, "quantizer_dropout", 0.0, 1.0)
        self.dim, self.num_quantizers, self.codebook_size = dim, num_quantizers, codebook_size
        self.quantizer_dropout = quantizer_dropout
        self.layers = nn.ModuleList(VectorQuantizer(dim, codebook_size, **quantizer_kwargs)
                                    for _ in range(num_quantizers))

    def forward(self, z: Tensor, n: int | None = None) -> RVQOutput:
        check_shape(z, "z", "B T D", D=self.dim)
        if n is None:
            n = self.num_quantizers
            if self.training and self.quantizer_dropout > 0 and torch.rand(()) < self.quantizer_dropout:
                n = int(torch.randint(1, self.num_quantizers + 1, ()))
        elif not isinstance(n, int) or not 1 <= n <= self.num_quantizers:
            raise ValueError(f"n must be an int in [1, {self.num_quantizers}]; got {n!r}")
        b, t, d = z.shape
        residual = z.reshape(b * t, d)
        quantized = torch.zeros_like(residual)
        codes, commitment = [], z.new_zeros(())
        for layer in self.layers[:n]:
            q, c, loss = layer(residual)
            residual = residual - q.detach()                                   # what is left to code
            quantized = quantized + q.detach()
            codes.append(c.view(b, t))
            commitment = commitment + loss
        quantized = quantized.view(b, t, d)
        # one straight-through estimator for the sum (as EnCodec): d ẑ / d z = identity
        return RVQOutput(z + (quantized - z).detach(), torch.stack(codes, dim=1), commitment)

    def decode(self, codes: Tensor) -> Tensor:
        """codes (B, n, T) int64 -> ẑ (B, T, D) = Σ_k e^(k)_{codes[:, k]}."""
        check_shape(codes, "codes", "B n T")
        if not 1 <= codes.shape[1] <= self.num_quantizers:
            raise ValueError(f"codes has {codes.shape[1]} codebooks; this RVQ has 1 to {self.num_quantizers}")
        return sum(layer.lookup(codes[:, k]) for k, layer in enumerate(self.layers[:codes.shape[1]]))
